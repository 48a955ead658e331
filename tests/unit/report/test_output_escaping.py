"""CSV and Markdown carry payload text without breaking rows or passing control characters on."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from phitrace.report.formats import FINDING_FIELDS, md_code, md_text, to_csv, to_markdown
from phitrace.store.database import open_database
from phitrace.store.reader import Findings, load_findings
from tests.support.seeded_db import finding, new_session, record_flow


def recorded(tmp_path: Path, path: str, value: str) -> Findings:
    db = open_database(tmp_path / "escaping.db")
    session = new_session(db, "escaping")
    record_flow(
        db,
        session,
        url="https://t.example/c",
        page="https://site.example/",
        vendor="meta-pixel",
        vendor_name="Meta Pixel",
        findings=[finding("health", "condition", path, value, "asthma", "high")],
    )
    loaded = load_findings(db)
    db.close()
    return loaded


@pytest.mark.parametrize("newline", ["\r", "\n", "\r\n"])
def test_a_line_break_inside_a_csv_value_stays_inside_its_row(tmp_path: Path, newline: str) -> None:
    value = f"asthma{newline}=1+1"
    rows = list(csv.reader(io.StringIO(to_csv(recorded(tmp_path, "query.q", value)), newline="")))
    assert len(rows) == 2
    assert rows[1][FINDING_FIELDS.index("value")] == value
    assert not any(row[0].startswith("=") for row in rows)


def test_csv_still_neutralises_a_formula_at_the_start(tmp_path: Path) -> None:
    rows = list(csv.reader(io.StringIO(to_csv(recorded(tmp_path, "query.q", "\r=1+1")))))
    assert rows[1][FINDING_FIELDS.index("value")] == "'\r=1+1"


def test_markdown_escapes_control_characters_of_field_paths(tmp_path: Path) -> None:
    text = to_markdown(recorded(tmp_path, "query.a\x1b[31mred\x00b\u202e", "asthma"))
    assert "\x1b" not in text and "\x00" not in text and "\u202e" not in text
    assert "\\x1b[31mred\\x00b\\u202e" in text


@pytest.mark.parametrize("render", [md_text, md_code])
def test_every_control_character_is_escaped(render: Callable[[str], str]) -> None:
    controls = "".join(chr(c) for c in [*range(0x00, 0x09), *range(0x0E, 0x1C), 0x7F, 0x9B])
    out = render(f"a{controls}b")
    assert all(ch.isprintable() for ch in out), repr(out)
