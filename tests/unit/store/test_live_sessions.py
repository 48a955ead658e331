"""A session being recorded: its heartbeat, purge's refusal, and a writer whose session vanished."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from phitrace.cli.main import main
from phitrace.model import Analysis, Request
from phitrace.store.database import open_database
from phitrace.store.rows import Record
from phitrace.store.sessions import end_session, live_sessions, start_session
from phitrace.store.target import Target
from phitrace.store.writer import Writer
from tests.support.database import new_session
from tests.support.postgres import rows


def hit(n: int) -> Analysis:
    return Analysis(Request("GET", f"https://www.facebook.com/tr/?id=1&n={n}", ()), "meta-pixel")


def query(path: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn, conn:
        return list(conn.execute(sql))


def test_a_writer_keeps_its_session_alive_while_idle(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    session = new_session(path, source="proxy")
    query(path, f"update sessions set heartbeat_at = '2000-01-01' where id = {session}")
    writer = Writer(path, session_id=session, heartbeat=0.05)
    deadline = time.monotonic() + 10
    while query(path, "select heartbeat_at from sessions")[0][0] == "2000-01-01":
        assert time.monotonic() < deadline, "no heartbeat"
        time.sleep(0.05)
    with open_database(path) as db:
        assert live_sessions(db, [session]) == [session]
    writer.close()


def test_a_session_whose_recorder_died_is_purged_without_force(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    db = open_database(path)
    dead = start_session(db, source="proxy")
    done = start_session(db, source="har")
    end_session(db, done)
    db.execute("update sessions set heartbeat_at = '2000-01-01T00:00:00Z' where id = ?", [dead])
    db.conn.commit()
    assert live_sessions(db, [dead, done]) == []
    db.close()
    result = CliRunner().invoke(main, ["purge", "--db", str(path), "--all", "--yes"])
    assert result.exit_code == 0, result.output
    assert query(path, "select count(*) from sessions") == [(0,)]


def test_records_of_a_session_deleted_under_the_writer_go_to_a_new_session(
    db_target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    db = open_database(db_target)
    session = start_session(db, source="proxy", label="portal", consent="rejected")
    db.close()
    writer = Writer(db_target, interval=0.01, session_id=session)
    writer.submit(Record(session, hit(0)))
    assert writer.flush()
    [(started,)] = rows(db_target, "select started_at from sessions")
    time.sleep(0.01)  # so the continuing session's start time differs
    with open_database(db_target) as other, other.atomic():  # as purge does, from elsewhere
        other.execute("delete from requests")
        other.execute("delete from flows")
        other.execute("delete from sessions")
    for n in range(1, 4):
        writer.submit(Record(session, hit(n)))
    writer.close()
    assert (writer.written, writer.failed) == (4, 0)
    found = rows(
        db_target,
        "select s.id, s.started_at, s.label, s.source, s.consent, s.status, count(f.id)"
        " from sessions s left join flows f on f.session_id = s.id"
        " group by s.id, s.started_at, s.label, s.source, s.consent, s.status",
    )
    assert len(found) == 1
    new_id, new_start, *kept = found[0]  # SQLite may give the new row the freed id
    assert new_start != started
    assert kept == ["portal", "proxy", "rejected", "complete", 3]
    orphans = "select count(*) from flows where session_id not in (select id from sessions)"
    assert rows(db_target, orphans) == [(0,)]
    assert f"session {session} was deleted while it was being recorded" in caplog.text
    assert f"recording continues in session {new_id}" in caplog.text


def test_a_session_whose_writer_stopped_is_purged_without_force(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    session = new_session(path, source="proxy")
    writer = Writer(path, interval=0.01)
    writer.submit(Record(session, hit(0)))
    writer.close()  # stopped without its session being ended
    with open_database(path) as db:
        assert live_sessions(db, [session]) == []
    result = CliRunner().invoke(main, ["purge", "--db", str(path), "--all", "--yes"])
    assert result.exit_code == 0, result.output
