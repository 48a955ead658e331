"""GPC in the database: per flow as captured, per session when it ends or is read running.

Each test runs on SQLite and on PostgreSQL (``db_target``).
"""

from __future__ import annotations

from phitrace.store.database import open_database
from phitrace.store.reader import load_sessions
from phitrace.store.sessions import end_session, start_session
from phitrace.store.target import Target
from tests.support.seeded_db import GPC_HEADERS, logged_in_portal, record_flow


def test_each_flow_keeps_whether_its_request_carried_sec_gpc(db_target: Target) -> None:
    db = open_database(logged_in_portal(db_target))
    assert [r["gpc"] for r in db.query("select gpc from flows order by id")] == [1, 1, 1, 0]
    assert next(db.query("select gpc from sessions"))["gpc"] == "mixed"
    db.close()


def test_a_session_ends_with_gpc_sent_only_when_every_known_request_carried_it(
    db_target: Target,
) -> None:
    db = open_database(db_target)
    session = start_session(db, source="proxy")
    for offset, headers in ((1, GPC_HEADERS), (2, GPC_HEADERS), (3, ())):
        record_flow(
            db,
            session,
            url="https://t.example/c",
            page=None,
            vendor="t",
            headers=headers,
            offset=offset,
        )
    end_session(db, session)
    rows = list(db.query("select gpc from flows order by id"))
    assert rows == [{"gpc": 1}, {"gpc": 1}, {"gpc": None}]  # no headers: unknown
    assert next(db.query("select gpc from sessions"))["gpc"] == "sent"
    db.close()


def test_a_running_session_is_summed_up_when_read_and_one_without_flows_is_unknown(
    db_target: Target,
) -> None:
    db = open_database(db_target)
    running = start_session(db, source="proxy")
    record_flow(db, running, url="https://t.example/c", page=None, vendor="t")
    empty = start_session(db, source="proxy")
    end_session(db, empty)
    assert next(db.query("select gpc from sessions where id = ?", [running]))["gpc"] is None
    assert [(s.id, s.gpc) for s in load_sessions(db)] == [(running, "not sent"), (empty, "")]
    db.close()
