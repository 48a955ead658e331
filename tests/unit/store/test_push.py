"""``phitrace push``: sessions copied whole into another database, once, under its own ids."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from phitrace.cli.main import main
from phitrace.store.database import open_database
from phitrace.store.engine import Store
from phitrace.store.push import Pushed, push
from phitrace.store.sessions import end_session, start_session
from phitrace.store.target import Target
from tests.support.seeded_db import clinic, pixel_flow, portal

TABLES = ("sessions", "flows", "findings", "requests", "third_parties")


@pytest.fixture
def laptop(tmp_path: Path) -> Path:
    """An auditor's SQLite file: two sites' sessions with findings, raw requests, inventories."""
    path = tmp_path / "laptop.db"
    clinic(path)
    portal(path)
    return path


def _counts(db: Store) -> dict[str, int]:
    return {t: int(db.execute(f"select count(*) from [{t}]").fetchone()[0]) for t in TABLES}


def _content(db: Store) -> dict[str, Any]:
    """Every session's rows keyed by its uid, without the ids the database handed out."""
    out: dict[str, Any] = {}
    for session in db.query("select * from sessions"):
        sid = session["id"]
        flows = []
        for flow in db.query("select * from flows where session_id = ? order by id", [sid]):
            found = [
                (f["kind"], f["category"], f["path"], f["value"], f["severity"])
                for f in db.query(
                    "select * from findings where flow_id = ? order by id", [flow["id"]]
                )
            ]
            raw = [
                (r["headers"], bytes(r["body"]) if r["body"] is not None else None)
                for r in db.query("select * from requests where flow_id = ?", [flow["id"]])
            ]
            flows.append(
                (flow["url"], flow["vendor"], flow["severity"], flow["timestamp"], found, raw)
            )
        parties = sorted(
            (p["domain"], p["requests"], p["hosts"])
            for p in db.query("select * from third_parties where session_id = ?", [sid])
        )
        kept = {k: v for k, v in session.items() if k not in ("id",)}
        out[session["uid"]] = (kept, flows, parties)
    return out


def test_push_copies_every_session_with_everything_recorded_in_it(
    laptop: Path,
    db_target: Target,
) -> None:
    source, target = open_database(laptop), open_database(db_target)
    try:
        pushed = push(source, target, batch=2)
        assert _content(target) == _content(source)
        counts = _counts(source)
        assert counts["requests"] and counts["third_parties"]  # the copy has them all to carry
        assert pushed == Pushed(
            sessions=counts["sessions"],
            flows=counts["flows"],
            findings=counts["findings"],
            requests=counts["requests"],
            third_parties=counts["third_parties"],
        )
    finally:
        source.close()
        target.close()


def test_pushing_twice_adds_nothing(laptop: Path, db_target: Target) -> None:
    source, target = open_database(laptop), open_database(db_target)
    try:
        first = push(source, target)
        before = _counts(target)
        again = push(source, target)
        assert _counts(target) == before
        assert again == Pushed(already_there=first.sessions)
    finally:
        source.close()
        target.close()


def test_pushed_rows_take_the_targets_ids_and_point_at_each_other(
    laptop: Path,
    db_target: Target,
) -> None:
    target = open_database(db_target)
    try:
        # The team database already holds a session of its own, with the same ids the file uses.
        own = start_session(target, source="proxy", label="already here")
        pixel_flow(target, own, "https://clinic.example/conditions/asthma", 1)
        end_session(target, own)
        source = open_database(laptop)
        try:
            push(source, target)
            assert _content(target) == {**_content(source), **_content(target)}
        finally:
            source.close()
        orphans = target.execute(
            "select count(*) from findings f join flows l on l.id = f.flow_id "
            "where f.session_id <> l.session_id"
        ).fetchone()[0]
        assert orphans == 0
        assert _counts(target)["sessions"] == 1 + len(
            _content(open_laptop := open_database(laptop))
        )
        open_laptop.close()
    finally:
        target.close()


def test_a_session_still_being_recorded_waits_for_a_later_push(
    laptop: Path,
    db_target: Target,
) -> None:
    source, target = open_database(laptop), open_database(db_target)
    try:
        live = start_session(source, source="proxy", label="recording now")
        pixel_flow(source, live, "https://clinic.example/conditions/asthma", 1)
        first = push(source, target)
        assert first.still_recording == 1
        assert "recording now" not in {
            s["label"] for s in target.query("select label from sessions")
        }
        end_session(source, live)
        second = push(source, target)
        assert (second.sessions, second.flows, second.still_recording) == (1, 1, 0)
        assert _content(target) == _content(source)
    finally:
        source.close()
        target.close()


def test_two_pushes_at_once_leave_one_copy(laptop: Path, db_target: Target) -> None:
    open_database(db_target).close()  # the schema first, so both pushes find it made
    results: list[Pushed] = []

    def one() -> None:
        source, target = open_database(laptop), open_database(db_target)
        try:
            results.append(push(source, target, batch=1))
        finally:
            source.close()
            target.close()

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    source, target = open_database(laptop), open_database(db_target)
    try:
        assert _content(target) == _content(source)
        sessions = _counts(source)["sessions"]
        assert sum(r.sessions for r in results) == sessions
        assert sum(r.sessions + r.already_there for r in results) == 2 * sessions
    finally:
        source.close()
        target.close()


def test_push_command_prints_one_line_and_adds_nothing_the_second_time(
    laptop: Path,
    db_target: Target,
) -> None:
    runner = CliRunner()
    args = ["push", "--from", str(laptop), "--to", getattr(db_target, "url", str(db_target))]
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("pushed 3 session(s): ")
    assert first.output.count("\n") == 1
    second = runner.invoke(main, args)
    assert second.exit_code == 0, second.output
    assert second.output.startswith("pushed 0 session(s): 0 flows")
    assert "3 already there" in second.output


def test_push_refuses_to_copy_a_file_into_itself(laptop: Path) -> None:
    result = CliRunner().invoke(main, ["push", "--from", str(laptop), "--to", str(laptop)])
    assert result.exit_code == 2
    assert "same database" in result.output


def test_push_refuses_a_url_that_names_no_database(laptop: Path) -> None:
    target = "postgresql://team@127.0.0.1:5432/"
    result = CliRunner().invoke(main, ["push", "--from", str(laptop), "--to", target])
    assert result.exit_code == 2
    assert "names no database" in result.output
