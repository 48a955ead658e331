"""The per-page journey: pages in the order first seen, and what each vendor received there."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from phitrace.report.journey import Journey, PageStep, VendorStep, journey
from phitrace.store.database import open_database
from phitrace.store.reader import Findings, load_findings
from tests.support.seeded_db import clinic


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> Findings:
    db = open_database(clinic(tmp_path_factory.mktemp("journey") / "clinic.db"))
    loaded = load_findings(db)
    db.close()
    return loaded


def test_pages_in_journey_order_with_every_vendor_contacted(findings: Findings) -> None:
    pixel = VendorStep("meta-pixel", "Meta Pixel", 2, 6, "high")
    pixel.categories.update({"condition": 2, "hashed_email": 2, "email": 2})
    search = VendorStep("google-analytics", "Google Analytics", 1, 1, "medium")
    search.categories.update({"medication": 1})
    quiet = VendorStep("google-analytics", "Google Analytics", 1, 0, "info")
    bing = VendorStep("microsoft-uet", "Microsoft Advertising UET", 1, 1, "low")
    bing.categories.update({"user_id": 1})
    assert journey(findings) == Journey(
        [
            PageStep(
                "https://clinic.example/conditions/diabetes",
                "2026-01-01T00:00:01.000+00:00",
                {"meta-pixel": pixel},
            ),
            PageStep(
                "https://clinic.example/search",
                "2026-01-01T00:00:02.000+00:00",
                {"google-analytics": search},
            ),
            PageStep(
                "https://clinic.example/",
                "2026-01-01T00:00:03.000+00:00",
                {"google-analytics": quiet, "microsoft-uet": bing},
            ),
        ],
        0,
    )


def test_a_page_sums_its_findings_and_names_its_worst(findings: Findings) -> None:
    pages = journey(findings).pages
    assert [(p.findings, p.worst) for p in pages] == [(6, "high"), (1, "medium"), (1, "low")]
    assert pages[2].vendors["google-analytics"].categories == Counter()


def test_a_long_journey_is_cut_and_says_how_many_pages_are_left(findings: Findings) -> None:
    cut = journey(findings, limit=1)
    assert [p.page_key for p in cut.pages] == ["https://clinic.example/conditions/diabetes"]
    assert cut.more == 2


def test_the_report_shows_the_journey_section(tmp_path: Path) -> None:
    from phitrace.report.html import build_context, render_html

    db = open_database(clinic(tmp_path / "clinic.db"))
    html = render_html(build_context(db))
    db.close()
    section = html[html.index('<section id="journey">') : html.index('<section id="vendors"')]
    assert (
        section.index("conditions/diabetes")
        < section.index("/search")
        < section.index("nothing sensitive found")
    )
    assert "medication" in section and "condition ×2" in section
