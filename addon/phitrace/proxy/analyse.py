"""Analyse each request and client WebSocket message in scope, and flag what is to be recorded."""

from __future__ import annotations

import logging

from mitmproxy import ctx, http

from phitrace.capture.flows import (
    WEBSOCKET_METHOD,
    WireRequest,
    may_be_document,
    message_request,
    response_of,
    to_request,
    wire_request,
    wire_response,
)
from phitrace.model import Analysis, Request
from phitrace.proxy.analyst import Answered, Captured
from phitrace.proxy.state import Flagged, ProxyState, Saved, message_key

log = logging.getLogger(__name__)


def saved_state(flow: http.HTTPFlow) -> Saved | None:
    """What phitrace may change of a flow, kept in the modes where it can change it.

    A failure half-way through enforcing (a redacted URL set, the body not yet)
    must not leave a half-changed request: the state puts this back.  Nothing
    is changed before a flow is flagged, so only flagged flows are copied, and
    passive mode never touches the request or the response at all.
    """
    mode = ctx.options.phitrace_mode
    if mode == "passive" and not ctx.options.phitrace_sinkhole:
        return None
    # Sinkhole and block only set a response; redact alone rewrites the request.
    request = flow.request.get_state() if mode == "redact" else None
    return Saved(request, flow.response, "phitrace" in flow.metadata)


class Analyse:
    """Turns flows into requests, asks the analyzer, and flags the flows worth recording."""

    name = "phitrace_analyse"
    """Its name in mitmproxy, which must be unique: mitmweb and mitmproxy have a 'view'."""

    def __init__(self, state: ProxyState) -> None:
        self.state = state

    def _analyse(self, flow: http.HTTPFlow, request: Request) -> Analysis | None:
        """The analysis of an in-scope request that belongs in the database, else None."""
        state = self.state
        if state.analyzer is None:
            return None
        if not state.scope.covers(flow, request.page_url):
            if request.method != WEBSOCKET_METHOD:
                state.unscoped[flow.id] = request
            return None
        analysis = state.analyzer.analyse(request, state.session)
        return analysis if analysis.recorded else None

    def _capture(self, flow: http.HTTPFlow, key: str, request: WireRequest, hook: str) -> None:
        """Hand a request to the analysis worker: only the scope's flowfilter needs the flow."""
        assert self.state.offloop is not None
        matches = self.state.scope.matches
        filtered = matches is None or bool(matches(flow))
        self.state.offloop.capture(Captured(key, flow.id, request, filtered, hook), flow)

    def request(self, flow: http.HTTPFlow) -> None:
        if self.state.offloop is not None:
            try:
                self._capture(flow, flow.id, wire_request(flow), "request")
            except Exception:  # noqa: BLE001 - fail open: phitrace must never break a flow
                self.state.failed(flow, "request")
            return
        self.state.flagged.pop(flow.id, None)
        self.state.unscoped.pop(flow.id, None)
        self.state.unanalysed.pop(flow.id, None)
        request = None
        try:
            request = to_request(flow, self.state.session.pages)
            analysis = self._analyse(flow, request)
            if analysis is not None:
                self.state.flagged[flow.id] = Flagged(analysis, saved_state(flow))
        except Exception as exc:  # noqa: BLE001 - fail open: phitrace must never break a flow
            self.state.failed(flow, "request")
            if request is not None:
                self.state.not_analysed(flow.id, "request", exc, request)

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        key = message_key(flow)
        self.state.flagged.pop(key, None)
        self.state.unanalysed.pop(key, None)
        request = None
        try:
            assert flow.websocket is not None
            message = flow.websocket.messages[-1]
            if not message.from_client:
                return
            if self.state.offloop is not None:
                wire = wire_request(flow)._replace(
                    method=WEBSOCKET_METHOD, body=message.content, timestamp=message.timestamp
                )
                self._capture(flow, key, wire, "websocket_message")
                return
            handshake = to_request(flow, self.state.session.pages)
            request = message_request(handshake, message.content, message.timestamp)
            analysis = self._analyse(flow, request)
            if analysis is not None:
                saved = Saved(None, flow.response, "phitrace" in flow.metadata, message)
                self.state.flagged[key] = Flagged(analysis, saved, status=101)
        except Exception as exc:  # noqa: BLE001 - fail open
            self.state.failed(flow, "websocket_message", key)
            if request is not None:
                self.state.not_analysed(key, "websocket_message", exc, request)

    def response(self, flow: http.HTTPFlow) -> None:
        # Runs before the recorder's hook and before the browser gets the page, so what
        # is learnt here (a login, the page's state) is known to the page's own trackers.
        state = self.state
        if state.analyzer is None or flow.response is None or flow.websocket is not None:
            return
        try:
            if state.offloop is not None:
                # The request as captured (phitrace never changes it in the modes that get
                # here), which the worker holds; else the request as it is now.
                captured = state.offloop.captured(flow.id) is not None
                request = None if captured else to_request(flow)
                response = wire_response(flow, with_body=may_be_document(flow))
                state.offloop.answered(Answered(flow.id, request, response))
                return
            state.analyzer.observe_response(to_request(flow), response_of(flow), state.session)
        except Exception:  # noqa: BLE001 - fail open: the response goes on unchanged
            # Not state.failed(): nothing here changed the flow, and an enforced response
            # of a flagged flow must stay as it is.
            state.session.errors += 1
            log.exception("phitrace: internal error reading the response of flow %s", flow.id)
