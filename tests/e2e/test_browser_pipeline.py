"""End to end: real Chromium → real mitmdump with phitrace (sinkhole) → SQLite → report."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

PAGE_PATH = "/conditions/type-2-diabetes"


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return list(conn.execute(sql))


def browse(site: str, start_proxy, browser_for) -> tuple[Path, str, dict[str, str]]:  # type: ignore[no-untyped-def]
    proxy = start_proxy("phitrace_sinkhole=true", "phitrace_label=e2e")
    browser = browser_for(proxy.url)
    page = browser.new_page()
    page.goto(site + PAGE_PATH)
    page.wait_for_function(
        "document.getElementById('status').textContent !== 'sending'", timeout=20_000
    )
    status = json.loads(page.text_content("#status") or "{}")
    page.close()
    browser.close()
    output = proxy.stop()
    return proxy.db, output, status


def test_tags_in_a_real_browser_are_sinkholed_recorded_and_reported(
    site: str,
    start_proxy,
    browser_for,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    db, output, status = browse(site, start_proxy, browser_for)
    page_url = site + PAGE_PATH

    # The tags saw answers they accept: the GIF decoded, the CORS fetch resolved.
    assert status == {"ga4": True, "meta": "loaded", "uet": "ok"}, output

    flows = _rows(
        db,
        "select vendor, method, host, page_url, status_code, blocked "
        "from flows order by vendor, method",
    )
    assert flows == [
        ("google-analytics", "POST", "region1.google-analytics.com", page_url, 204, 1),
        ("meta-pixel", "GET", "www.facebook.com", page_url, 200, 1),
        ("microsoft-uet", "OPTIONS", "bat.bing.com", page_url, 204, 1),
        ("microsoft-uet", "POST", "bat.bing.com", page_url, 200, 1),
    ], output

    findings = set(
        _rows(db, "select vendor, kind, category, matched, field, severity from findings")
    )
    expected = {
        ("google-analytics", "health", "condition", "diabetes", "query.dl", "high"),
        (
            "google-analytics",
            "health",
            "health_search",
            "metformin",
            "body.line[1].ep.search_term [lines>form]",
            "high",
        ),
        ("google-analytics", "identifier", "device_id", "client_id:field", "query.cid", "high"),
        ("meta-pixel", "health", "condition", "diabetes", "query.dl", "high"),
        ("meta-pixel", "health", "health_search", "metformin", "query.cd[search_string]", "high"),
        ("meta-pixel", "identifier", "device_id", "client_id:field", "query.fbp", "high"),
        ("microsoft-uet", "health", "condition", "diabetes", "body.p [json]", "high"),
        ("microsoft-uet", "health", "medication", "metformin", "body.el [json]", "high"),
        ("microsoft-uet", "identifier", "device_id", "client_id:field", "body.vid [json]", "high"),
    }
    missing = expected - findings
    assert not missing, f"missing findings: {sorted(missing)}\nall: {sorted(findings)}"
    # Every finding belongs to a recorded flow of the same vendor and session.
    orphans = _rows(
        db,
        "select count(*) from findings f left join flows w on w.id = f.flow_id "
        "where w.id is null or w.vendor != f.vendor "
        "or w.session_id != f.session_id",
    )
    assert orphans == [(0,)]
    sessions = _rows(db, "select label, source, ended_at is not null from sessions")
    assert sessions == [("e2e", "proxy", 1)]

    report = tmp_path / "report.html"
    subprocess.run(
        [sys.executable, "-m", "phitrace", "report", "--db", str(db), "-o", str(report)],
        check=True,
        capture_output=True,
    )
    html = report.read_text()
    for text in (
        "Google Analytics",
        "Meta Pixel",
        "Microsoft Advertising UET",
        "<mark>metformin</mark>",
        "query.cd[search_string]",
        PAGE_PATH,
    ):
        assert text in html
    assert report.stat().st_mode & 0o777 == 0o600
