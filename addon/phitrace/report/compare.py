"""Compare two sessions: what one sent to trackers and the other did not.

QA teams run the same journey twice (consent accepted, then rejected; before
a fix, then after) and ask what changed.  :func:`compare` answers over three
keys, each tallied per session: the vendors contacted, the endpoints
(vendor, host and path) and the (vendor, data category) cells of findings.
A key is in one session only, or in both with a different worst severity
(a severity change), or in both with the same one.  Everything here is pure:
two loaded :class:`~phitrace.store.reader.Findings` in, a :class:`Comparison`
out; formatting lives in :mod:`phitrace.report.compare_formats`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from phitrace.model import SEVERITIES, severity_rank
from phitrace.store.reader import Findings, Leak, SessionView, url_parts

QUIET = "info"
"""The severity of a key with no findings (a tracker contacted, nothing sensitive found)."""


@dataclass(frozen=True)
class Tally:
    """A key in one session: its flows, its findings and the worst of their severities."""

    flows: int
    findings: int
    worst: str


@dataclass(frozen=True)
class Row:
    """One key of a comparison with its tally in each session (None where it is absent)."""

    key: tuple[str, ...]
    """``(vendor,)``, ``(vendor, endpoint)`` or ``(vendor, category)``."""
    label: str
    """The vendor's display name."""
    a: Tally | None
    b: Tally | None

    @property
    def change(self) -> str:
        """``only_a``, ``only_b``, ``worse`` or ``better`` (from A to B), or ``same``."""
        if self.b is None:
            return "only_a"
        if self.a is None:
            return "only_b"
        step = severity_rank(self.b.worst) - severity_rank(self.a.worst)
        return "worse" if step < 0 else "better" if step > 0 else "same"


@dataclass(frozen=True)
class Section:
    """The rows of one key kind, sorted by vendor then key."""

    name: str
    rows: tuple[Row, ...]

    def where(self, *changes: str) -> list[Row]:
        """The rows whose :attr:`Row.change` is one of ``changes``."""
        return [row for row in self.rows if row.change in changes]

    @property
    def counts(self) -> dict[str, int]:
        """Rows per change: only in A, only in B, severity changed, unchanged."""
        return {
            "only_a": len(self.where("only_a")),
            "only_b": len(self.where("only_b")),
            "severity_changed": len(self.where("worse", "better")),
            "unchanged": len(self.where("same")),
        }


@dataclass(frozen=True)
class SessionSide:
    """One session of a comparison with its totals."""

    session: SessionView
    tracker_flows: int
    findings: int
    by_severity: dict[str, int]


@dataclass(frozen=True)
class Comparison:
    """Session A against session B: their totals and the vendors, endpoints and cells."""

    a: SessionSide
    b: SessionSide
    vendors: Section
    endpoints: Section
    cells: Section

    @property
    def sections(self) -> tuple[Section, ...]:
        """The three sections in the order reports show them."""
        return (self.vendors, self.endpoints, self.cells)


class _Counter:
    """Flows, findings and worst severity per key, as one session is read."""

    def __init__(self) -> None:
        self.flows: dict[tuple[str, ...], int] = {}
        self.findings: dict[tuple[str, ...], int] = {}
        self.worst: dict[tuple[str, ...], str] = {}

    def add_flows(self, key: tuple[str, ...], flows: int) -> None:
        self.flows[key] = self.flows.get(key, 0) + flows

    def add_finding(self, key: tuple[str, ...], severity: str) -> None:
        self.flows.setdefault(key, 0)
        self.findings[key] = self.findings.get(key, 0) + 1
        known = self.worst.get(key, QUIET)
        self.worst[key] = min(known, severity, key=_rank)

    def tallies(self) -> dict[tuple[str, ...], Tally]:
        return {
            key: Tally(flows, self.findings.get(key, 0), self.worst.get(key, QUIET))
            for key, flows in self.flows.items()
        }


def _rank(severity: str) -> int:
    return severity_rank(severity) if severity in SEVERITIES else len(SEVERITIES)


