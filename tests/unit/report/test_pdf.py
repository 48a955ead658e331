"""Finding Chromium for the PDF, and what a failed print says (no browser is started here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from phitrace.report.pdf import CHROMIUM_FLAGS, PdfError, find_chromium, print_pdf


def executable(path: Path, script: str) -> Path:
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o700)
    return path


def test_chromium_on_the_search_path_is_found_first(tmp_path: Path) -> None:
    found = executable(tmp_path / "chromium", "exit 0")
    assert find_chromium(str(tmp_path), tmp_path / "absent") == found


def test_debians_chromium_is_the_fallback(tmp_path: Path) -> None:
    fallback = executable(tmp_path / "debian-chromium", "exit 0")
    assert find_chromium(str(tmp_path / "empty"), fallback) == fallback


def test_no_chromium_names_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(PdfError) as caught:
        find_chromium(str(tmp_path), tmp_path / "chromium")
    message = str(caught.value)
    assert "\n" not in message
    assert "install the Debian package chromium: sudo apt-get install chromium" in message


def test_a_fallback_that_cannot_run_is_not_chromium(tmp_path: Path) -> None:
    fallback = tmp_path / "chromium"
    fallback.write_text("not a program")
    with pytest.raises(PdfError, match="install the Debian package chromium"):
        find_chromium(str(tmp_path / "empty"), fallback)


def test_a_browser_that_fails_is_one_line_with_its_last_message(tmp_path: Path) -> None:
    broken = executable(tmp_path / "chromium", "echo 'starting' >&2; echo 'no display' >&2; exit 3")
    with pytest.raises(PdfError) as caught:
        print_pdf("<p>x</p>", broken)
    assert str(caught.value) == "Chromium could not print the report (exit 3): no display"


def test_a_browser_that_prints_nothing_is_an_error(tmp_path: Path) -> None:
    silent = executable(tmp_path / "chromium", "exit 0")
    with pytest.raises(PdfError, match=r"exit 0\): no message"):
        print_pdf("<p>x</p>", silent)


def test_a_browser_that_hangs_is_stopped(tmp_path: Path) -> None:
    hanging = executable(tmp_path / "chromium", "exec sleep 30")
    with pytest.raises(PdfError, match="did not finish printing within 0.5 s"):
        print_pdf("<p>x</p>", hanging, timeout=0.5)


def test_the_browser_gets_the_page_privately_and_offline(tmp_path: Path) -> None:
    # A stand-in browser that records its arguments and the page's mode, then prints a file.
    seen = tmp_path / "seen"
    script = (
        f'for a in "$@"; do echo "$a" >> {seen}; done; '
        'page="${@: -1}"; '
        f'stat -c %a "${{page#file://}}" >> {seen}; '
        'for a in "$@"; do case "$a" in '
        '--print-to-pdf=*) printf "%%PDF-1.4" > "${a#*=}";; esac; done'
    )
    fake = tmp_path / "chromium"
    fake.write_text(f"#!/bin/bash\n{script}\n")
    fake.chmod(0o700)
    assert print_pdf("<p>x</p>", fake) == b"%PDF-1.4"
    lines = seen.read_text().splitlines()
    assert set(CHROMIUM_FLAGS) <= set(lines)
    assert "--host-resolver-rules=MAP * ~NOTFOUND" in lines
    assert lines[-1] == "600"
    assert not any(Path(line.partition("=")[2]).exists() for line in lines if "=/" in line)
