"""The evidence cards of the seeded clinic session in real headless Chromium: drawn, filtered,
searched from the keyboard, offline, and inert when a captured value is markup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.support.browser import Watched
from tests.support.seeded_db import clinic, finding, record_flow

from phitrace.report.html import build_context, render_html
from phitrace.store.database import open_database
from phitrace.store.private import write_private

pytestmark = pytest.mark.e2e

HOSTILE = "<img src=x onerror=\"window.__pwned = 1; alert('img')\">"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cards")
    db = open_database(clinic(directory / "clinic.db"))
    db.execute("update flows set authenticated = 'yes' where id = 2")
    db.execute("update flows set authenticated = 'no' where id in (1, 4, 5)")
    db.conn.commit()
    record_flow(
        db,
        1,
        url="https://t.example/c?note=" + HOSTILE.replace(" ", "%20"),
        page="https://clinic.example/contact",
        vendor="meta-pixel",
        vendor_name="Meta Pixel",
        offset=6,
        findings=[finding("health", "condition", "query.note", HOSTILE, "onerror", "low")],
    )
    html = directory / "report.html"
    write_private(html, render_html(build_context(db)))
    db.close()
    return html


@pytest.fixture()
def watched(offline_browser: Any, report: Path) -> Any:
    opened = Watched(offline_browser, report)
    yield opened
    opened.close()


def test_cards_render_one_per_flagged_request_with_findings_inside(
    watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    assert watched.rows() == 5
    assert watched.status() == "Requests 1–5 of 5, page 1 of 1."
    first = page.locator("#cards > li").first
    assert "Meta Pixel" in str(first.locator(".card-head").text_content())
    assert first.locator(".card-findings > li").count() == 3
    assert first.locator(".tree li.hit mark").first.text_content() == "diabetes"
    first.locator("details.full-url summary").click()
    assert "ud[em]=" in str(first.locator("details.full-url code").text_content())
    page.locator("#findings").screenshot(path=str(tmp_path / "cards.png"))
    assert watched.errors == [] and watched.outside == []


def test_a_filter_and_the_search_change_what_is_shown(watched: Watched) -> None:
    page = watched.page
    page.select_option("#filter-authenticated", "yes")
    assert watched.rows() == 1
    assert "Google Analytics" in str(page.text_content("#cards"))
    page.click("#filter-reset")
    page.select_option("#filter-severity", "high")
    assert watched.status() == "Requests 1–2 of 2 matching (of 5), page 1 of 1."
    page.fill("#card-search", "ref=9876543210")
    assert watched.rows() == 1
    page.fill("#card-search", "no such thing")
    assert watched.status() == "No flagged requests match (of 5)."


def test_the_search_is_reached_and_used_from_the_keyboard(watched: Watched) -> None:
    page = watched.page
    for _ in range(300):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "card-search":
            break
    assert page.evaluate("document.activeElement.id") == "card-search"
    assert page.evaluate("document.activeElement.matches(':focus-visible')")
    page.keyboard.type("metformin")
    page.keyboard.press("Enter")
    assert watched.rows() == 1
    assert "Google Analytics" in str(page.text_content("#cards .card-head"))
    assert page.url == watched.url  # the form did not navigate
    page.keyboard.press("Tab")  # on to the first filter, a real control
    assert page.evaluate("document.activeElement.id") == "filter-severity"


def test_a_hostile_value_shows_as_text_and_runs_nothing(watched: Watched) -> None:
    page = watched.page
    page.fill("#card-search", "onerror")
    assert watched.rows() == 1
    for summary in page.locator("#cards details summary").all():
        summary.click()
    assert HOSTILE in str(page.text_content("#cards"))
    assert page.locator("#cards mark").first.text_content() == "onerror"
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("document.images.length") == 0
    assert watched.dialogs == [] and watched.errors == [] and watched.outside == []
