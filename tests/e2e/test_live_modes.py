"""Live use through real Chromium: block and redact keep pages working; mitmweb shows leaks;
offline scans of the same traffic give the same findings as live capture."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.support.database import rows

from phitrace.cli.main import main

pytestmark = pytest.mark.e2e
ADDONS = Path(__file__).resolve().parent / "addons"
PAGE = "/conditions/type-2-diabetes"
SENSITIVE = ("diabetes", "metformin")


def visit(browser_for, proxy_url: str, url: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    browser = browser_for(proxy_url)
    page = browser.new_page()
    page.goto(url)
    page.wait_for_function(
        "document.getElementById('status').textContent !== 'sending'", timeout=20_000
    )
    status = json.loads(page.text_content("#status") or "{}")
    page.close()
    browser.close()
    return status


def left(log: Path, site: str) -> list[dict[str, object]]:
    """What the page sent to the stand-in internet (not the browser's own background calls)."""
    if not log.exists():
        return []
    sent = [json.loads(line) for line in log.read_text().splitlines()]
    return [
        r
        for r in sent
        if any(
            k.lower() in ("origin", "referer") and str(v).startswith(site) for k, v in r["headers"]
        )
    ]  # type: ignore[union-attr]


def start_with_internet(start_proxy, tmp_path: Path, *options: str):  # type: ignore[no-untyped-def]
    log = tmp_path / "internet.jsonl"
    proxy = start_proxy(
        *options, f"fake_internet_log={log}", args=("-s", str(ADDONS / "fake_internet.py"))
    )
    return proxy, log


def test_block_mode_keeps_the_page_working_and_nothing_sensitive_leaves(
    site: str,
    start_proxy,
    browser_for,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    proxy, log = start_with_internet(start_proxy, tmp_path, "phitrace_mode=block")
    status = visit(browser_for, proxy.url, site + PAGE)
    output = proxy.stop()
    assert status == {"ga4": True, "meta": "loaded", "uet": "ok"}, output
    outside = left(log, site)
    # Only the empty CORS preflight went out; every request with health data was held back.
    assert [(r["method"], r["url"]) for r in outside] == [
        ("OPTIONS", "https://bat.bing.com/action/0?ti=12345678&evt=custom")
    ]
    assert rows(proxy.db, "select vendor, method, blocked from flows order by vendor, method") == [
        ("google-analytics", "POST", 1),
        ("meta-pixel", "GET", 1),
        ("microsoft-uet", "OPTIONS", 0),
        ("microsoft-uet", "POST", 1),
    ]


def test_redact_mode_forwards_tags_without_their_health_values(
    site: str,
    start_proxy,
    browser_for,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    proxy, log = start_with_internet(
        start_proxy, tmp_path, "phitrace_mode=redact", "connection_strategy=lazy"
    )
    status = visit(browser_for, proxy.url, site + PAGE)
    output = proxy.stop()
    assert status == {"ga4": True, "meta": "loaded", "uet": "ok"}, output
    outside = left(log, site)
    assert sorted((r["method"], str(r["url"]).split("?")[0]) for r in outside) == [
        ("GET", "https://www.facebook.com/tr/"),
        ("OPTIONS", "https://bat.bing.com/action/0"),
        ("POST", "https://bat.bing.com/action/0"),
        ("POST", "https://region1.google-analytics.com/g/collect"),
    ]
    for request in outside:
        text = json.dumps(request).lower()
        assert not any(word in text for word in SENSITIVE), request
    redacted = dict(
        rows(
            proxy.db,
            "select vendor || ' ' || method, redacted from flows where redacted is not null",
        )
    )
    assert "query.dl" in json.loads(str(redacted["google-analytics POST"]))
    assert "query.cd[search_string]" in json.loads(str(redacted["meta-pixel GET"]))
    assert "body.el" in json.loads(str(redacted["microsoft-uet POST"]))


def test_mitmweb_lists_flagged_flows_marked_and_commented(
    site: str,
    start_proxy,
    browser_for,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    proxy = start_proxy("phitrace_sinkhole=true", tool="mitmweb")
    visit(browser_for, proxy.url, site + PAGE)
    log_text = proxy.log.read_text(errors="replace")
    token = re.search(r"token=([0-9a-f]+)", log_text)
    url = f"http://127.0.0.1:{proxy.web_port}/flows" + (f"?token={token.group(1)}" if token else "")
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
        flows = json.load(response)
    proxy.stop()
    flagged = {f["request"]["host"]: f for f in flows if f.get("marked")}
    assert set(flagged) == {"region1.google-analytics.com", "www.facebook.com", "bat.bing.com"}
    assert flagged["www.facebook.com"]["marked"] in (":red_circle:", "\U0001f534")
    assert "meta-pixel [high]" in flagged["www.facebook.com"]["comment"]
    assert "health_search 'metformin'" in flagged["www.facebook.com"]["comment"]


def findings_of(db: Path, session: int) -> set[tuple[object, ...]]:
    return set(
        rows(
            db,
            "select f.vendor, w.method, f.kind, f.category, f.matched, f.field, "
            f"f.value, f.severity from findings f join flows w on w.id = f.flow_id "
            f"where f.session_id = {session}",
        )
    )


def test_offline_scans_of_har_and_flow_files_match_live_capture(
    site: str,
    start_proxy,
    browser_for,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    flows_file, har_file = tmp_path / "flows.mitm", tmp_path / "capture.har"
    proxy = start_proxy(
        "phitrace_sinkhole=true", f"save_stream_file={flows_file}", f"hardump={har_file}"
    )
    visit(browser_for, proxy.url, site + PAGE)
    proxy.stop()
    live = findings_of(proxy.db, 1)
    assert len(live) >= 6
    offline = tmp_path / "offline.db"
    result = CliRunner().invoke(
        main, ["scan", str(har_file), str(flows_file), "--db", str(offline)]
    )
    assert result.exit_code == 0, result.output
    assert findings_of(offline, 1) == live
    assert findings_of(offline, 2) == live
    assert rows(offline, "select source from sessions order by id") == [("har",), ("flows",)]


def test_replaying_a_flow_file_through_mitmdump_records_the_same_findings(
    site: str,
    start_proxy,
    browser_for,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    import subprocess

    from phitrace.cli.main import ADDON_SCRIPT

    from_file = tmp_path / "flows.mitm"
    proxy = start_proxy("phitrace_sinkhole=true", f"save_stream_file={from_file}")
    visit(browser_for, proxy.url, site + PAGE)
    proxy.stop()
    replayed = tmp_path / "replayed.db"
    mitmdump = Path(proxy.process.args[0])  # type: ignore[index]
    subprocess.run(
        [
            str(mitmdump),
            "-nr",
            str(from_file),
            "-s",
            str(ADDON_SCRIPT),
            "--set",
            f"phitrace_db={replayed}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert rows(replayed, "select source from sessions") == [("flows",)]
    assert findings_of(replayed, 1) == findings_of(proxy.db, 1)
