"""Scanning captures: a session per file (ids never link across files), skips and errors."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from phitrace.capture.har import HarError
from phitrace.capture.scan import requests_in
from phitrace.cli.main import main

IDENTIFIED = (
    "https://www.google-analytics.com/g/collect?v=2&tid=G-1&cid=555.777"
    "&ep.email=member-42%40example.org"
)
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
    with closing(sqlite3.connect(db)) as conn, conn:
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


def test_an_unreadable_file_is_one_line_and_no_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture = har(tmp_path / "locked.har", IDENTIFIED)
    original = Path.open

    def locked(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == capture:
            raise PermissionError(13, "Permission denied", str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", locked)
    db = tmp_path / "p.db"
    result = CliRunner().invoke(main, ["scan", str(capture), "--db", str(db)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert result.stderr == f"Error: {capture}: cannot be read (Permission denied)\n"
    with closing(sqlite3.connect(db)) as conn, conn:
        assert conn.execute("select count(*) from sessions").fetchone() == (0,)


@pytest.mark.parametrize("name", ["gone.har", "gone.mitm"])
def test_scanning_a_missing_file_raises_the_one_line_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(HarError, match=r"gone\.\w+: cannot be read \(No such file or directory\)"):
        requests_in(tmp_path / name)


def test_the_summary_counts_skipped_entries_and_the_exit_code_stays_zero(tmp_path: Path) -> None:
    capture = tmp_path / "mixed.har"
    good = {"request": {"method": "GET", "url": IDENTIFIED, "headers": []}}
    capture.write_text(json.dumps({"log": {"entries": [good, 42, {"request": []}]}}))
    result = CliRunner().invoke(main, ["scan", str(capture), "--db", str(tmp_path / "p.db")])
    assert result.exit_code == 0 and result.exception is None, result.output
    assert result.stderr.splitlines() == [
        f"warning: {capture}: entry 1 skipped: it is not an object",
        f"warning: {capture}: entry 2 skipped: request is not an object",
    ]
    assert result.stdout == (
        f"{capture}: session 1: 1 requests, 1 tracker flows, 2 findings, 2 skipped\n"
    )


def test_scanned_unlisted_parties_are_named_by_imported_entity_maps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHITRACE_ENTITIES", str(tmp_path / "entities"))
    source = tmp_path / "map.json"
    source.write_text(json.dumps({"Example Metrics Ltd": ["examplemetrics.net"]}))
    runner = CliRunner()
    assert runner.invoke(main, ["entities", "import", str(source)]).exit_code == 0
    entry = {
        "startedDateTime": "2026-01-01T00:00:00.000Z",
        "request": {
            "method": "GET",
            "url": "https://c.examplemetrics.net/e?u=https%3A%2F%2Fclinic.example.org%2Fhiv",
            "headers": [{"name": "Referer", "value": "https://clinic.example.org/"}],
        },
        "response": {"status": 204, "content": {"mimeType": "image/gif"}},
    }
    capture = tmp_path / "u.har"
    capture.write_text(json.dumps({"log": {"pages": [], "entries": [entry]}}))
    db = tmp_path / "p.db"
    result = runner.invoke(main, ["scan", str(capture), "--db", str(db)])
    assert result.exit_code == 0, result.output
    with closing(sqlite3.connect(db)) as conn, conn:
        rows = list(conn.execute("select vendor, vendor_name, vendor_company from flows"))
    conn.close()
    assert rows == [
        ("third-party:examplemetrics.net", "Example Metrics Ltd", "Example Metrics Ltd")
    ]


def outcomes(db: Path) -> list[tuple[str, str | None, int]]:
    with closing(sqlite3.connect(db)) as conn, conn:
        return list(
            conn.execute(
                "select s.status, s.error, count(f.id) from sessions s"
                " left join flows f on f.session_id = s.id group by s.id order by s.id"
            )
        )


def test_a_finished_scan_ends_its_session_complete(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    result = CliRunner().invoke(
        main, ["scan", str(har(tmp_path / "a.har", HEALTH)), "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    assert outcomes(db) == [("complete", None, 1)]


def test_a_capture_that_breaks_off_keeps_what_was_read_in_a_failed_session(
    tmp_path: Path,
) -> None:
    from mitmproxy import io
    from mitmproxy.test import tflow, tutils

    capture = tmp_path / "cut.mitm"
    with capture.open("wb") as handle:
        writer = io.FlowWriter(handle)
        for n in range(2):
            request = tutils.treq(
                host="www.google-analytics.com", path=f"/g/collect?n={n}".encode()
            )
            writer.add(tflow.tflow(resp=True, req=request))
    capture.write_bytes(capture.read_bytes() + b"12:hello world!")
    db = tmp_path / "p.db"
    result = CliRunner().invoke(main, ["scan", str(capture), "--db", str(db)])
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.endswith("; session 1 keeps the 2 requests before")
    [(status, error, flows)] = outcomes(db)
    assert (status, flows) == ("failed", 2)
    assert line == f"Error: {error}"


def test_a_scan_that_raises_ends_its_session_failed_and_keeps_the_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phitrace.analyzer import Analyzer

    original = Analyzer.analyse
    seen: list[str] = []

    def stops_at_the_second(self: Analyzer, request: Any, session: Any = None) -> Any:
        seen.append(request.url)
        if len(seen) == 2:
            raise KeyboardInterrupt
        return original(self, request, session)

    monkeypatch.setattr(Analyzer, "analyse", stops_at_the_second)
    capture = har(tmp_path / "a.har", HEALTH, IDENTIFIED, HEALTH)
    db = tmp_path / "p.db"
    result = CliRunner().invoke(main, ["scan", str(capture), "--db", str(db)])
    assert result.exit_code != 0
    assert outcomes(db) == [("failed", "KeyboardInterrupt: ", 1)]


def analysed_flows(db: Path) -> list[tuple[str, str, int, str | None]]:
    with closing(sqlite3.connect(db)) as conn, conn:
        return list(
            conn.execute(
                "select f.url, f.severity, count(x.id), f.analysis_error from flows f"
                " left join findings x on x.flow_id = f.id group by f.id order by f.id"
            )
        )


def test_a_request_whose_analysis_raises_is_recorded_unanalysed_and_the_scan_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phitrace.analyzer import Analyzer

    broken = HEALTH + "&ep.broken=1"
    original = Analyzer.analyse

    def fails_on_one(self: Analyzer, request: Any, session: Any = None) -> Any:
        if request.url == broken:
            raise ValueError("cannot analyse\nthis request")
        return original(self, request, session)

    runner = CliRunner()
    baseline = tmp_path / "baseline.db"
    good = runner.invoke(
        main, ["scan", str(har(tmp_path / "b.har", HEALTH, IDENTIFIED)), "--db", str(baseline)]
    )
    assert good.exit_code == 0, good.output
    monkeypatch.setattr(Analyzer, "analyse", fails_on_one)
    db = tmp_path / "p.db"
    capture = har(tmp_path / "a.har", HEALTH, broken, IDENTIFIED)
    result = runner.invoke(main, ["scan", str(capture), "--db", str(db)])
    assert result.exit_code == 0, result.output
    flows = analysed_flows(db)
    assert [flow for flow in flows if flow[0] != broken] == analysed_flows(baseline)
    [(_, severity, findings, error)] = [flow for flow in flows if flow[0] == broken]
    assert (severity, findings, error) == ("info", 0, "scan: ValueError")
    assert outcomes(db) == [("complete", None, 3)]
    with closing(sqlite3.connect(db)) as conn, conn:
        assert conn.execute("select errors from sessions").fetchall() == [(1,)]
    notes = [line for line in result.output.splitlines() if "could not be analysed" in line]
    assert notes == [f"warning: {capture}: 1 request could not be analysed (recorded as sent)"]


def test_a_scanned_har_records_sec_gpc_per_flow_and_sums_up_the_session(tmp_path: Path) -> None:
    capture = har(tmp_path / "gpc.har", HEALTH, IDENTIFIED, HEALTH + "&n=3")
    document = json.loads(capture.read_text())
    sent = [{"name": "Sec-GPC", "value": "1"}]
    entries = document["log"]["entries"]
    entries[0]["request"]["headers"] = sent
    entries[1]["request"]["headers"] = [{"name": "User-Agent", "value": "test"}]
    capture.write_text(json.dumps(document))
    db = tmp_path / "p.db"
    result = CliRunner().invoke(main, ["scan", str(capture), "--db", str(db)])
    assert result.exit_code == 0, result.output
    with closing(sqlite3.connect(db)) as conn, conn:
        flows = [row[0] for row in conn.execute("select gpc from flows order by id")]
        (summary,) = conn.execute("select gpc from sessions").fetchone()
    assert flows == [1, 0, None]  # the third entry's HAR kept no headers
    assert summary == "mixed"
