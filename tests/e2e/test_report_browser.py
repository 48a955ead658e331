"""The HTML report in real headless Chromium (offline, filterable, inert with hostile data),
and the evidence HAR replayed by Playwright's HAR router."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.support.browser import Watched

from phitrace.model import Analysis, Finding, Request
from phitrace.report.evidence import har_document
from phitrace.report.html import build_context, render_html
from phitrace.store.database import open_database
from phitrace.store.private import write_private
from phitrace.store.reader import load_findings
from phitrace.store.rows import Record
from phitrace.store.sessions import start_session
from phitrace.store.writer import write_record

pytestmark = pytest.mark.e2e

SEVERITY_ORDER = ("high", "medium", "low")

# Each tries to run code: as markup, by closing the data block, or as a link target.
HOSTILE = (
    "<script>window.__pwned = 'script'; alert('script')</script>",
    "\"><img src=x onerror=\"window.__pwned = 'img'; alert('img')\">",
    "javascript:window.__pwned='link';alert('link')",
    "</script><script>window.__pwned = 'breakout'; alert('breakout')</script>",
    "<svg onload=\"window.__pwned='svg'\"></svg>"
    '<iframe srcdoc="<script>parent.__pwned=1</script>">',
)


def _write(db: Any, session: int, i: int, **kw: Any) -> None:
    findings = tuple(kw.pop("findings"))
    severity = min((f.severity for f in findings), key=SEVERITY_ORDER.index)
    request = Request(
        kw.pop("method", "GET"),
        kw.pop("url"),
        kw.pop("headers", (("User-Agent", "test"),)),
        kw.pop("body", b""),
        1767225600.0 + i,
        kw["page_url"],
    )
    analysis = Analysis(request=request, findings=findings, severity=severity, **kw)
    with db.atomic():
        write_record(db, Record(session, analysis, status_code=200), store_bodies=True)


def _finding(
    category: str, value: str, matched: str, severity: str, kind: str = "health"
) -> Finding:
    return Finding(
        kind, category, "query.dl", value, matched, f"{kind}:x", severity, "why", ("form",)
    )


def busy_report(directory: Path) -> Path:
    """250 flagged flows with 500 findings: 3 vendors, 2 categories, 5 pages, all severities."""
    db = open_database(directory / "busy.db")
    session = start_session(db, source="har", label="busy", consent="accepted")
    vendors = [("meta-pixel", "Meta Pixel"), ("google-analytics", "Google Analytics")]
    vendors.append(("microsoft-uet", "Microsoft Advertising UET"))
    for i in range(250):
        vendor, name = vendors[i % 3]
        page = f"https://clinic.example/conditions/page-{i % 5}"
        severity = SEVERITY_ORDER[i % 3]
        _write(
            db,
            session,
            i,
            url=f"https://t{i % 3}.example/collect?dl={page}&n={i}",
            page_url=page,
            vendor=vendor,
            vendor_name=name,
            tracker_category="analytics",
            findings=[
                _finding("condition", f"{page} diabetes {i}", "diabetes", severity),
                _finding("medication", f"metformin {i}", "metformin", severity),
            ],
        )
    html = directory / "busy.html"
    write_private(html, render_html(build_context(db)))
    db.close()
    return html


def hostile_report(directory: Path) -> Path:
    """Hostile text in every captured place: label, URLs, page, vendor, field, value, body."""
    db = open_database(directory / "hostile.db")
    session = start_session(db, source="har", label=HOSTILE[0], consent=HOSTILE[1])
    for i, attack in enumerate(HOSTILE):
        _write(
            db,
            session,
            i,
            url=f"https://t.example/c?x={attack}" if i % 2 else attack,
            page_url=attack,
            vendor=attack if i == 0 else "meta-pixel",
            vendor_name=attack,
            tracker_category=attack,
            method="POST",
            headers=(("X-Test", attack), ("Content-Type", "text/plain")),
            body=attack.encode(),
            findings=[
                Finding(
                    "health", attack, attack, f"{attack} alert", "alert", attack, "high", attack
                ),
                Finding("identifier", "email", "query.e", attack, attack, "email", "high", attack),
            ],
        )
    html = directory / "hostile.html"
    write_private(html, render_html(build_context(db)))
    db.close()
    return html


@pytest.fixture(scope="module")
def browser(offline_browser: Any) -> Any:
    return offline_browser


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("reports")
    return {"busy": busy_report(directory), "hostile": hostile_report(directory)}


def test_report_loads_offline_without_errors_and_pages_cards(
    browser: Any, reports: dict[str, Path]
) -> None:
    watched = Watched(browser, reports["busy"])
    assert watched.rows() == 200
    assert watched.status() == "Requests 1–200 of 250, page 1 of 2."
    watched.page.click("#page-next")
    assert watched.rows() == 50
    assert watched.page.is_disabled("#page-next")
    assert watched.page.locator("svg rect.bar").count() > 0
    assert watched.errors == [] and watched.dialogs == []
    assert watched.outside == []
    watched.close()


def test_filters_change_the_visible_cards(browser: Any, reports: dict[str, Path]) -> None:
    watched = Watched(browser, reports["busy"])
    page = watched.page
    page.select_option("#filter-severity", "medium")
    assert watched.status().startswith("Requests 1–83 of 83 matching (of 250)")
    severities = page.locator("#cards .card-head .pill").all_text_contents()
    assert set(severities) == {"medium"}

    page.select_option("#filter-vendor", "meta-pixel")
    assert watched.rows() == 0
    assert watched.status().startswith("No flagged requests match")

    page.click("#filter-reset")
    page.select_option("#filter-vendor", "google-analytics")
    page.select_option("#filter-category", "medication")
    assert watched.rows() == 83
    vendors = {v.strip() for v in page.locator("#cards .card-vendor").all_text_contents()}
    assert vendors == {"Google Analytics"}

    page.click("#filter-reset")
    page.select_option("#filter-page", "https://clinic.example/conditions/page-3")
    assert watched.rows() == 50
    pages = set(page.locator("#cards .card-facts dd:nth-of-type(1)").all_text_contents())
    assert pages == {"https://clinic.example/conditions/page-3"}
    assert watched.errors == [] and watched.outside == []
    watched.close()


def test_raw_request_opens_from_a_collapsed_block(browser: Any, reports: dict[str, Path]) -> None:
    watched = Watched(browser, reports["busy"])
    details = watched.page.locator("#cards details.raw").first
    assert details.get_attribute("open") is None
    details.locator("summary").click()
    assert details.locator("pre").text_content().startswith("GET https://t")
    watched.close()


def test_hostile_values_execute_nothing(browser: Any, reports: dict[str, Path]) -> None:
    watched = Watched(browser, reports["hostile"])
    page = watched.page
    for summary in page.locator("#cards details summary").all():
        summary.click()
    for select in ("severity", "vendor", "category", "page"):
        options = page.locator(f"#filter-{select} option").all()
        for value in [o.get_attribute("value") for o in options][1:]:
            page.select_option(f"#filter-{select}", value)
        page.click("#filter-reset")
    assert watched.rows() == len(HOSTILE)
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("document.images.length") == 0
    assert page.evaluate("document.querySelectorAll('iframe, a[href^=javascript]').length") == 0
    assert page.evaluate("document.scripts.length") == 2  # the data block and the report's own
    text = str(page.text_content("#cards"))
    for attack in HOSTILE:
        assert attack in text
    assert watched.dialogs == []
    assert watched.outside == []
    assert watched.errors == []
    watched.close()


def test_without_javascript_the_summary_and_a_notice_remain(
    browser: Any, reports: dict[str, Path]
) -> None:
    watched = Watched(browser, reports["hostile"], javascript=False)
    page = watched.page
    assert "The evidence cards are drawn by the report's small built-in script" in str(
        page.text_content("noscript")
    )
    assert HOSTILE[1] in str(page.text_content("#vendors"))
    assert page.locator("#cards > li").count() == 0
    watched.close()


def test_evidence_har_replays_in_playwrights_har_router(browser: Any, tmp_path: Path) -> None:
    db = open_database(tmp_path / "har.db")
    session = start_session(db, source="har", label="har")
    url = "https://www.facebook.com/tr/?id=1&ev=PageView&dl=https%3A%2F%2Fclinic.example%2Fhiv"
    _write(
        db,
        session,
        0,
        url=url,
        page_url="https://clinic.example/hiv",
        vendor="meta-pixel",
        vendor_name="Meta Pixel",
        tracker_category="advertising",
        findings=[_finding("condition", "https://clinic.example/hiv", "hiv", "high")],
    )
    har = tmp_path / "flows.har"
    har.write_text(json.dumps(har_document(load_findings(db, raw=True))))
    db.close()
    context = browser.new_context()
    context.route_from_har(str(har), not_found="abort")
    page = context.new_page()
    response = page.goto(url)
    assert response is not None and response.status == 200
    context.close()
