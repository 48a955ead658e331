"""When a recording session analyses off the event loop, and how the proxy takes it back.

Passive recording needs no verdict before a flow goes on, so its analysis,
session memory and storage run in a worker process (:mod:`phitrace.proxy.offloop`)
and the hooks only capture.  Modes that act on a flow before it is forwarded
(sinkhole, block, redact) need the analysis on the spot and keep it on the
loop.  The proxy takes the session back, whole, when such a mode (or a new
analyzer) is chosen mid-session, and takes over a worker that died, analysing
its unsettled flows again so that none is lost.
"""

from __future__ import annotations

import logging
from typing import Any

from mitmproxy import ctx, hooks, http

from phitrace.proxy.analyst import Analyst, Verdict
from phitrace.proxy.offloop import NOT_FINISHED, OffLoop, Pending, WorkerGone
from phitrace.proxy.state import ProxyState
from phitrace.proxy.view import View
from phitrace.session import Session
from phitrace.store.target import Target
from phitrace.store.writer import Writer

log = logging.getLogger(__name__)


def wants_worker(options: Any) -> bool:
    """True when no flow waits for an analysis: passive, where the sinkhole needs only a match."""
    return options.phitrace_mode == "passive"


def writer_options(options: Any) -> dict[str, Any]:
    """The :class:`Writer` arguments the options set."""
    return {
        "store_bodies": options.phitrace_store_bodies,
        "storage": options.phitrace_storage,
        "max_body": options.phitrace_max_stored_body_bytes,
    }


class Workers:
    """Starts the analysis worker of a session, shows its verdicts, and takes sessions back."""

    def __init__(self, state: ProxyState, view: View) -> None:
        self.state = state
        self.view = view
        self.enabled = False
        """Whether sessions may analyse off the loop (the mitmproxy entry point turns it on)."""
        self.path: Target | None = None
        """The database of the session the worker records, as the recorder named it."""

    def start(self, path: Target, label: str) -> bool:
        """Start the worker for a session just opened; False when it analyses on the loop."""
        state = self.state
        if not self.enabled or state.analyzer is None or not wants_worker(ctx.options):
            return False
        try:
            offloop = OffLoop(state.analyzer, label, self._verdict, self._died, self._shown)
        except Exception:  # noqa: BLE001 - no worker, no harm: analyse on the loop
            log.exception("phitrace: cannot start the analysis worker; analysing on the loop")
            return False
        offloop.command("domains", state.scope.domains)
        offloop.command("open", path, state.session_id, writer_options(ctx.options))
        state.offloop, self.path = offloop, path
        return True

    def configure(self, updated: set[str], rebuilt: bool) -> None:
        """Pass changed options to the worker, or take the session back when they need it."""
        offloop = self.state.offloop
        if offloop is None:
            return
        if rebuilt or not wants_worker(ctx.options):
            self.take_back()
            return
        offloop.command("limits", self.state.analyzer.limits if self.state.analyzer else None)
        offloop.command("domains", self.state.scope.domains)
        offloop.command("writer", writer_options(ctx.options))

    def stop(self) -> tuple[int, int | None]:
        """Let the worker record everything and stop; the writer's failures and continuation."""
        offloop = self.state.offloop
        assert offloop is not None
        try:
            result = offloop.stop(record_pending=True)
        except WorkerGone:
            self._died(offloop)  # once: drain() may have seen the death already
            return 0, None  # the recorder closes the writer it now holds
        self.state.offloop = None
        self._merge(result["session"])
        return result["failed"], result["continued_in"]

    def flush(self) -> None:
        """Wait for the worker's records to be committed; bring its inventory here."""
        offloop = self.state.offloop
        if offloop is None:
            return
        try:
            self.state.session.parties = offloop.ask("flush")
        except WorkerGone:
            self._died(offloop)  # once: drain() may have seen the death already

    def take_back(self) -> None:
        """Bring the session, its flagged flows and its writer back to the event loop."""
        state = self.state
        offloop = state.offloop
        assert offloop is not None
        try:
            result = offloop.stop(record_pending=False)
        except WorkerGone:
            self._died(offloop)  # once: drain() may have seen the death already
            return
        state.offloop = None
        self._merge(result["session"])
        state.session.errors += result["failed"]
        state.flagged.update(result["flagged"])
        state.unanalysed.update(result["unanalysed"])
        # A new writer for the same session finds a purge for itself and continues likewise.
        state.writer = self._writer()

    def _merge(self, worker: Session) -> None:
        """Keep the worker's memory and the loop's counters as one session."""
        session = self.state.session
        worker.severities, worker.vendors = session.severities, session.vendors
        worker.errors += session.errors
        self.state.session = worker

    def _writer(self) -> Writer:
        """The writer that goes on with the session here, on the database the worker wrote."""
        assert self.path is not None
        return Writer(self.path, **writer_options(ctx.options), session_id=self.state.session_id)

    def _verdict(self, verdict: Verdict, pending: Pending) -> None:
        """Show a flagged flow's verdict on the flow, a moment after it went on; count it."""
        flow = pending.flow
        try:
            self.view.apply(flow, verdict.view, pending.action)
        except Exception:  # noqa: BLE001 - fail open: the record is the worker's, kept
            if flow is not None:
                self.state.failed(flow, verdict.hook)
            else:
                self.state.session.errors += 1
                log.exception("phitrace: internal error showing flow %s", verdict.flow_id)

    @staticmethod
    def _shown(flows: list[http.HTTPFlow]) -> None:
        """Tell mitmweb and the console, once per batch, that these flows changed."""
        try:
            ctx.master.addons.trigger(hooks.UpdateHook(flows))
        except Exception:  # noqa: BLE001 - only the live view is late
            log.debug("phitrace: could not announce %d verdicts", len(flows), exc_info=True)

    def _died(self, offloop: OffLoop) -> None:
        """The worker died mid-session: count it, and analyse its unsettled flows here."""
        if self.state.offloop is offloop:
            self._take_over(offloop)

    def _take_over(self, offloop: OffLoop) -> None:
        """Analyse and record, on the loop, every flow the dead worker had not settled.

        The worker's memory of the session is lost with it: the flows are
        analysed again in order in a fresh session, so their linkage to what
        came before may be missed, but each is recorded.
        """
        state = self.state
        state.offloop = None
        orphans = offloop.orphans()
        state.session.errors += offloop.errors + 1
        log.error(
            "phitrace: the analysis worker stopped; analysing on the event loop from now on "
            "(%d unfinished flows analysed again)",
            len(orphans),
        )
        assert state.analyzer is not None
        session = Session(label=state.session.label)
        session.errors = state.session.errors
        session.severities, session.vendors = state.session.severities, state.session.vendors
        flows = {pending.event.key: pending for pending in orphans}

        def show(item: object) -> None:
            if isinstance(item, Verdict) and item.key in flows:
                self._verdict(item, flows[item.key])

        analyst = Analyst(state.analyzer, show, state.scope.domains, session)
        state.writer = analyst.writer = self._writer()
        analyst.session_id = state.session_id
        for pending in orphans:
            analyst.analyse(pending.event)
            if pending.status is not NOT_FINISHED:
                analyst.finish(pending.event.key, pending.status, pending.action == "sinkhole")
        state.session = analyst.session
        state.flagged.update(analyst.flagged)
        state.unanalysed.update(analyst.unanalysed)
