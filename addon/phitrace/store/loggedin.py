"""The pages viewed logged in: what trackers received from each, read from ``flows``.

Tracking on a user-authenticated page is access to health information
whatever the page shows, so reports list these pages on their own.  One
:class:`LoggedInPage` per page URL whose flows are ``authenticated = yes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from phitrace.model import severity_rank
from phitrace.store.engine import Store


@dataclass(frozen=True)
class LoggedInPage:
    """A page viewed logged in, with the evidence and what trackers received from it."""

    page_url: str
    reason: str
    """The evidence the page was logged in (of its first flow)."""
    vendors: tuple[str, ...]
    """Display names of the trackers that received requests from the page."""
    flows: int
    findings: int
    severity: str
    """The worst severity of the page's flows."""

    def as_record(self) -> dict[str, object]:
        """The page as a JSON-ready record."""
        return {
            "page_url": self.page_url,
            "reason": self.reason,
            "vendors": list(self.vendors),
            "flows": self.flows,
            "findings": self.findings,
            "severity": self.severity,
        }


_SQL = (
    "select w.id, coalesce(w.page_url, '') as page, "
    "coalesce(w.authenticated_reason, '') as reason, "
    "coalesce(w.vendor_name, w.vendor, w.host, '') as vendor, coalesce(w.severity, 'info') as sev, "
    "(select count(*) from findings f where f.flow_id = w.id) as found "
    "from flows w where w.authenticated = 'yes' {where} order by w.id"
)


@dataclass
class _Tally:
    """What the flows of one page add up to, while they are read."""

    reason: str
    vendors: set[str] = field(default_factory=set)
    flows: int = 0
    findings: int = 0
    severity: str = "info"

    def add(self, vendor: str, findings: int, severity: str) -> None:
        """Count one flow of the page."""
        self.vendors.add(vendor)
        self.flows += 1
        self.findings += findings
        if severity_rank(severity) < severity_rank(self.severity):
            self.severity = severity


def load_logged_in_pages(db: Store, session: int | None = None) -> list[LoggedInPage]:
    """Every logged-in page of one session (or all), most findings first, then by URL."""
    where, params = ("and w.session_id = ?", [session]) if session is not None else ("", [])
    pages: dict[str, _Tally] = {}
    for row in db.query(_SQL.format(where=where), params):
        tally = pages.setdefault(row["page"], _Tally(row["reason"]))
        tally.add(row["vendor"], row["found"], row["sev"])
    views = [
        LoggedInPage(url, t.reason, tuple(sorted(t.vendors)), t.flows, t.findings, t.severity)
        for url, t in pages.items()
    ]
    return sorted(views, key=lambda v: (-v.findings, severity_rank(v.severity), v.page_url))
