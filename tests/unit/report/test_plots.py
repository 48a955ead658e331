"""The report's plots: findings over time and vendor × page, as geometry and as inline SVG."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from phitrace.report.html import ReportContext, build_context, render_html
from phitrace.report.plots import bucket_width, page_label
from phitrace.report.printed import print_view
from phitrace.store.database import open_database
from phitrace.store.reader import load_findings
from tests.support.seeded_db import clinic, finding, record_flow


@pytest.fixture(scope="module")
def clinic_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clinic(tmp_path_factory.mktemp("plots") / "clinic.db")


@pytest.fixture(scope="module")
def context(clinic_db: Path) -> ReportContext:
    db = open_database(clinic_db)
    try:
        return build_context(db)
    finally:
        db.close()


def plots(html: str) -> str:
    """The markup of the two plots (the figure elements of the plots block)."""
    match = re.search(r'<div class="charts plots">(.*?)</div>', html, re.S)
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize(
    ("span", "width"),
    [
        (0, 1),
        (23, 1),
        (24, 5),
        (600, 30),
        (3600, 300),
        (86_403, 3 * 3600),
        (20 * 86_400, 86_400),
        (40 * 86_400, 7 * 86_400),
    ],
)
def test_the_bucket_is_the_narrowest_that_fits_the_span_in_24(span: float, width: int) -> None:
    assert bucket_width(span) == width


def test_timeline_counts_findings_per_second_of_the_clinic_session(
    context: ReportContext,
) -> None:
    t = context.timeline
    assert t is not None and t.bucket == "1 s" and t.top == 3
    assert [(c.label, c.total, [(s, n) for s, n, _, _ in c.segments]) for c in t.columns] == [
        ("2026-01-01 00:00:01", 3, [("high", 3)]),
        ("2026-01-01 00:00:02", 1, [("medium", 1)]),
        ("2026-01-01 00:00:03", 0, []),
        ("2026-01-01 00:00:04", 1, [("low", 1)]),
        ("2026-01-01 00:00:05", 3, [("high", 3)]),
    ]
    # The busiest bucket reaches the top of the plot; the others scale to it.
    assert [(y, h) for c in t.columns for _, _, y, h in c.segments] == [
        (10.0, 140.0),
        (103.3, 46.7),
        (103.3, 46.7),
        (10.0, 140.0),
    ]


def test_vendor_page_matrix_counts_findings_per_vendor_and_page(context: ReportContext) -> None:
    m = context.page_matrix
    assert m is not None
    assert [(v.short, v.full) for v in m.vendors] == [
        ("Meta Pixel", "Meta Pixel"),
        ("Google Analytics", "Google Analytics"),
        ("Microsoft Advertising …", "Microsoft Advertising UET"),
    ]
    assert [(p.short, p.full) for p in m.pages] == [
        ("clinic.example/conditi…", "https://clinic.example/conditions/diabetes"),
        ("clinic.example/", "https://clinic.example/"),
        ("clinic.example/search", "https://clinic.example/search"),
    ]
    assert m.rows == (
        ((6, 4), (0, 0), (0, 0)),
        ((0, 0), (0, 0), (1, 1)),
        ((0, 0), (1, 1), (0, 0)),
    )


def test_page_label_is_host_and_path() -> None:
    assert page_label("https://clinic.example/a/b") == "clinic.example/a/b"
    assert page_label("") == "unknown page"


def test_plots_are_svg_with_their_data_as_text(context: ReportContext) -> None:
    svg = plots(render_html(context))
    assert svg.count("<svg ") == 2 and "<script" not in svg
    assert (
        'aria-label="Findings per 1 s from 2026-01-01 00:00:01 to 2026-01-01 00:00:05; '
        'the most, 3, at 2026-01-01 00:00:01."'
    ) in svg
    assert (
        "<desc>Findings per 1 s from 2026-01-01 00:00:01 to 2026-01-01 00:00:05; the most, 3, at "
        "2026-01-01 00:00:01. 2026-01-01 00:00:01: 3 high. 2026-01-01 00:00:02: 1 medium. "
        "2026-01-01 00:00:04: 1 low. 2026-01-01 00:00:05: 3 high.</desc>"
    ) in svg
    assert (
        "<desc>Findings per vendor (rows, 3) and page (columns, the 3 pages with the most "
        "findings). Meta Pixel: 6 on https://clinic.example/conditions/diabetes; "
        "Google Analytics: 1 on https://clinic.example/search; "
        "Microsoft Advertising UET: 1 on https://clinic.example/;</desc>"
    ) in svg
    assert (
        "<title>Meta Pixel on https://clinic.example/conditions/diabetes: 6 findings</title>"
    ) in svg
    assert re.findall(r'class="cell (heat-\d)"', svg) == [
        "heat-4", "heat-0", "heat-0", "heat-0", "heat-0", "heat-1", "heat-0", "heat-1", "heat-0"
    ]  # fmt: skip


def test_a_hostile_vendor_and_page_stay_text_in_the_svg(tmp_path: Path) -> None:
    path = clinic(tmp_path / "hostile.db")
    db = open_database(path)
    record_flow(
        db,
        1,
        url="https://evil.example/c?x=1",
        page="https://clinic.example/<script>alert(2)</script>",
        vendor="evil",
        vendor_name="<script>alert(1)</script>",
        offset=6,
        findings=[finding("health", "condition", "query.x", "diabetes", "diabetes", "high")],
    )
    html = render_html(build_context(db))
    db.close()
    svg = plots(html)
    assert "<script" not in svg
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>" in svg
    assert ">&lt;script&gt;alert(1)&lt;/scri…</text>" in svg
    assert "<title>https://clinic.example/&lt;script&gt;alert(2)&lt;/script&gt;</title>" in svg
    assert html.count("<script") == 2  # the JSON data block and the report's own script


def test_the_printed_report_keeps_the_plots(clinic_db: Path, context: ReportContext) -> None:
    db = open_database(clinic_db)
    try:
        findings = load_findings(db, raw=True)
    finally:
        db.close()
    context.printed = print_view(findings, "0" * 64)
    try:
        svg = plots(render_html(context))
    finally:
        context.printed = None
    assert 'id="timeline"' in svg and 'id="vendor-pages"' in svg
