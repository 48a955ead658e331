"""Build the HTML report from the findings :mod:`phitrace.store.reader` reads.

The HTML report is one self-contained file: inline CSS, inline SVG charts,
and a small inline script that filters, searches and pages the evidence
cards (one per flagged flow), which travel as JSON inside the page.  A
Content-Security-Policy with hashes allows that script and style and
nothing else, so nothing is fetched and no captured value can run.  One
Jinja ``Environment`` with autoescaping and ``StrictUndefined`` renders the
templates in ``reports/``; :func:`highlight` is the only place escaped text
becomes markup, and the script builds the cards from text nodes only.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2
import sqlite_utils
from markupsafe import Markup, escape

from phitrace import __version__
from phitrace.model import HEALTH_CATEGORIES, IDENTIFIER_CATEGORIES, SEVERITIES
from phitrace.report.accepted import AcceptedView, accepted_views, policy_counts
from phitrace.report.cards import card_data, flow_cards, match_spans
from phitrace.report.compare import Comparison
from phitrace.report.compared import CHANGE_LABELS, SECTIONS, counts_line, first_and_last
from phitrace.report.decoded import raw_text
from phitrace.report.journey import Journey, journey
from phitrace.report.parties import PartyView, party_views
from phitrace.report.plots import PageMatrix, Timeline, page_matrix, timeline
from phitrace.report.printed import PrintView
from phitrace.report.views import (
    Chart,
    MatrixView,
    PageView,
    VendorView,
    bar_chart,
    clip,
    matrix,
    top_pages,
    vendor_views,
)
from phitrace.resources import data_dir
from phitrace.store.loggedin import LoggedInPage
from phitrace.store.reader import Findings, Leak, SessionView, load_findings

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
    findings: Findings,
    vendors: Sequence[VendorView],
    counts: dict[str, int],
    categories: Sequence[str],
) -> dict[str, list[Any]]:
    leaks = findings.leaks
    pages: Counter[str] = Counter(leak.page_key for leak in leaks)
    return {
        "severity": [(s, s) for s in SEVERITIES if counts[s]],
        "vendor": [(v.vendor, v.name) for v in vendors if v.findings],
        "category": [(c, c) for c in categories],
        "page": [(p, p or "unknown page") for p, _ in pages.most_common(PAGE_OPTIONS)],
        "policy": _policy_options(leaks),
        "authenticated": _authenticated_options(findings),
    }


def _policy_options(leaks: Sequence[Leak]) -> list[tuple[str, str]]:
    """The policy filter: findings no rule accepts, then each rule; none without a policy."""
    counts = policy_counts(leaks)
    if not counts:
        return []
    return [(NOT_ACCEPTED, "not accepted"), *((rule, f"accepted: {rule}") for rule in counts)]


def _authenticated_options(findings: Findings) -> list[tuple[str, str]]:
    """The login filter: the states the flagged flows were seen in; none when nothing is known."""
    facts = findings.facts
    states = {facts[f].authenticated for f in findings.flagged_flow_ids if f in facts}
    labels = {"yes": "logged in", "no": "not logged in", "unknown": "unknown"}
    known = [(s, labels[s]) for s in labels if s in states]
    return known if any(s != "unknown" for s, _ in known) else []


NOT_ACCEPTED = "-"
"""The policy filter's value for findings no rule accepts (report.js reads it so)."""


def context_for(findings: Findings) -> ReportContext:
    """Turn loaded findings into the report's context."""
    leaks = findings.leaks
    counts = findings.severity_counts
    vendors = vendor_views(findings)
    flagged = len(findings.flagged_flow_ids)
    categories = _category_order(leak.category for leak in leaks)
    charted = [v for v in vendors if v.findings][:12]
    return ReportContext(
        generated_at=findings.generated_at,
        phitrace_version=__version__,
        sessions=findings.sessions,
        severity_counts=counts,
        quiet_flows=findings.total_flows - flagged,
        vendors=vendors,
        matrix=matrix(leaks, vendors, categories),
        top_pages=top_pages(leaks),
        severity_chart=bar_chart([(s, {s: n}) for s, n in counts.items() if n]),
        vendor_chart=bar_chart([(v.name, dict(v.severities)) for v in charted]),
        filters=_filters(findings, vendors, counts, categories),
        data=card_data(flow_cards(findings)),
        journey=journey(findings),
        total_flows=findings.total_flows,
        total_findings=len(leaks),
        flagged_flows=flagged,
        third_parties=party_views(findings.parties, leaks),
        failed_sessions=[s for s in findings.sessions if s.failed],
        accepted=accepted_views(leaks),
        accepted_findings=sum(1 for leak in leaks if leak.policy),
        logged_in_pages=findings.logged_in_pages,
        timeline=timeline(leaks, (fact.timestamp for fact in findings.facts.values())),
        page_matrix=page_matrix(leaks),
        comparison=first_and_last(findings),
    )


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
    env = environment()
    context.csp = content_security_policy(env)
    return env.get_template("report.html.j2").render(report=context)