def endpoint(host: str, path: str) -> str:
    """An endpoint as compared and shown: host and path, no method, query or fragment."""
    return f"{host}{path or '/'}"


def _leak_endpoint(leak: Leak) -> str:
    parts = url_parts(leak.url)
    return endpoint(leak.host or parts.netloc, parts.path)


class SessionCount:
    """One session's vendors, endpoints and cells, counted as its findings go by.

    The endpoints contacted come from the session's flows (``findings``'
    ``endpoints``); each finding then adds to its keys.  Only counts per key
    are kept (and, per cell, the ids of its flows), never the findings.
    """

    def __init__(self, findings: Findings) -> None:
        self.vendors, self.endpoints, self._cells = _Counter(), _Counter(), _Counter()
        self.vendor_info = findings.vendor_info
        self.tracker_flows = findings.total_flows
        self.findings = 0
        self.severities: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
        self.leak_labels: dict[str, str] = {}
        """Each vendor's display name as its first finding gives it."""
        self._flows_per_cell: dict[tuple[str, str], set[int]] = {}
        for vendor, contacted in findings.endpoints.items():
            for key, flows in contacted.items():
                _method, _, where = key.partition(" ")
                self.vendors.add_flows((vendor,), flows)
                self.endpoints.add_flows((vendor, where), flows)

    def add(self, leak: Leak) -> None:
        """Count one finding of the session."""
        self.findings += 1
        self.severities[leak.severity] = self.severities.get(leak.severity, 0) + 1
        self.leak_labels.setdefault(leak.vendor, leak.vendor_label)
        self.vendors.add_finding((leak.vendor,), leak.severity)
        self.endpoints.add_finding((leak.vendor, _leak_endpoint(leak)), leak.severity)
        self._cells.add_finding((leak.vendor, leak.category), leak.severity)
        self._flows_per_cell.setdefault((leak.vendor, leak.category), set()).add(leak.flow_id)

    def cells(self) -> _Counter:
        """The (vendor, category) cells, each with the number of its flows."""
        cells = _Counter()
        for cell, ids in self._flows_per_cell.items():
            cells.add_flows(cell, len(ids))
            cells.findings[cell] = self._cells.findings[cell]
            cells.worst[cell] = self._cells.worst[cell]
        return cells


def count_session(findings: Findings) -> SessionCount:
    """:class:`SessionCount` of a loaded session."""
    count = SessionCount(findings)
    for leak in findings.leaks:
        count.add(leak)
    return count


def _labels(*sides: SessionCount) -> dict[str, str]:
    """Each vendor's display name, from either session (B's when both know it)."""
    labels: dict[str, str] = {}
    for side in sides:
        for vendor, info in side.vendor_info.items():
            labels[vendor] = info.name or vendor
        for vendor, label in side.leak_labels.items():
            labels.setdefault(vendor, label)
    return labels


def _section(name: str, a: _Counter, b: _Counter, labels: dict[str, str]) -> Section:
    ta, tb = a.tallies(), b.tallies()
    keys: Iterable[tuple[str, ...]] = sorted(set(ta) | set(tb))
    rows = tuple(Row(key, labels.get(key[0], key[0]), ta.get(key), tb.get(key)) for key in keys)
    return Section(name, rows)


def _side(count: SessionCount, session: SessionView) -> SessionSide:
    return SessionSide(session, count.tracker_flows, count.findings, count.severities)


def compare(a: Findings, b: Findings, session_a: SessionView, session_b: SessionView) -> Comparison:
    """Compare two loaded sessions (each :class:`Findings` holding one session)."""
    return compare_counts(count_session(a), count_session(b), session_a, session_b)


def compare_counts(
    a: SessionCount, b: SessionCount, session_a: SessionView, session_b: SessionView
) -> Comparison:
    """Compare two sessions from their counts."""
    labels = _labels(a, b)
    return Comparison(
        a=_side(a, session_a),
        b=_side(b, session_b),
        vendors=_section("vendors", a.vendors, b.vendors, labels),
        endpoints=_section("endpoints", a.endpoints, b.endpoints, labels),
        cells=_section("cells", a.cells(), b.cells(), labels),
    )
