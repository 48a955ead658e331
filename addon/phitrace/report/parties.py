"""The report's "Third parties" section: every recipient of the session, known or not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from phitrace.store.reader import Leak
from phitrace.urls import registrable_domain


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
    received: tuple[str, ...]
    """The finding categories (``health: condition``…) its flows carried."""

    @property
    def unlisted_with_findings(self) -> bool:
        """An unlisted recipient that received something: the ones to call out."""
        return not self.catalogued and bool(self.received)


def party_views(parties: Sequence[dict[str, Any]], leaks: Sequence[Leak]) -> list[PartyView]:
    """One view per stored domain (summed over sessions), unlisted ones with findings first."""
    received: dict[str, set[str]] = {}
    for leak in leaks:
        domain = registrable_domain(leak.host) if leak.host else ""
        received.setdefault(domain, set()).add(f"{leak.kind}: {leak.category}")
    merged: dict[str, dict[str, Any]] = {}
    for row in parties:
        seen = merged.setdefault(
            row["domain"], {**row, "requests": 0, "bytes_sent": 0, "hosts": set()}
        )
        seen["requests"] += row["requests"] or 0
        seen["bytes_sent"] += row["bytes_sent"] or 0
        seen["hosts"].update(row["hosts"])
        seen["catalogued"] = seen["catalogued"] or row["catalogued"]
        seen["company"] = seen["company"] or row["company"]
    views = [
        PartyView(
            domain=d,
            requests=r["requests"],
            bytes_sent=r["bytes_sent"],
            catalogued=bool(r["catalogued"]),
            vendor=r["vendor"] or f"third-party:{d}",
            company=r["company"] or "",
            hosts=tuple(sorted(r["hosts"])),
            received=tuple(sorted(received.get(d, ()))),
        )
        for d, r in merged.items()
    ]
    return sorted(views, key=lambda v: (not v.unlisted_with_findings, -v.requests, v.domain))
