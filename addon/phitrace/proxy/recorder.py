"""Recording sessions: the database, the background writer, and the session and report commands.

One :class:`~phitrace.session.Session` is made per recording session (when the
proxy starts, when ``phitrace_db`` changes, per ``phitrace.session`` command),
so ids seen in one session never link requests of the next.  Records are
handed to the :class:`~phitrace.store.writer.Writer` thread, never written
on mitmproxy's event loop.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from mitmproxy import ctx, exceptions, http, types

from phitrace.model import SEVERITIES
from phitrace.proxy.state import Flagged, ProxyState, message_key
from phitrace.proxy.workers import Workers, writer_options
from phitrace.session import Session
from phitrace.store.database import open_database, write_transaction
from phitrace.store.engine import Store
from phitrace.store.rows import Record, Row, party_rows
from phitrace.store.sessions import end_session, start_session, started_at
from phitrace.store.target import Target, files, parse_target
from phitrace.store.writer import Writer, write_inventory

log = logging.getLogger(__name__)

NO_PATH = types.Path("")
"""The report command's default: the file ``phitrace_report`` names."""

REBUILT_BY = frozenset({"phitrace_signatures", "phitrace_canaries", "phitrace_policy"})
"""Options that give the proxy a new analyzer, which a running worker does not have."""

REPORT_WAIT = 120.0
"""Seconds the proxy waits, when it stops, for reports still being written."""


