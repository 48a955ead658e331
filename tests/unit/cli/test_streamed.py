"""``phitrace report`` streams JSON, CSV and SARIF: the same bytes as the in-memory exports."""

from __future__ import annotations

import re
import stat
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from phitrace.cli.main import main
from phitrace.cli.policy import judge_leaks
from phitrace.cli.streamed import chunked
from phitrace.report.formats import FORMATS, STREAMED
from phitrace.store.database import open_database
from phitrace.store.reader import Findings, iter_leaks, load_findings
from tests.support.seeded_db import many

POLICY = """\
covered_vendors: [meta-pixel]
allow:
  - vendor: google-analytics
    pages: ["https://clinic.example/conditions/page-1*"]
severity:
  condition: low
  user_id: high
"""

_GENERATED = re.compile(rb'"generated_at": "[^"]*"')


@pytest.fixture(scope="module")
def many_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 1,200 flows of 2-4 findings: several reader batches, repeated fingerprints.
    return many(tmp_path_factory.mktemp("many") / "many.db", 1_200)


def in_memory(db_path: Path, session: int | None = None) -> Findings:
    db = open_database(db_path)
    try:
        return load_findings(db, session)
    finally:
        db.close()


def expected(findings: Findings, fmt: str) -> bytes:
    return _GENERATED.sub(b"", FORMATS[fmt](findings).encode("utf-8", "backslashreplace"))


def run(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("fmt", sorted(STREAMED))
def test_the_streamed_file_is_byte_for_byte_the_in_memory_export(
    many_db: Path, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"report.{fmt}"
    said = run(["report", "--db", str(many_db), "--format", fmt, "-o", str(out)])
    findings = in_memory(many_db)
    assert len(findings.leaks) > 3_000
    assert _GENERATED.sub(b"", out.read_bytes()) == expected(findings, fmt)
    assert said == f"wrote {out}: {findings.total_flows} flows, {len(findings.leaks)} findings\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


@pytest.mark.parametrize("fmt", sorted(STREAMED))
def test_a_policy_judges_the_stream_in_the_order_it_judges_a_list(
    many_db: Path, tmp_path: Path, fmt: str
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    out = tmp_path / f"report.{fmt}"
    args = ["report", "--db", str(many_db), "--format", fmt, "-o", str(out), "--policy"]
    run([*args, str(policy)])
    from phitrace.assess.policy_file import load_policy

    findings = in_memory(many_db)
    judged = judge_leaks(load_policy(policy), findings.leaks)
    assert [leak.severity for leak in judged] != [leak.severity for leak in findings.leaks]
    findings.leaks = judged
    assert _GENERATED.sub(b"", out.read_bytes()) == expected(findings, fmt)


@pytest.mark.parametrize("fmt", sorted(STREAMED))
def test_one_session_to_standard_output_is_the_same_text(many_db: Path, fmt: str) -> None:
    args = ["report", "--db", str(many_db), "--session", "2", "--format", fmt, "-o", "-"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    # The bytes: the runner's text output turns CR LF inside values into LF.
    assert _GENERATED.sub(b"", result.stdout_bytes) == expected(in_memory(many_db, 2), fmt)


def test_an_empty_selection_streams_like_an_empty_list(tmp_path: Path) -> None:
    db_path = many(tmp_path / "empty.db", 0, sessions=1)
    for fmt in sorted(STREAMED):
        out = tmp_path / f"empty.{fmt}"
        run(["report", "--db", str(db_path), "--format", fmt, "-o", str(out)])
        assert _GENERATED.sub(b"", out.read_bytes()) == expected(in_memory(db_path), fmt)


def test_chunks_are_whole_pieces_in_order() -> None:
    received: list[str] = []
    write, flush = chunked(received.append, size=5)
    for piece in ("ab", "cde", "f", "ghijkl", "m"):
        write(piece)
    flush()
    assert received == ["abcde", "fghijkl", "m"]


def test_the_stream_holds_a_batch_not_the_whole_export(many_db: Path) -> None:
    db = open_database(many_db)
    overview = load_findings(db, leaks=False)
    tracemalloc.start()
    try:
        FORMATS["json"](load_findings(db))
        whole = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        STREAMED["json"](overview, lambda: iter_leaks(db, batch=100), lambda _text: None)
        streamed = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        db.close()
    assert streamed < whole / 10, (streamed, whole)


_HTML_GENERATED = re.compile(rb"Generated [^ ]+ by phitrace")


def _html(findings: Findings) -> bytes:
    page = FORMATS["html"](findings).encode("utf-8", "backslashreplace")
    return _HTML_GENERATED.sub(b"", page)


def test_the_html_report_is_written_as_read_and_is_the_in_memory_report(
    many_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    out.write_text("the previous report")
    said = run(["report", "--db", str(many_db), "-o", str(out)])
    db = open_database(many_db)
    try:
        findings = load_findings(db, raw=True)
    finally:
        db.close()
    assert _HTML_GENERATED.sub(b"", out.read_bytes()) == _html(findings)
    assert said == f"wrote {out}: {findings.total_flows} flows, {len(findings.leaks)} findings\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temporary left


def test_one_session_of_the_html_report_to_standard_output(many_db: Path) -> None:
    result = CliRunner().invoke(main, ["report", "--db", str(many_db), "--session", "3", "-o", "-"])
    assert result.exit_code == 0, result.output
    db = open_database(many_db)
    try:
        findings = load_findings(db, 3, raw=True)
    finally:
        db.close()
    assert _HTML_GENERATED.sub(b"", result.stdout_bytes) == _html(findings)
