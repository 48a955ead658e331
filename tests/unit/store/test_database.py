"""The database contract, private file modes and the background writer."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from phitrace.model import Analysis, Finding, Request
from phitrace.store.database import open_database, open_database_readonly, read_snapshot
from phitrace.store.engine import store_errors
from phitrace.store.rows import Record
from phitrace.store.sessions import start_session
from phitrace.store.target import Target
from phitrace.store.writer import Writer, write_record
from tests.support.database import new_session
from tests.support.postgres import rows

CONTRACT = {
    "sessions": {
        "id",
        "started_at",
        "ended_at",
        "label",
        "source",
        "phitrace_version",
        "signatures_digest",
    },
    "flows": {
        "id",
        "session_id",
        "timestamp",
        "method",
        "url",
        "host",
        "page_url",
        "vendor",
        "vendor_name",
        "tracker_category",
        "status_code",
        "request_sha256",
        "blocked",
        "severity_reason",
        "vendor_company",
    },
    "findings": {
        "id",
        "flow_id",
        "session_id",
        "vendor",
        "kind",
        "category",
        "field",
        "value",
        "matched",
        "severity",
        "rule",
        "reason",
        "path",
        "trail",
    },
}


def analysis(n: int = 0) -> Analysis:
    request = Request(
        "GET",
        f"https://www.facebook.com/tr/?id=1&n={n}",
        (("Referer", "x"),),
        b"body",
        1_700_000_000.0,
    )
    finding = Finding(
        "health",
        "condition",
        "query.dl",
        "https://x/diabetes",
        "diabetes",
        "page_url:condition",
        "medium",
        "because",
    )
    return Analysis(
        request,
        "meta-pixel",
        "Meta Pixel",
        "advertising",
        "https://x/diabetes",
        findings=(finding,),
        severity="medium",
    )


def test_tables_carry_every_contract_column(db_target: Target) -> None:
    with open_database(db_target) as db:
        for table, columns in CONTRACT.items():
            assert columns <= set(db.table(table).columns_dict), table


def test_database_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new-dir" / "p.db"
    with open_database(path) as db:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert db.journal_mode == "wal"


def test_a_record_is_written_with_its_findings_and_raw_request(db_target: Target) -> None:
    with open_database(db_target) as db:
        session = start_session(db, source="har", label="x")
        with db.atomic():
            flow_id = write_record(db, Record(session, analysis()), store_bodies=True)
        flow = db.table("flows").get(flow_id)
        assert flow["vendor"] == "meta-pixel" and flow["host"] == "www.facebook.com"
        assert flow["request_sha256"] == analysis().request.sha256()
        assert [f["matched"] for f in db.table("findings").rows] == ["diabetes"]
        assert bytes(db.table("requests").get(flow_id)["body"]) == b"body"


def test_writer_commits_everything_queued_when_closed(db_target: Target) -> None:
    path = db_target
    session = new_session(path, source="proxy")
    writer = Writer(path, store_bodies=False, interval=0.01)
    for n in range(1200):
        writer.submit(Record(session, analysis(n)))
    writer.close()
    assert rows(path, "select count(*) from flows") == [(1200,)]
    assert rows(path, "select count(*) from findings") == [(1200,)]
    assert rows(path, "select count(*) from requests") == [(0,)]
    assert writer.written == 1200 and writer.failed == 0


def test_reopening_an_existing_database_keeps_its_rows(db_target: Target) -> None:
    path = db_target
    new_session(path, source="proxy")
    new_session(path, source="har")
    with open_database(path) as db:
        assert [r["source"] for r in db.table("sessions").rows] == ["proxy", "har"]


def test_a_read_snapshot_does_not_see_what_a_writer_adds_meanwhile(db_target: Target) -> None:
    path = db_target
    writer = open_database(path)
    session = start_session(writer, source="proxy")
    reader = open_database_readonly(path)
    count = "select count(*) from sessions"
    with read_snapshot(reader):
        before = reader.execute(count).fetchone()[0]
        start_session(writer, source="proxy")
        assert reader.execute(count).fetchone()[0] == before == session
    assert reader.execute(count).fetchone()[0] == session + 1
    reader.close()
    writer.close()


def test_a_reader_of_a_postgresql_database_cannot_write_to_it(pg_target: Target) -> None:
    new_session(pg_target, source="proxy")
    with open_database_readonly(pg_target) as db:
        assert [r["source"] for r in db.query("select source from sessions")] == ["proxy"]
        with pytest.raises(store_errors(), match="read-only"):
            db.execute("insert into sessions (source) values ('har')")
