"""The HTML report written while the database is read, for sessions too large to hold.

The report a loaded session gives (:func:`phitrace.report.html.context_for`)
holds every finding, every flow and every raw request at once.  Here the
same report is built in bounded memory: the overview and two counts come
from SQL, the flows and findings pass once through a cursor into the
summaries' tallies (:mod:`phitrace.report.tally`), and the evidence cards
are built a page at a time, with their raw requests, only as the template
writes them (:func:`phitrace.report.html.stream_html`).  The bytes are those
of the in-memory report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from phitrace.model import SEVERITIES, severity_rank
from phitrace.report.cards import CARD_PAGE_SIZE, FlowCard, card_data, card_for
from phitrace.report.documents import LeakSource
from phitrace.report.html import Flagged, ReportContext, batched, context_of
from phitrace.report.tally import ReportTally
from phitrace.store.engine import Store
from phitrace.store.reader import Leak
from phitrace.store.stream import (
    count_flagged_flows,
    flagged_login_states,
    iter_flow_facts,
    iter_flow_leaks,
    load_overview,
    load_raw_for,
)

Judge = Callable[[Leak], Leak]
"""A policy applied to one finding (severity and accepting rule judged anew)."""


def _judged(leaks: Iterable[Leak], judge: Judge) -> list[Leak]:
    """Judged findings in severity order, stable (as ``phitrace report --policy`` orders them)."""
    return sorted(map(judge, leaks), key=lambda leak: severity_rank(leak.severity))


def flow_groups(db: Store, session: int | None, judge: Judge | None) -> Iterator[list[Leak]]:
    """Each flagged flow's findings, the flows in the evidence cards' order.

    A policy can change severities, so with one the flows are read in
    journey order once per severity, and each pass yields the flows whose
    worst judged finding has that severity: the cards' order again, with
    one flow in hand.  The first pass notes each flow's judged severity, so
    the later ones build and judge only the flows they yield.
    """
    if judge is None:
        yield from iter_flow_leaks(db, session)
        return
    ranked: list[set[int]] = [set() for _ in SEVERITIES]
    for group in iter_flow_leaks(db, session, worst_first=False):
        judged = _judged(group, judge)
        rank = severity_rank(judged[0].severity)
        ranked[rank].add(group[0].flow_id)
        if rank == 0:
            yield judged
    for rank in range(1, len(SEVERITIES)):
        if ranked[rank]:
            for group in iter_flow_leaks(db, session, worst_first=False, only=ranked[rank]):
                yield _judged(group, judge)
        ranked[rank] = set()  # done with


def streamed_cards(db: Store, session: int | None, judge: Judge | None) -> Iterator[FlowCard]:
    """The evidence cards, built a page at a time with that page's raw requests."""
    for page in batched(flow_groups(db, session, judge), CARD_PAGE_SIZE):
        raw = load_raw_for(db, [leaks[0].flow_id for leaks in page])
        for leaks in page:
            yield card_for(leaks, raw.get(leaks[0].flow_id), leaks[0].authenticated)
        del raw  # before the next page's requests are read


def streamed_context(
    db: Store, session: int | None, source: LeakSource, judge: Judge | None
) -> ReportContext:
    """The report's context with its cards still to be read.

    ``source`` gives the findings in report order (judged when ``judge`` is
    given); the context's card rows are a generator that reads the database
    as the report is written, so the caller keeps it open until then.
    """
    overview = load_overview(db, session)
    tally = ReportTally(overview)
    tally.add_flows(iter_flow_facts(db, session))
    for leak in source():
        tally.add(leak)
    flagged = Flagged(count_flagged_flows(db, session), flagged_login_states(db, session))
    data = card_data(streamed_cards(db, session, judge), lazy=True)
    return context_of(tally, flagged, data)
