"""What the printed report (the PDF) adds to the HTML one: a cover, contents and excerpts.

Legal and compliance readers get the report as a PDF; paper has no filters
and no toggles, so the printed report carries what a reader cannot click
for: a cover naming what was examined (sessions, versions, the digest of the
database the report was read from), a summary in sentences, and excerpts of
the distinct leaks, most severe first, each with the matched value.  These
are plain data; ``_print.html.j2`` shows them and ``report.css`` lays them out
for paper.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from phitrace.gate.baseline import group
from phitrace.report.views import clip
from phitrace.store.reader import Findings

EXCERPT_LIMIT = 40
"""Distinct leaks excerpted in print (the most severe first); the HTML report lists all."""

EXCERPT_VALUE = 400
"""Characters of a captured value shown in an excerpt."""

EXCERPT_URL = 160
"""Characters of a request URL shown in an excerpt."""


@dataclass(frozen=True)
class Excerpt:
    """One distinct leak as the printed report shows it."""

    severity: str
    vendor: str
    kind: str
    category: str
    matched: str
    highlight: str
    """The term marked in the value (health terms only; identifiers are shown whole)."""
    value: str
    path: str
    trail: str
    page: str
    method: str
    url: str
    reason: str
    request_sha256: str
    seen: int
    """How many findings share this leak's fingerprint."""


@dataclass(frozen=True)
class PrintView:
    """The printed report's extra context: where it came from, its span, its excerpts."""

    database_sha256: str
    started_at: str
    ended_at: str
    excerpts: list[Excerpt]
    distinct_leaks: int

    @property
    def more_leaks(self) -> int:
        """Distinct leaks not excerpted (listed in the HTML report and the exports)."""
        return self.distinct_leaks - len(self.excerpts)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in chunks (databases can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def excerpts(findings: Findings, limit: int = EXCERPT_LIMIT) -> tuple[list[Excerpt], int]:
    """The distinct leaks to excerpt, most severe first, and how many there are in all."""
    groups = group(findings.leaks)
    chosen = []
    for item in groups[:limit]:
        leak = item.first
        chosen.append(
            Excerpt(
                severity=item.severity,
                vendor=leak.vendor_label,
                kind=leak.kind,
                category=leak.category,
                matched=leak.matched,
                highlight=leak.matched if leak.kind == "health" else "",
                value=clip(leak.value, EXCERPT_VALUE),
                path=leak.path,
                trail=leak.trail_text,
                page=clip(leak.page_url, EXCERPT_URL),
                method=leak.method,
                url=clip(leak.url, EXCERPT_URL),
                reason=leak.reason,
                request_sha256=leak.request_sha256,
                seen=item.count,
            )
        )
    return chosen, len(groups)


def print_view(findings: Findings, database_sha256: str) -> PrintView:
    """The printed report's context for loaded findings and their database's digest."""
    chosen, distinct = excerpts(findings)
    starts = [s.started_at for s in findings.sessions if s.started_at]
    ends = [s.ended_at for s in findings.sessions if s.ended_at]
    return PrintView(
        database_sha256=database_sha256,
        started_at=min(starts, default=""),
        ended_at=max(ends, default=""),
        excerpts=chosen,
        distinct_leaks=distinct,
    )
