"""The report's summaries as plain data: vendor cards, matrix, top pages and bar charts.

:mod:`phitrace.report.html` puts them in the report's context; they hold no
markup, so templates escape everything they show.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from phitrace.model import SEVERITIES, severity_rank
from phitrace.store.reader import Findings, Leak


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass
class Received:
    """One kind of data a vendor received: category and the term or rule that matched."""

    kind: str
    category: str
    matched: str
    example: str
    count: int = 0
    fields: set[str] = field(default_factory=set)


@dataclass
class VendorView:
    """Everything one vendor was sent."""

    vendor: str
    name: str
    company: str
    category: str
    flows: int = 0
    findings: int = 0
    severities: Counter[str] = field(default_factory=Counter)
    endpoints: list[tuple[str, int]] = field(default_factory=list)
    """``METHOD host/path`` contacted and how often (the most frequent first)."""
    more_endpoints: int = 0
    received: dict[tuple[str, str, str], Received] = field(default_factory=dict)

    def _listed(self, kinds: tuple[str, ...]) -> list[Received]:
        items = [r for r in self.received.values() if r.kind in kinds]
        return sorted(items, key=lambda r: (-r.count, r.category, r.matched))[:RECEIVED_LIMIT]

    @property
    def health(self) -> list[Received]:
        """The health data it received, the most frequent first (bounded)."""
        return self._listed(("health",))

    @property
    def identifiers(self) -> list[Received]:
        """The identifiers and test-persona values it received (bounded)."""
        return self._listed(("identifier", "canary"))

    @property
    def by_severity(self) -> list[tuple[str, int]]:
        """Finding counts per severity, most severe first, zeros left out."""
        return [(s, self.severities[s]) for s in SEVERITIES if self.severities[s]]

    @property
    def rank(self) -> tuple[int, ...]:
        """Sort key: most high findings first, then medium, then low."""
        return tuple(-self.severities[s] for s in SEVERITIES)


RECEIVED_LIMIT = 25
"""Distinct data items listed per vendor and kind."""

ENDPOINT_LIMIT = 20
"""Endpoints listed per vendor."""


@functools.lru_cache(maxsize=256)
def company_of(vendor: str) -> str:
    """The company behind a bundled signature (files are named by signature id), or "".

    Only for databases written before ``flows.vendor_company``: newer flows
    carry the company from the signature that matched them.
    """
    from phitrace.catalogue.loader import bundled_dir, load_file
    from phitrace.catalogue.model import SignatureError

    path = bundled_dir() / f"{vendor}.yaml"
    if not vendor or "/" in vendor or not path.is_file():
        return ""
    try:
        return next((s.company for s in load_file(path) if s.id == vendor), "")
    except (SignatureError, OSError):
        # The report must still render when a signature cannot be read.
        return ""


class VendorTally:
    """The vendor cards, built as the findings go by (one at a time, none kept).

    The vendors contacted come from the flows' endpoints; each finding then
    adds to its vendor's counts and to what it received.
    """

    def __init__(self, findings: Findings) -> None:
        self._info = findings.vendor_info
        self._views: dict[str, VendorView] = {}
        for vendor, endpoints in findings.endpoints.items():
            v = self._view(vendor)
            ordered = sorted(endpoints.items(), key=lambda item: (-item[1], item[0]))
            v.flows = sum(endpoints.values())
            v.endpoints = ordered[:ENDPOINT_LIMIT]
            v.more_endpoints = max(0, len(ordered) - ENDPOINT_LIMIT)

    def _view(self, vendor: str) -> VendorView:
        if vendor not in self._views:
            name, category, company = self._info.get(vendor, (vendor, "", ""))
            self._views[vendor] = VendorView(
                vendor, name or vendor or "unknown", company or company_of(vendor), category
            )
        return self._views[vendor]

    def add(self, leak: Leak) -> None:
        """Count one finding for its vendor."""
        v = self._view(leak.vendor)
        v.findings += 1
        v.severities[leak.severity] += 1
        key = (leak.kind, leak.category, leak.matched)
        item = v.received.get(key)
        if item is None:
            item = v.received[key] = Received(leak.kind, leak.category, leak.matched, leak.value)
        item.count += 1
        if len(item.fields) < 5:
            item.fields.add(leak.path)

    def views(self) -> list[VendorView]:
        """The vendors with the most severe findings first."""
        return sorted(self._views.values(), key=lambda v: (v.rank, -v.flows, v.name))


def vendor_views(findings: Findings) -> list[VendorView]:
    """One view per vendor contacted, the vendors with the most severe findings first."""
    tally = VendorTally(findings)
    for leak in findings.leaks:
        tally.add(leak)
    return tally.views()


@dataclass(frozen=True)
class MatrixView:
    """Findings per vendor (rows) and data category (columns).

    Each cell is ``(count, heat)`` with ``heat`` from 0 (none) to 4 (the most).
    """

    categories: list[str]
    rows: list[tuple[str, list[tuple[int, int]]]]


def matrix(
    leaks: Sequence[Leak], vendors: Sequence[VendorView], categories: list[str]
) -> MatrixView:
    """Count findings per vendor and category."""
    counts: Counter[tuple[str, str]] = Counter((leak.vendor, leak.category) for leak in leaks)
    return matrix_of(counts, vendors, categories)


def matrix_of(
    counts: Counter[tuple[str, str]], vendors: Sequence[VendorView], categories: list[str]
) -> MatrixView:
    """The matrix from findings already counted per (vendor, category)."""
    top = max(counts.values(), default=1)
    rows = []
    for v in vendors:
        if v.findings:
            cells = [counts[(v.vendor, c)] for c in categories]
            rows.append((v.name, [(n, -(-4 * n // top)) for n in cells]))
    return MatrixView(categories, rows)


@dataclass(frozen=True)
class PageView:
    """A page whose requests leaked, with what leaked from it."""

    page_url: str
    findings: int
    worst: str
    vendors: tuple[str, ...]


class PageTally:
    """Findings per page (query strings aside), with each page's worst severity and vendors."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        """Findings per page key, in the order pages were first seen."""
        self._worst: dict[str, str] = {}
        self._vendors: dict[str, set[str]] = {}

    def add(self, leak: Leak) -> None:
        """Count one finding for its page."""
        page = leak.page_key
        self.counts[page] += 1
        best = self._worst.get(page)
        if best is None or severity_rank(leak.severity) < severity_rank(best):
            self._worst[page] = leak.severity
        self._vendors.setdefault(page, set()).add(leak.vendor_label)

    def top(self, limit: int = 10) -> list[PageView]:
        """The pages with the most findings, worst severity first on ties."""
        counts, worst = self.counts, self._worst
        ordered = sorted(counts, key=lambda p: (-counts[p], severity_rank(worst[p]), p))
        return [
            PageView(p, counts[p], worst[p], tuple(sorted(self._vendors[p])))
            for p in ordered[:limit]
        ]


