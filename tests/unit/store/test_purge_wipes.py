"""Purge leaves no copy of deleted content in the database, -wal or -shm files."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from phitrace.cli.main import main
from phitrace.model import Analysis, Finding, Request
from phitrace.store.database import open_database
from phitrace.store.rows import Record
from phitrace.store.sessions import end_session, start_session
from phitrace.store.target import Target
from phitrace.store.writer import Writer, write_record
from tests.support.database import new_session
from tests.support.postgres import db_arg

MARKER = b"purge-marker-jane.canary@example.org"


def marked(n: int, marker: bytes = MARKER) -> Analysis:
    request = Request("POST", f"https://www.facebook.com/tr/?n={n}", (), marker * 40)
    finding = Finding("canary", "email", "body.em", marker.decode(), "email", "canary", "low")
    return Analysis(request, "meta-pixel", findings=(finding,), severity="low")


def files(path: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
    )


def test_purged_content_is_gone_from_every_file(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    db = open_database(path)
    keep = start_session(db, source="har", label="kept")
    gone = start_session(db, source="har", label="gone")
    with db.atomic():
        for n in range(300):  # interleaved, so updates and page splits leave stale copies
            write_record(
                db, Record(gone, marked(n)) if n % 2 else Record(keep, marked(n, b"kept")), True
            )
            db.execute("update requests set body = ? where flow_id = ?", [b"kept", n + 1])
    end_session(db, keep)
    end_session(db, gone)
    db.close()
    assert MARKER in files(path)
    purge = ["purge", "--db", str(path), "--session", str(gone), "--yes"]
    result = CliRunner().invoke(main, purge)
    assert result.exit_code == 0, result.output
    assert MARKER not in files(path)


def test_purge_refuses_a_session_being_recorded_unless_forced(db_target: Target) -> None:
    path = db_target
    session = new_session(path, source="proxy")
    writer = Writer(path, interval=0.01, session_id=session)
    writer.submit(Record(session, marked(0)))
    assert writer.flush()
    refused = CliRunner().invoke(main, ["purge", "--db", db_arg(path), "--all", "--yes"])
    assert refused.exit_code == 1
    assert f"session {session}" in refused.output and "--force" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    forced = CliRunner().invoke(main, ["purge", "--db", db_arg(path), "--all", "--yes", "--force"])
    assert forced.exit_code == 0, forced.output
    new_session(path, source="har")  # on SQLite, takes the purged session's id again
    writer.submit(Record(session, marked(1)))
    writer.close()
    with open_database(path) as db:
        sql = "select s.id, s.source, s.status from flows f join sessions s on s.id = f.session_id"
        rows = list(db.query(sql))
        assert len(rows) == 1 and rows[0]["source"] == "proxy" and rows[0]["status"] == "complete"
        assert rows[0]["id"] != session
        orphans = db.execute(
            "select count(*) from flows where session_id not in (select id from sessions)"
        )
        assert orphans.fetchone()[0] == 0


def test_purge_removes_the_session_third_party_inventory(db_target: Target) -> None:
    from phitrace.capture.parties import Inventory
    from phitrace.store.rows import party_rows
    from phitrace.store.writer import write_inventory

    path = db_target
    db = open_database(path)
    session = start_session(db, source="har", label="gone")
    inventory = Inventory()
    page = "https://clinic.example/"
    inventory.observe(
        Request("GET", "https://cdn.t.example/a.js", (), b"", 1.0, page), "t.example", None
    )
    write_inventory(db, session, party_rows(session, inventory))
    end_session(db, session)
    assert db["third_parties"].count_where() == 1
    db.close()
    result = CliRunner().invoke(main, ["purge", "--db", db_arg(path), "--all", "--yes"])
    assert result.exit_code == 0, result.output
    db = open_database(path)
    assert db["third_parties"].count_where() == 0
    db.close()
