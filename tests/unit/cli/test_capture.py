"""The proxy and scan commands, through click's runner."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from phitrace.cli.capture import _proxy_args
from phitrace.cli.main import ADDON_SCRIPT, main

HAR = {
    "log": {
        "version": "1.2",
        "pages": [{"id": "page_1", "title": "https://www.example.org/conditions/asthma"}],
        "entries": [
            {
                "pageref": "page_1",
                "startedDateTime": "2026-01-01T00:00:00.000Z",
                "request": {
                    "method": "GET",
                    "url": "https://www.example.org/conditions/asthma",
                    "headers": [],
                },
                "response": {"status": 200},
            },
            {
                "pageref": "page_1",
                "startedDateTime": "2026-01-01T00:00:01.000Z",
                "request": {
                    "method": "GET",
                    "headers": [],
                    "url": "https://bat.bing.com/action/0?ti=1&evt=pageLoad&p=https%3A%2F%2F"
                    "www.example.org%2Fconditions%2Fasthma&vid=abc",
                },
                "response": {"status": 204},
            },
        ],
    }
}


def test_scan_then_report(tmp_path: Path) -> None:
    har = tmp_path / "capture.har"
    har.write_text(json.dumps(HAR))
    db = tmp_path / "p.db"
    runner = CliRunner()
    result = runner.invoke(main, ["scan", str(har), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "2 requests, 1 tracker flows" in result.output
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("select vendor, page_url, status_code from flows").fetchall() == [
            ("microsoft-uet", "https://www.example.org/conditions/asthma", 204)
        ]
        assert conn.execute("select source, label from sessions").fetchall() == [
            ("har", "capture.har")
        ]
    out = tmp_path / "r.html"
    result = runner.invoke(main, ["report", "--db", str(db), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "asthma" in out.read_text()


def test_scan_of_a_non_har_file_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.har"
    bad.write_text("{}")
    result = CliRunner().invoke(main, ["scan", str(bad), "--db", str(tmp_path / "p.db")])
    assert result.exit_code == 1
    assert "no log.entries array" in result.output
    assert "Traceback" not in result.output


def test_proxy_arguments_load_the_addon_with_every_option(tmp_path: Path) -> None:
    options = {
        "phitrace_db": str(tmp_path / "p.db"),
        "phitrace_sinkhole": "true",
        "phitrace_label": "lbl",
        "phitrace_mode": "block",
    }
    args = _proxy_args("127.0.0.1", 9090, options, "web")
    assert args[:2] == ["-s", str(ADDON_SCRIPT)]
    joined = " ".join(args)
    for expected in (
        "--listen-port 9090",
        "phitrace_sinkhole=true",
        "connection_strategy=lazy",
        "phitrace_label=lbl",
        "phitrace_mode=block",
        "web_open_browser=false",
        f"phitrace_db={tmp_path / 'p.db'}",
    ):
        assert expected in joined


def test_proxy_refuses_a_broken_canaries_file_before_starting(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("persona: {}\n")
    result = CliRunner().invoke(main, ["proxy", "--canaries", str(bad)])
    assert result.exit_code == 1
    assert "expected a mapping 'canaries:" in result.output


def test_scan_with_redacted_storage_keeps_no_captured_value(tmp_path: Path) -> None:
    har = tmp_path / "capture.har"
    har.write_text(json.dumps(HAR))
    db = tmp_path / "p.db"
    result = CliRunner().invoke(main, ["scan", str(har), "--db", str(db), "--storage", "redact"])
    assert result.exit_code == 0, result.output
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("select count(*) from findings").fetchone()[0] > 0
        assert conn.execute("select count(*) from requests").fetchone()[0] == 0
        dump = "\n".join(conn.iterdump())
    assert "conditions/asthma" not in dump and "conditions%2Fasthma" not in dump


def test_the_proxy_hands_mitmproxy_a_server_url_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from phitrace.cli.capture import _db_option
    from phitrace.store.target import parse_target

    monkeypatch.delenv("PGPASSWORD", raising=False)
    option = _db_option(parse_target("postgresql://qa:s3cret@db.example/team"))
    assert option == "postgresql://qa@db.example/team"
    assert os.environ["PGPASSWORD"] == "s3cret"
    assert _db_option(Path("audit.db")) == "audit.db"
