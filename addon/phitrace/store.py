"""SQLite storage: the public database contract, and a writer that never blocks the proxy.

Tables ``sessions``, ``flows`` and ``findings`` are a documented interface
(see the README); columns may be added, never renamed.  The database holds
health data, so it is created with mode 0600 inside a 0700 directory when
phitrace creates that directory.  Writes from the proxy go through
:class:`Writer`: a queue drained by one thread in batched transactions, so
mitmproxy's event loop never waits on SQLite.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from phitrace import __version__
from phitrace.model import Analysis

log = logging.getLogger(__name__)

SCHEMA: dict[str, dict[str, type]] = {
    "sessions": {
        "id": int,
        "started_at": str,
        "ended_at": str,
        "label": str,
        "source": str,
        "phitrace_version": str,
        "signatures_digest": str,
        "input": str,
        "consent": str,
        "scope": str,
        "errors": int,
    },
    "flows": {
        "id": int,
        "session_id": int,
        "timestamp": str,
        "method": str,
        "url": str,
        "host": str,
        "page_url": str,
        "vendor": str,
        "vendor_name": str,
        "tracker_category": str,
        "status_code": int,
        "request_sha256": str,
        "blocked": int,
        "redacted": str,
        "severity": str,
        "endpoint_role": str,
        "truncated": str,
    },
    "findings": {
        "id": int,
        "flow_id": int,
        "session_id": int,
        "vendor": str,
        "kind": str,
        "category": str,
        "field": str,
        "value": str,
        "matched": str,
        "severity": str,
        "rule": str,
        "reason": str,
    },
    "requests": {"flow_id": int, "headers": str, "body": bytes},
}
FOREIGN_KEYS = {
    "flows": [("session_id", "sessions", "id")],
    "findings": [("flow_id", "flows", "id"), ("session_id", "sessions", "id")],
    "requests": [("flow_id", "flows", "id")],
}
INDEXES = {
    "flows": [["session_id"], ["vendor"]],
    "findings": [["flow_id"], ["session_id"], ["severity"]],
}


def now_iso(timestamp: float | None = None) -> str:
    """An ISO-8601 UTC time stamp with milliseconds."""
    moment = datetime.fromtimestamp(time.time() if timestamp is None else timestamp, UTC)
    return moment.isoformat(timespec="milliseconds")


def _create_private(path: Path) -> None:
    """Create the database file (and a missing directory) readable by the owner only."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def open_database(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) a phitrace database with the current schema."""
    path = Path(path)
    if not path.exists():
        _create_private(path)
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
    db = sqlite_utils.Database(conn)
    db.execute("PRAGMA busy_timeout = 30000")
    db.enable_wal()
    db.execute("PRAGMA synchronous = NORMAL")
    ensure_schema(db)
    return db


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create missing tables, columns and indexes; existing data is kept."""
    with db.atomic():
        for name, columns in SCHEMA.items():
            table = db.table(name)
            pk = "flow_id" if name == "requests" else "id"
            if not table.exists():
                table.create(columns, pk=pk, foreign_keys=FOREIGN_KEYS.get(name, []))
            else:
                missing = {c: t for c, t in columns.items() if c not in table.columns_dict}
                for column, kind in missing.items():
                    table.add_column(column, kind)
        for name, indexes in INDEXES.items():
            for columns in indexes:
                db.table(name).create_index(columns, if_not_exists=True)


def start_session(
    db: sqlite_utils.Database,
    *,
    source: str,
    label: str = "",
    signatures_digest: str = "",
    input: str = "",
    consent: str = "",
    scope: str = "",
) -> int:
    """Insert a new session row and return its id."""
    with db.atomic():
        table = db.table("sessions").insert(
            {
                "started_at": now_iso(),
                "ended_at": None,
                "label": label,
                "source": source,
                "phitrace_version": __version__,
                "signatures_digest": signatures_digest,
                "input": input,
                "consent": consent,
                "scope": scope,
                "errors": 0,
            }
        )
    assert table.last_pk is not None
    return int(table.last_pk)


def end_session(db: sqlite_utils.Database, session_id: int, errors: int = 0) -> None:
    """Mark a session finished and record how many internal errors it saw."""
    with db.atomic():
        db.table("sessions").update(session_id, {"ended_at": now_iso(), "errors": errors})


@dataclass(frozen=True)
class Record:
    """One analysed flow ready to be written."""

    session_id: int
    analysis: Analysis
    status_code: int | None = None
    blocked: bool = False
    redacted: tuple[str, ...] = ()


def write_record(db: sqlite_utils.Database, record: Record, store_bodies: bool) -> int:
    """Write one flow with its findings (and raw request, if asked); return the flow id."""
    a = record.analysis
    req = a.request
    flow = db.table("flows").insert(
        {
            "session_id": record.session_id,
            "timestamp": now_iso(req.timestamp or None),
            "method": req.method,
            "url": req.url,
            "host": req.host,
            "page_url": a.page_url,
            "vendor": a.vendor,
            "vendor_name": a.vendor_name,
            "tracker_category": a.tracker_category,
            "status_code": record.status_code,
            "request_sha256": req.sha256(),
            "blocked": int(record.blocked),
            "redacted": json.dumps(list(record.redacted)) if record.redacted else None,
            "severity": a.severity,
            "endpoint_role": a.endpoint_role,
            "truncated": a.truncated,
        }
    )
    flow_id = int(flow.last_pk)  # type: ignore[arg-type]
    if a.findings:
        db.table("findings").insert_all(
            {
                "flow_id": flow_id,
                "session_id": record.session_id,
                "vendor": a.vendor,
                "kind": f.kind,
                "category": f.category,
                "field": f.field,
                "value": f.value,
                "matched": f.matched,
                "severity": f.severity,
                "rule": f.rule,
                "reason": f.reason,
            }
            for f in a.findings
        )
    if store_bodies:
        db.table("requests").insert(
            {"flow_id": flow_id, "headers": json.dumps(list(req.headers)), "body": req.body}
        )
    return flow_id


class Writer:
    """Writes records from a queue on its own thread, in batched transactions.

    ``submit`` never blocks; ``close`` commits everything still queued.
    """

    _STOP = object()

    def __init__(
        self,
        path: str | Path,
        *,
        store_bodies: bool = True,
        max_batch: int = 500,
        interval: float = 0.25,
    ) -> None:
        self.path = Path(path)
        self.store_bodies = store_bodies
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

    def _drain(self, first: object) -> tuple[list[Record], list[threading.Event], bool]:
        batch: list[Record] = []
        flushes: list[threading.Event] = []
        item: object = first
        stop = False
        while True:
            if item is self._STOP:
                stop = True
                break
            if isinstance(item, threading.Event):
                flushes.append(item)
                break
            batch.append(item)  # type: ignore[arg-type]
            if len(batch) >= self.max_batch:
                break
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
        return batch, flushes, stop

    def _run(self) -> None:
        db = open_database(self.path)
        try:
            stop = False
            while not stop:
                first = self._queue.get()
                batch, flushes, stop = self._drain(first)
                if batch:
                    self._write(db, batch)
                for event in flushes:
                    event.set()
                if not stop and not flushes:
                    time.sleep(self.interval if self._queue.empty() else 0)
        finally:
            db.close()

    def _write(self, db: sqlite_utils.Database, batch: list[Record]) -> None:
        try:
            with db.atomic():
                for record in batch:
                    write_record(db, record, self.store_bodies)
            self.written += len(batch)
        except sqlite3.Error:
            # Storage trouble must never reach the proxy: count and log it.
            self.failed += len(batch)
            log.exception("phitrace could not write %d flow(s) to %s", len(batch), self.path)
