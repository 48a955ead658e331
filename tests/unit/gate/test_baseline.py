"""The CI gate: fingerprints, check exit codes, baselines and diffs."""

from __future__ import annotations

import json
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from phitrace.cli.main import main
from phitrace.gate.baseline import (
    BaselineError,
    check,
    diff,
    fingerprint,
    normalise,
    read_baseline,
)
from phitrace.store.database import open_database
from phitrace.store.reader import Leak, load_leaks
from phitrace.store.sessions import end_session
from tests.support.seeded_db import (
    PERSONA_SHA,
    clinic,
    finding,
    new_session,
    pixel_flow,
    record_flow,
)


@pytest.fixture
def clinic_db(tmp_path: Path) -> Path:
    return clinic(tmp_path / "clinic.db")


def leaks_of(path: Path, session: int | None = None) -> list[Leak]:
    db = open_database(path)
    try:
        return load_leaks(db, session)
    finally:
        db.close()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_fingerprint_ignores_capture_noise(clinic_db: Path) -> None:
    leak = leaks_of(clinic_db)[0]
    same = [
        replace(leak, id=99, flow_id=42, timestamp="2030-01-01", request_sha256="0" * 64),
        replace(leak, value=leak.value.replace("1234567890", "5555555555")),
        replace(leak, page_url=leak.page_url + "&utm_source=x"),
        replace(leak, trail=("form", "json")),
        replace(leak, value=leak.value.upper()),
    ]
    assert {fingerprint(x) for x in same} == {fingerprint(leak)}
    positioned = replace(leak, path="body.line[1].dl")
    assert fingerprint(positioned) == fingerprint(replace(leak, path="body.line[7].dl"))


@pytest.mark.parametrize(
    "change",
    [
        {"vendor": "google-analytics"},
        {"category": "medication"},
        {"path": "query.dt"},
        {"value": "https://clinic.example/conditions/asthma"},
        {"page_url": "https://clinic.example/conditions/asthma"},
    ],
)
def test_fingerprint_changes_with_what_leaked_where(
    clinic_db: Path, change: dict[str, str]
) -> None:
    leak = leaks_of(clinic_db)[0]
    assert fingerprint(replace(leak, **change)) != fingerprint(leak)


def test_normalise_decodes_and_folds() -> None:
    assert normalise("Type%202+Diabetes  ") == "type 2 diabetes"
    assert normalise("ts=1767225600123") == "ts=#"


def test_check_fails_on_findings_at_or_above_the_level(clinic_db: Path) -> None:
    result = check(leaks_of(clinic_db), "medium")
    assert not result.passed
    assert [g.severity for g in result.failing] == ["high", "high", "high", "medium"]
    assert result.below == 1
    with pytest.raises(ValueError, match="unknown level"):
        check([], "severe")


def test_check_command_exit_codes(clinic_db: Path, tmp_path: Path) -> None:
    code, output = run("check", "--db", str(clinic_db))
    assert code == 1
    assert "FAILED: 4 new leak(s) at or above medium" in output
    assert "meta-pixel: condition 'diabetes' in query.dl on /conditions/diabetes ×2" in output

    low_only = tmp_path / "low.db"
    db = open_database(low_only)
    session = new_session(db, "low only")
    record_flow(
        db,
        session,
        url="https://bat.bing.com/action/0?vid=1",
        page="https://clinic.example/",
        vendor="microsoft-uet",
        findings=[finding("identifier", "user_id", "query.vid", "1", "user_id", "low")],
    )
    db.close()
    assert run("check", "--db", str(low_only))[0] == 0
    assert run("check", "--db", str(low_only), "--fail-on", "low")[0] == 1
    assert run("check", "--db", str(low_only), "--fail-on", "high")[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--db", "missing.db"], "no database at"),
        (["--session", "7"], "no session 7"),
        (["--baseline", "not-json.txt"], "cannot read baseline"),
        (["--baseline", "other.json"], "not a phitrace baseline"),
        (["--baseline", "absent.json"], "cannot read baseline"),
        (["--fail-on", "severe"], "Invalid value for '--fail-on'"),
    ],
)
def test_check_exits_2_when_it_cannot_check(
    clinic_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "not-json.txt").write_text("accept everything")
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    full = args if args[0] == "--db" else ["--db", str(clinic_db), *args]
    code, output = run("check", *full)
    assert code == 2
    assert message in output


def test_baseline_accepts_current_findings_and_catches_new_ones(
    clinic_db: Path, tmp_path: Path
) -> None:
    baseline = tmp_path / "phitrace-baseline.json"
    code, output = run("baseline", "--db", str(clinic_db), "-o", str(baseline))
    assert code == 0 and "5 accepted leak(s) from 8 finding(s)" in output
    assert stat.S_IMODE(baseline.stat().st_mode) == 0o600
    assert PERSONA_SHA not in baseline.read_text()  # no captured values, only what matched
    assert run("check", "--db", str(clinic_db), "--baseline", str(baseline))[0] == 0

    db = open_database(clinic_db)
    session = new_session(db, "next run", day=2)
    pixel_flow(db, session, "https://clinic.example/conditions/hiv", 10)
    db.close()
    code, output = run("check", "--db", str(clinic_db), "--baseline", str(baseline))
    assert code == 1
    failing = [line for line in output.splitlines() if line.startswith("high")]
    assert len(failing) == 3 and all("/conditions/hiv" in line for line in failing)
    assert "7 finding(s) accepted by the baseline" in output
    assert len(read_baseline(baseline)) == 5