def top_pages(leaks: Sequence[Leak], limit: int = 10) -> list[PageView]:
    """The pages (query strings aside) with the most findings, worst severity first on ties."""
    tally = PageTally()
    for leak in leaks:
        tally.add(leak)
    return tally.top(limit)


@dataclass(frozen=True)
class Segment:
    """One severity's part of a bar."""

    x: float
    width: float
    severity: str
    count: int


@dataclass(frozen=True)
class Bar:
    """One labelled horizontal bar of a chart."""

    label: str
    y: int
    total: int
    end: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Chart:
    """Geometry of an inline SVG bar chart, stacked by severity."""

    bars: tuple[Bar, ...]
    width: int
    height: int
    label_width: int
    row: int


def bar_chart(items: Sequence[tuple[str, dict[str, int]]], width: int = 640) -> Chart:
    """Lay out horizontal bars, one per (label, counts by severity)."""
    label_width, row, room = 200, 24, width - 200 - 70
    top = max((sum(c.values()) for _, c in items), default=0) or 1
    bars = []
    for i, (label, counts) in enumerate(items):
        x = float(label_width)
        segments = []
        for severity in SEVERITIES:
            n = counts.get(severity, 0)
            if n:
                w = max(1.0, room * n / top)
                segments.append(Segment(round(x, 1), round(w, 1), severity, n))
                x += w
        bars.append(
            Bar(clip(label, 30), i * row, sum(counts.values()), round(x, 1), tuple(segments))
        )
    return Chart(tuple(bars), width, max(row, len(bars) * row), label_width, row)
