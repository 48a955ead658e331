"""The writer that never blocks the proxy: batched inserts from a queue on one thread.

Writes from the proxy go through :class:`Writer`: a queue drained by one
thread in batched transactions, so mitmproxy's event loop never waits on
SQLite, and a record waits at most ``interval`` seconds (plus one commit)
before it is on disk.  :func:`write_record` and :func:`write_records` are
the insert paths, used directly by the offline scanner.

A record whose raw request cannot be stored (too big for SQLite, say) is
written without it: the flow and its findings are never lost to the body.
While it records, the writer refreshes its sessions' heartbeat; a session
deleted under it (``purge``) is continued in a new session, with a warning,
rather than filling a deleted session with orphan flows.

On a PostgreSQL server the writer rides out a restart: it reconnects with
backoff (:mod:`phitrace.store.reconnect`) and retries the batch in hand,
while new records wait in a queue of at most ``max_queue``; records beyond
it are counted in ``failed`` at once, so ``submit`` never blocks.  A batch
whose commit was cut off is looked for before it is retried, so it is never
written twice; ``written`` only counts committed records.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from phitrace.store.continuation import Sessions
from phitrace.store.database import open_database, write_transaction
from phitrace.store.engine import Store, data_errors, insert_rows, is_postgres, new_ids
from phitrace.store.reconnect import Link, is_disconnect, landed
from phitrace.store.rows import MAX_STORED_BODY, Record, Row, check_storage, prepared, with_raw
from phitrace.store.sessions import HEARTBEAT, release_sessions, touch_sessions
from phitrace.store.target import PostgresTarget, Target, parse_target

__all__ = ["Sessions", "Writer", "write_inventory", "write_record", "write_records"]

log = logging.getLogger(__name__)

MAX_QUEUE = 20_000
"""Records a writer holds while its database is away; more are counted as not written."""


def _insert(db: Store, table: str, rows: Sequence[Row]) -> None:
    """Insert rows (all with the same keys) in as few statements as the engine allows."""
    insert_rows(db, table, rows)


def _rows(
    record: Record, flow_id: int, store_bodies: bool, storage: str, max_body: int
) -> tuple[Row, list[Row], Row | None]:
    """A record's flow row (with its id), finding rows and, when kept, its ``requests`` row."""
    flow, findings, may_keep = prepared(record, storage)
    raw = None
    if store_bodies and may_keep:
        flow, raw = with_raw(flow, flow_id, record, max_body)
    flow = {"id": flow_id, **flow}
    return flow, [{"flow_id": flow_id, **f} for f in findings], raw


def write_record(
    db: Store,
    record: Record,
    store_bodies: bool,
    storage: str = "full",
    max_body: int = MAX_STORED_BODY,
) -> int:
    """Write one flow with its findings (and raw request, if asked); return the flow id.

    ``storage="redact"`` applies :func:`redact_rows` and never stores the raw
    request.  A raw request SQLite refuses is left out, with a warning: the
    flow and its findings are written all the same.
    """
    with write_transaction(db):
        (flow_id,) = new_ids(db, "flows", 1)
        flow, findings, raw = _rows(record, flow_id, store_bodies, storage, max_body)
        if raw is not None:
            try:
                with db.atomic():  # a savepoint: PostgreSQL's transaction survives a refusal
                    _insert(db, "requests", [raw])
            except data_errors() as exc:
                log.warning("phitrace stored flow %d without its raw request: %s", flow_id, exc)
                flow = {**flow, "request_body_truncated": 1}
        _insert(db, "flows", [flow])
        _insert(db, "findings", findings)
    return flow_id


def write_records(
    db: Store,
    records: Sequence[Record],
    store_bodies: bool,
    storage: str = "full",
    max_body: int = MAX_STORED_BODY,
    ids: Sequence[int] | None = None,
) -> None:
    """Write many records with a handful of statements.

    Flow ids come from the database (:func:`new_ids`) unless given; on SQLite
    the caller must hold the write lock (``BEGIN IMMEDIATE``) for the whole call.
    """
    flows: list[Row] = []
    findings: list[Row] = []
    raws: list[Row] = []
    ids = new_ids(db, "flows", len(records)) if ids is None else ids
    for flow_id, record in zip(ids, records, strict=True):
        flow, found, raw = _rows(record, flow_id, store_bodies, storage, max_body)
        flows.append(flow)
        findings += found
        if raw is not None:
            raws.append(raw)
    _insert(db, "flows", flows)
    _insert(db, "findings", findings)
    _insert(db, "requests", raws)


