"""Build the HTML report from the findings :mod:`phitrace.store.reader` reads.

The HTML report is one self-contained file: inline CSS, inline SVG charts,
and a small inline script that filters, searches and pages the evidence
cards (one per flagged flow), which travel as JSON inside the page.  A
Content-Security-Policy with hashes allows that script and style and
nothing else, so nothing is fetched and no captured value can run.  One
Jinja ``Environment`` with autoescaping and ``StrictUndefined`` renders the
templates in ``reports/``; :func:`highlight` is the only place escaped text
becomes markup (and :func:`json_pieces` the only place JSON does, escaped as
``tojson`` escapes it), and the script builds the cards from text nodes only.
:func:`stream_html` yields the page a piece at a time, so a context whose
cards are still to be read (:mod:`phitrace.report.streamed_html`) is written
without being held.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import jinja2
import sqlite_utils
from markupsafe import Markup, escape

from phitrace import __version__
from phitrace.model import HEALTH_CATEGORIES, IDENTIFIER_CATEGORIES, SEVERITIES
from phitrace.report.accepted import AcceptedView
from phitrace.report.cards import CARD_PAGE_SIZE, card_data, flow_cards, match_spans
from phitrace.report.compare import Comparison
from phitrace.report.compared import CHANGE_LABELS, SECTIONS, counts_line
from phitrace.report.decoded import raw_text
from phitrace.report.journey import Journey
from phitrace.report.parties import PartyView, party_views_of
from phitrace.report.plots import PageMatrix, Timeline
from phitrace.report.printed import PrintView
from phitrace.report.tally import ReportTally
from phitrace.report.views import (
    Chart,
    MatrixView,
    PageView,
    VendorView,
    bar_chart,
    clip,
    matrix_of,
)
from phitrace.report.views import vendor_views as vendor_views
from phitrace.resources import data_dir
from phitrace.store.loggedin import LoggedInPage
from phitrace.store.reader import Findings, SessionView, load_findings

__all__ = ["ReportContext", "build_context", "context_for", "highlight", "raw_text", "render_html"]

PAGE_OPTIONS = 500
"""Pages offered by the page filter (the ones with the most findings)."""


def highlight(value: str, term: str, limit: int = 600) -> Markup:
    """Escape ``value`` and wrap each case-insensitive occurrence of ``term`` in ``<mark>``.

    This is the one place where captured text becomes markup: every piece is
    escaped first, so payload content can never inject HTML.
    """
    text = clip(value, limit)
    pieces: list[str] = []
    last = 0
    for start, end in match_spans(text, term):
        pieces.append(str(escape(text[last:start])))
        pieces.append(f"<mark>{escape(text[start:end])}</mark>")
        last = end
    pieces.append(str(escape(text[last:])))
    return Markup("".join(pieces))


@dataclass
class ReportContext:
    """What ``report.html.j2`` receives.

    ``sessions`` are the sessions covered; ``severity_counts`` counts findings
    per severity (most severe first) and ``quiet_flows`` the tracker flows
    without findings; ``vendors`` summarise each vendor, most findings first;
    ``matrix`` counts findings per vendor and data category; ``top_pages``
    lists the pages whose requests leaked most; ``severity_chart`` and
    ``vendor_chart`` are inline SVG bar charts; ``filters`` holds the values
    offered by each filter control; ``data`` is the evidence cards, one per
    flagged flow, as JSON-ready data (see :mod:`phitrace.report.cards`), which
    ``report.js`` filters, searches and draws page by page; ``journey`` is the
    per-page timeline (:mod:`phitrace.report.journey`); ``csp`` is the
    Content-Security-Policy with the hashes of the inline style and script.
    """

    generated_at: str
    phitrace_version: str
    sessions: list[SessionView]
    severity_counts: dict[str, int]
    quiet_flows: int
    vendors: list[VendorView]
    matrix: MatrixView
    top_pages: list[PageView]
    severity_chart: Chart
    vendor_chart: Chart
    filters: dict[str, list[tuple[str, str]]]
    data: dict[str, Any]
    journey: Journey
    total_flows: int
    total_findings: int
    flagged_flows: int
    csp: str = ""
    third_parties: list[PartyView] = field(default_factory=list)
    """Every third-party domain the sessions saw (see :mod:`phitrace.report.parties`)."""
    failed_sessions: list[SessionView] = field(default_factory=list)
    """Sessions that stopped on an error: the report shows a notice that they are incomplete."""
    accepted: list[AcceptedView] = field(default_factory=list)
    """Findings the organisation's policy accepts, by rule and vendor (shown apart, not hidden)."""
    accepted_findings: int = 0
    logged_in_pages: list[LoggedInPage] = field(default_factory=list)
    """Pages viewed logged in and what trackers received from each (a section of their own)."""
    printed: PrintView | None = None
    """Set for the PDF: the cover, contents, summary, methodology and excerpts it adds."""
    timeline: Timeline | None = None
    """Findings per time bucket over the sessions' span (:mod:`phitrace.report.plots`)."""
    page_matrix: PageMatrix | None = None
    """Findings per vendor and page, for the vendors and pages with the most."""
    comparison: Comparison | None = None
    """The first session against the last, when the report covers two or more."""


