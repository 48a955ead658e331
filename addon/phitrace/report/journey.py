"""The per-page view: each page of the session in journey order, and what each vendor got.

A timeline reads the way the visitor went: pages in the order their first
tracker request was made, and under each page the vendors contacted from it
with the data categories they received (or that they received nothing
sensitive).  Plain data, like :mod:`phitrace.report.views`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from phitrace.model import severity_rank
from phitrace.store.flowfacts import FlowFact
from phitrace.store.reader import Findings, Leak, url_parts, without_query

JOURNEY_PAGES = 300
"""Pages shown in the timeline; a longer session says how many more there were."""


@dataclass
class VendorStep:
    """One vendor contacted from one page: its flows, findings and what it received."""

    vendor: str
    vendor_label: str
    flows: int = 0
    findings: int = 0
    worst: str = "info"
    categories: Counter[str] = field(default_factory=Counter)
    """Findings per data category, in the order first seen."""


@dataclass
class PageStep:
    """One page of the journey: when its first tracker request went, and to whom."""

    page_key: str
    first_seen: str
    vendors: dict[str, VendorStep] = field(default_factory=dict)

    @property
    def findings(self) -> int:
        """Findings in the requests made from this page."""
        return sum(v.findings for v in self.vendors.values())

    @property
    def worst(self) -> str:
        """The most severe finding of the page (``info`` when none)."""
        return min((v.worst for v in self.vendors.values()), key=severity_rank, default="info")


@dataclass(frozen=True)
class Journey:
    """The timeline, bounded to :data:`JOURNEY_PAGES`; ``more`` counts the pages left out."""

    pages: list[PageStep]
    more: int


def page_key(page_url: str) -> str:
    """The page without query or fragment, as the report groups pages (empty when unknown)."""
    return without_query(url_parts(page_url)) if page_url else ""


class JourneyTally:
    """The timeline built as flows, then findings, go by (every flow before any finding)."""

    def __init__(self) -> None:
        self._pages: dict[str, PageStep] = {}

    def add_flow(self, fact: FlowFact) -> None:
        """Count one tracker flow under its page and vendor (flows come in journey order)."""
        key = page_key(fact.page_url)
        step = self._pages.setdefault(key, PageStep(key, fact.timestamp))
        vendor = step.vendors.setdefault(fact.vendor, VendorStep(fact.vendor, fact.vendor_label))
        vendor.flows += 1

    def add(self, leak: Leak) -> None:
        """Count one finding under its page and vendor."""
        step = self._pages.setdefault(leak.page_key, PageStep(leak.page_key, leak.timestamp))
        vendor = step.vendors.setdefault(leak.vendor, VendorStep(leak.vendor, leak.vendor_label))
        vendor.findings += 1
        vendor.categories[leak.category] += 1
        if severity_rank(leak.severity) < severity_rank(vendor.worst):
            vendor.worst = leak.severity

    def journey(self, limit: int = JOURNEY_PAGES) -> Journey:
        """Pages in the order first seen, bounded to ``limit``."""
        ordered = sorted(self._pages.values(), key=lambda p: (p.first_seen, p.page_key))
        return Journey(ordered[:limit], max(0, len(ordered) - limit))


def journey(findings: Findings, limit: int = JOURNEY_PAGES) -> Journey:
    """Pages in the order first seen, with the vendors each sent data to."""
    tally = JourneyTally()
    for fact in findings.facts.values():
        tally.add_flow(fact)
    for leak in findings.leaks:
        tally.add(leak)
    return tally.journey(limit)
