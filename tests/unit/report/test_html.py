"""The HTML report: its context, escaping, Content-Security-Policy and the report command."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import stat
from html import unescape
from pathlib import Path

import pytest
from click.testing import CliRunner

from phitrace.cli.main import main
from phitrace.report.html import ReportContext, build_context, highlight, render_html
from phitrace.store.database import open_database
from phitrace.store.private import write_private
from phitrace.store.reader import SessionView, location
from tests.support.seeded_db import DIABETES_PAGE, clinic, finding, new_session, record_flow


@pytest.fixture(scope="module")
def clinic_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clinic(tmp_path_factory.mktemp("clinic") / "clinic.db")


@pytest.fixture(scope="module")
def context(clinic_db: Path) -> ReportContext:
    db = open_database(clinic_db)
    built = build_context(db)
    db.close()
    return built


def inline(html: str, tag: str) -> str:
    """The text of the one inline <tag> element without attributes."""
    match = re.search(rf"<{tag}>(.*?)</{tag}>", html, re.S)
    assert match is not None
    return match.group(1)


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_highlight_escapes_everything_and_marks_the_term() -> None:
    marked = highlight('<b>Type 2 diabetes</b> & "more"', "diabetes")
    assert str(marked) == "&lt;b&gt;Type 2 <mark>diabetes</mark>&lt;/b&gt; &amp; &#34;more&#34;"


def test_highlight_finds_multi_word_terms_however_spaces_were_sent() -> None:
    assert str(highlight("q=heart%20failure+clinic", "heart failure")).count("<mark>") == 1
    assert str(highlight("HEART_FAILURE", "heart failure")) == "<mark>HEART_FAILURE</mark>"


def test_highlight_bounds_long_values() -> None:
    assert len(str(highlight("x" * 5000, "", limit=100))) == 101


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("query.dl", ("query.dl", ())),
        (
            "body.line[1].ep.search_term [lines>form]",
            ("body.line[1].ep.search_term", ("lines", "form")),
        ),
        ("query.ud[em]", ("query.ud[em]", ())),
    ],
)
def test_a_row_written_before_the_path_column_has_its_field_split_once(
    stored: str, expected: tuple[str, tuple[str, ...]]
) -> None:
    assert location(None, None, stored) == expected


def test_a_row_with_path_and_trail_columns_is_read_as_stored() -> None:
    assert location("body.cd[a [b]", '["form", "json"]', "ignored") == (
        "body.cd[a [b]",
        ("form", "json"),
    )


def test_summary_counts_findings_flows_and_sessions(context: ReportContext) -> None:
    assert context.severity_counts == {"high": 6, "medium": 1, "low": 1, "info": 0}
    assert (context.total_findings, context.total_flows, context.flagged_flows) == (8, 5, 4)
    assert context.quiet_flows == 1
    (session,) = context.sessions
    assert (session.label, session.consent) == ("consent rejected", "rejected")


def test_vendor_view_names_company_endpoints_and_what_it_received(
    context: ReportContext,
) -> None:
    pixel = context.vendors[0]
    assert (pixel.vendor, pixel.company, pixel.category) == (
        "meta-pixel",
        "Meta Platforms, Inc.",
        "advertising",
    )
    assert pixel.endpoints == [("GET www.facebook.com/tr/", 2)]
    assert [(r.category, r.matched, r.count) for r in pixel.health] == [
        ("condition", "diabetes", 2)
    ]
    assert {r.category for r in pixel.identifiers} == {"hashed_email", "email"}
    analytics = next(v for v in context.vendors if v.vendor == "google-analytics")
    assert analytics.flows == 2 and analytics.findings == 1


def test_matrix_and_top_pages(context: ReportContext) -> None:
    rows = dict(context.matrix.rows)
    condition = context.matrix.categories.index("condition")
    assert rows["Meta Pixel"][condition] == (2, 4)
    assert sum(n for n, _ in rows["Google Analytics"]) == 1
    top = context.top_pages[0]
    # Both cache-busting variants of the page count as one page.
    assert (top.page_url, top.findings, top.worst) == (
        "https://clinic.example/conditions/diabetes",
        6,
        "high",
    )


def test_evidence_data_holds_one_card_per_flagged_flow(context: ReportContext) -> None:
    data = context.data
    columns = data["columns"]["card"]
    assert data["page_size"] == 200 and len(data["cards"]) == 4
    first = dict(zip(columns, data["cards"][0], strict=True))
    finding = dict(zip(data["columns"]["finding"], first["findings"][0], strict=True))
    assert first["page"] == DIABETES_PAGE and len(first["findings"]) == 3
    assert finding["value"][slice(*finding["marks"])] == "diabetes"
    assert first["raw"].startswith("GET https://www.facebook.com/tr/")
    stored_nothing = [c for c in data["cards"] if c[columns.index("raw")] is None]
    assert len(stored_nothing) == 1  # the flow recorded without its body


def test_html_allows_exactly_its_inline_style_and_script(context: ReportContext) -> None:
    html = render_html(context)
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert policy is not None
    text = unescape(policy.group(1))
    directives = dict(d.strip().split(" ", 1) for d in text.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["style-src"] == csp_hash(inline(html, "style"))
    assert directives["script-src"] == csp_hash(inline(html, "script"))
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)


def test_html_embeds_findings_as_inert_json(context: ReportContext) -> None:
    html = render_html(context)
    block = re.search(r'<script type="application/json" id="phitrace-data">(.*?)</script>', html)
    assert block is not None
    assert json.loads(block.group(1))["cards"]
    assert "<mark>diabetes</mark>" in html  # the vendor section, rendered server-side


def test_hostile_values_render_as_text(tmp_path: Path) -> None:
    db = open_database(tmp_path / "h.db")
    session = new_session(db, "<script>alert('label')</script>")
    attack = '</script><script>alert(1)</script>"><img src=x onerror=alert(2)>'
    record_flow(
        db,
        session,
        url="javascript:alert(3)//</script>",
        page="http://[not-an-address/javascript:alert(4)",
        vendor="meta-pixel",
        vendor_name="<img src=x onerror=alert(5)>",
        body=attack.encode(),
        findings=[finding("health", "condition", "query.<b>", attack, "alert", "high")],
    )
    html = render_html(build_context(db))
    db.close()
    assert html.count("<script") == 2  # the JSON data block and the report's own script
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(5)&gt;" in html
    assert "</script><script>alert(1)" not in html


def test_session_view_reads_databases_without_newer_columns() -> None:
    old = SessionView.from_row({"id": 3, "label": "old", "started_at": "2025-01-01"})
    assert (old.consent, old.ended_at, old.label) == ("", "", "old")


def test_write_private_creates_owner_only_files(tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    write_private(target, "x\udcff")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes() == b"x\\udcff"


@pytest.mark.parametrize(
    ("fmt", "name", "marker"),
    [
        ("html", "phitrace-report.html", "<!DOCTYPE html>"),
        ("json", "phitrace-report.json", '"format": "phitrace-findings"'),
        ("csv", "phitrace-report.csv", "id,session_id,flow_id"),
        ("md", "phitrace-report.md", "### phitrace"),
        ("junit", "phitrace-report.xml", "<testsuites"),
        ("sarif", "phitrace-report.sarif", '"version": "2.1.0"'),
    ],
)
def test_report_command_writes_each_format_privately(
    clinic_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
    name: str,
    marker: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["report", "--db", str(clinic_db), "--format", fmt])
    assert result.exit_code == 0, result.output
    written = tmp_path / name
    assert marker in written.read_text(encoding="utf-8")
    assert stat.S_IMODE(written.stat().st_mode) == 0o600


def test_report_to_standard_output_and_unknown_session(clinic_db: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["report", "--db", str(clinic_db), "--format", "md", "-o", "-"])
    assert out.exit_code == 0 and out.output.startswith("### phitrace")
    missing = runner.invoke(main, ["report", "--db", str(clinic_db), "--session", "99"])
    assert missing.exit_code == 1 and "no session 99" in missing.output
