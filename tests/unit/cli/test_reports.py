"""The report commands, through click's runner."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from phitrace.cli.main import main


def test_report_without_a_database_says_what_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1
    assert "no database at" in result.output and "phitrace scan" in result.output
