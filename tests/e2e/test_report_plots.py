"""The report's plots and its paged evidence cards in real headless Chromium.

The report is written by ``phitrace report`` (the streamed path users run):
the time-line plot and the vendor × page matrix of the seeded clinic session
are drawn, visible, and titled and labelled as the data says; and a report of
2,000 flagged requests pages through its cards in order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tests.support.browser import Watched
from tests.support.seeded_db import clinic, many

from phitrace.cli.main import main
from phitrace.report.html import context_for
from phitrace.store.database import open_database
from phitrace.store.reader import load_findings

pytestmark = pytest.mark.e2e

CARDS = 2_000


def written(db: Path, out: Path) -> Path:
    """The HTML report of ``db``, written by the command line."""
    result = CliRunner().invoke(main, ["report", "--db", str(db), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def clinic_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clinic(tmp_path_factory.mktemp("plots") / "clinic.db")


@pytest.fixture(scope="module")
def clinic_report(clinic_db: Path) -> Path:
    return written(clinic_db, clinic_db.with_name("clinic.html"))


def stored(db_path: Path) -> list[tuple[str, str, str, str]]:
    """Every stored finding as (vendor name, page without query, second, severity)."""
    db = open_database(db_path)
    try:
        rows = db.execute(
            "select w.vendor_name, w.page_url, w.timestamp, f.severity "
            "from findings f join flows w on w.id = f.flow_id"
        ).fetchall()
    finally:
        db.close()
    return [(v, page.split("?")[0], t[:19].replace("T", " "), sev) for v, page, t, sev in rows]


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[list[Any]]]:
    """A report of 2,000 flagged requests, and its cards' data in the order they are listed."""
    directory = tmp_path_factory.mktemp("paged")
    db_path = many(directory / "many.db", CARDS, sessions=1)
    db = open_database(db_path)
    try:
        data = context_for(load_findings(db, raw=True)).data
    finally:
        db.close()
    return written(db_path, directory / "many.html"), data["cards"]


@pytest.fixture()
def plots(offline_browser: Any, clinic_report: Path) -> Iterator[Watched]:
    opened = Watched(offline_browser, clinic_report)
    yield opened
    opened.close()


def _box(locator: Any) -> dict[str, float]:
    box = locator.bounding_box()
    assert box is not None, "not laid out"
    return dict(box)


def test_the_time_line_is_drawn_with_the_sessions_buckets(
    plots: Watched, clinic_db: Path, tmp_path: Path
) -> None:
    figure = plots.page.locator("#timeline")
    figure.scroll_into_view_if_needed()
    assert figure.is_visible()
    assert figure.locator("figcaption").text_content() == "Findings over time (per 1 s)"
    ticks = figure.locator("text.tick")
    assert ticks.all_text_contents() == ["2026-01-01 00:00:01", "2026-01-01 00:00:05"]
    assert figure.locator("text.label").all_text_contents() == ["3", "0"]  # the busiest bucket
    # One tooltip per second of the session, each counting that second's stored findings.
    per_second = Counter((second, severity) for _v, _p, second, severity in stored(clinic_db))
    titles = figure.locator("svg > g > title").all_text_contents()
    assert len(titles) == 5 and titles[2] == "2026-01-01 00:00:03: no findings"
    for title in titles:
        second, _, counts = title.partition(": ")
        told = [count.split(" ") for count in counts.split(", ") if count != "no findings"]
        assert {(second, sev): int(n) for n, sev in told} == {
            key: n for key, n in per_second.items() if key[0] == second
        }
    bars = figure.locator("rect.bar")
    assert bars.count() == 4
    boxes = [_box(bars.nth(i)) for i in range(4)]
    svg = _box(figure.locator("svg"))
    for box in boxes:
        assert box["width"] > 0 and box["height"] > 0
        assert svg["y"] <= box["y"] and box["y"] + box["height"] <= svg["y"] + svg["height"]
    # Three findings stand three times as tall as one, and the bars run left to right in time.
    assert boxes[0]["height"] == pytest.approx(3 * boxes[1]["height"], rel=0.02)
    assert boxes[0]["height"] == pytest.approx(boxes[3]["height"])
    assert [b["x"] for b in boxes] == sorted(b["x"] for b in boxes)
    figure.screenshot(path=str(tmp_path / "timeline.png"))
    assert plots.errors == [] and plots.outside == []