def _category_order(categories: Iterable[str]) -> list[str]:
    known = {c: i for i, c in enumerate((*HEALTH_CATEGORIES, *IDENTIFIER_CATEGORIES))}
    return sorted(set(categories), key=lambda c: (known.get(c, len(known)), c))


def _filters(
    tally: ReportTally,
    vendors: Sequence[VendorView],
    categories: Sequence[str],
    login_states: Collection[str],
) -> dict[str, list[Any]]:
    counts = tally.severities
    return {
        "severity": [(s, s) for s in SEVERITIES if counts[s]],
        "vendor": [(v.vendor, v.name) for v in vendors if v.findings],
        "category": [(c, c) for c in categories],
        "page": [(p, p or "unknown page") for p, _ in tally.pages.counts.most_common(PAGE_OPTIONS)],
        "policy": _policy_options(tally.accepted.counts()),
        "authenticated": _authenticated_options(login_states),
    }


def _policy_options(counts: dict[str, int]) -> list[tuple[str, str]]:
    """The policy filter: findings no rule accepts, then each rule; none without a policy."""
    if not counts:
        return []
    return [(NOT_ACCEPTED, "not accepted"), *((rule, f"accepted: {rule}") for rule in counts)]


def _authenticated_options(states: Collection[str]) -> list[tuple[str, str]]:
    """The login filter: the states the flagged flows were seen in; none when nothing is known."""
    labels = {"yes": "logged in", "no": "not logged in", "unknown": "unknown"}
    known = [(s, labels[s]) for s in labels if s in states]
    return known if any(s != "unknown" for s, _ in known) else []


NOT_ACCEPTED = "-"
"""The policy filter's value for findings no rule accepts (report.js reads it so)."""


@dataclass(frozen=True)
class Flagged:
    """What the report says of the flows with findings, counted apart from the tally."""

    flows: int
    """How many flows have findings."""
    login_states: Collection[str]
    """The login states those flows were seen in."""


def context_of(tally: ReportTally, flagged: Flagged, data: dict[str, Any]) -> ReportContext:
    """The report's context from its tally, the flagged flows and the cards' data."""
    overview = tally.overview
    counts = tally.severities
    vendors = tally.vendors.views()
    categories = _category_order(tally.categories)
    charted = [v for v in vendors if v.findings][:12]
    return ReportContext(
        generated_at=overview.generated_at,
        phitrace_version=__version__,
        sessions=overview.sessions,
        severity_counts=counts,
        quiet_flows=overview.total_flows - flagged.flows,
        vendors=vendors,
        matrix=matrix_of(tally.cells, vendors, categories),
        top_pages=tally.pages.top(),
        severity_chart=bar_chart([(s, {s: n}) for s, n in counts.items() if n]),
        vendor_chart=bar_chart([(v.name, dict(v.severities)) for v in charted]),
        filters=_filters(tally, vendors, categories, flagged.login_states),
        data=data,
        journey=tally.journey.journey(),
        total_flows=overview.total_flows,
        total_findings=tally.findings,
        flagged_flows=flagged.flows,
        third_parties=party_views_of(overview.parties, tally.parties.received),
        failed_sessions=[s for s in overview.sessions if s.failed],
        accepted=tally.accepted.views(),
        accepted_findings=tally.accepted.findings,
        logged_in_pages=overview.logged_in_pages,
        timeline=tally.timeline.plot(),
        page_matrix=tally.page_matrix.plot(),
        comparison=tally.comparison(),
    )


