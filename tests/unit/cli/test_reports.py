"""The report commands, through click's runner."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from phitrace.cli.main import main
from phitrace.store.database import open_database
from phitrace.store.sessions import end_session
from tests.support.seeded_db import clinic


def test_report_without_a_database_says_what_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1
    assert "no database at" in result.output and "phitrace scan" in result.output


def test_the_html_report_says_when_a_session_failed_part_way(tmp_path: Path) -> None:
    path = clinic(tmp_path / "clinic.db")
    out = tmp_path / "report.html"
    complete = CliRunner().invoke(main, ["report", "--db", str(path), "-o", str(out)])
    assert complete.exit_code == 0, complete.output
    assert "Incomplete:" not in out.read_text()
    db = open_database(path)
    end_session(db, 1, failure="capture.har: broken off at byte 900")
    db.close()
    failed = CliRunner().invoke(main, ["report", "--db", str(path), "-o", str(out)])
    assert failed.exit_code == 0, failed.output
    html = out.read_text()
    assert (
        "<strong>Incomplete:</strong> session 1 (consent rejected) failed part way: "
        "capture.har: broken off at byte 900. Its findings cover only what was read before."
    ) in html
    assert "<strong>(failed)</strong>" in html
