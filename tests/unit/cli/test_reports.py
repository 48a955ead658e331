"""The report commands, through click's runner."""

from __future__ import annotations

from pathlib import Path

import pytest
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


def test_a_pdf_without_chromium_is_one_line_naming_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import phitrace.report.pdf

    path = clinic(tmp_path / "clinic.db")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    monkeypatch.setattr(phitrace.report.pdf, "FALLBACK_CHROMIUM", tmp_path / "no-chromium")
    out = tmp_path / "report.pdf"
    result = CliRunner().invoke(
        main, ["report", "--db", str(path), "--format", "pdf", "-o", str(out)]
    )
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert "install the Debian package chromium" in result.output
    assert not out.exists()


def test_a_pdf_is_never_written_over_the_database(tmp_path: Path) -> None:
    path = clinic(tmp_path / "clinic.db")
    before = path.read_bytes()
    result = CliRunner().invoke(
        main, ["report", "--db", str(path), "--format", "pdf", "-o", str(path)]
    )
    assert result.exit_code == 1 and "refusing to write" in result.output
    assert path.read_bytes() == before
