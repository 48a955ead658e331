"""Enforce the mode on tracker flows: answer them locally (sinkhole, block) or redact them."""

from __future__ import annotations

from mitmproxy import ctx, http

from phitrace.act.enforce import Redaction, redact, should_block
from phitrace.act.sinkhole import SINKHOLE_SCOPES, answer, answers
from phitrace.capture.flows import to_request
from phitrace.model import Analysis, Request, SinkholeReply
from phitrace.proxy.state import Flagged, ProxyState, message_key


def may_answer(flow: http.HTTPFlow) -> bool:
    """False for a flow that already has an answer, has failed, or is not live (a replay).

    The guard mitmproxy's own blocklist addon uses: answering such a flow would
    overwrite another addon's response or act on a flow read from a file.
    """
    return not (flow.response or flow.error or not flow.live)


def answer_locally(
    flow: http.HTTPFlow, request: Request, declared: SinkholeReply | None = None
) -> None:
    """Set the sinkhole's made-up answer as the flow's response: nothing is forwarded."""
    local = answer(request, declared)
    headers = [(k.encode(), v.encode()) for k, v in local.headers]
    flow.response = http.Response.make(local.status, local.body, headers)


def sinkhole_scope() -> str:
    """The sinkhole scope the options set (``third-party`` when the value is unknown)."""
    scope = getattr(ctx.options, "phitrace_sinkhole_scope", "third-party")
    return scope if scope in SINKHOLE_SCOPES else "third-party"


def apply_redaction(flow: http.HTTPFlow, request: Request, result: Redaction) -> None:
    """Write a redaction onto the flow's request: URL, Referer and body as redacted."""
    flow.request.url = result.url
    if "header.referer" in result.removed:
        referer = dict((k.lower(), v) for k, v in result.headers)["referer"]
        flow.request.headers["referer"] = referer
    if result.body != request.body:
        if not any(k.lower() == "content-encoding" for k, _ in result.headers):
            # The body was rewritten from its decoded content: it goes out uncoded.
            flow.request.headers.pop("content-encoding", None)
        flow.request.content = result.body
    flow.metadata.setdefault("phitrace", {})["redacted"] = list(result.removed)


class Enforcement:
    """Sinkholes, blocks or redacts tracker flows as the options say; passive touches nothing."""

    name = "phitrace_enforcement"
    """Its name in mitmproxy, which must be unique: mitmweb and mitmproxy have a 'view'."""

    def __init__(self, state: ProxyState) -> None:
        self.state = state

    def request(self, flow: http.HTTPFlow) -> None:
        if self.state.offloop is not None:
            self._sinkhole_captured(flow)
            return
        unscoped = self.state.unscoped.pop(flow.id, None)
        try:
            entry = self.state.flagged.get(flow.id)
            if entry is not None:
                entry.action, entry.removed = self._enforce(flow, entry.analysis)
            elif unscoped is not None:
                self._sinkhole_unscoped(flow, unscoped)
            elif ctx.options.phitrace_sinkhole and may_answer(flow):
                self._sinkhole_unrecorded(flow)
        except Exception:  # noqa: BLE001 - fail open: phitrace must never break a flow
            self.state.failed(flow, "request")

    def _enforce(self, flow: http.HTTPFlow, analysis: Analysis) -> tuple[str, tuple[str, ...]]:
        """Apply the configured mode to a flagged flow; return what was done and what removed."""
        options = ctx.options
        acts = should_block(analysis, options.phitrace_block_severity)
        vendor = analysis.vendor or ""
        named = bool(vendor) and not vendor.startswith("third-party:")
        takes = answers(analysis.request, named, sinkhole_scope())
        if options.phitrace_sinkhole and takes and may_answer(flow):
            answer_locally(flow, analysis.request, analysis.sinkhole)
            return "sinkhole", ()
        if options.phitrace_mode == "block" and acts and may_answer(flow):
            answer_locally(flow, analysis.request)
            return "blocked", ()
        if options.phitrace_mode == "redact" and acts:
            result = redact(analysis.request, analysis.findings, analysis.fields)
            if result.changed:
                apply_redaction(flow, analysis.request, result)
                return "redacted", result.removed
        return "passive", ()

    def _named(self, request: Request) -> bool | None:
        """Whether the catalogue or a list names the recipient; None without an analyzer."""
        analyzer = self.state.analyzer
        if analyzer is None:
            return None
        listed = analyzer.blocklist.match(request) if analyzer.blocklist else None
        return analyzer.catalogue.match(request) is not None or listed is not None

    def _declared(self, request: Request) -> SinkholeReply | None:
        """The sinkhole answer the catalogue declares for the request's endpoint, if any."""
        analyzer = self.state.analyzer
        match = analyzer.catalogue.match(request) if analyzer is not None else None
        return match.endpoint.sinkhole if match is not None else None

    def _answers(self, request: Request) -> bool:
        """Whether the sinkhole's scope covers a request that was not analysed."""
        named = self._named(request)
        return named is not None and answers(request, named, sinkhole_scope())

    def _sinkhole_unscoped(self, flow: http.HTTPFlow, request: Request) -> None:
        """Answer an out-of-scope tracker request locally too: scope never lets one through.

        The flow is not analysed or recorded (that is what scope limits), only
        answered, so the sinkhole's promise holds: no tracker request is forwarded.
        """
        if not ctx.options.phitrace_sinkhole or not may_answer(flow):
            return
        if not self._answers(request):
            return
        answer_locally(flow, request, self._declared(request))
        flow.metadata.setdefault("phitrace", {}).update(action="sinkhole", analysed=False)

    def _sinkhole_unrecorded(self, flow: http.HTTPFlow) -> None:
        """Answer a third-party beacon that carried nothing worth a record (a preflight, say).

        The analyzer counted it in the session's inventory already; answering it
        keeps the promise that, offline or online, no third party receives a beacon.
        """
        request = to_request(flow)
        if self._named(request) is not False:
            return  # a named tracker is always flagged: unflagged, its analysis failed (fail open)
        if answers(request, False, sinkhole_scope()):
            answer_locally(flow, request)
            flow.metadata.setdefault("phitrace", {}).update(action="sinkhole", analysed=False)

    def _sinkhole_captured(self, flow: http.HTTPFlow) -> None:
        """Answer a captured request now, when the sinkhole takes it: the matcher decides.

        The analysis comes later, off the loop; whether the sinkhole answers needs
        only what the catalogue and the imported lists say of the recipient.
        """
        offloop = self.state.offloop
        assert offloop is not None
        if not ctx.options.phitrace_sinkhole or not may_answer(flow):
            return
        try:
            captured = offloop.captured(flow.id)
            request = captured.request if captured is not None else to_request(flow)
            if not self._answers(request):
                return
            answer_locally(flow, request, self._declared(request))
            flow.metadata.setdefault("phitrace", {}).update(action="sinkhole", analysed=False)
            offloop.acted(flow.id, "sinkhole")
        except Exception:  # noqa: BLE001 - fail open: the flow goes on as sent
            flow.response = None
            self.state.failed(flow, "request")

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        key = message_key(flow)
        block = self._block_message
        self.state.on_flagged(flow, "websocket_message", key, lambda entry: block(flow, entry))

    @staticmethod
    def _block_message(flow: http.HTTPFlow, entry: Flagged) -> None:
        """In block mode, drop a client message at or above the threshold."""
        assert flow.websocket is not None
        severity = ctx.options.phitrace_block_severity
        if ctx.options.phitrace_mode == "block" and should_block(entry.analysis, severity):
            entry.action = "blocked"
            flow.websocket.messages[-1].drop()
