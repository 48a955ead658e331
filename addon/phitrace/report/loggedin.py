"""The logged-in pages in Markdown: a short section of their own, with no captured values.

Tracking on a user-authenticated page is access to health information
whatever the page shows, so the summary names these pages apart from the
findings table.  Page paths only (as the other Markdown rows), never queries,
and not the evidence: a login-state field's reason quotes the value sent.
"""

from __future__ import annotations

from collections.abc import Sequence

from phitrace.report.mdtext import md_code, md_text
from phitrace.store.loggedin import LoggedInPage
from phitrace.store.reader import url_parts

MARKDOWN_PAGES = 20
"""Logged-in pages listed in a Markdown comment; the rest are counted."""


def page_path(url: str) -> str:
    """A page's path without query or fragment: Markdown goes where many can read it."""
    return (url_parts(url).path or "/") if url else "unknown page"


def md_logged_in(pages: Sequence[LoggedInPage]) -> list[str]:
    """The logged-in pages: path, vendors, findings and worst severity; nothing if none."""
    if not pages:
        return []
    lines = [
        "",
        f"#### Logged-in pages: {len(pages)}",
        "",
        "| page | vendors | findings | worst |",
        "|---|---|---|---|",
    ]
    for p in pages[:MARKDOWN_PAGES]:
        vendors = ", ".join(md_text(v) for v in p.vendors)
        lines.append(
            f"| {md_code(page_path(p.page_url))} | {vendors} | {p.findings} | {p.severity} |"
        )
    if len(pages) > MARKDOWN_PAGES:
        lines += ["", f"_…and {len(pages) - MARKDOWN_PAGES} more; see the full report._"]
    return lines
