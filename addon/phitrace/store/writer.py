"""The writer that never blocks the proxy: batched inserts from a queue on one thread.

Writes from the proxy go through :class:`Writer`: a queue drained by one
thread in batched transactions, so mitmproxy's event loop never waits on
SQLite, and a record waits at most ``interval`` seconds (plus one commit)
before it is on disk.  :func:`write_record` and :func:`write_records` are
the insert paths, used directly by the offline scanner.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import sqlite_utils

from phitrace.store.database import open_database
from phitrace.store.rows import Record, Row, check_storage, prepared, raw_row

log = logging.getLogger(__name__)


def _insert(db: sqlite_utils.Database, table: str, rows: Sequence[Row]) -> int | None:
    """Insert rows (all with the same keys) in as few statements as SQLite allows.

    Few statements matter: the sqlite3 module releases the GIL around each one,
    and under load a writer thread waits for it again every time.
    """
    if not rows:
        return None
    columns = list(rows[0])
    per_statement = max(1, db.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(columns))
    names = ", ".join(f"[{c}]" for c in columns)
    one = "(" + ", ".join("?" * len(columns)) + ")"
    cursor = None
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        sql = f"insert into [{table}] ({names}) values " + ", ".join([one] * len(chunk))
        cursor = db.conn.execute(sql, [row[c] for row in chunk for c in columns])
    assert cursor is not None
    return cursor.lastrowid


def write_record(
    db: sqlite_utils.Database, record: Record, store_bodies: bool, storage: str = "full"
) -> int:
    """Write one flow with its findings (and raw request, if asked); return the flow id.

    ``storage="redact"`` applies :func:`redact_rows` and never stores the raw request.
    """
    flow, findings, raw = prepared(record, storage)
    flow_id = _insert(db, "flows", [flow])
    assert flow_id is not None
    _insert(db, "findings", [{"flow_id": flow_id, **f} for f in findings])
    if store_bodies and raw:
        _insert(db, "requests", [raw_row(flow_id, record)])
    return flow_id


def write_records(
    db: sqlite_utils.Database, records: Sequence[Record], store_bodies: bool, storage: str = "full"
) -> None:
    """Write many records with a handful of statements.

    Flow ids are assigned here, so the caller must hold the write lock
    (``BEGIN IMMEDIATE``) for the whole call.
    """
    next_id = db.execute("select coalesce(max(id), 0) + 1 from flows").fetchone()[0]
    flows: list[Row] = []
    findings: list[Row] = []
    raws: list[Row] = []
    for flow_id, record in enumerate(records, start=next_id):
        flow, found, raw = prepared(record, storage)
        flows.append({"id": flow_id, **flow})
        findings += [{"flow_id": flow_id, **f} for f in found]
        if store_bodies and raw:
            raws.append(raw_row(flow_id, record))
    _insert(db, "flows", flows)
    _insert(db, "findings", findings)
    _insert(db, "requests", raws)


def write_inventory(db: sqlite_utils.Database, session_id: int, rows: Sequence[Row]) -> None:
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
    counted in ``failed`` and logged; the records around it are still written.
    ``close`` commits everything still queued.
    """

    _STOP = object()

    def __init__(
        self,
        path: str | Path,
        *,
        store_bodies: bool = True,
        storage: str = "full",
        max_batch: int = 500,
        interval: float = 0.25,
    ) -> None:
        check_storage(storage)
        self.path = Path(path)
        self.store_bodies = store_bodies
        self.storage = storage
        self.max_batch = max_batch
        self.interval = interval
        self.written = 0
        self.failed = 0
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="phitrace-writer", daemon=True)
        self._thread.start()

    def submit(self, record: Record) -> None:
        """Queue a record for writing."""
        self._queue.put(record)

    def close(self, timeout: float = 30.0) -> None:
        """Flush everything queued, then stop the thread."""
        self._queue.put(self._STOP)
        self._thread.join(timeout)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is committed; False on timeout."""
        if not self._thread.is_alive():
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def _collect(self) -> tuple[list[Record], list[threading.Event], bool]:
        """Wait for a record, then gather more until the batch is full or due."""
        item = self._queue.get()
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
        db = self._open()
        try:
            stop = False
            while not stop:
                batch, flushes, stop = self._collect()
                if batch:
                    self._write(db, batch)
                for event in flushes:
                    event.set()
        finally:
            if db is not None:
                db.close()

    def _open(self) -> sqlite_utils.Database | None:
        try:
            db = open_database(self.path)
            db.execute("PRAGMA synchronous = FULL")
            return db
        except Exception:  # noqa: BLE001 - keep draining (and counting) so submit never piles up
            log.exception("phitrace cannot open %s; flows will not be stored", self.path)
            return None

    def _commit(self, db: sqlite_utils.Database, batch: Sequence[Record]) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            write_records(db, batch, self.store_bodies, self.storage)
            db.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _write(self, db: sqlite_utils.Database | None, batch: list[Record]) -> None:
        if db is None:
            self.failed += len(batch)
            return
        try:
            self._commit(db, batch)
            self.written += len(batch)
            return
        except Exception:  # noqa: BLE001 - storage trouble must never reach the proxy
            pass
        # One bad record must not cost its whole batch: retry each on its own.
        bad: list[tuple[Record, BaseException]] = []
        for record in batch:
            try:
                self._commit(db, [record])
                self.written += 1
            except Exception as error:  # noqa: BLE001 - counted and logged below
                bad.append((record, error))
        self.failed += len(bad)
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
