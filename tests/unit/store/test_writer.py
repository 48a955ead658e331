"""The writer on both engines: every record lands once, with ids the database gave it.

Each test runs on SQLite and on PostgreSQL (``db_target``).
"""

from __future__ import annotations

import threading

from phitrace.model import Analysis, Finding, Request
from phitrace.store.database import open_database, write_transaction
from phitrace.store.rows import Record
from phitrace.store.sessions import start_session
from phitrace.store.target import Target
from phitrace.store.writer import Writer, write_records
from tests.support.postgres import rows


def hit(n: int, body: bytes = b"") -> Analysis:
    finding = Finding("health", "condition", "query.q", "asthma", "asthma", "r", "medium", "x")
    request = Request("POST", f"https://t.example/c?n={n}", (("X-N", str(n)),), body)
    return Analysis(request, "t-vendor", "T", "analytics", findings=(finding,), severity="medium")


def test_a_writer_stores_each_record_once_with_its_findings_and_raw_request(
    db_target: Target,
) -> None:
    with open_database(db_target) as db:
        session = start_session(db, source="proxy")
    writer = Writer(db_target, session_id=session, interval=0.01, max_batch=7)
    for n in range(40):
        writer.submit(Record(session, hit(n, body=b"\x00\xffbody %d" % n)))
    writer.close()
    assert (writer.written, writer.failed) == (40, 0)
    flows = rows(db_target, "select id, url from flows order by id")
    assert len({flow_id for flow_id, _ in flows}) == 40
    assert sorted(url for _, url in flows) == sorted(
        f"https://t.example/c?n={n}" for n in range(40)
    )
    joined = (
        "select count(*) from findings f join flows w on w.id = f.flow_id "
        "join requests r on r.flow_id = w.id where f.session_id = ?"
    )
    assert rows(db_target, joined, [session]) == [(40,)]
    bodies = rows(db_target, "select body from requests order by flow_id")
    assert bytes(bodies[0][0]) == b"\x00\xffbody 0"


def test_two_writers_at_once_never_share_a_flow_id(db_target: Target) -> None:
    with open_database(db_target) as db:
        sessions = [start_session(db, source="proxy") for _ in range(2)]

    def write(session: int) -> None:
        with open_database(db_target) as db:
            for start in range(0, 60, 10):
                with write_transaction(db):  # SQLite: the lock write_records needs
                    batch = [Record(session, hit(n)) for n in range(start, start + 10)]
                    write_records(db, batch, store_bodies=True)

    threads = [threading.Thread(target=write, args=(s,)) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    counts = rows(db_target, "select session_id, count(*) from flows group by session_id")
    assert sorted(counts) == [(sessions[0], 60), (sessions[1], 60)]
    assert rows(db_target, "select count(distinct id) from flows") == [(120,)]
    orphans = "select count(*) from findings where flow_id not in (select id from flows)"
    assert rows(db_target, orphans) == [(0,)]


def test_every_session_gets_its_own_uid(db_target: Target) -> None:
    with open_database(db_target) as db:
        ids = [start_session(db, source="har") for _ in range(3)]
        uids = [row["uid"] for row in db.query("select uid from sessions order by id")]
    assert len(ids) == len(set(ids)) == 3
    assert len(set(uids)) == 3 and all(len(uid) == 36 for uid in uids)


def test_a_value_holding_a_nul_character_is_stored_on_both_engines(db_target: Target) -> None:
    with open_database(db_target) as db:
        session = start_session(db, source="har", label="nul\x00label")
    finding = Finding("health", "condition", "body.q", "asth\x00ma", "asthma", "r", "medium", "x")
    request = Request("POST", "https://t.example/c", (("X-A", "b\x00c"),), b"\x00")
    analysis = Analysis(request, "t-vendor", findings=(finding,), severity="medium")
    writer = Writer(db_target, session_id=session)
    writer.submit(Record(session, analysis))
    writer.close()
    assert (writer.written, writer.failed) == (1, 0)
    [(value,)] = rows(db_target, "select value from findings")
    assert value in ("asth\x00ma", "asth\\x00ma")  # PostgreSQL text cannot hold NUL itself
    assert rows(db_target, "select count(*) from requests") == [(1,)]
