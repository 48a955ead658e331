"""The HTML report's summaries, counted in one pass as the findings go by.

Every summary of the report (severity counts, vendor cards, the vendor ×
category matrix, top pages, the page filter's options, what each third
party received, the policy's accepted findings, the journey, both plots and
the comparison of the first session with the last) is a tally that takes
one finding at a time and keeps only counts per distinct key.
:func:`phitrace.report.html.context_for` feeds it the findings of a loaded
session; the streamed report feeds it the findings read from a cursor, so
the two give the same report and the streamed one never holds the findings.
The flows (for the journey, and the span of the time line) must all be
given before the first finding.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable

from phitrace.model import SEVERITIES
from phitrace.report.accepted import AcceptedTally
from phitrace.report.compare import Comparison, SessionCount, compare_counts
from phitrace.report.compared import one_session
from phitrace.report.journey import JourneyTally
from phitrace.report.parties import PartyTally
from phitrace.report.plots import PageMatrixTally, TimelineTally, span_of
from phitrace.report.views import PageTally, VendorTally
from phitrace.store.flowfacts import FlowFact
from phitrace.store.reader import Findings, Leak, SessionView


class ReportTally:
    """The report's counts over one selection of findings.

    ``overview`` holds the sessions, endpoints, parties and logged-in pages
    (its ``leaks`` are not read).  Call :meth:`add_flows` once with every
    flow, then :meth:`add` with each finding in report order.
    """

    def __init__(self, overview: Findings) -> None:
        self.overview = overview
        self.findings = 0
        self.severities: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
        self.categories: set[str] = set()
        self.cells: Counter[tuple[str, str]] = Counter()
        """Findings per (vendor, data category)."""
        self.vendors = VendorTally(overview)
        self.pages = PageTally()
        self.accepted = AcceptedTally()
        self.parties = PartyTally()
        self.journey = JourneyTally()
        self.page_matrix = PageMatrixTally()
        self.timeline = TimelineTally(None)
        self.compared = _compared(overview)
        """The first session's and the last's counts, when there are several."""

    def add_flows(self, flows: Iterable[FlowFact], extra_times: Iterable[str] = ()) -> None:
        """Every flow, in journey order: the journey's pages and the time line's span.

        ``extra_times`` widen the span (the findings' own times, when the
        flows given may not hold them all).
        """

        def seen(fact: FlowFact) -> str:
            self.journey.add_flow(fact)
            return fact.timestamp

        self.timeline = TimelineTally(span_of(itertools.chain(map(seen, flows), extra_times)))

    def add(self, leak: Leak) -> None:
        """Count one finding in every summary."""
        self.findings += 1
        self.severities[leak.severity] = self.severities.get(leak.severity, 0) + 1
        self.categories.add(leak.category)
        self.cells[(leak.vendor, leak.category)] += 1
        self.vendors.add(leak)
        self.pages.add(leak)
        self.accepted.add(leak)
        self.parties.add(leak)
        self.journey.add(leak)
        self.page_matrix.add(leak)
        self.timeline.add(leak)
        for session, count in self.compared:
            if leak.session_id == session.id:
                count.add(leak)

    def comparison(self) -> Comparison | None:
        """The first session against the last; None when there are fewer than two."""
        if not self.compared:
            return None
        (first, a), (last, b) = self.compared
        return compare_counts(a, b, first, last)


def _compared(overview: Findings) -> list[tuple[SessionView, SessionCount]]:
    """The first and last sessions (by id) with empty counts; none for a single session."""
    if len(overview.sessions) < 2:
        return []
    ordered = sorted(overview.sessions, key=lambda s: s.id)
    return [(s, SessionCount(one_session(overview, s))) for s in (ordered[0], ordered[-1])]
