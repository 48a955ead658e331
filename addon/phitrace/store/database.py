"""SQLite storage: the public database contract, and a writer that never blocks the proxy.

Tables ``sessions``, ``flows`` and ``findings`` are a documented interface
(see the README); columns may be added, never renamed.  The database holds
health data, so it is created with mode 0600, and every directory phitrace
creates for it with mode 0700.  Writes from the proxy go through
:class:`Writer`: a queue drained by one thread in batched transactions, so
mitmproxy's event loop never waits on SQLite, and a record waits at most
``interval`` seconds (plus one commit) before it is on disk.

Two storage modes exist: ``full`` keeps what phitrace saw, ``redact`` keeps
only hashes and matched terms (see :func:`redact_rows`).  :func:`purge_sessions`
deletes sessions with everything recorded in them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from phitrace import __version__, urls
from phitrace.model import Analysis, utf8_safe, wire_bytes

log = logging.getLogger(__name__)

STORAGE_MODES: tuple[str, ...] = ("full", "redact")
"""``full`` stores URLs, values and (optionally) raw requests; ``redact`` only hashes."""

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


def _make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parents, each readable by the owner only."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)


def _create_private(path: Path) -> None:
    """Create the database file (and missing directories) readable by the owner only."""
    _make_private_dirs(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def open_database(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) a phitrace database with the current schema.

    SQLite creates its ``-wal`` and ``-shm`` files with the database file's
    mode, so they are private too.
    """
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
            for indexed in indexes:
                db.table(name).create_index(indexed, if_not_exists=True)


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


Row = dict[str, Any]


def _text(value: str | None) -> str | None:
    """Text SQLite can store: lone surrogates (undecodable bytes) become escapes."""
    return None if value is None else utf8_safe(value)


def flow_row(record: Record) -> Row:
    """The ``flows`` row for a record (without its id)."""
    a = record.analysis
    req = a.request
    return {
        "session_id": record.session_id,
        "timestamp": now_iso(req.timestamp or None),
        "method": _text(req.method),
        "url": _text(req.url),
        "host": _text(req.host),
        "page_url": _text(a.page_url),
        "vendor": a.vendor,
        "vendor_name": a.vendor_name,
        "tracker_category": a.tracker_category,
        "status_code": record.status_code,
        "request_sha256": req.sha256(),
        "blocked": int(record.blocked),
        "redacted": json.dumps(list(record.redacted)) if record.redacted else None,
        "severity": a.severity,
        "endpoint_role": a.endpoint_role,
        "truncated": _text(a.truncated),
    }


def finding_rows(record: Record) -> list[Row]:
    """The ``findings`` rows for a record (without ``flow_id``)."""
    a = record.analysis
    return [
        {
            "session_id": record.session_id,
            "vendor": a.vendor,
            "kind": f.kind,
            "category": _text(f.category),
            "field": _text(f.field),
            "value": _text(f.value),
            "matched": _text(f.matched),
            "severity": f.severity,
            "rule": _text(f.rule),
            "reason": _text(f.reason),
        }
        for f in a.findings
    ]


def _origin(url: str | None) -> str | None:
    if not url:
        return url
    origin = urls.parse_url(url).origin
    return f"{origin}/" if origin else None


def digest(value: str | None) -> str | None:
    """``sha256:`` and the hex digest of a value's UTF-8 bytes (the redacted form)."""
    if value is None:
        return None
    return "sha256:" + hashlib.sha256(wire_bytes(value)).hexdigest()


def redact_rows(flow: Row, findings: Sequence[Row]) -> tuple[Row, list[Row]]:
    """The ``redact`` storage mode: keep hashes and matched terms, drop captured values.

    URLs keep only their origin (the query, path and fragment can carry health
    data); finding values become SHA-256 digests, so a capture can still be
    checked against them; what matched (a vocabulary term or rule name), the
    field path and the request's fingerprint stay.
    """
    kept = {**flow, "url": _origin(flow["url"]), "page_url": _origin(flow["page_url"])}
    return kept, [{**f, "value": digest(f["value"])} for f in findings]