def write_inventory(db: Store, session_id: int, rows: Sequence[Row]) -> None:
    """Replace a session's ``third_parties`` rows with ``rows`` (see :func:`party_rows`).

    Replacing, not adding: the inventory is written again whenever a report is
    made and when the session closes, and each time it is the whole picture.
    """
    with db.atomic():
        db.execute("delete from third_parties where session_id = ?", [session_id])
        _insert(db, "third_parties", list(rows))


class Writer:
    """Writes records from a queue on its own thread, in batched transactions.

    ``submit`` never blocks.  A batch is committed when it holds ``max_batch``
    records or ``interval`` seconds after its first record arrived, whichever
    comes first, so a crash loses at most that much.  The writer's connection
    uses ``synchronous=FULL``: each batch is on stable storage once committed,
    which costs one fsync per batch.  A record that cannot be written is
    retried without its raw request, and only if that fails too is it counted
    in ``failed`` and logged; the records around it are still written.
    Every ``heartbeat`` seconds, and with every batch, the sessions it writes
    (``session_id`` and those of its records) are marked alive.  ``close``
    commits everything still queued, waiting for a lost server at most its
    ``timeout``; what it could not write by then is counted in ``failed``.
    """

    _STOP = object()

    def __init__(
        self,
        path: str | Path | Target,
        *,
        store_bodies: bool = True,
        storage: str = "full",
        max_body: int = MAX_STORED_BODY,
        session_id: int | None = None,
        max_batch: int = 500,
        interval: float = 0.25,
        heartbeat: float = HEARTBEAT,
        max_queue: int = MAX_QUEUE,
    ) -> None:
        check_storage(storage)
        self.path = parse_target(path) if isinstance(path, str) else path
        self.store_bodies = store_bodies
        self.storage = storage
        self.max_body = max_body
        self.max_batch = max_batch
        self.interval = interval
        self.heartbeat = heartbeat
        self.max_queue = max_queue
        self.written = 0
        """Records committed: these are in the database, whatever happens next."""
        self.dropped = 0
        """Records refused because the queue was full (also counted in ``failed``)."""
        self._failed = 0
        self._pending = 0
        self._lock = threading.Lock()
        self._give_up_at: float | None = None
        self._attempt: list[int] = []
        # Only a server comes back; a SQLite file that cannot be opened stays so.
        self._retries = isinstance(self.path, PostgresTarget)
        self._link = Link(self.path, self._opened, lambda target: open_database(target))
        self._sessions = Sessions(session_id)
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="phitrace-writer", daemon=True)
        self._thread.start()

    @property
    def failed(self) -> int:
        """Records not written: refused by the database, lost with it, or over the queue bound."""
        with self._lock:
            return self._failed

    @property
    def continued_in(self) -> int | None:
        """The session this writer moved to after its own was deleted (``purge``), if it did."""
        return self._sessions.continued_in

    def submit(self, record: Record) -> None:
        """Queue a record for writing; over ``max_queue`` waiting, count it as not written."""
        with self._lock:
            full = self._pending >= self.max_queue
            self.dropped, self._failed = self.dropped + full, self._failed + full
            self._pending += not full
            dropped = self.dropped
        if not full:
            self._queue.put(record)
        elif dropped == 1 or dropped % 1000 == 0:
            log.warning(
                "phitrace: %d flow(s) waiting for %s, the most it holds; %d not stored so far",
                self.max_queue,
                self.path,
                dropped,
            )

    def close(self, timeout: float = 30.0) -> None:
        """Flush everything queued, then stop the thread (waiting at most ``timeout``)."""
        self._give_up_at = time.monotonic() + max(0.0, timeout - 1.0)
        self._queue.put(self._STOP)
        self._thread.join(timeout)
        if self.failed:
            done = (self.written, self.path, self.failed, self.dropped)
            log.warning("phitrace: %d flow(s) stored in %s, %d not (%d over the bound)", *done)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is committed; False on timeout."""
        if not self._thread.is_alive():
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def _collect(self) -> tuple[list[Record], list[threading.Event], bool]:
        """Wait for a record, then gather more until the batch is full or due.

        Returns an empty batch when ``heartbeat`` seconds pass with nothing queued.
        """
        try:
            item = self._queue.get(timeout=self.heartbeat)
        except queue.Empty:
            return [], [], False
        due = time.monotonic() + self.interval
        batch: list[Record] = []
        while True:
            if item is self._STOP:
                return batch, [], True
            if isinstance(item, threading.Event):
                return batch, [item], False
            batch.append(item)  # type: ignore[arg-type]
            left = due - time.monotonic()
            if len(batch) >= self.max_batch or left <= 0:
                return batch, [], False
            try:
                item = self._queue.get(timeout=left)
            except queue.Empty:
                return batch, [], False

    def _run(self) -> None:
        self._link.get()
        try:
            stop = False
            while not stop:
                batch, flushes, stop = self._collect()
                if batch:
                    self._write(batch)
                elif not flushes and not stop:
                    self._beat()
                for event in flushes:
                    event.set()
        finally:
            db = self._link.get()
            if db is not None:
                self._release(db)
                self._sessions.end_own(db)
            self._link.close()

    def _opened(self, db: Store) -> None:
        """A new connection: durable commits, the session's start time, a heartbeat."""
        if not is_postgres(db):  # PostgreSQL's commits are durable already
            db.execute("PRAGMA synchronous = FULL")
        self._sessions.remember(db)
        touch_sessions(db, self._sessions.still_ours(db))

    def _beat(self) -> None:
        """Mark this writer's sessions alive; a missed heartbeat is only logged."""
        db = self._link.get()
        if db is None:
            return
        try:
            touch_sessions(db, self._sessions.still_ours(db))
        except Exception as error:  # noqa: BLE001 - a heartbeat must never stop the writer
            log.debug("phitrace: heartbeat failed", exc_info=True)
            if is_disconnect(db, error):
                self._link.lost(error)

    def _release(self, db: Store) -> None:
        """Clear the heartbeat of the sessions still running: no writer records them any more.

        Without this, a session whose recorder stopped without ending it would
        look live to ``purge`` until its last heartbeat grew old.
        """
        try:
            release_sessions(db, self._sessions.still_ours(db))
        except Exception:  # noqa: BLE001 - the writer is stopping anyway
            log.debug("phitrace: could not release sessions", exc_info=True)

    def _commit(self, db: Store, batch: Sequence[Record], bodies: bool) -> None:
        self._attempt = []
        with write_transaction(db):
            records = self._continued(db, batch)
            self._attempt = ids = new_ids(db, "flows", len(records))
            keep = bodies and self.store_bodies
            write_records(db, records, keep, self.storage, self.max_body, ids)
            touch_sessions(db, {record.session_id for record in records})

    def _continued(self, db: Store, batch: Sequence[Record]) -> list[Record]:
        """The batch, each record in the session that continues its own (looked up once each)."""
        moved: dict[int, int] = {}
        records = []
        for record in batch:
            if record.session_id not in moved:
                moved[record.session_id] = self._sessions.continued(db, record).session_id
            wanted = moved[record.session_id]
            records.append(
                record if wanted == record.session_id else replace(record, session_id=wanted)
            )
        return records

    def _count_failed(self, count: int) -> None:
        with self._lock:
            self._failed += count

    def _write(self, batch: list[Record]) -> None:
        try:
            if self._store(batch):
                self.written += len(batch)
        finally:
            with self._lock:
                self._pending -= len(batch)

    def _store(self, batch: list[Record]) -> bool:
        """Commit the batch, through reconnections; False when it went record by record."""
        cut_off: list[int] = []  # ids of an attempt whose commit may or may not have landed
        while True:
            db = self._link.get()
            if db is not None:
                try:
                    if cut_off and landed(db, cut_off):
                        return True
                    self._commit(db, batch, True)
                    return True
                except Exception as error:  # noqa: BLE001 - storage trouble must never reach the proxy
                    if not (self._retries and is_disconnect(db, error)):
                        self._one_by_one(db, batch)
                        return False
                    cut_off = self._attempt or cut_off
                    self._link.lost(error)
            if not self._retries or not self._link.pause(self._give_up_at):
                self._count_failed(len(batch))
                if self._retries:  # a file that cannot be opened was logged when it was tried
                    unreachable = (len(batch), self.path)
                    log.error("phitrace could not store %d flow(s): %s unreachable", *unreachable)
                return False

    def _one_by_one(self, db: Store, batch: list[Record]) -> None:
        """One bad record must not cost its whole batch: retry each on its own.

        A record that fails again is retried without its raw request.
        """
        bad: list[tuple[Record, BaseException]] = []
        for record in batch:
            try:
                self._commit_one(db, record)
                self.written += 1
            except Exception as error:  # noqa: BLE001 - counted and logged below
                bad.append((record, error))
        self._count_failed(len(bad))
        if bad:
            first, reason = bad[0]
            log.error(
                "phitrace could not store %d of %d flow(s) in %s; first: request %s",
                len(bad),
                len(batch),
                self.path,
                first.analysis.request.sha256(),
                exc_info=reason,
            )

    def _commit_one(self, db: Store, record: Record) -> None:
        try:
            self._commit(db, [record], True)
        except Exception as error:  # noqa: BLE001 - retried without the raw request
            self._commit(db, [record], False)
            log.warning(
                "phitrace stored request %s without its raw request (%s)",
                record.analysis.request.sha256(),
                error,
            )
