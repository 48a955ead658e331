"""``phitrace compare``: two sessions of one database, to standard output or a private file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from phitrace.cli.main import main
from tests.support.seeded_db import consent_pair

GOLDEN = Path(__file__).resolve().parents[1] / "report" / "golden"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return consent_pair(tmp_path / "pair.db")


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def test_markdown_to_standard_output_by_default(db: Path) -> None:
    result = run("compare", "1", "2", "--db", db)
    assert result.exit_code == 0, result.output
    assert result.output == (GOLDEN / "compare.md").read_text(encoding="utf-8")


def test_json_to_a_private_file(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "compare.json"
    result = run("compare", "1", "2", "--db", db, "--format", "json", "-o", out)
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {out}: sessions 1 and 2 compared\n"
    assert (out.stat().st_mode & 0o777) == 0o600
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["vendors"]["counts"]["only_a"] == 1
    assert [row["vendor"] for row in document["vendors"]["rows"] if row["change"] == "worse"] == [
        "microsoft-uet"
    ]


def test_swapping_the_sessions_swaps_only_in_a_and_only_in_b(db: Path) -> None:
    forward = json.loads(run("compare", "1", "2", "--db", db, "--format", "json").output)
    backward = json.loads(run("compare", "2", "1", "--db", db, "--format", "json").output)
    assert forward["cells"]["counts"]["only_a"] == backward["cells"]["counts"]["only_b"] == 4


def test_html_to_a_file(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "compare.html"
    assert run("compare", "1", "2", "--db", db, "--format", "html", "-o", out).exit_code == 0
    assert "<h2>Vendor × data category</h2>" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("sessions", [("1", "7"), ("7", "2")])
def test_an_unknown_session_is_a_one_line_error(db: Path, sessions: tuple[str, str]) -> None:
    result = run("compare", *sessions, "--db", db)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: no session 7 in {db} — list sessions with datasette or sqlite3"
    ]


def test_a_missing_database_is_a_one_line_error(tmp_path: Path) -> None:
    result = run("compare", "1", "2", "--db", tmp_path / "none.db")
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and "no database at" in result.output


def test_a_session_that_is_not_a_number_is_a_usage_error(db: Path) -> None:
    assert run("compare", "one", "2", "--db", db).exit_code == 2
