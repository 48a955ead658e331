"""Analysis and recording of captured flows as plain data, away from mitmproxy's event loop.

The event loop captures each request, response and answer into the events
below and hands them over in order; an :class:`Analyst` replays them against
one :class:`~phitrace.session.Session`, exactly as the proxy addons would have
on the loop, and hands each record to a :class:`~phitrace.store.writer.Writer`.
It runs in the analysis worker process and, when that process is gone, in the
proxy itself on the events the worker never finished.  What the loop must show
(the verdict of a flagged flow) and what is settled comes back through ``emit``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple, cast

from phitrace import urls
from phitrace.analyzer import Analyzer
from phitrace.capture.flows import WireRequest, WireResponse, from_wire, response_from_wire
from phitrace.decode.budget import Limits
from phitrace.model import Analysis, Request, Response
from phitrace.proxy.state import Flagged
from phitrace.proxy.view import Shown, shown, verdict_metadata
from phitrace.session import Session
from phitrace.store.rows import Record
from phitrace.store.writer import Writer

log = logging.getLogger("phitrace.proxy.state")
"""The fail-open log lines read as the proxy's own: same logger, same words."""


class Captured(NamedTuple):
    """A request (or client WebSocket message) as the request hook saw it."""

    key: str
    flow_id: str
    wire: WireRequest | Request
    """As copied on the event loop (decoded where it is analysed), or already a request;
    without its page either way: the analyst works that out from the session's pages."""
    filtered: bool
    """Whether the scope's flowfilter, which needs the flow itself, lets the flow in."""
    hook: str
    """``request`` or ``websocket_message``: a message is recorded as soon as it is analysed."""

    @property
    def request(self) -> Request:
        """The captured request, decoded (each time: the worker does it once per event)."""
        wire = self.wire
        return wire if isinstance(wire, Request) else from_wire(wire)


class Answered(NamedTuple):
    """A response the session learns from (logins, page documents)."""

    flow_id: str
    request: Request | None
    """None for the request captured under the same flow id, which the analyst holds."""
    response: WireResponse | Response


class Finished(NamedTuple):
    """A flow that got its answer (or failed): its record, if flagged, is written now."""

    key: str
    status: int | None
    blocked: bool = False
    """Whether the loop answered it itself (the sinkhole): nothing was forwarded."""


CAPTURED, ANSWERED, FINISHED = "captured", "answered", "finished"
"""The tags of the events' wire forms (:func:`packed`)."""


def packed(event: object) -> object:
    """An event as a plain tuple for the pipe, else as it is.

    A named tuple pickles through a Python call per object, which costs the
    event loop three times what its fields do; a tagged plain tuple pickles in C.
    """
    kind = type(event)
    if kind is Captured:
        key, flow_id, wire, filtered, hook = cast(Captured, event)
        if type(wire) is WireRequest:
            return (CAPTURED, key, flow_id, tuple(cast(WireRequest, wire)), filtered, hook)
    elif kind is Answered:
        answered = cast(Answered, event)
        if type(answered.response) is WireResponse:
            return (ANSWERED, answered.flow_id, answered.request, tuple(answered.response))
    elif kind is Finished:
        return (FINISHED, *cast(Finished, event))
    return event


def unpacked(item: object) -> object:
    """The event a :func:`packed` item stands for."""
    if type(item) is not tuple:
        return item
    tag = item[0]
    if tag == CAPTURED:
        return Captured(item[1], item[2], WireRequest(*item[3]), item[4], item[5])
    if tag == ANSWERED:
        return Answered(item[1], item[2], WireResponse(*item[3]))
    if tag == FINISHED:
        return Finished(*item[1:])
    raise ValueError(f"unknown event {tag!r}")


class Verdict(NamedTuple):
    """A flagged flow's verdict, as the live view shows it."""

    key: str
    flow_id: str
    view: Shown
    hook: str


def unread(event: Captured) -> Request:
    """The request of an event whose analysis failed, as far as it can be read.

    Its headers may be what failed to decode: the record then keeps the method,
    URL, body and time, so the flow is still on record as not analysed.
    """
    try:
        return event.request
    except Exception:  # noqa: BLE001 - keep what needs no decoding
        wire = event.wire
        assert isinstance(wire, WireRequest)
        return Request(wire.method, wire.url, (), wire.body, wire.timestamp)


def in_domains(domains: tuple[str, ...], page: str | None) -> bool:
    """The page part of :meth:`~phitrace.proxy.scope.Scope.covers`, which needs no flow."""
    if not domains or not page:
        return True
    host = urls.host_of(page)
    return any(urls.within(host, d) for d in domains)


