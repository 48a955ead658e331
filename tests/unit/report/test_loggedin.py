"""Logged-in pages and GPC in the reports: HTML section and filter, JSON summary, Markdown."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest

from phitrace.report.formats import to_json, to_markdown
from phitrace.report.html import context_for, render_html
from phitrace.store.database import open_database
from phitrace.store.reader import Findings, load_findings
from tests.support.seeded_db import (
    LOGIN_COOKIE_REASON,
    PORTAL_CONDITION_PAGE,
    PORTAL_MESSAGES_PAGE,
    SESSION_COOKIE_REASON,
    clinic,
    logged_in_portal,
)

EXPECTED_PAGES = [
    {
        "page_url": PORTAL_CONDITION_PAGE,
        "reason": LOGIN_COOKIE_REASON,
        "vendors": ["Google Analytics", "Meta Pixel"],
        "flows": 2,
        "findings": 1,
        "severity": "high",
    },
    {
        "page_url": PORTAL_MESSAGES_PAGE,
        "reason": SESSION_COOKIE_REASON,
        "vendors": ["Meta Pixel"],
        "flows": 1,
        "findings": 1,
        "severity": "medium",
    },
]


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Findings:
    db = open_database(logged_in_portal(tmp_path_factory.mktemp("portal") / "p.db"))
    loaded = load_findings(db, raw=True)
    db.close()
    return loaded


def cells(html: str, table_class: str) -> list[list[str]]:
    """The text of each body row's cells in the table with that class."""
    match = re.search(rf'<table class="{table_class}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert match is not None
    rows = re.findall(r"<tr>(.*?)</tr>", match.group(1), re.S)
    return [
        [
            unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<td>(.*?)</td>", r, re.S)
        ]
        for r in rows
    ]


def test_json_summary_lists_the_logged_in_pages_and_each_session_has_gpc(
    portal: Findings,
) -> None:
    document = json.loads(to_json(portal))
    assert document["summary"]["authenticated_pages"] == EXPECTED_PAGES
    (session,) = document["sessions"]
    assert (session["consent"], session["gpc"]) == ("accepted", "mixed")


def test_html_has_a_logged_in_pages_section_and_gpc_in_the_session_header(
    portal: Findings,
) -> None:
    html = render_html(context_for(portal))
    assert cells(html, "pages logged-in") == [
        [
            PORTAL_CONDITION_PAGE,
            LOGIN_COOKIE_REASON,
            "Google Analytics, Meta Pixel",
            "2",
            "1",
            "high",
        ],
        [PORTAL_MESSAGES_PAGE, SESSION_COOKIE_REASON, "Meta Pixel", "1", "1", "medium"],
    ]
    assert '<a href="#logged-in">Logged-in pages</a>' in html
    (session,) = cells(html, "sessions")
    assert session[-2:] == ["accepted", "mixed"]  # consent, then GPC


def test_html_findings_filter_by_logged_in_state(portal: Findings) -> None:
    context = context_for(portal)
    assert context.filters["authenticated"] == [("yes", "logged in")]
    card_columns = context.data["columns"]["card"]
    states = [card[card_columns.index("authenticated")] for card in context.data["cards"]]
    assert states == ["yes", "yes"]  # the two flows with findings
    assert 'data-filter="authenticated"' in render_html(context)


def test_markdown_has_a_short_logged_in_section_without_the_evidence(portal: Findings) -> None:
    text = to_markdown(portal)
    section = text[text.index("#### Logged-in pages") :].strip().splitlines()
    assert section == [
        "#### Logged-in pages: 2",
        "",
        "| page | vendors | findings | worst |",
        "|---|---|---|---|",
        "| `/content` | Google Analytics, Meta Pixel | 1 | high |",
        "| `/messages` | Meta Pixel | 1 | medium |",
    ]
    assert "consent: `accepted`, GPC: mixed" in text
    assert "cookie 'sid'" not in text and "id=8812" not in text


def test_a_database_without_logged_in_pages_has_no_section_or_filter(tmp_path: Path) -> None:
    db = open_database(clinic(tmp_path / "c.db"))
    findings = load_findings(db)
    db.close()
    html = render_html(context_for(findings))
    assert 'id="logged-in"' not in html and 'data-filter="authenticated"' not in html
    assert "Logged-in pages" not in to_markdown(findings)
    assert json.loads(to_json(findings))["summary"]["authenticated_pages"] == []
