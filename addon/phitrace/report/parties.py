"""Every recipient of a session, known or not: the report's and the exports' "Third parties".

The stored inventory (:func:`phitrace.store.parties.load_parties`) says who was
contacted and how much; the findings say what each recipient received.  The
HTML and Markdown reports show one row per domain over all selected sessions
(:func:`party_views`); the JSON export lists each session's own parties
(:func:`parties_by_session`).  Unlisted recipients with findings come first:
those are the ones no catalogue would have shown an auditor.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from phitrace.store.reader import Leak
from phitrace.urls import registrable_domain


@dataclass(frozen=True)
class Received:
    """One kind of data a recipient received, and in how many findings."""

    kind: str
    category: str
    findings: int

    @property
    def label(self) -> str:
        """``health: condition``: how reports name it."""
        return f"{self.kind}: {self.category}"


@dataclass(frozen=True)
class PartyView:
    """One third-party domain: how often it was contacted and what it received."""

    domain: str
    requests: int
    bytes_sent: int
    catalogued: bool
    vendor: str
    company: str
    hosts: tuple[str, ...]
    received: tuple[Received, ...]
    """The finding categories its flows carried, by kind and category."""
    first_seen: str = ""
    last_seen: str = ""

    @property
    def findings(self) -> int:
        """How many findings its flows carried."""
        return sum(r.findings for r in self.received)

    @property
    def unlisted_with_findings(self) -> bool:
        """An unlisted recipient that received something: the ones to call out."""
        return not self.catalogued and bool(self.received)

    def as_record(self) -> dict[str, Any]:
        """The party as the JSON export writes it."""
        return {
            "domain": self.domain,
            "vendor": self.vendor,
            "company": self.company,
            "catalogued": self.catalogued,
            "hosts": list(self.hosts),
            "requests": self.requests,
            "bytes_sent": self.bytes_sent,
            "first_seen": self.first_seen or None,
            "last_seen": self.last_seen or None,
            "findings": self.findings,
            "received": [
                {"kind": r.kind, "category": r.category, "findings": r.findings}
                for r in self.received
            ],
            "unlisted_with_findings": self.unlisted_with_findings,
        }


def _received(
    leaks: Iterable[Leak], key: Callable[[Leak, str], Hashable]
) -> dict[Any, Counter[tuple[str, str]]]:
    """Finding counts by (kind, category), per ``key(leak, registrable domain)``."""
    out: dict[Any, Counter[tuple[str, str]]] = {}
    for leak in leaks:
        domain = registrable_domain(leak.host) if leak.host else ""
        out.setdefault(key(leak, domain), Counter())[(leak.kind, leak.category)] += 1
    return out


def _merge(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Inventory rows of one domain (from several sessions) as one: sums, unions, the span."""
    first, last = [r["first_seen"] for r in rows], [r["last_seen"] for r in rows]
    return {
        "domain": rows[0]["domain"],
        "requests": sum(r["requests"] or 0 for r in rows),
        "bytes_sent": sum(r["bytes_sent"] or 0 for r in rows),
        "hosts": sorted({h for r in rows for h in r["hosts"]}),
        "catalogued": any(r["catalogued"] for r in rows),
        "vendor": next((r["vendor"] for r in rows if r["catalogued"] and r["vendor"]), None)
        or rows[0]["vendor"],
        "company": next((r["company"] for r in rows if r["company"]), ""),
        "first_seen": min((t for t in first if t), default=""),
        "last_seen": max((t for t in last if t), default=""),
    }


def _view(row: dict[str, Any], counts: Counter[tuple[str, str]] | None) -> PartyView:
    domain = row["domain"]
    received = sorted((counts or Counter()).items(), key=lambda item: (-item[1], item[0]))
    return PartyView(
        domain=domain,
        requests=row["requests"] or 0,
        bytes_sent=row["bytes_sent"] or 0,
        catalogued=bool(row["catalogued"]),
        vendor=row["vendor"] or f"third-party:{domain}",
        company=row["company"] or "",
        hosts=tuple(sorted(row["hosts"])),
        received=tuple(Received(kind, category, n) for (kind, category), n in received),
        first_seen=row["first_seen"] or "",
        last_seen=row["last_seen"] or "",
    )


def _ordered(views: list[PartyView]) -> list[PartyView]:
    return sorted(views, key=lambda v: (not v.unlisted_with_findings, -v.requests, v.domain))


class PartyTally:
    """What each registrable domain received, counted as the findings go by."""

    def __init__(self) -> None:
        self.received: dict[Any, Counter[tuple[str, str]]] = {}

    def add(self, leak: Leak) -> None:
        """Count one finding for the domain its request went to."""
        domain = registrable_domain(leak.host) if leak.host else ""
        self.received.setdefault(domain, Counter())[(leak.kind, leak.category)] += 1


def party_views(parties: Sequence[dict[str, Any]], leaks: Sequence[Leak]) -> list[PartyView]:
    """One view per stored domain (summed over sessions), unlisted ones with findings first."""
    return party_views_of(parties, _received(leaks, lambda _leak, domain: domain))


def party_views_of(
    parties: Sequence[dict[str, Any]], received: dict[Any, Counter[tuple[str, str]]]
) -> list[PartyView]:
    """:func:`party_views` from findings already counted per domain."""
    by_domain: dict[str, list[dict[str, Any]]] = {}
    for row in parties:
        by_domain.setdefault(row["domain"], []).append(row)
    return _ordered([_view(_merge(rows), received.get(d)) for d, rows in by_domain.items()])


def parties_by_session(
    parties: Sequence[dict[str, Any]], leaks: Iterable[Leak]
) -> dict[int, list[PartyView]]:
    """Each session's own third parties, with what that session's flows sent them."""
    received = _received(leaks, lambda leak, domain: (leak.session_id, domain))
    out: dict[int, list[PartyView]] = {}
    for row in parties:
        counts = received.get((row["session_id"], row["domain"]))
        out.setdefault(row["session_id"], []).append(_view(row, counts))
    return {session: _ordered(views) for session, views in out.items()}