def context_for(findings: Findings) -> ReportContext:
    """Turn loaded findings into the report's context."""
    tally = ReportTally(findings)
    tally.add_flows(findings.facts.values(), (leak.timestamp for leak in findings.leaks))
    for leak in findings.leaks:
        tally.add(leak)
    facts = findings.facts
    flagged_ids = findings.flagged_flow_ids
    states = {facts[f].authenticated for f in flagged_ids if f in facts}
    data = card_data(flow_cards(findings))
    return context_of(tally, Flagged(len(flagged_ids), states), data)


def build_context(db: sqlite_utils.Database, session: int | None = None) -> ReportContext:
    """Read sessions, flows, findings and raw requests into the report's context."""
    return context_for(load_findings(db, session, raw=True))


def environment() -> jinja2.Environment:
    """The one Jinja environment for reports: autoescaped, strict about undefined names."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("reports"))),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["highlight"] = highlight
    env.filters["json_pieces"] = json_pieces
    env.globals.update(
        compare_sections=SECTIONS, compare_changes=CHANGE_LABELS, compare_counts=counts_line
    )
    return env


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def content_security_policy(env: jinja2.Environment) -> str:
    """A policy allowing exactly the report's inline style and script, and nothing else.

    The hashes are of the included files as the template inserts them, so a
    change to ``report.css`` or ``report.js`` needs no change here.
    """
    style = env.get_template("report.css").render()
    script = env.get_template("report.js").render()
    return (
        f"default-src 'none'; style-src {_hash(style)}; script-src {_hash(script)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


def style_policy(env: jinja2.Environment) -> str:
    """A policy for a page with the report's inline style and no script at all."""
    style = env.get_template("report.css").render()
    return (
        f"default-src 'none'; style-src {_hash(style)}; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )


def render_html(context: ReportContext) -> str:
    """Render the HTML report for a context."""
    return "".join(stream_html(context))


def stream_html(context: ReportContext) -> Iterator[str]:
    """The HTML report for a context, a piece at a time as the template produces it.

    The card rows go out a page at a time (:func:`json_pieces`), so a context
    whose rows are a generator is written without ever being held whole.
    """
    env = environment()
    context.csp = content_security_policy(env)
    return env.get_template("report.html.j2").generate(report=context)


T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last may be shorter)."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _script_safe(text: str) -> Markup:
    # As Jinja's ``tojson``: nothing in the JSON can close the script element or start markup.
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        text = text.replace(char, code)
    return Markup(text)


def json_pieces(data: Mapping[str, Any], batch: int = CARD_PAGE_SIZE) -> Iterator[Markup]:
    """``data|tojson``, in pieces: each list (or generator) value ``batch`` items at a time.

    The text is the very text of Jinja's ``tojson`` (sorted keys, the same
    separators and escapes), so the report is alike whether its cards were
    built beforehand or are built as it is written.
    """
    yield Markup("{")
    for i, key in enumerate(sorted(data)):
        value = data[key]
        head = (", " if i else "") + json.dumps(key) + ": "
        if not isinstance(value, list | Iterator):
            yield _script_safe(head + json.dumps(value, sort_keys=True))
            continue
        yield _script_safe(head + "[")
        for n, rows in enumerate(batched(value, batch)):
            text = ", ".join(json.dumps(row, sort_keys=True) for row in rows)
            yield _script_safe((", " if n else "") + text)
        yield Markup("]")
    yield Markup("}")
