"""Comparing two sessions: what each key's change is, and the Markdown/JSON/HTML output.

The expected Markdown and JSON are golden files in tests/unit/report/golden/ (reviewed by
hand); after an intended change, rewrite them with
PHITRACE_UPDATE_GOLDEN=1 pytest tests/unit/report/test_compare.py and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from phitrace import __version__
from phitrace.report.compare import Comparison, compare
from phitrace.report.compare_formats import to_html, to_json, to_markdown
from phitrace.store.database import open_database
from phitrace.store.reader import load_findings
from tests.support.seeded_db import consent_pair

GOLDEN = Path(__file__).resolve().parent / "golden"


def load_pair(path: Path, a: int, b: int) -> Comparison:
    db = open_database(path)
    try:
        left, right = load_findings(db, a), load_findings(db, b)
    finally:
        db.close()
    return compare(left, right, left.sessions[0], right.sessions[0])


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> Comparison:
    return load_pair(consent_pair(tmp_path_factory.mktemp("pair") / "pair.db"), 1, 2)


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    normalised = text.replace(__version__, "@VERSION@")
    if os.environ.get("PHITRACE_UPDATE_GOLDEN"):
        path.write_text(normalised, encoding="utf-8")
    assert normalised == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def changes(comparison: Comparison, section: str) -> dict[tuple[str, ...], str]:
    rows = {s.name: s for s in comparison.sections}[section].rows
    return {row.key: row.change for row in rows}


def test_vendors_in_one_session_only_and_severity_changes(comparison: Comparison) -> None:
    assert changes(comparison, "vendors") == {
        ("google-analytics",): "better",
        ("hotjar",): "only_b",
        ("meta-pixel",): "only_a",
        ("microsoft-uet",): "worse",
    }


def test_endpoints_are_vendor_host_and_path_without_method_or_query(
    comparison: Comparison,
) -> None:
    # Google Analytics was POSTed in A and pinged with GET in B: one endpoint, both sessions.
    assert changes(comparison, "endpoints") == {
        ("google-analytics", "region1.google-analytics.com/g/collect"): "better",
        ("hotjar", "in.hotjar.com/api/v2/client/sites/1/visit-data"): "only_b",
        ("meta-pixel", "www.facebook.com/tr/"): "only_a",
        ("microsoft-uet", "bat.bing.com/action/0"): "worse",
    }


def test_cells_count_findings_and_flows_per_vendor_and_category(comparison: Comparison) -> None:
    cells = {row.key: row for row in comparison.cells.rows}
    same = cells[("microsoft-uet", "user_id")]
    assert same.change == "same" and same.a == same.b
    assert same.a is not None and (same.a.flows, same.a.findings, same.a.worst) == (1, 1, "low")
    assert cells[("microsoft-uet", "condition")].change == "only_b"
    assert comparison.cells.counts == {
        "only_a": 4,
        "only_b": 1,
        "severity_changed": 0,
        "unchanged": 1,
    }


def test_a_session_compared_with_itself_has_no_differences(tmp_path: Path) -> None:
    itself = load_pair(consent_pair(tmp_path / "pair.db"), 2, 2)
    for section in itself.sections:
        assert section.counts["unchanged"] == len(section.rows) > 0


def test_markdown_lists_what_differs(comparison: Comparison) -> None:
    golden("compare.md", to_markdown(comparison))


def test_json_lists_every_row_with_its_change(comparison: Comparison) -> None:
    text = to_json(comparison)
    golden("compare.json", text)
    assert json.loads(text)["b"]["label"] == "consent rejected"


def test_html_is_one_page_with_no_script_and_no_external_source(comparison: Comparison) -> None:
    page = to_html(comparison)
    assert "<script" not in page and "script-src" not in page
    assert 'content="default-src &#39;none&#39;; style-src &#39;sha256-' in page
    assert "<td>only in A</td><td>Meta Pixel</td><td><code>www.facebook.com/tr/</code></td>" in page
    assert "1 only in A, 1 only in B, 2 with a severity change, 0 unchanged." in page
