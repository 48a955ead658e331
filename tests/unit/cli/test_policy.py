"""`--policy` on scan, proxy and check: recorded rules, check exit codes, refused files."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from phitrace.cli.main import main
from phitrace.store.database import open_database
from tests.support.seeded_db import clinic, finding, new_session, record_flow
from tests.unit.cli.test_capture import HAR


@pytest.fixture
def clinic_db(tmp_path: Path) -> Path:
    return clinic(tmp_path / "clinic.db")


def policy(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return str(path)


def check(db: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", "--db", str(db), *args])
    return result.exit_code, result.output


COVER_ALL = """\
covered_vendors: [meta-pixel]
allow:
  - vendor: google-analytics
    pages: ["https://clinic.example/search*"]
    kinds: [health]
"""


def test_check_passes_when_the_policy_accepts_every_serious_finding(
    clinic_db: Path, tmp_path: Path
) -> None:
    code, output = check(clinic_db, "--policy", policy(tmp_path, COVER_ALL))
    assert code == 0, output
    assert "passed: 0 new leak(s)" in output
    assert "7 accepted by the policy" in output


def test_strict_counts_what_the_policy_accepts(clinic_db: Path, tmp_path: Path) -> None:
    code, output = check(clinic_db, "--policy", policy(tmp_path, COVER_ALL), "--strict")
    assert code == 1
    assert "FAILED: 4 new leak(s) at or above medium" in output


@pytest.mark.parametrize(
    "text",
    [
        "covered_vendors: [meta-pixel]\n",  # Google Analytics' medication search still fails
        COVER_ALL.replace("search*", "careers/*"),  # the allowed pages are other pages
        COVER_ALL.replace("kinds: [health]", "kinds: [identifier]"),  # another kind
        COVER_ALL.replace("vendor: google-analytics", "vendor: hotjar"),  # another vendor
    ],
)
def test_findings_no_rule_accepts_still_fail(clinic_db: Path, tmp_path: Path, text: str) -> None:
    code, output = check(clinic_db, "--policy", policy(tmp_path, text))
    assert code == 1
    assert "google-analytics: medication 'metformin'" in output


def test_a_severity_override_below_the_level_passes_and_a_raise_fails(
    clinic_db: Path, tmp_path: Path
) -> None:
    lowered = "covered_vendors: [meta-pixel]\nseverity: {medication: low}\n"
    assert check(clinic_db, "--policy", policy(tmp_path, lowered))[0] == 0
    raised = "covered_vendors: [meta-pixel]\nallow:\n  - vendor: google-analytics\n"
    raised += "severity: {user_id: high}\n"
    code, output = check(clinic_db, "--policy", policy(tmp_path, raised), "--fail-on", "high")
    assert code == 1
    assert "microsoft-uet: user_id" in output


def test_an_unusable_policy_file_exits_2(clinic_db: Path, tmp_path: Path) -> None:
    code, output = check(clinic_db, "--policy", policy(tmp_path, "severity: {email: never}\n"))
    assert code == 2
    assert "policy.yaml:1: severity.email must be one of" in output
    assert check(clinic_db, "--policy", str(tmp_path / "absent.yaml"))[0] == 2


def test_check_uses_the_recorded_policy_column_without_a_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "covered.db"
    db = open_database(path)
    session = new_session(db, "covered")
    accepted = finding("health", "condition", "query.dl", "diabetes", "diabetes", "high")
    record_flow(
        db,
        session,
        url="https://sb.scorecardresearch.com/b?c1=2",
        page="https://clinic.example/conditions/diabetes",
        vendor="adobe-analytics",
        findings=[replace(accepted, policy="covered")],
    )
    db.close()
    assert check(path)[0] == 0
    assert check(path, "--strict")[0] == 1


def test_scan_records_the_rule_of_each_finding(tmp_path: Path) -> None:
    har = tmp_path / "capture.har"
    har.write_text(json.dumps(HAR))
    db = tmp_path / "p.db"
    text = "allow:\n  - vendor: microsoft-uet\n    pages: ['https://www.example.org/*']\n"
    result = CliRunner().invoke(
        main, ["scan", str(har), "--db", str(db), "--policy", policy(tmp_path, text)]
    )
    assert result.exit_code == 0, result.output
    with closing(sqlite3.connect(db)) as conn:
        rules = {row[0] for row in conn.execute("select policy from findings")}
    assert rules == {"allowed:1"}


def test_scan_and_proxy_refuse_a_policy_naming_an_unknown_vendor(tmp_path: Path) -> None:
    har = tmp_path / "capture.har"
    har.write_text(json.dumps(HAR))
    bad = policy(tmp_path, "covered_vendors: [adobe-analitycs]\n")
    for args in (["scan", str(har), "--db", str(tmp_path / "p.db")], ["proxy"]):
        result = CliRunner().invoke(main, [*args, "--policy", bad])
        assert result.exit_code == 1
        assert "policy.yaml:1: covered_vendors[0]: unknown vendor 'adobe-analitycs'" in (
            result.output
        )
