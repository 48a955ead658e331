"""Each session's third parties in the JSON export and the Markdown summary (seeded database)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phitrace.report.formats import to_json, to_markdown
from phitrace.report.html import context_for, render_html
from phitrace.store.database import open_database
from phitrace.store.reader import Findings, load_findings
from tests.support.seeded_db import GENERATED_AT, portal

CHAT = {
    "domain": "carechat.example",
    "vendor": "third-party:carechat.example",
    "company": "",
    "catalogued": False,
    "hosts": ["widget.carechat.example"],
    "requests": 1,
    "bytes_sent": 82,
    "first_seen": "2026-01-01T00:00:02.000+00:00",
    "last_seen": "2026-01-01T00:00:02.000+00:00",
    "findings": 2,
    "received": [
        {"kind": "canary", "category": "member_id", "findings": 1},
        {"kind": "health", "category": "appointment", "findings": 1},
    ],
    "unlisted_with_findings": True,
}
CDN_DAY_1 = {
    "domain": "examplecdn.net",
    "vendor": "third-party:examplecdn.net",
    "company": "",
    "catalogued": False,
    "hosts": ["fonts.examplecdn.net"],
    "requests": 3,
    "bytes_sent": 111,
    "first_seen": "2026-01-01T00:00:03.000+00:00",
    "last_seen": "2026-01-01T00:00:05.000+00:00",
    "findings": 0,
    "received": [],
    "unlisted_with_findings": False,
}
PIXEL = {
    "domain": "facebook.com",
    "vendor": "meta-pixel",
    "company": "Meta Platforms, Inc.",
    "catalogued": True,
    "hosts": ["www.facebook.com"],
    "requests": 1,
    "bytes_sent": 35,
    "first_seen": "2026-01-01T00:00:01.000+00:00",
    "last_seen": "2026-01-01T00:00:01.000+00:00",
    "findings": 3,
    "received": [
        {"kind": "canary", "category": "email", "findings": 1},
        {"kind": "health", "category": "condition", "findings": 1},
        {"kind": "identifier", "category": "hashed_email", "findings": 1},
    ],
    "unlisted_with_findings": False,
}
CDN_DAY_2 = {
    **CDN_DAY_1,
    "company": "Example CDN Inc.",
    "requests": 1,
    "bytes_sent": 37,
    "first_seen": "2026-01-02T00:00:00.000+00:00",
    "last_seen": "2026-01-02T00:00:00.000+00:00",
}

MARKDOWN_PARTIES = [
    "#### Third parties: 3, 2 not in the catalogue",
    "",
    "⚠️ Unlisted and received data: `carechat.example`",
    "",
    "| domain | requests | catalogued | company | received |",
    "|---|---|---|---|---|",
    "| `carechat.example` | 1 | **no** | unknown | "
    "canary: member\\_id (1), health: appointment (1) |",
    "| `examplecdn.net` | 4 | **no** | Example CDN Inc. | nothing found |",
    "| `facebook.com` | 1 | yes (`meta-pixel`) | Meta Platforms, Inc. | "
    "canary: email (1), health: condition (1), identifier: hashed\\_email (1) |",
]


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> Findings:
    db = open_database(portal(tmp_path_factory.mktemp("portal") / "portal.db"))
    loaded = load_findings(db)
    db.close()
    loaded.generated_at = GENERATED_AT
    return loaded


def test_json_lists_each_sessions_own_third_parties_unlisted_with_data_first(
    findings: Findings,
) -> None:
    sessions = json.loads(to_json(findings))["sessions"]
    assert [s["third_parties"] for s in sessions] == [[CHAT, CDN_DAY_1, PIXEL], [CDN_DAY_2]]


def test_json_summary_counts_parties_and_calls_out_unlisted_recipients(
    findings: Findings,
) -> None:
    summary = json.loads(to_json(findings))["summary"]
    assert summary["third_parties"] == 3
    assert summary["unlisted_with_findings"] == ["carechat.example"]


def test_markdown_ends_with_the_third_parties_summed_over_sessions(findings: Findings) -> None:
    markdown = to_markdown(findings)
    assert markdown.endswith("\n\n" + "\n".join(MARKDOWN_PARTIES) + "\n")


def test_markdown_without_an_inventory_has_no_parties_section(tmp_path: Path) -> None:
    db = open_database(tmp_path / "empty.db")
    markdown = to_markdown(load_findings(db))
    db.close()
    assert "Third parties" not in markdown


def test_html_shows_the_same_counts_per_category(findings: Findings) -> None:
    html = render_html(context_for(findings))
    assert "canary: member_id (1), health: appointment (1)" in html
    assert '<tr class="unlisted">' in html
