"""Readers that stream a session from the database, for outputs too large to hold whole.

:func:`phitrace.store.reader.load_findings` gathers a session into memory;
the HTML report of 100,000 findings instead reads the overview here (no
findings, no flows), then the flows and the findings through cursors a batch
at a time: every flow in journey order, and the findings grouped by flow in
the evidence cards' order.  Counts the report needs before the findings are
read come from SQL aggregates.  The SQL is plain (``?`` placeholders, no
engine-specific functions).
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Sequence
from typing import Any

from phitrace.store.engine import Store, batch_cursor
from phitrace.store.flowfacts import FlowFact
from phitrace.store.loggedin import load_logged_in_pages
from phitrace.store.parties import load_parties
from phitrace.store.raw import RawRequest, _bytes, _headers
from phitrace.store.reader import (
    _LEAK_SELECT,
    _SEVERITY_ORDER,
    LEAK_BATCH,
    Findings,
    Leak,
    _leak,
    _load_endpoints,
    load_sessions,
)

RAW_BATCH = 200
"""Raw requests asked for in one query (one page of evidence cards)."""


def _where(session: int | None, column: str) -> tuple[str, list[Any]]:
    return (f"where {column} = ?", [session]) if session is not None else ("", [])


def load_overview(db: Store, session: int | None = None) -> Findings:
    """What a report shows besides the findings and flows: sessions, endpoints, parties.

    Like ``load_findings(db, session, leaks=False)`` without the per-flow
    facts, whose whole-session dictionary a streamed report reads through
    :func:`iter_flow_facts` instead.
    """
    findings = Findings(load_sessions(db, session), [])
    _load_endpoints(findings, db, session)
    findings.parties = load_parties(db, session)
    findings.logged_in_pages = load_logged_in_pages(db, session)
    return findings


def _rows(cursor: Any, batch: int) -> Iterator[tuple[Any, ...]]:
    """A cursor's rows, ``batch`` at a time, closing it when done or abandoned."""
    try:
        while rows := cursor.fetchmany(batch):
            yield from rows
            del rows  # before the next batch is fetched, so only one is held
    finally:
        cursor.close()


def iter_flow_facts(
    db: Store, session: int | None = None, *, batch: int = LEAK_BATCH
) -> Iterator[FlowFact]:
    """Every flow's time, page, vendor and login state, in journey order (timestamp, id)."""
    where, params = _where(session, "session_id")
    sql = (
        "select id, session_id, coalesce(timestamp, ''), coalesce(page_url, ''), "
        "coalesce(vendor, ''), coalesce(nullif(vendor_name, ''), nullif(vendor, ''), host, ''), "
        f"coalesce(authenticated, '') from flows {where} order by timestamp, id"
    )
    for row in _rows(batch_cursor(db, sql, params), batch):
        yield FlowFact(*row)


def count_flagged_flows(db: Store, session: int | None = None) -> int:
    """How many flows have at least one finding."""
    where, params = _where(session, "session_id")
    sql = f"select count(distinct flow_id) from findings {where}"
    return int(db.execute(sql, params).fetchone()[0])


def flagged_login_states(db: Store, session: int | None = None) -> set[str]:
    """The login states (``yes``, ``no``, ``unknown``, "") the flows with findings were seen in."""
    where, params = _where(session, "session_id")
    sql = (
        "select distinct coalesce(authenticated, '') from flows "
        f"where id in (select flow_id from findings {where})"
    )
    return {str(row[0]) for row in db.execute(sql, params)}


def iter_flow_leaks(
    db: Store,
    session: int | None = None,
    *,
    worst_first: bool = True,
    only: Container[int] | None = None,
    batch: int = LEAK_BATCH,
) -> Iterator[list[Leak]]:
    """The findings grouped by flow, each group most severe first, then by id.

    With ``worst_first`` the flows come as the evidence cards list them: the
    flows whose worst finding is most severe first, then by time and id;
    without, in journey order (time, id), for a caller that judges the
    severities anew.  ``only`` keeps the flows whose ids it holds (the rows
    of the others are passed over unread).  Only one batch of rows and one
    flow's group are held.
    """
    where, params = _where(session, "f.session_id")
    worst = (
        f"join (select f.flow_id, min({_SEVERITY_ORDER}) as worst from findings f {where} "
        "group by f.flow_id) k on k.flow_id = f.flow_id "
    )
    head = "k.worst, " if worst_first else ""
    sql = (
        f"{_LEAK_SELECT} {worst if worst_first else ''}{where} "
        f"order by {head}coalesce(w.timestamp, ''), f.flow_id, {_SEVERITY_ORDER}, f.id"
    )
    group: list[Leak] = []
    for row in _rows(batch_cursor(db, sql, params * (2 if worst_first else 1)), batch):
        if only is not None and row[2] not in only:
            continue
        leak = _leak(row)
        if group and group[0].flow_id != leak.flow_id:
            yield group
            group = []
        group.append(leak)
    if group:
        yield group


def load_raw_for(db: Store, flow_ids: Sequence[int]) -> dict[int, RawRequest]:
    """The stored raw requests of the given flows, by flow id (at most :data:`RAW_BATCH`)."""
    if not flow_ids:
        return {}
    marks = ", ".join("?" for _ in flow_ids)
    sql = f"select flow_id, headers, body from requests where flow_id in ({marks})"
    return {
        row[0]: RawRequest(_headers(row[1]), _bytes(row[2]))
        for row in db.execute(sql, list(flow_ids))
    }
