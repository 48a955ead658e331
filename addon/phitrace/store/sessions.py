"""Recording sessions: start, keep alive and end one; choose some, count and purge what they hold.

A session is ``running`` from :func:`start_session` until :func:`end_session`
marks it ``complete`` or ``failed`` (with the error).  A live writer refreshes
``heartbeat_at`` (:func:`touch_sessions`) and clears it when it stops
(:func:`release_sessions`), which is how :func:`live_sessions` tells a session
still being recorded from one whose recorder stopped or died.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from phitrace import __version__
from phitrace.detect.gpc import gpc_summary
from phitrace.store.database import write_transaction
from phitrace.store.engine import Store, is_postgres
from phitrace.store.schema import now_iso

HEARTBEAT = 10.0
"""Seconds between a live writer's heartbeats."""
LIVE_WITHIN = timedelta(seconds=4 * HEARTBEAT)
"""A running session whose heartbeat is younger than this is being recorded now."""


def start_session(
    db: Store,
    *,
    source: str,
    label: str = "",
    signatures_digest: str = "",
    input: str = "",
    consent: str = "",
    scope: str = "",
) -> int:
    """Insert a new, running session row and return its id (given by the database).

    Its ``uid`` is a new random UUID: the session's identity in any database.
    """
    started = now_iso()
    with write_transaction(db):
        table = db.table("sessions").insert(
            {
                "started_at": started,
                "ended_at": None,
                "label": label,
                "source": source,
                "phitrace_version": __version__,
                "signatures_digest": signatures_digest,
                "input": input,
                "consent": consent,
                "scope": scope,
                "errors": 0,
                "status": "running",
                "heartbeat_at": started,
                "uid": str(uuid.uuid4()),
            }
        )
    assert table.last_pk is not None
    return int(table.last_pk)


def end_session(db: Store, session_id: int, errors: int = 0, *, failure: str | None = None) -> None:
    """Mark a session ``complete``, or ``failed`` with the error that stopped it.

    Also records how many internal errors it saw and whether its requests
    carried the GPC signal (:func:`session_gpc`).  A session that no longer
    exists (purged meanwhile) is left alone.
    """
    status = "failed" if failure else "complete"
    with write_transaction(db):
        db.execute(
            "update sessions set ended_at = ?, errors = ?, status = ?, error = ?, gpc = ? "
            "where id = ?",
            [now_iso(), errors, status, failure, session_gpc(db, session_id), session_id],
        )


def session_gpc(db: Store, session_id: int) -> str | None:
    """``sent``, ``mixed`` or ``not sent``: whether the session's requests carried ``Sec-GPC: 1``.

    Counted over the flows recorded (the requests pages made to third
    parties); flows whose headers were not captured do not count, and a
    session with none known has no answer (None).
    """
    sql = (
        "select sum(case when gpc = 1 then 1 else 0 end), "
        "sum(case when gpc = 0 then 1 else 0 end) from flows where session_id = ?"
    )
    sent, not_sent = db.execute(sql, [session_id]).fetchone()
    return gpc_summary(sent or 0, not_sent or 0)


def started_at(db: Store, session_id: int) -> str | None:
    """When a session started, or None when no such session exists (any more).

    Ids can be taken again after ``purge`` deletes the newest sessions, so a
    session is known by its id and start time together.
    """
    row = db.execute("select started_at from sessions where id = ?", [session_id]).fetchone()
    return None if row is None else str(row[0])


def _set_heartbeat(db: Store, ids: Iterable[int], value: str | None) -> None:
    """Set the heartbeat of those of ``ids`` still running; ended sessions keep theirs."""
    wanted = sorted(set(ids))
    if not wanted:
        return
    marks = ",".join("?" * len(wanted))
    with write_transaction(db):
        db.execute(
            f"update sessions set heartbeat_at = ? where status = 'running' and id in ({marks})",
            [value, *wanted],
        )


def touch_sessions(db: Store, ids: Iterable[int]) -> None:
    """Refresh the heartbeat of running sessions: their writer is alive."""
    _set_heartbeat(db, ids, now_iso())


def release_sessions(db: Store, ids: Iterable[int]) -> None:
    """Clear the heartbeat of running sessions: their writer stopped without ending them."""
    _set_heartbeat(db, ids, None)


def live_sessions(db: Store, ids: Sequence[int]) -> list[int]:
    """Those of ``ids`` being recorded right now: running, with a recent heartbeat."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    recent = now_iso((datetime.now(UTC) - LIVE_WITHIN).timestamp())
    sql = (
        f"select id from sessions where id in ({marks}) and status = 'running' "
        "and heartbeat_at >= ? order by id"
    )
    return [row[0] for row in db.execute(sql, [*ids, recent])]


@dataclass(frozen=True)
class Purged:
    """How many rows :func:`purge_sessions` deleted, and whether no copy is left in the files."""

    sessions: int
    flows: int
    findings: int
    wiped: bool = True
    """False when another connection kept the write-ahead log from being emptied."""


def select_sessions(
    db: Store,
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


def count_sessions(db: Store, ids: Sequence[int]) -> Purged:
    """How many sessions, flows and findings those session ids hold."""
    marks = ",".join("?" * len(ids))
    if not ids:
        return Purged(0, 0, 0)
    flows = db.execute(f"select count(*) from flows where session_id in ({marks})", ids)
    findings = db.execute(f"select count(*) from findings where session_id in ({marks})", ids)
    return Purged(len(ids), flows.fetchone()[0], findings.fetchone()[0])


def purge_sessions(db: Store, ids: Sequence[int]) -> Purged:
    """Delete sessions with their flows, findings and raw requests; return the counts.

    Deleted content does not linger in the files: deletes overwrite what they
    free (``secure_delete``), ``VACUUM`` rebuilds the file without the free
    pages earlier writes left behind (its scratch copy kept in memory), and
    the write-ahead log is checkpointed and truncated to zero bytes.  On
    PostgreSQL the rows are deleted in one transaction and the tables vacuumed,
    so the space the deleted rows held is reused (see :func:`wipe`).
    """
    ids = list(ids)
    counts = count_sessions(db, ids)
    if not ids:
        return counts
    marks = ",".join("?" * len(ids))
    if not is_postgres(db):
        db.execute("PRAGMA secure_delete = ON")
    with write_transaction(db):
        db.execute(
            f"delete from requests where flow_id in "
            f"(select id from flows where session_id in ({marks}))",
            ids,
        )
        db.execute(f"delete from findings where session_id in ({marks})", ids)
        db.execute(f"delete from flows where session_id in ({marks})", ids)
        if db.table("third_parties").exists():
            db.execute(f"delete from third_parties where session_id in ({marks})", ids)
        db.execute(f"delete from sessions where id in ({marks})", ids)
    return Purged(counts.sessions, counts.flows, counts.findings, wipe(db))


_PURGED_TABLES = ("requests", "findings", "flows", "third_parties", "sessions")


def wipe(db: Store) -> bool:
    """Rebuild the file without free pages and empty the write-ahead log; False if kept busy.

    PostgreSQL: ``VACUUM`` of the tables, which marks the deleted rows' space
    free for reuse without blocking writers.  The server's write-ahead log and
    backups are the server's (its administrator's) to expire.
    """
    if is_postgres(db):
        for table in _PURGED_TABLES:
            db.execute(f"vacuum [{table}]")
        return True
    db.execute("PRAGMA temp_store = MEMORY")
    db.execute("VACUUM")
    busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    return not busy
