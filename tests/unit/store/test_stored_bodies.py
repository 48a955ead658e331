"""Stored request bodies: capped, with the whole body's length and digest; the record survives."""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import sqlite_utils

from phitrace.model import Analysis, Finding, Request
from phitrace.store import writer as writer_module
from phitrace.store.database import open_database
from phitrace.store.rows import MAX_STORED_BODY, Record
from phitrace.store.sessions import start_session
from phitrace.store.target import Target
from phitrace.store.writer import Writer, write_record
from tests.support.database import new_session

MARK = b"wire-bytes-"


def big(size: int) -> Analysis:
    """A tracker request whose body is ``size`` bytes, with one finding."""
    body = (MARK * (size // len(MARK) + 1))[:size]
    request = Request("POST", "https://www.facebook.com/tr/", (("Content-Encoding", "gzip"),), body)
    finding = Finding("health", "condition", "query.dl", "diabetes", "diabetes", "r", "medium")
    return Analysis(request, "meta-pixel", findings=(finding,), severity="medium")


def test_a_body_over_the_cap_is_cut_and_its_true_length_and_digest_kept(db_target: Target) -> None:
    with open_database(db_target) as db:
        analysis = big(3 * MAX_STORED_BODY + 5)
        flow_id = write_record(db, Record(start_session(db, source="har"), analysis), True)
        flow = db.table("flows").get(flow_id)
        assert flow["request_body_length"] == 3 * MAX_STORED_BODY + 5
        assert flow["request_body_sha256"] == hashlib.sha256(analysis.request.body).hexdigest()
        assert flow["request_body_truncated"] == 1
        stored = db.table("requests").get(flow_id)["body"]
        assert stored == analysis.request.body[:MAX_STORED_BODY]


def test_a_body_under_the_cap_is_stored_whole_as_request_body_holds_it(db_target: Target) -> None:
    with open_database(db_target) as db:
        analysis = big(100)
        flow_id = write_record(db, Record(start_session(db, source="har"), analysis), True)
        assert db.table("requests").get(flow_id)["body"] == analysis.request.body
        assert db.table("flows").get(flow_id)["request_body_truncated"] == 0


def test_the_digest_is_kept_in_redact_mode_without_the_body(tmp_path: Path) -> None:
    with open_database(tmp_path / "p.db") as db:
        analysis = big(100)
        record = Record(start_session(db, source="har"), analysis)
        flow_id = write_record(db, record, True, "redact")
        flow = db.table("flows").get(flow_id)
        assert flow["request_body_sha256"] == hashlib.sha256(analysis.request.body).hexdigest()
        assert db.table("requests").count == 0


def test_a_body_too_big_for_sqlite_loses_only_the_body_not_the_flow(tmp_path: Path) -> None:
    """SQLite refuses a blob over its length limit: the flow and findings are stored anyway."""
    path = tmp_path / "p.db"
    with open_database(path) as db:
        session = start_session(db, source="har")
        db.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 50_000)
        flow_id = write_record(db, Record(session, big(200_000)), True, max_body=-1)
        assert db.table("flows").get(flow_id)["request_body_length"] == 200_000
        assert db.table("findings").count == 1


def test_the_writer_keeps_the_flow_of_a_huge_body_and_its_neighbours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.db"
    session = new_session(path, source="proxy")

    def small_limit(target: Path) -> sqlite_utils.Database:
        db = open_database(target)
        db.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 50_000)  # as a 1 GiB body hits the real one
        return db

    monkeypatch.setattr(writer_module, "open_database", small_limit)
    writer = Writer(path, max_body=-1, interval=5.0, session_id=session)
    for size in (10, 200_000, 10):
        writer.submit(Record(session, big(size)))
    writer.close()
    with closing(sqlite3.connect(path)) as conn, conn:
        lengths = [r[0] for r in conn.execute("select request_body_length from flows order by id")]
        assert lengths == [10, 200_000, 10]
        assert conn.execute("select count(*) from findings").fetchone() == (3,)
        assert conn.execute("select count(*) from requests").fetchone() == (2,)
    assert writer.written == 3 and writer.failed == 0
