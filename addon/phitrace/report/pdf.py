"""The PDF report: the HTML report with its printed sections, printed by the machine's Chromium.

Chromium lays out print CSS (``@page`` margin boxes for page numbers, page
breaks, repeated table heads) better than any pure-Python renderer we could
ship, and the tests already need it.  It runs headless, in a private
temporary directory with a throw-away profile, with background networking
off and every host name resolving to nothing: the report fetches nothing
anyway (its Content-Security-Policy allows no external source), and a
printer that cannot reach the network cannot leak the health data it prints.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from phitrace.report.html import context_for, render_html
from phitrace.report.printed import print_view
from phitrace.store.reader import Findings

FALLBACK_CHROMIUM = Path("/usr/bin/chromium")
"""Where Debian's ``chromium`` package puts the browser, when it is not on ``PATH``."""

PRINT_TIMEOUT = 300.0
"""Seconds Chromium may take to print one report."""

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--no-pdf-header-footer",
)
"""Headless, offline, no sandbox (containers often lack user namespaces), no header or footer
of Chromium's own (the print stylesheet numbers the pages)."""


class PdfError(RuntimeError):
    """The PDF could not be made; the message says why and what to do, in one line."""


def find_chromium(search_path: str | None = None, fallback: Path | None = None) -> Path:
    """The Chromium to print with: ``chromium`` on ``PATH``, else Debian's ``/usr/bin/chromium``."""
    found = shutil.which("chromium", path=search_path)
    if found:
        return Path(found)
    fallback = FALLBACK_CHROMIUM if fallback is None else fallback
    if fallback.is_file() and os.access(fallback, os.X_OK):
        return fallback
    raise PdfError(
        "the PDF report needs Chromium, which was not found (no chromium on PATH or at "
        f"{fallback}) — install the Debian package chromium: sudo apt-get install chromium"
    )


def _last_line(text: bytes) -> str:
    lines = [line for line in text.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no message"


def print_pdf(html: str, chromium: Path, timeout: float = PRINT_TIMEOUT) -> bytes:
    """Print an HTML page to PDF with headless Chromium; the bytes of the PDF."""
    with tempfile.TemporaryDirectory(prefix="phitrace-pdf-") as tmp:
        work = Path(tmp)
        page = work / "report.html"
        page.write_text(html, encoding="utf-8")
        page.chmod(0o600)
        out = work / "report.pdf"
        command = [
            str(chromium),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={work / 'profile'}",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        try:
            done = subprocess.run(  # noqa: S603 - our own arguments, no shell
                command, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired as exc:
            raise PdfError(f"Chromium did not finish printing within {timeout:g} s") from exc
        except OSError as exc:
            raise PdfError(f"cannot run {chromium}: {exc.strerror or exc}") from exc
        if done.returncode != 0 or not out.is_file() or not out.stat().st_size:
            raise PdfError(
                f"Chromium could not print the report (exit {done.returncode}): "
                f"{_last_line(done.stderr)}"
            )
        return out.read_bytes()


def to_pdf(findings: Findings, database_sha256: str, chromium: Path) -> bytes:
    """The PDF report of loaded findings (with raw requests), naming its database's digest."""
    context = context_for(findings)
    context.printed = print_view(findings, database_sha256)
    return print_pdf(render_html(context), chromium)
