"""Findings a policy accepts are shown apart in every report, never left out."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from phitrace.cli.main import main
from phitrace.report.accepted import accepted_views, policy_counts, rule_order
from phitrace.store.database import open_database
from phitrace.store.reader import load_leaks
from tests.support.seeded_db import clinic

POLICY = """\
covered_vendors: [meta-pixel]
allow:
  - vendor: hotjar
  - vendor: google-analytics
    pages: ["https://clinic.example/search*"]
"""


@pytest.fixture(scope="module")
def clinic_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clinic(tmp_path_factory.mktemp("accepted") / "clinic.db")


def report(db: Path, tmp_path: Path, fmt: str, *extra: str) -> str:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    out = tmp_path / f"report.{fmt}"
    args = ["report", "--db", str(db), "--format", fmt, "-o", str(out), "--policy", str(policy)]
    result = CliRunner().invoke(main, [*args, *extra])
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def test_json_keeps_every_finding_with_its_rule_and_counts_them(
    clinic_db: Path, tmp_path: Path
) -> None:
    document = json.loads(report(clinic_db, tmp_path, "json"))
    rules = [f["policy"] for f in document["findings"]]
    assert len(rules) == 8
    assert rules.count("covered") == 6 and rules.count("allowed:2") == 1 and None in rules
    assert document["summary"]["accepted_by_policy"] == {"covered": 6, "allowed:2": 1}


def test_csv_has_a_policy_column(clinic_db: Path, tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(report(clinic_db, tmp_path, "csv"))))
    assert len(rows) == 8
    assert {(r["vendor"], r["policy"]) for r in rows} == {
        ("meta-pixel", "covered"),
        ("google-analytics", "allowed:2"),
        ("microsoft-uet", ""),
    }


def test_markdown_lists_accepted_leaks_in_a_table_of_their_own(
    clinic_db: Path, tmp_path: Path
) -> None:
    text = report(clinic_db, tmp_path, "md")
    main_part, accepted_part = text.split("#### Accepted by the policy", 1)
    assert main_part.startswith("### phitrace: 🔵 1 low")
    assert "Meta Pixel" not in main_part and "Microsoft Advertising UET" in main_part
    assert accepted_part.startswith(": 7 finding(s) (`covered` 6, `allowed:2` 1)")
    assert "| `covered` | Meta Pixel | condition `diabetes`" in accepted_part
    assert "| `allowed:2` | Google Analytics | medication `metformin`" in accepted_part


def test_html_shows_an_accepted_section_and_keeps_the_findings(
    clinic_db: Path, tmp_path: Path
) -> None:
    html = report(clinic_db, tmp_path, "html")
    assert '<h3 id="accepted">Accepted by the policy</h3>' in html
    assert "<td><code>covered</code></td><td>Meta Pixel</td><td>6</td>" in html
    assert "<td><code>allowed:2</code></td><td>Google Analytics</td><td>1</td>" in html
    assert "8 findings" in html  # every finding is still in the list
    assert 'data-filter="policy"' in html


def test_without_a_policy_the_report_has_no_accepted_section(
    clinic_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "plain.html"
    result = CliRunner().invoke(main, ["report", "--db", str(clinic_db), "-o", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "Accepted by the policy" not in html and 'data-filter="policy"' not in html


def test_rules_sort_covered_first_then_by_entry_number(clinic_db: Path) -> None:
    assert sorted(["allowed:10", "allowed:2", "covered"], key=rule_order) == [
        "covered",
        "allowed:2",
        "allowed:10",
    ]
    db = open_database(clinic_db)
    leaks = load_leaks(db)
    db.close()
    assert policy_counts(leaks) == {} and accepted_views(leaks) == []
