"""Reading flow files: a broken file is one line, a hostile flow costs at most that flow."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from mitmproxy import http, io
from mitmproxy.test import tflow, tutils

from phitrace.capture import flows
from phitrace.capture.flows import read_flow_file
from phitrace.capture.scan import requests_in
from phitrace.capture.skipped import SkipLog
from phitrace.cli.main import main
from tests.support.database import rows

COLLECT = b"/g/collect?v=2&tid=G-1&cid=555.777"


def tracker_flow(referer: str = "https://clinic.example/conditions/hiv") -> http.HTTPFlow:
    flow = tflow.tflow(resp=True, req=tutils.treq(host="www.google-analytics.com", path=COLLECT))
    flow.request.headers["Referer"] = referer
    return flow


def write_flows(path: Path, *captured: http.HTTPFlow) -> Path:
    with path.open("wb") as handle:
        writer = io.FlowWriter(handle)
        for flow in captured:
            writer.add(flow)
    return path


def scan(path: Path, db: Path) -> Result:
    return CliRunner().invoke(main, ["scan", str(path), "--db", str(db)])


def one_line_error(result: Result, path: Path) -> str:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Error: {path}: "), line
    return line


@pytest.mark.parametrize(
    "content",
    [b"12:hello world!", b"5:hello,", b"3:abc}", b"0:~", b"9999999:x"],
    ids=["bad tnetstring", "a string", "a dict that is not a flow", "null", "truncated"],
)
def test_a_file_that_is_no_flow_file_is_one_line_and_no_session(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "x.mitm"
    path.write_bytes(content)
    db = tmp_path / "p.db"
    line = one_line_error(scan(path, db), path)
    assert "not a readable mitmproxy flow file" in line and "at byte 0" in line
    assert rows(db, "select count(*) from sessions") == [(0,)]


def test_a_flow_file_broken_part_way_keeps_what_was_read_in_a_closed_session(
    tmp_path: Path,
) -> None:
    path = write_flows(tmp_path / "x.mitm", tracker_flow(), tracker_flow())
    intact = path.stat().st_size
    path.write_bytes(path.read_bytes() + b"12:hello world!")
    db = tmp_path / "p.db"
    line = one_line_error(scan(path, db), path)
    assert f"at byte {intact}" in line and "session 1 keeps the 2 requests" in line
    assert rows(db, "select count(*) from flows") == [(2,)]
    assert rows(db, "select ended_at is not null from sessions") == [(1,)]


@pytest.mark.parametrize(
    "referer", ["http://[clinic.example/", "http://[::1", "https://a:99999/", "//[", "\x00"]
)
def test_a_malformed_referer_does_not_stop_the_scan(tmp_path: Path, referer: str) -> None:
    path = write_flows(tmp_path / "x.mitm", tracker_flow(referer), tracker_flow())
    db = tmp_path / "p.db"
    result = scan(path, db)
    assert result.exit_code == 0 and result.exception is None, result.output
    assert result.stderr == "" and "2 requests, 2 tracker flows" in result.stdout
    assert rows(db, "select count(*) from flows") == [(2,)]


def test_a_flow_whose_page_cannot_be_worked_out_is_analysed_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = flows.to_request

    def hostile(flow: http.HTTPFlow, pages: object = None) -> object:
        if pages is not None and "[" in flow.request.headers.get("Referer", ""):
            raise ValueError("Invalid IPv6 URL")
        return original(flow, pages)  # type: ignore[arg-type]

    monkeypatch.setattr(flows, "to_request", hostile)
    path = write_flows(tmp_path / "x.mitm", tracker_flow("http://[x/"), tracker_flow())
    skipped = SkipLog()
    _, stream = requests_in(path, skipped=skipped)
    assert [request.page_url for request, _ in stream] == [
        None,
        "https://clinic.example/conditions/hiv",
    ]
    assert skipped.count == 0


def test_a_flow_that_cannot_be_read_at_all_is_skipped_with_its_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = flows.to_request

    def hostile(flow: http.HTTPFlow, pages: object = None) -> object:
        if "[" in flow.request.headers.get("Referer", ""):
            raise ValueError("Invalid IPv6 URL")
        return original(flow, pages)  # type: ignore[arg-type]

    monkeypatch.setattr(flows, "to_request", hostile)
    path = write_flows(tmp_path / "x.mitm", tracker_flow(), tracker_flow("http://[x/"))
    db = tmp_path / "p.db"
    result = scan(path, db)
    assert result.exit_code == 0 and result.exception is None, result.output
    assert result.stderr == f"warning: {path}: flow 1 skipped: ValueError: Invalid IPv6 URL\n"
    assert result.stdout.strip().endswith(", 1 skipped")
    assert rows(db, "select count(*) from flows") == [(1,)]


def test_reading_a_broken_flow_file_raises_value_error_naming_the_offset(tmp_path: Path) -> None:
    path = write_flows(tmp_path / "x.mitm", tracker_flow())
    intact = path.stat().st_size
    path.write_bytes(path.read_bytes() + b"3:abc}")
    read = read_flow_file(path)
    assert next(read)[1] == intact
    with pytest.raises(ValueError, match=f"at byte {intact}"):
        next(read)


@pytest.mark.parametrize("seconds", [1e300, -1e300, float("inf"), float("nan")])
def test_a_flow_claiming_an_impossible_time_is_stored_as_one_of_unknown_time(
    tmp_path: Path, seconds: float
) -> None:
    claimed = tracker_flow()
    claimed.request.timestamp_start = seconds
    path = write_flows(tmp_path / "x.mitm", claimed, tracker_flow())
    db = tmp_path / "p.db"
    result = scan(path, db)
    assert result.exit_code == 0 and result.exception is None, result.output
    assert "2 requests, 2 tracker flows" in result.stdout
    assert rows(db, "select count(*) from flows") == [(2,)]