class Recorder:
    """Opens and closes recording sessions and records each flagged flow once it is answered."""

    name = "phitrace_recorder"
    """Its name in mitmproxy, which must be unique: mitmweb and mitmproxy have a 'view'."""

    def __init__(self, state: ProxyState, workers: Workers | None = None) -> None:
        self.state = state
        self.workers = workers
        """Starts each session's analysis worker, when sessions analyse off the event loop."""
        self.reports: list[threading.Thread] = []
        """Report threads started by ``phitrace.report``; the proxy waits for them to finish."""

    # Sessions -----------------------------------------------------------------

    def configure(self, updated: set[str]) -> None:
        if self.workers is not None:
            self.workers.configure(updated, bool(updated & REBUILT_BY))
        writer = self.state.writer
        if writer is not None and updated & {"phitrace_storage", "phitrace_store_bodies"}:
            # The writer reads these per batch: a switch to keeping less covers every
            # record not yet committed, without waiting for the next session.
            writer.storage = ctx.options.phitrace_storage
            writer.store_bodies = ctx.options.phitrace_store_bodies
        if writer is not None and "phitrace_max_stored_body_bytes" in updated:
            writer.max_body = ctx.options.phitrace_max_stored_body_bytes
        if "phitrace_db" in updated and self.state.recording:
            self.close_session()
            self.open_session(ctx.options.phitrace_label)

    def running(self) -> None:
        if not self.state.recording:
            self.open_session(ctx.options.phitrace_label)

    def done(self) -> None:
        # A report asked for just before quitting must still be written: its thread is
        # a daemon, which the interpreter would kill half-way at exit.
        for thread in self.reports:
            thread.join(REPORT_WAIT)
        self.reports.clear()
        self.close_session()

    @staticmethod
    def db_path() -> Target:
        """The database the options name: a SQLite file or a PostgreSQL URL."""
        target = parse_target(ctx.options.phitrace_db)
        return target.expanduser() if isinstance(target, Path) else target

    def open_session(self, label: str) -> None:
        """Start a session row, a fresh :class:`Session` and a writer thread."""
        state = self.state
        assert state.analyzer is not None
        try:
            path = self.db_path()
        except ValueError as exc:
            raise exceptions.OptionsError(f"Cannot parse phitrace_db option: {exc}") from None
        try:
            db = open_database(path)
        except Exception as exc:  # noqa: BLE001 - any failure here must be explained
            raise exceptions.OptionsError(
                f"Cannot open phitrace_db {path}: {exc}. Choose a writable path."
            ) from exc
        source = "flows" if getattr(ctx.options, "rfile", None) else "proxy"
        try:
            state.session_id = start_session(
                db,
                source=source,
                label=label,
                signatures_digest=state.analyzer.catalogue.digest,
                consent=ctx.options.phitrace_consent,
                scope=state.scope.describe(),
            )
            state.session_started = started_at(db, state.session_id)
        finally:
            db.close()
        state.session = Session(label=label)
        options = ctx.options
        off = self.workers is not None and self.workers.start(path, label)
        if not off:
            state.writer = Writer(path, **writer_options(options), session_id=state.session_id)
        log.info(
            "phitrace: recording session %s to %s (%d tracker signatures, mode %s%s%s)",
            state.session_id,
            path,
            len(state.analyzer.catalogue),
            options.phitrace_mode,
            ", sinkhole on" if options.phitrace_sinkhole else "",
            ", analysed off the event loop" if off else "",
        )

    def close_session(self) -> None:
        """Record what is still flagged, drain the writer and end the session row."""
        state = self.state
        continued = None
        if state.offloop is not None and self.workers is not None:
            failed, continued = self.workers.stop()
            state.session.errors += failed
        for key in list(state.unanalysed):
            state.adopt(key)
        for key in list(state.flagged):
            self._record(key, None)
        if state.writer is not None:
            state.writer.close()
            state.session.errors += state.writer.failed
            continued = state.writer.continued_in
            state.writer = None
        if state.session_id is not None:
            db = open_database(self.db_path())
            try:
                self._end(db, continued or state.session_id, continued is None)
            finally:
                db.close()
            state.session_id = state.session_started = None

    def _end(self, db: Store, session_id: int, own: bool) -> None:
        """Store the inventory and end the session, unless ``purge`` deleted it meanwhile.

        Its id may already belong to a newer session (ids are reused once the
        newest are deleted): checked in the same transaction, so another
        recording is never ended or given this one's inventory.
        """
        state = self.state
        with write_transaction(db):
            if own and started_at(db, session_id) != state.session_started:
                log.warning(
                    "phitrace: session %s was deleted while it was being recorded; "
                    "its inventory and end are not stored",
                    session_id,
                )
                return
            try:
                write_inventory(db, session_id, party_rows(session_id, state.session.parties))
            except Exception:  # noqa: BLE001 - the session must still be closed
                log.exception("phitrace: could not store the inventory of third parties")
            end_session(db, session_id, state.session.errors)

    # Hooks --------------------------------------------------------------------

    def response(self, flow: http.HTTPFlow) -> None:
        status = flow.response.status_code if flow.response else None
        if self.state.offloop is not None:
            self.state.offloop.finish(flow.id, status)
            return
        self.state.adopt(flow.id)
        self.state.on_flagged(flow, "response", flow.id, lambda _: self._record(flow.id, status))

    def error(self, flow: http.HTTPFlow) -> None:
        if self.state.offloop is not None:
            self.state.offloop.finish(flow.id, None)
            return
        self.state.adopt(flow.id)
        self.state.on_flagged(flow, "error", flow.id, lambda _: self._record(flow.id, None))

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        if self.state.offloop is not None:
            return  # the worker records a message as soon as it has analysed it
        key = message_key(flow)
        self.state.adopt(key)
        self.state.on_flagged(flow, "websocket_message", key, lambda _: self._record(key, 101))

    def _record(self, key: str, status: int | None) -> None:
        """Hand a flagged flow's record to the writer thread; it is no longer flagged."""
        entry: Flagged = self.state.flagged.pop(key)
        state = self.state
        if state.writer is None or state.session_id is None:
            return
        blocked = entry.action in ("sinkhole", "blocked")
        status = entry.status if entry.status is not None else status
        record = Record(
            state.session_id, entry.analysis, status, blocked, entry.removed, entry.error
        )
        state.writer.submit(record)

    # Commands (mitmproxy knows them by the addon's names for them) -------------

    def summary_command(self) -> str:
        """Counts of flagged flows so far in this session, by severity and vendor."""
        session = self.state.session
        counts, vendors = session.severities, session.vendors
        worker = self.state.offloop.errors if self.state.offloop is not None else 0
        by_severity = ", ".join(f"{s} {counts[s]}" for s in SEVERITIES)
        top = ", ".join(f"{v} {n}" for v, n in vendors.most_common(10)) or "none"
        text = (
            f"session {self.state.session_id}: {sum(counts.values())} tracker flows "
            f"({by_severity}); vendors: {top}; internal errors: {session.errors + worker}"
        )
        log.info(text)
        return text

    def session_command(self, name: str) -> None:
        """Finish the current session and start a new one labelled NAME."""
        self.close_session()
        self.open_session(name)

    def report_command(self, path: types.Path = NO_PATH) -> None:
        """Write the HTML report of everything recorded so far (in the background)."""
        from phitrace.store.private import OutputError, refuse_database_target

        target = Path(path or ctx.options.phitrace_report).expanduser()
        try:  # Refused here, in one line, not on the report's thread where it is only logged.
            refuse_database_target(
                target, files([self.db_path()]), "give phitrace.report another file"
            )
        except OutputError as exc:
            raise exceptions.CommandError(str(exc)) from None
        if self.state.writer is not None:
            self.state.writer.flush()
        if self.workers is not None:
            self.workers.flush()
        parties = None
        if self.state.session_id is not None:
            parties = (
                self.state.session_id,
                party_rows(self.state.session_id, self.state.session.parties),
            )
        thread = threading.Thread(
            target=write_report,
            args=(self.db_path(), target, parties, self.state.session_started),
            name="phitrace-report",
            daemon=True,
        )
        self.reports = [t for t in self.reports if t.is_alive()]
        self.reports.append(thread)
        thread.start()


def write_report(
    db_path: Target,
    target: Path,
    parties: tuple[int, list[Row]] | None = None,
    started: str | None = None,
) -> None:
    """Render the report from the database on a thread of its own; failures are only logged.

    ``parties`` is the running session's inventory, taken on the event loop and
    stored here first, so the report lists every third party seen so far; not
    when that session, known by its start time ``started``, was deleted meanwhile.
    """
    from phitrace.report.html import context_for, render_html
    from phitrace.store.private import write_private
    from phitrace.store.reader import load_findings

    try:
        db = open_database(db_path)
        try:
            if parties is not None:
                with write_transaction(db):
                    if started is None or started_at(db, parties[0]) == started:
                        write_inventory(db, *parties)
            context = context_for(load_findings(db, raw=True))
        finally:
            db.close()
        write_private(target, render_html(context), files([db_path]))
        log.info(
            "phitrace: wrote report %s (%d flows, %d findings)",
            target,
            context.total_flows,
            context.total_findings,
        )
    except Exception:  # noqa: BLE001 - a report failure must not affect the proxy
        log.exception("phitrace: could not write the report to %s", target)
