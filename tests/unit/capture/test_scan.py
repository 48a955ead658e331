"""Scanning captures: each file is its own session, so ids never link across files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from phitrace.cli.main import main

IDENTIFIED = "https://www.google-analytics.com/g/collect?v=2&tid=G-1&cid=555.777&uid=member-42"
HEALTH = (
    "https://www.google-analytics.com/g/collect?v=2&tid=G-1&cid=555.777"
    "&dl=https%3A%2F%2Fclinic.example.org%2Fconditions%2Fdiabetes"
)


def har(path: Path, *urls: str) -> Path:
    entries = [
        {
            "startedDateTime": "2026-01-01T00:00:00.000Z",
            "request": {"method": "GET", "url": url, "headers": []},
            "response": {"status": 204, "content": {"mimeType": "image/gif"}},
        }
        for url in urls
    ]
    path.write_text(json.dumps({"log": {"pages": [], "entries": entries}}))
    return path


def severities(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return list(
            conn.execute(
                "select s.label, f.severity from flows f join sessions s on s.id = f.session_id"
                " where f.url like '%member-42%' order by f.id"
            )
        )


def test_ids_seen_in_one_file_do_not_link_requests_of_another(tmp_path: Path) -> None:
    first = har(tmp_path / "a.har", HEALTH)
    second = har(tmp_path / "b.har", IDENTIFIED)
    together, alone = tmp_path / "together.db", tmp_path / "alone.db"
    runner = CliRunner()
    both = runner.invoke(main, ["scan", str(first), str(second), "--db", str(together)])
    assert both.exit_code == 0, both.output
    single = runner.invoke(main, ["scan", str(second), "--db", str(alone)])
    assert single.exit_code == 0, single.output
    assert severities(together) == severities(alone) == [("b.har", "low")]


def test_ids_seen_earlier_in_the_same_file_do_link(tmp_path: Path) -> None:
    capture = har(tmp_path / "one.har", HEALTH, IDENTIFIED)
    db = tmp_path / "p.db"
    result = CliRunner().invoke(main, ["scan", str(capture), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert severities(db) == [("one.har", "high")]
