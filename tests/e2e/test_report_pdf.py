"""``phitrace report --format pdf``: printed by the real headless Chromium, read back by poppler."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.support.e2e import chromium_executable, need_tool
from tests.support.seeded_db import clinic

from phitrace.cli.main import main

pytestmark = pytest.mark.e2e

POPPLER = "apt-get install -y poppler-utils"


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The clinic session printed to PDF, the database, and the PDF's text (by pdftotext)."""
    pdftotext = need_tool("pdftotext", POPPLER)
    chromium_executable()
    tmp = tmp_path_factory.mktemp("pdf")
    db = clinic(tmp / "clinic.db")
    out = tmp / "report.pdf"
    result = CliRunner().invoke(
        main, ["report", "--db", str(db), "--format", "pdf", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {out}: 5 flows, 8 findings\n"
    text = subprocess.run(
        [pdftotext, "-layout", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    return out, db, text


def test_the_pdf_is_a_private_pdf_file(printed: tuple[Path, Path, str]) -> None:
    out, _db, _text = printed
    assert out.read_bytes().startswith(b"%PDF-")
    assert (out.stat().st_mode & 0o777) == 0o600


def test_the_cover_names_the_session_and_the_database_digest(
    printed: tuple[Path, Path, str],
) -> None:
    _out, db, text = printed
    cover = text.split("\f")[0]
    assert "Health data sent to third parties" in cover
    assert "1: consent rejected" in cover
    assert "0123456789abcdef" in cover
    assert hashlib.sha256(db.read_bytes()).hexdigest() in cover


def test_the_pdf_has_contents_summary_methodology_vendors_and_evidence(
    printed: tuple[Path, Path, str],
) -> None:
    _out, _db, text = printed
    assert "Contents" in text.split("\f")[1]
    for heading in ("Executive summary", "Methodology and its limits", "Evidence excerpts"):
        assert heading in text
    assert "server-side APIs" in text and "Encrypted or obfuscated payloads" in text
    for vendor in ("Meta Pixel", "Google Analytics", "Microsoft Advertising UET"):
        assert vendor in text
    assert "metformin dosage" in text  # the matched value, excerpted


def test_every_page_is_numbered(printed: tuple[Path, Path, str]) -> None:
    _out, _db, text = printed
    pages = [page for page in text.split("\f") if page.strip()]
    numbers = [re.search(r"page (\d+) of (\d+)", page) for page in pages]
    assert all(numbers), "a page without its number"
    assert [int(n.group(1)) for n in numbers if n] == list(range(1, len(pages) + 1))
    assert {int(n.group(2)) for n in numbers if n} == {len(pages)}


def test_the_first_page_is_rendered_for_a_look(printed: tuple[Path, Path, str]) -> None:
    out, _db, _text = printed
    pdftoppm = need_tool("pdftoppm", POPPLER)
    subprocess.run(
        # -singlefile: no page number in the name, whose zero padding follows the page count.
        [
            pdftoppm,
            "-png",
            "-singlefile",
            "-r",
            "70",
            "-f",
            "1",
            str(out),
            str(out.parent / "page"),
        ],
        check=True,
    )
    png = out.parent / "page.png"
    assert png.read_bytes().startswith(b"\x89PNG")
    print(f"first page of the PDF: {png}")