class Analyst:
    """One recording session's memory, analysis and writer, fed with captured events."""

    def __init__(
        self,
        analyzer: Analyzer,
        emit: Callable[[object], None],
        domains: tuple[str, ...] = (),
        session: Session | None = None,
    ) -> None:
        self.analyzer = analyzer
        self.emit = emit
        self.domains = domains
        self.session = session if session is not None else Session()
        self.session_id: int | None = None
        self.writer: Writer | None = None
        self.flagged: dict[str, Flagged] = {}
        self.unanalysed: dict[str, Flagged] = {}
        self.recorded: list[str] = []
        """Keys whose records went to the writer since the last :meth:`settle`."""
        self.requests: dict[str, Request] = {}
        """Each unfinished flow's request as captured, for the response to be read against."""

    def open(self, path: Path, session_id: int, writer: dict[str, Any]) -> None:
        """Start the session's writer, with the arguments the recorder would give it."""
        self.session_id = session_id
        self.writer = Writer(path, session_id=session_id, **writer)

    def limits(self, limits: Limits) -> None:
        """Decode with new limits from now on."""
        self.analyzer.limits = limits

    def configure_writer(self, values: dict[str, Any]) -> None:
        """Pass changed storage options to the writer, which reads them per batch."""
        if self.writer is not None:
            for name, value in values.items():
                setattr(self.writer, name, value)

    def handle(self, event: object) -> None:
        """Apply one captured event to the session, in the order the loop saw them."""
        if isinstance(event, Captured):
            self.analyse(event)
        elif isinstance(event, Finished):
            self.finish(event.key, event.status, event.blocked)
        elif isinstance(event, Answered):
            self.answered(event)

    def analyse(self, event: Captured) -> None:
        """Analyse a captured request; keep it flagged when it is to be recorded."""
        key, session = event.key, self.session
        self.flagged.pop(key, None)
        self.unanalysed.pop(key, None)
        request: Request | None = None
        try:
            request = event.request
            if event.hook == "request":
                self.requests[event.flow_id] = request
            page = session.pages.page_for(request.url, request.headers)
            request = replace(request, page_url=page)
            analysis = self._analysis(event, request)
        except Exception as exc:  # noqa: BLE001 - fail open: keep the request as sent
            session.errors += 1
            log.exception(
                "phitrace: internal error in %s hook for flow %s; flow left untouched",
                event.hook,
                event.flow_id,
            )
            error = f"{event.hook} hook: {type(exc).__name__}"
            kept = request if request is not None else unread(event)
            self.unanalysed[key] = Flagged(Analysis.unanalysed(kept), None, error=error)
            analysis = None
        if analysis is not None:
            status = 101 if event.hook == "websocket_message" else None
            self.flagged[key] = Flagged(analysis, None, status=status)
            self.emit(Verdict(key, event.flow_id, self._view(event, analysis), event.hook))
        if event.hook == "websocket_message":
            self.finish(key, 101)

    def _view(self, event: Captured, analysis: Analysis) -> Shown:
        """The verdict to show; without mark and comment when making them fails (fail open)."""
        try:
            return shown(analysis, "passive")
        except Exception:  # noqa: BLE001 - the record is kept; only the live view is less
            self.session.errors += 1
            log.exception(
                "phitrace: internal error in %s hook for flow %s; flow left untouched",
                event.hook,
                event.flow_id,
            )
            severity, vendor = analysis.severity or "info", analysis.vendor or "third party"
            return Shown(verdict_metadata(analysis, "passive"), severity, vendor)

    def _analysis(self, event: Captured, request: Request) -> Analysis | None:
        """The analysis of an in-scope request that belongs in the database, else None."""
        if not event.filtered or not in_domains(self.domains, request.page_url):
            return None
        analysis = self.analyzer.analyse(request, self.session)
        return analysis if analysis.recorded else None

    def answered(self, event: Answered) -> None:
        """Learn from a response; a failure only counts (the response went on unchanged)."""
        try:
            request = event.request or self.requests.get(event.flow_id)
            if request is None:
                return  # its request could not be read: counted when it was captured
            response = event.response
            if not isinstance(response, Response):
                response = response_from_wire(response)
            self.analyzer.observe_response(request, response, self.session)
        except Exception:  # noqa: BLE001 - fail open
            self.session.errors += 1
            log.exception("phitrace: internal error reading the response of flow %s", event.flow_id)

    def finish(self, key: str, status: int | None, blocked: bool = False) -> None:
        """Hand a flagged (or unanalysed) flow's record to the writer; it is settled then."""
        entry = self.unanalysed.pop(key, None) or self.flagged.pop(key, None)
        self.flagged.pop(key, None)
        self.requests.pop(key, None)
        self.recorded.append(key)
        if entry is None:
            return
        if self.writer is None or self.session_id is None:
            return
        status = entry.status if entry.status is not None else status
        record = Record(self.session_id, entry.analysis, status, blocked, (), entry.error)
        self.writer.submit(record)

    def settle(self) -> list[str]:
        """Wait until every record handed over so far is committed; the keys now settled."""
        if self.writer is not None and self.recorded:
            self.writer.flush()
        settled, self.recorded = self.recorded, []
        return settled

    def close(self, record_pending: bool) -> dict[str, Any]:
        """Record what is still flagged (or keep it), close the writer; what the recorder needs."""
        if record_pending:
            for key in [*self.unanalysed, *self.flagged]:
                self.finish(key, None)
        failed, continued = 0, None
        if self.writer is not None:
            self.writer.close()
            failed, continued = self.writer.failed, self.writer.continued_in
            self.writer = None
        return {
            "session": self.session,
            "flagged": self.flagged,
            "unanalysed": self.unanalysed,
            "failed": failed,
            "continued_in": continued,
        }