def check_storage(storage: str) -> None:
    """Refuse a storage mode phitrace does not know, naming the ones it does."""
    if storage not in STORAGE_MODES:
        raise ValueError(f"unknown storage mode {storage!r}; expected one of {STORAGE_MODES}")


def _prepared(record: Record, storage: str) -> tuple[Row, list[Row], bool]:
    """The rows for a record in a storage mode, and whether its raw request may be kept."""
    check_storage(storage)
    flow, findings = flow_row(record), finding_rows(record)
    if storage == "redact":
        return *redact_rows(flow, findings), False
    return flow, findings, True


def _raw_row(flow_id: int, record: Record) -> Row:
    req = record.analysis.request
    return {"flow_id": flow_id, "headers": json.dumps(list(req.headers)), "body": req.body}


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
    flow, findings, raw = _prepared(record, storage)
    flow_id = _insert(db, "flows", [flow])
    assert flow_id is not None
    _insert(db, "findings", [{"flow_id": flow_id, **f} for f in findings])
    if store_bodies and raw:
        _insert(db, "requests", [_raw_row(flow_id, record)])
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
        flow, found, raw = _prepared(record, storage)
        flows.append({"id": flow_id, **flow})
        findings += [{"flow_id": flow_id, **f} for f in found]
        if store_bodies and raw:
            raws.append(_raw_row(flow_id, record))
    _insert(db, "flows", flows)
    _insert(db, "findings", findings)
    _insert(db, "requests", raws)


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


@dataclass(frozen=True)
class Purged:
    """How many rows :func:`purge_sessions` deleted."""

    sessions: int
    flows: int
    findings: int


def select_sessions(
    db: sqlite_utils.Database,
    *,
    ids: Iterable[int] = (),
    before: datetime | None = None,
    everything: bool = False,
) -> list[int]:
    """Ids of existing sessions: all of them, those listed, or those started before a time.

    A naive ``before`` is taken as UTC.
    """
    if everything:
        return [row["id"] for row in db.query("select id from sessions order by id")]
    if before is not None:
        moment = before if before.tzinfo else before.replace(tzinfo=UTC)
        limit = now_iso(moment.timestamp())
        sql = "select id from sessions where started_at < ? order by id"
        return [row["id"] for row in db.query(sql, [limit])]
    wanted = sorted(set(ids))
    marks = ",".join("?" * len(wanted))
    sql = f"select id from sessions where id in ({marks}) order by id"
    return [row["id"] for row in db.query(sql, wanted)] if wanted else []


def count_sessions(db: sqlite_utils.Database, ids: Sequence[int]) -> Purged:
    """How many sessions, flows and findings those session ids hold."""
    marks = ",".join("?" * len(ids))
    if not ids:
        return Purged(0, 0, 0)
    flows = db.execute(f"select count(*) from flows where session_id in ({marks})", ids)
    findings = db.execute(f"select count(*) from findings where session_id in ({marks})", ids)
    return Purged(len(ids), flows.fetchone()[0], findings.fetchone()[0])


def purge_sessions(db: sqlite_utils.Database, ids: Sequence[int]) -> Purged:
    """Delete sessions with their flows, findings and raw requests; return the counts.

    Deleted content is overwritten (``secure_delete``) and the write-ahead log
    is checkpointed and truncated, so it does not linger in the files.
    """
    ids = list(ids)
    counts = count_sessions(db, ids)
    if not ids:
        return counts
    marks = ",".join("?" * len(ids))
    db.execute("PRAGMA secure_delete = ON")
    with db.atomic():
        db.execute(
            f"delete from requests where flow_id in "
            f"(select id from flows where session_id in ({marks}))",
            ids,
        )
        db.execute(f"delete from findings where session_id in ({marks})", ids)
        db.execute(f"delete from flows where session_id in ({marks})", ids)
        db.execute(f"delete from sessions where id in ({marks})", ids)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return counts
