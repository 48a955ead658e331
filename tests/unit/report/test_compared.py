"""The report's "Compare sessions" section: the first session against the last."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

from phitrace.report.compare import compare
from phitrace.report.compared import first_and_last, one_session
from phitrace.report.html import ReportContext, build_context, context_for, render_html
from phitrace.report.printed import print_view
from phitrace.store.database import open_database
from phitrace.store.reader import load_findings
from tests.support.seeded_db import clinic, consent_pair


@pytest.fixture(scope="module")
def pair_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return consent_pair(tmp_path_factory.mktemp("pair") / "pair.db")


@pytest.fixture(scope="module")
def context(pair_db: Path) -> ReportContext:
    db = open_database(pair_db)
    try:
        return build_context(db)
    finally:
        db.close()


def text_of(html: str) -> list[str]:
    """The section's visible text, one line per heading, paragraph or table row."""
    match = re.search(r'<section id="compare">(.*?)</section>', html, re.S)
    assert match is not None
    lines = re.split(r"</(?:h2|h3|p|tr)>", match.group(1))
    cells = (re.sub(r"<[^>]+>", " ", line) for line in lines)
    return [t for t in (" ".join(unescape(c).split()) for c in cells) if t]


def test_the_section_is_what_phitrace_compare_computes(
    pair_db: Path, context: ReportContext
) -> None:
    db = open_database(pair_db)
    try:
        a, b = load_findings(db, 1), load_findings(db, 2)
    finally:
        db.close()
    assert context.comparison == compare(a, b, a.sessions[0], b.sessions[0])


def test_one_session_splits_out_its_flows_and_findings(pair_db: Path) -> None:
    db = open_database(pair_db)
    try:
        both, alone = load_findings(db), load_findings(db, 2)
    finally:
        db.close()
    split = one_session(both, both.sessions[1])
    assert split.endpoints == alone.endpoints
    assert split.total_flows == alone.total_flows == 3
    assert [leak.id for leak in split.leaks] == [leak.id for leak in alone.leaks]


def test_the_section_lists_what_differs_between_accepted_and_rejected(
    context: ReportContext,
) -> None:
    assert text_of(render_html(context)) == [
        "Compare sessions",
        "The first session of this report (A) against the last (B): what one sent to trackers "
        "and the other did not. Counts only, no captured values.",
        "id label consent GPC tracker flows findings",
        "A 1 consent accepted accepted not sent 3 5 (3 high, 1 medium, 1 low)",
        "B 2 consent rejected rejected not sent 3 2 (1 high, 0 medium, 1 low)",
        "Vendors",
        "1 only in A, 1 only in B, 2 with a severity change, 0 unchanged.",
        "change vendor A flows A findings A worst B flows B findings B worst",
        "better in B Google Analytics 1 1 medium 1 0 info",
        "only in B Hotjar – – – 1 0 info",
        "only in A Meta Pixel 1 3 high – – –",
        "worse in B Microsoft Advertising UET 1 1 low 1 2 high",
        "Endpoints",
        "1 only in A, 1 only in B, 2 with a severity change, 0 unchanged.",
        "change vendor endpoint A flows A findings A worst B flows B findings B worst",
        "better in B Google Analytics region1.google-analytics.com/g/collect 1 1 medium 1 0 info",
        "only in B Hotjar in.hotjar.com/api/v2/client/sites/1/visit-data – – – 1 0 info",
        "only in A Meta Pixel www.facebook.com/tr/ 1 3 high – – –",
        "worse in B Microsoft Advertising UET bat.bing.com/action/0 1 1 low 1 2 high",
        "Vendor × data category",
        "4 only in A, 1 only in B, 0 with a severity change, 1 unchanged.",
        "change vendor category A flows A findings A worst B flows B findings B worst",
        "only in A Google Analytics medication 1 1 medium – – –",
        "only in A Meta Pixel condition 1 1 high – – –",
        "only in A Meta Pixel email 1 1 high – – –",
        "only in A Meta Pixel hashed_email 1 1 high – – –",
        "only in B Microsoft Advertising UET condition – – – 1 1 high",
    ]


def test_the_navigation_links_the_section(context: ReportContext) -> None:
    assert '<a href="#compare">Compare sessions</a>' in render_html(context)


def test_a_report_of_one_session_has_no_comparison(tmp_path: Path) -> None:
    db = open_database(clinic(tmp_path / "clinic.db"))
    try:
        findings = load_findings(db, raw=True)
        html = render_html(build_context(db))
    finally:
        db.close()
    assert first_and_last(findings) is None
    assert '<section id="compare">' not in html and 'href="#compare"' not in html


def test_the_printed_contents_list_the_section(pair_db: Path) -> None:
    db = open_database(pair_db)
    try:
        findings = load_findings(db, raw=True)
    finally:
        db.close()
    printed = context_for(findings)
    printed.printed = print_view(findings, "0" * 64)
    html = render_html(printed)
    assert '<li><a href="#compare">Compare sessions</a></li>' in html
    assert '<section id="compare">' in html
