"""The complete exports, JSON and CSV: every finding with its captured value, written row by row.

Each export is a writer that takes the session's overview (a
:class:`~phitrace.store.reader.Findings` whose ``leaks`` it ignores), a
:data:`LeakSource` and a ``write`` function, so ``phitrace report`` can
stream 100,000 findings from the database to a file without holding them.
The in-memory functions (:func:`to_json`, :func:`to_csv`) are the same
writers fed from a list, which keeps the two byte for byte alike.

The JSON summary needs totals before the rows; they are counted in a first
pass over the source, in the order the rows follow.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from phitrace import __version__
from phitrace.gate.baseline import fingerprint
from phitrace.model import SEVERITIES
from phitrace.report.accepted import rule_order
from phitrace.report.documents import ROWS, LeakSource, Write, write_json
from phitrace.report.parties import parties_by_session
from phitrace.store.reader import Findings, Leak

StreamedExport = Callable[[Findings, LeakSource, Write], None]

FINDING_FIELDS = (
    "id",
    "session_id",
    "flow_id",
    "severity",
    "vendor",
    "vendor_name",
    "tracker_category",
    "kind",
    "category",
    "field",
    "trail",
    "matched",
    "value",
    "reason",
    "rule",
    "policy",
    "method",
    "url",
    "host",
    "page_url",
    "timestamp",
    "status_code",
    "blocked",
    "request_sha256",
    "fingerprint",
)
"""Columns of the JSON and CSV exports, in order."""

EXPORTED_AS = {"field": "path", "trail": "trail_text"}
"""Export columns named differently from the :class:`Leak` attribute they hold."""


def record(leak: Leak) -> dict[str, Any]:
    """One finding as a flat record with its fingerprint."""
    values = {name: getattr(leak, EXPORTED_AS.get(name, name)) for name in FINDING_FIELDS[:-1]}
    values["fingerprint"] = fingerprint(leak)
    return values


def listed(findings: Findings) -> LeakSource:
    """The source of findings already in memory."""
    return lambda: iter(findings.leaks)


@dataclass
class _Totals:
    """The summary's counts, taken as the findings go by (no finding is kept)."""

    findings: int = 0
    by_severity: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEVERITIES, 0))
    flows: set[int] = field(default_factory=set)
    policies: dict[str, int] = field(default_factory=dict)

    def counted(self, leaks: Iterable[Leak]) -> Iterator[Leak]:
        """Pass the findings on, counting each."""
        for leak in leaks:
            self.findings += 1
            self.by_severity[leak.severity] = self.by_severity.get(leak.severity, 0) + 1
            self.flows.add(leak.flow_id)
            if leak.policy:
                self.policies[leak.policy] = self.policies.get(leak.policy, 0) + 1
            yield leak

    @property
    def accepted_by_policy(self) -> dict[str, int]:
        """Accepted findings per rule, in rule order (as :func:`policy_counts` gives them)."""
        return {rule: self.policies[rule] for rule in sorted(self.policies, key=rule_order)}


def json_document(overview: Findings, leaks: Iterable[Leak]) -> dict[str, Any]:
    """The JSON export's document, :data:`ROWS` standing for the findings; reads ``leaks`` once."""
    totals = _Totals()
    counted = totals.counted(leaks)
    parties = parties_by_session(overview.parties, counted)
    collections.deque(counted, maxlen=0)  # every finding counted, whatever the parties read
    sessions = [
        {**asdict(s), "third_parties": [p.as_record() for p in parties.get(s.id, [])]}
        for s in overview.sessions
    ]
    called_out = sorted({p.domain for v in parties.values() for p in v if p.unlisted_with_findings})
    return {
        "format": "phitrace-findings",
        "version": 1,
        "phitrace_version": __version__,
        "generated_at": overview.generated_at,
        "sessions": sessions,
        "summary": {
            "findings": totals.findings,
            "by_severity": totals.by_severity,
            "tracker_flows": overview.total_flows,
            "flagged_flows": len(totals.flows),
            "third_parties": len({p.domain for v in parties.values() for p in v}),
            "unlisted_with_findings": called_out,
            "accepted_by_policy": totals.accepted_by_policy,
            "authenticated_pages": [p.as_record() for p in overview.logged_in_pages],
        },
        "findings": ROWS,
    }


def write_json_export(overview: Findings, source: LeakSource, write: Write) -> None:
    """Sessions with their third parties, counts and every finding with its flow, as JSON."""
    document = json_document(overview, source())
    write_json(document, (record(leak) for leak in source()), write)


def to_json(findings: Findings) -> str:
    """The JSON export of findings in memory."""
    pieces: list[str] = []
    write_json_export(findings, listed(findings), pieces.append)
    return "".join(pieces)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> str:
    # A cell a spreadsheet would run as a formula is prefixed with a quote.
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


_CSV_QUOTED = (",", '"', "\r", "\n")


def _csv_field(text: str) -> str:
    """One field, quoted when it holds a separator, a quote, or a line break of either kind.

    The csv module quotes only the characters of its line terminator, so with
    ``\n`` a bare CR went out unquoted and readers split the row there.
    """
    if any(mark in text for mark in _CSV_QUOTED):
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv_row(cells: Iterable[str]) -> str:
    return ",".join(_csv_field(cell) for cell in cells) + "\n"


def write_csv_export(overview: Findings, source: LeakSource, write: Write) -> None:
    """One row per finding (columns as :data:`FINDING_FIELDS`), spreadsheet-safe."""
    write(_csv_row(FINDING_FIELDS))
    for leak in source():
        row = record(leak)
        write(_csv_row(_csv_cell(row[name]) for name in FINDING_FIELDS))


def to_csv(findings: Findings) -> str:
    """The CSV export of findings in memory."""
    pieces: list[str] = []
    write_csv_export(findings, listed(findings), pieces.append)
    return "".join(pieces)
