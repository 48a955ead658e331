"""Recording sessions: start and end one, choose some, count and purge what they hold."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlite_utils

from phitrace import __version__
from phitrace.store.schema import now_iso


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
