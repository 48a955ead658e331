"""The state phitrace's proxy addons share: the analyzer, the recording session and flagged flows.

Each addon of :class:`~phitrace.proxy.addon.PhiTrace` handles one job of a
flow (analyse, enforce, show, record) and hands its result to the next through
one :class:`ProxyState`, passed to every addon when it is made.  The state
also holds the single fail-open path: :meth:`ProxyState.failed` counts and
logs an internal error, puts the flow back as it was, and keeps the analysis
for the database, or, when the analysis itself failed, the request as sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mitmproxy import http, websocket

from phitrace.analyzer import Analyzer
from phitrace.model import Analysis, Request
from phitrace.proxy.scope import Scope
from phitrace.session import Session
from phitrace.store.writer import Writer

if TYPE_CHECKING:
    from phitrace.proxy.offloop import OffLoop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Saved:
    """A flow's request and response as they were before phitrace acted on it."""

    request: Any
    """The request's state, or None when the mode never changes the request."""
    response: http.Response | None
    had_metadata: bool
    message: websocket.WebSocketMessage | None = None
    """The WebSocket message phitrace may drop, or None for an HTTP request."""

    def restore(self, flow: http.HTTPFlow) -> None:
        """Put the request, response and message back; drop phitrace's half-written verdict."""
        if self.message is not None:
            self.message.dropped = False
        else:
            if self.request is not None:
                flow.request.set_state(self.request)
            flow.response = self.response
        if not self.had_metadata:
            flow.metadata.pop("phitrace", None)


@dataclass
class Flagged:
    """A flow that phitrace analysed and will record, and what was done to it so far."""

    analysis: Analysis
    saved: Saved | None
    """What to put back when a later step fails; None when nothing may be changed."""
    action: str = "passive"
    """passive, sinkhole, blocked or redacted."""
    removed: tuple[str, ...] = ()
    """The field paths redaction removed."""
    status: int | None = None
    """The status code to record when it is known before the response (WebSocket: 101)."""
    error: str | None = None
    """Why the flow was not analysed (the hook and exception), when its analysis failed."""


def message_key(flow: http.HTTPFlow) -> str:
    """The key of a WebSocket message's entry, apart from its handshake's."""
    return f"{flow.id}/message"


@dataclass
class ProxyState:
    """Everything the proxy addons share for one running proxy."""

    analyzer: Analyzer | None = None
    scope: Scope = field(default_factory=Scope)
    session: Session = field(default_factory=Session)
    session_id: int | None = None
    session_started: str | None = None
    """When the session ``session_id`` started: with its id, what identifies it."""
    writer: Writer | None = None
    offloop: OffLoop | None = None
    """The analysis worker of the current session, when it analyses off the event loop."""
    flagged: dict[str, Flagged] = field(default_factory=dict)
    """Flagged flows by key (the flow id, or :func:`message_key`) until they are recorded."""
    unscoped: dict[str, Request] = field(default_factory=dict)
    """Requests left out by the scope, by flow id, until enforcement has seen them."""
    unanalysed: dict[str, Flagged] = field(default_factory=dict)
    """Requests whose analysis failed, by key, until they are recorded: never enforced or
    shown (the flow goes on as sent), but kept for the database with the error."""

    @property
    def recording(self) -> bool:
        """Whether a recording session is open (its writer here or in the worker)."""
        return self.writer is not None or self.offloop is not None

    def not_analysed(self, key: str, hook: str, exc: Exception, request: Request) -> None:
        """Keep the record of a request whose analysis raised: fail open, lose nothing.

        Only the exception's type is kept: its message may quote the payload.
        """
        error = f"{hook} hook: {type(exc).__name__}"
        self.unanalysed[key] = Flagged(Analysis.unanalysed(request), None, error=error)

    def adopt(self, key: str) -> None:
        """Make an unanalysed request flagged, to be recorded by the hook that runs now."""
        entry = self.unanalysed.pop(key, None)
        if entry is not None:
            self.flagged[key] = entry

    def on_flagged(
        self, flow: http.HTTPFlow, hook: str, key: str, act: Callable[[Flagged], None]
    ) -> None:
        """Run a hook's work on the flagged entry under ``key``, if any, failing open.

        The hooks that only act on flows phitrace flagged share this guard, so
        an internal error is caught, counted and undone the same way everywhere.
        """
        entry = self.flagged.get(key)
        if entry is None:
            return
        try:
            act(entry)
        except Exception:  # noqa: BLE001 - fail open: phitrace must never break a flow
            self.failed(flow, hook, key)

    def failed(self, flow: http.HTTPFlow, hook: str, key: str | None = None) -> None:
        """Count and log an internal error once, with the flow id; undo any change to the flow.

        Fail open for the flow, never lose the record: the analysis already made
        stays flagged and is recorded as passive, since the flow goes on unchanged.
        """
        self.session.errors += 1
        log.exception(
            "phitrace: internal error in %s hook for flow %s; flow left untouched", hook, flow.id
        )
        entry = self.flagged.get(key or flow.id)
        if entry is None or entry.saved is None:
            return
        try:
            entry.saved.restore(flow)
        except Exception:  # noqa: BLE001 - already failing: log, never raise into mitmproxy
            log.exception("phitrace: could not restore flow %s", flow.id)
        entry.action, entry.removed = "passive", ()
