"""The printed report's sections: only for print, distinct leaks excerpted, values escaped."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from phitrace.report.html import context_for, render_html
from phitrace.report.printed import file_sha256, print_view
from phitrace.store.database import open_database
from phitrace.store.reader import Findings, load_findings
from tests.support.seeded_db import clinic, finding, new_session, record_flow


def loaded(path: Path) -> Findings:
    db = open_database(path)
    try:
        return load_findings(db, raw=True)
    finally:
        db.close()


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> Findings:
    return loaded(clinic(tmp_path_factory.mktemp("clinic") / "clinic.db"))


def test_the_database_digest_is_its_files_sha256(tmp_path: Path) -> None:
    path = clinic(tmp_path / "clinic.db")
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_leak_seen_twice_is_excerpted_once_with_its_count(findings: Findings) -> None:
    view = print_view(findings, "ab" * 32)
    # Eight findings: the pixel's three leaks twice, one medium, one low.
    assert view.distinct_leaks == len(view.excerpts) == 5
    assert [e.severity for e in view.excerpts] == ["high", "high", "high", "medium", "low"]
    assert [e.seen for e in view.excerpts] == [2, 2, 2, 1, 1]
    assert (view.started_at, view.ended_at) == (
        "2026-01-01T00:00:00.000+00:00",
        "2026-01-01T00:10:00.000+00:00",
    )


def test_health_terms_are_marked_and_identifiers_shown_whole(findings: Findings) -> None:
    view = print_view(findings, "")
    medication = next(e for e in view.excerpts if e.category == "medication")
    assert (medication.highlight, medication.trail) == ("metformin", "lines>form")
    assert all(not e.highlight for e in view.excerpts if e.kind != "health")


def test_the_html_report_has_no_printed_sections_unless_printing(findings: Findings) -> None:
    screen = render_html(context_for(findings))
    assert 'id="cover"' not in screen and 'class="printed"' not in screen
    context = context_for(findings)
    context.printed = print_view(findings, "cd" * 32)
    page = render_html(context)
    for section in ("cover", "contents", "executive-summary", "methodology", "evidence"):
        assert f'id="{section}"' in page
    assert "cd" * 32 in page
    assert "<mark>metformin</mark> dosage" in page


def test_captured_values_in_excerpts_are_text_not_markup(tmp_path: Path) -> None:
    db = open_database(tmp_path / "hostile.db")
    session = new_session(db, "<b>label</b>")
    value = "<script>alert(1)</script> diabetes"
    record_flow(
        db,
        session,
        url="https://t.example/c?x=<i>",
        page="https://site.example/<img src=x>",
        vendor="meta-pixel",
        vendor_name="Meta <em>Pixel</em>",
        findings=[finding("health", "condition", "query.x", value, "diabetes", "high")],
    )
    db.close()
    findings = loaded(tmp_path / "hostile.db")
    context = context_for(findings)
    context.printed = print_view(findings, "")
    page = render_html(context)
    assert "<script>alert(1)" not in page and "<img src=x>" not in page
    assert "<em>Pixel" not in page and "<b>label" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; <mark>diabetes</mark>" in page