def test_baseline_file_errors_are_specific(tmp_path: Path) -> None:
    bad = tmp_path / "b.json"
    bad.write_text(json.dumps({"format": "phitrace-baseline", "version": 1, "accepted": [1]}))
    with pytest.raises(BaselineError, match="'accepted' must be a list"):
        read_baseline(bad)
    bad.write_text(json.dumps({"format": "phitrace-baseline", "version": 9, "accepted": []}))
    with pytest.raises(BaselineError, match="version 9 unsupported"):
        read_baseline(bad)


def _second_run(path: Path) -> Path:
    """A later run: the UET leak is gone, an asthma page now leaks to the pixel."""
    db = open_database(path)
    session = new_session(db, "after the fix", day=2)
    pixel_flow(db, session, "https://clinic.example/conditions/diabetes?ref=1767225999", 1)
    pixel_flow(db, session, "https://clinic.example/conditions/asthma", 2)
    record_flow(
        db,
        session,
        url="https://region1.google-analytics.com/g/collect?v=2",
        page="https://clinic.example/search?q=metformin",
        vendor="google-analytics",
        findings=[
            finding(
                "health",
                "medication",
                "body.line[4].ep.search_term",
                "metformin dosage",
                "metformin",
                "medium",
                trail=("lines", "form"),
            )
        ],
    )
    db.close()
    return path


def test_diff_lists_new_fixed_and_unchanged(clinic_db: Path, tmp_path: Path) -> None:
    newer = _second_run(tmp_path / "new.db")
    result = diff(leaks_of(clinic_db), leaks_of(newer))
    assert [g.first.page_path for g in result.new] == ["/conditions/asthma"] * 3
    assert [g.first.vendor for g in result.fixed] == ["microsoft-uet"]
    assert len(result.unchanged) == 4


def test_diff_command_between_databases_and_between_sessions(
    clinic_db: Path, tmp_path: Path
) -> None:
    newer = _second_run(tmp_path / "new.db")
    code, output = run("diff", str(clinic_db), str(newer))
    assert code == 0
    assert output.splitlines()[0] == "3 new, 1 fixed, 4 unchanged"
    assert sum(line.startswith("fixed") for line in output.splitlines()) == 1

    _second_run(clinic_db)  # the same later run, as session 2 of the first database
    code, output = run(
        "diff",
        "--db",
        str(clinic_db),
        "--old-session",
        "1",
        "--new-session",
        "2",
        "--format",
        "json",
    )
    assert code == 0
    document = json.loads(output)
    assert [len(document[k]) for k in ("new", "fixed", "unchanged")] == [3, 1, 4]
    assert document["new"][0]["page"] == "/conditions/asthma"


def test_diff_command_needs_two_runs(clinic_db: Path) -> None:
    code, output = run("diff", str(clinic_db))
    assert code == 2 and "give two databases" in output
    code, output = run("diff", "--db", str(clinic_db), "--old-session", "1")
    assert code == 2 and "--new-session" in output


def fail(path: Path, session: int, error: str) -> None:
    """Mark a recorded session as one that stopped part way."""
    db = open_database(path)
    end_session(db, session, failure=error)
    db.close()


def low_only_db(path: Path) -> Path:
    db = open_database(path)
    session = new_session(db, "low only")
    record_flow(
        db,
        session,
        url="https://bat.bing.com/action/0?vid=1",
        page="https://clinic.example/",
        vendor="microsoft-uet",
        findings=[finding("identifier", "user_id", "query.vid", "1", "user_id", "low")],
    )
    db.close()
    return path


def test_check_warns_for_each_failed_session_and_new_leaks_still_exit_1(clinic_db: Path) -> None:
    db = open_database(clinic_db)
    other = new_session(db, "second run")
    db.close()
    fail(clinic_db, 1, "capture.har: broken off at byte 900")
    fail(clinic_db, other, "KeyboardInterrupt: ")
    result = CliRunner().invoke(main, ["check", "--db", str(clinic_db)])
    assert result.exit_code == 1
    assert "FAILED: 4 new leak(s) at or above medium" in result.stdout
    assert result.stderr.splitlines() == [
        "warning: session 1 (consent rejected) failed: capture.har: broken off at byte 900; "
        "its findings are incomplete",
        f"warning: session {other} (second run) failed: KeyboardInterrupt: ; "
        "its findings are incomplete",
    ]


def test_check_over_a_failed_session_without_new_leaks_exits_2(tmp_path: Path) -> None:
    path = low_only_db(tmp_path / "low.db")
    assert run("check", "--db", str(path))[0] == 0
    fail(path, 1, "capture.har: broken off at byte 900")
    result = CliRunner().invoke(main, ["check", "--db", str(path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "warning: session 1 (low only) failed: capture.har: broken off at byte 900; "
        "its findings are incomplete",
        "Error: 1 session(s) in scope failed part way; rescan them",
    ]


def test_check_ignores_a_failed_session_outside_its_scope(tmp_path: Path) -> None:
    path = low_only_db(tmp_path / "low.db")
    db = open_database(path)
    broken = new_session(db, "broken")
    db.close()
    fail(path, broken, "KeyboardInterrupt: ")
    result = CliRunner().invoke(main, ["check", "--db", str(path), "--session", "1"])
    assert result.exit_code == 0 and result.stderr == ""
    assert CliRunner().invoke(main, ["check", "--db", str(path)]).exit_code == 2