def test_the_vendor_page_matrix_names_its_rows_columns_and_counts(
    plots: Watched, clinic_db: Path, tmp_path: Path
) -> None:
    figure = plots.page.locator("#vendor-pages")
    figure.scroll_into_view_if_needed()
    assert figure.is_visible()
    assert figure.locator("figcaption").text_content() == "Vendor × page"
    rows = figure.locator("text.label").all_text_contents()
    assert rows == ["Meta Pixel", "Google Analytics", "Microsoft Advertising …"]
    columns = figure.locator("text.column").all_text_contents()
    assert columns == ["clinic.example/conditi…", "clinic.example/", "clinic.example/search"]
    assert figure.locator("text.count").all_text_contents() == ["6", "1", "1"]
    cells = figure.locator("rect.cell")
    assert cells.count() == len(rows) * len(columns)
    assert all(_box(cells.nth(i))["width"] > 0 for i in range(cells.count()))
    # The full names travel in the tooltips, each cell counting the stored findings.
    cells_stored = Counter((vendor, page) for vendor, page, _t, _s in stored(clinic_db))
    told = {}
    for title in figure.locator("g > title").all_text_contents():
        if " on " in title:
            where, _, count = title.rpartition(": ")
            vendor, _, page = where.partition(" on ")
            told[(vendor, page)] = int(count.split(" ")[0])
    assert {key: n for key, n in told.items() if n} == dict(cells_stored)
    assert told[("Meta Pixel", "https://clinic.example/conditions/diabetes")] == 6
    label = _box(figure.locator("text.label").first)
    first_cell = _box(cells.first)
    assert label["x"] + label["width"] <= first_cell["x"] + 1  # labels left of their row
    figure.screenshot(path=str(tmp_path / "vendor-pages.png"))
    assert plots.errors == [] and plots.outside == []


def _head(card: list[Any]) -> str:
    """A card's heading as ``report.js`` draws it, from the card's data."""
    # Columns: vendor_label (1), method (5), short_url (7), severity (10).
    return f"{card[10]} {card[1]} {card[5]} {card[7]}"


def test_two_thousand_cards_page_in_order(
    offline_browser: Any, large: tuple[Path, list[list[Any]]], tmp_path: Path
) -> None:
    html, cards = large
    assert len(cards) == CARDS
    watched = Watched(offline_browser, html)
    try:
        page = watched.page
        assert watched.rows() == 200
        assert watched.status() == f"Requests 1–200 of {CARDS}, page 1 of 10."
        heads = page.locator("#cards > li .card-head")
        assert " ".join(str(heads.first.text_content()).split()) == _head(cards[0])
        page.click("#page-next")
        assert watched.status() == f"Requests 201–400 of {CARDS}, page 2 of 10."
        assert watched.rows() == 200
        assert page.get_attribute("#cards", "start") == "201"
        shown = [" ".join(t.split()) for t in heads.all_text_contents()]
        assert shown == [_head(card) for card in cards[200:400]]
        page.screenshot(path=str(tmp_path / "page-2.png"))  # the viewport: status and first cards
        for _ in range(8):
            page.click("#page-next")
        assert watched.status() == f"Requests 1801–{CARDS} of {CARDS}, page 10 of 10."
        assert page.is_disabled("#page-next")
        page.click("#page-prev")
        assert watched.status() == f"Requests 1601–1800 of {CARDS}, page 9 of 10."
        assert watched.errors == [] and watched.outside == []
    finally:
        watched.close()
