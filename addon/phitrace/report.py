"""Read findings out of the database and build the HTML report.

:func:`load_findings` is the one reader of the database for reports and
exports: it joins each finding with its flow into a :class:`Leak`.  The HTML
report is one self-contained file: inline CSS, inline SVG charts, and a
small inline script that filters and pages the findings list, which travels
as JSON inside the page.  A Content-Security-Policy with hashes allows that
script and style and nothing else, so nothing is fetched and no captured
value can run.  One Jinja ``Environment`` with autoescaping and
``StrictUndefined`` renders the templates in ``reports/``; :func:`highlight`
is the only place escaped text becomes markup, and the script builds the
findings list from text nodes only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import jinja2
import sqlite_utils
from markupsafe import Markup, escape

from phitrace import __version__
from phitrace.model import HEALTH_CATEGORIES, IDENTIFIER_CATEGORIES, SEVERITIES, severity_rank
from phitrace.resources import data_dir
from phitrace.store import now_iso

PAGE_SIZE = 100
"""Findings shown per page of the report's list."""

PAGE_OPTIONS = 500
"""Pages offered by the page filter (the ones with the most findings)."""

VALUE_LIMIT = 1000
"""Characters of a captured value kept in the HTML report (exports keep all)."""

RAW_LIMIT = 16 * 1024
"""Bytes of a raw request body shown in the HTML report."""

FINDING_COLUMNS = (
    "flow",
    "severity",
    "vendor",
    "kind",
    "category",
    "field",
    "trail",
    "value",
    "matched",
    "marks",
    "reason",
    "rule",
)
FLOW_COLUMNS = ("page", "page_key", "method", "url", "sha256", "raw", "vendor_label", "status")


def url_parts(url: str) -> SplitResult:
    """``urlsplit`` that never raises: a malformed captured URL reads as empty parts."""
    try:
        return urlsplit(url)
    except ValueError:
        return urlsplit("")


@dataclass(frozen=True)
class Leak:
    """One finding joined with the flow it was found in."""

    id: int
    session_id: int
    flow_id: int
    vendor: str
    vendor_name: str
    tracker_category: str
    kind: str
    category: str
    field: str
    """The field path without its decode trail, e.g. ``query.dl``."""
    trail: str
    """The decoders applied, e.g. ``form>json`` (empty for plain values)."""
    value: str
    matched: str
    severity: str
    reason: str
    rule: str
    method: str
    url: str
    host: str
    page_url: str
    timestamp: str
    request_sha256: str
    status_code: int | None
    blocked: bool

    # Cached: reports and exports ask for these many times per finding.
    @functools.cached_property
    def _page(self) -> SplitResult:
        return url_parts(self.page_url)

    @functools.cached_property
    def page_path(self) -> str:
        """The path of the page the request came from (``/`` when unknown)."""
        return self._page.path or "/"

    @functools.cached_property
    def page_key(self) -> str:
        """The page without query or fragment (how reports group pages); empty when unknown."""
        if not self.page_url:
            return ""
        parts = self._page
        return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else parts.path

    @property
    def vendor_label(self) -> str:
        """The vendor's display name, else its id, else the host contacted."""
        return self.vendor_name or self.vendor or self.host


@dataclass(frozen=True)
class RawRequest:
    """A stored raw request: headers in wire order and the body."""

    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass
class Findings:
    """Everything the report and the exports read from one database selection."""

    sessions: list[SessionView]
    leaks: list[Leak]
    raw: dict[int, RawRequest] = field(default_factory=dict)
    """Raw requests by flow id (loaded only when asked for)."""
    endpoints: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per vendor: ``METHOD host/path`` contacted → number of flows (all tracker flows)."""
    vendor_info: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Per vendor: (display name, tracker category)."""
    total_flows: int = 0
    generated_at: str = field(default_factory=now_iso)


def split_field(evidence: str) -> tuple[str, str]:
    """Split a stored ``findings.field`` (``path [trail]``) into path and trail."""
    if evidence.endswith("]") and " [" in evidence:
        path, _, trail = evidence.rpartition(" [")
        return path, trail[:-1]
    return evidence, ""


_SEVERITY_ORDER = (
    "case f.severity when 'high' then 0 when 'medium' then 1 when 'low' then 2 else 3 end"
)


def _where(session: int | None, column: str) -> tuple[str, list[Any]]:
    return (f"where {column} = ?", [session]) if session is not None else ("", [])


_TEXT_COLUMNS = (
    "coalesce(f.vendor, w.vendor)",
    "w.vendor_name",
    "w.tracker_category",
    "f.kind",
    "f.category",
    "f.field",
    "f.value",
    "f.matched",
    "f.severity",
    "f.reason",
    "f.rule",
    "w.method",
    "w.url",
    "w.host",
    "w.page_url",
    "w.timestamp",
    "w.request_sha256",
)
_LEAK_SELECT = (
    "select f.id, f.session_id, f.flow_id, "
    + ", ".join(f"coalesce({column}, '')" for column in _TEXT_COLUMNS)
    + ", w.status_code, w.blocked from findings f join flows w on w.id = f.flow_id"
)


def load_leaks(db: sqlite_utils.Database, session: int | None = None) -> list[Leak]:
    """Every finding (of one session, or all) with its flow, most severe first."""
    where, params = _where(session, "f.session_id")
    sql = f"{_LEAK_SELECT} {where} order by {_SEVERITY_ORDER}, f.id"
    leaks = []
    for row in db.execute(sql, params):
        t = [str(x) for x in row[3:20]]
        path, trail = split_field(t[5])
        leaks.append(
            Leak(
                id=row[0],
                session_id=row[1],
                flow_id=row[2],
                vendor=t[0],
                vendor_name=t[1],
                tracker_category=t[2],
                kind=t[3],
                category=t[4],
                field=path,
                trail=trail,
                value=t[6],
                matched=t[7],
                severity=t[8] or "info",
                reason=t[9],
                rule=t[10],
                method=t[11],
                url=t[12],
                host=t[13],
                page_url=t[14],
                timestamp=t[15],
                request_sha256=t[16],
                status_code=row[20],
                blocked=bool(row[21]),
            )
        )
    return leaks


def load_sessions(db: sqlite_utils.Database, session: int | None = None) -> list[SessionView]:
    """The sessions covered, oldest first."""
    where, params = _where(session, "id")
    return [SessionView.from_row(r) for r in db.query(f"select * from sessions {where}", params)]


def _headers(text: str | None) -> tuple[tuple[str, str], ...]:
    try:
        pairs = json.loads(text or "[]")
        return tuple((str(k), str(v)) for k, v in pairs)
    except (ValueError, TypeError):
        return ()


def load_raw(db: sqlite_utils.Database, session: int | None = None) -> dict[int, RawRequest]:
    """Stored raw requests of the flows that have findings, by flow id."""
    where, params = _where(session, "session_id")
    sql = (
        "select flow_id, headers, body from requests where flow_id in "
        f"(select distinct flow_id from findings {where})"
    )
    return {
        row["flow_id"]: RawRequest(_headers(row["headers"]), _bytes(row["body"]))
        for row in db.query(sql, params)
    }


def _bytes(body: object) -> bytes:
    if isinstance(body, bytes):
        return body
    return b"" if body is None else str(body).encode("utf-8", "backslashreplace")


def _load_endpoints(findings: Findings, db: sqlite_utils.Database, session: int | None) -> None:
    where, params = _where(session, "session_id")
    sql = f"select vendor, vendor_name, tracker_category, method, host, url from flows {where}"
    for row in db.query(sql, params):
        findings.total_flows += 1
        vendor = row["vendor"] or ""
        path = url_parts(row["url"] or "").path or "/"
        key = f"{row['method']} {row['host']}{path}"
        counts = findings.endpoints.setdefault(vendor, {})
        counts[key] = counts.get(key, 0) + 1
        if vendor not in findings.vendor_info:
            name = row["vendor_name"] or vendor or row["host"] or ""
            findings.vendor_info[vendor] = (name, row["tracker_category"] or "")


def load_findings(
    db: sqlite_utils.Database, session: int | None = None, *, raw: bool = False
) -> Findings:
    """Read one session (or all) for a report or an export."""
    findings = Findings(load_sessions(db, session), load_leaks(db, session))
    if raw:
        findings.raw = load_raw(db, session)
    _load_endpoints(findings, db, session)
    return findings


@functools.lru_cache(maxsize=4096)
def _term_pattern(term: str) -> re.Pattern[str]:
    # A multi-word term also matches when its spaces were sent as _, + or %20.
    return re.compile(re.escape(term).replace(r"\ ", r"(?:[\s_+-]|%20)+"), re.IGNORECASE)


def match_spans(text: str, term: str) -> list[tuple[int, int]]:
    """Where ``term`` occurs in ``text`` (case-insensitively), as (start, end) pairs."""
    if not term:
        return []
    return [hit.span() for hit in _term_pattern(term).finditer(text) if hit.end() > hit.start()]


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[:limit] + "…"


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


def raw_text(method: str, url: str, raw: RawRequest, limit: int = RAW_LIMIT) -> str:
    """A stored request as readable text: request line, headers, body (bounded)."""
    lines = [f"{method} {url}", *(f"{k}: {v}" for k, v in raw.headers), ""]
    body = raw.body[:limit]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = f"[binary body, base64]\n{base64.b64encode(body).decode('ascii')}"
    if len(raw.body) > limit:
        text += f"\n[… {len(raw.body) - limit} more bytes not shown]"
    return "\n".join(lines) + "\n" + text


@dataclass(frozen=True)
class SessionView:
    """One recording session as reports show it."""

    id: int
    label: str
    source: str
    started_at: str
    ended_at: str
    phitrace_version: str
    signatures_digest: str
    consent: str
    scope: str
    input: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SessionView:
        """Build from a ``sessions`` row; columns a database lacks read as empty."""

        def text(key: str) -> str:
            value = row.get(key)
            return "" if value is None else str(value)

        return cls(
            id=int(row["id"]),
            label=text("label"),
            source=text("source"),
            started_at=text("started_at"),
            ended_at=text("ended_at"),
            phitrace_version=text("phitrace_version"),
            signatures_digest=text("signatures_digest"),
            consent=text("consent"),
            scope=text("scope"),
            input=text("input"),
        )


@dataclass
class Received:
    """One kind of data a vendor received: category and the term or rule that matched."""

    kind: str
    category: str
    matched: str
    example: str
    count: int = 0
    fields: set[str] = field(default_factory=set)


@dataclass
class VendorView:
    """Everything one vendor was sent."""

    vendor: str
    name: str
    company: str
    category: str
    flows: int = 0
    findings: int = 0
    severities: Counter[str] = field(default_factory=Counter)
    endpoints: list[tuple[str, int]] = field(default_factory=list)
    """``METHOD host/path`` contacted and how often (the most frequent first)."""
    more_endpoints: int = 0
    received: dict[tuple[str, str, str], Received] = field(default_factory=dict)

    def _listed(self, kinds: tuple[str, ...]) -> list[Received]:
        items = [r for r in self.received.values() if r.kind in kinds]
        return sorted(items, key=lambda r: (-r.count, r.category, r.matched))[:RECEIVED_LIMIT]

    @property
    def health(self) -> list[Received]:
        """The health data it received, the most frequent first (bounded)."""
        return self._listed(("health",))

    @property
    def identifiers(self) -> list[Received]:
        """The identifiers and test-persona values it received (bounded)."""
        return self._listed(("identifier", "canary"))

    @property
    def by_severity(self) -> list[tuple[str, int]]:
        """Finding counts per severity, most severe first, zeros left out."""
        return [(s, self.severities[s]) for s in SEVERITIES if self.severities[s]]

    @property
    def rank(self) -> tuple[int, ...]:
        """Sort key: most high findings first, then medium, then low."""
        return tuple(-self.severities[s] for s in SEVERITIES)


RECEIVED_LIMIT = 25
"""Distinct data items listed per vendor and kind."""

ENDPOINT_LIMIT = 20
"""Endpoints listed per vendor."""


@functools.lru_cache(maxsize=256)
def company_of(vendor: str) -> str:
    """The company behind a bundled signature (files are named by signature id), or ""."""
    from phitrace.signatures import SignatureError, bundled_dir, load_file

    path = bundled_dir() / f"{vendor}.yaml"
    if not vendor or "/" in vendor or not path.is_file():
        return ""
    try:
        return next((s.company for s in load_file(path) if s.id == vendor), "")
    except (SignatureError, OSError):
        # The report must still render when a signature cannot be read.
        return ""


def vendor_views(findings: Findings) -> list[VendorView]:
    """One view per vendor contacted, the vendors with the most severe findings first."""
    views: dict[str, VendorView] = {}

    def view(vendor: str) -> VendorView:
        if vendor not in views:
            name, category = findings.vendor_info.get(vendor, (vendor, ""))
            views[vendor] = VendorView(
                vendor, name or vendor or "unknown", company_of(vendor), category
            )
        return views[vendor]

    for vendor, endpoints in findings.endpoints.items():
        v = view(vendor)
        ordered = sorted(endpoints.items(), key=lambda item: (-item[1], item[0]))
        v.flows = sum(endpoints.values())
        v.endpoints = ordered[:ENDPOINT_LIMIT]
        v.more_endpoints = max(0, len(ordered) - ENDPOINT_LIMIT)
    for leak in findings.leaks:
        v = view(leak.vendor)
        v.findings += 1
        v.severities[leak.severity] += 1
        key = (leak.kind, leak.category, leak.matched)
        item = v.received.get(key)
        if item is None:
            item = v.received[key] = Received(leak.kind, leak.category, leak.matched, leak.value)
        item.count += 1
        if len(item.fields) < 5:
            item.fields.add(leak.field)
    return sorted(views.values(), key=lambda v: (v.rank, -v.flows, v.name))


@dataclass(frozen=True)
class MatrixView:
    """Findings per vendor (rows) and data category (columns).

    Each cell is ``(count, heat)`` with ``heat`` from 0 (none) to 4 (the most).
    """

    categories: list[str]
    rows: list[tuple[str, list[tuple[int, int]]]]


def matrix(
    leaks: Sequence[Leak], vendors: Sequence[VendorView], categories: list[str]
) -> MatrixView:
    """Count findings per vendor and category."""
    counts: Counter[tuple[str, str]] = Counter((leak.vendor, leak.category) for leak in leaks)
    top = max(counts.values(), default=1)
    rows = []
    for v in vendors:
        if v.findings:
            cells = [counts[(v.vendor, c)] for c in categories]
            rows.append((v.name, [(n, -(-4 * n // top)) for n in cells]))
    return MatrixView(categories, rows)


@dataclass(frozen=True)
class PageView:
    """A page whose requests leaked, with what leaked from it."""

    page_url: str
    findings: int
    worst: str
    vendors: tuple[str, ...]


def top_pages(leaks: Sequence[Leak], limit: int = 10) -> list[PageView]:
    """The pages (query strings aside) with the most findings, worst severity first on ties."""
    counts: Counter[str] = Counter()
    worst: dict[str, str] = {}
    vendors: dict[str, set[str]] = {}
    for leak in leaks:
        page = leak.page_key
        counts[page] += 1
        best = worst.get(page)
        if best is None or severity_rank(leak.severity) < severity_rank(best):
            worst[page] = leak.severity
        vendors.setdefault(page, set()).add(leak.vendor_label)
    ordered = sorted(counts, key=lambda p: (-counts[p], severity_rank(worst[p]), p))
    return [PageView(p, counts[p], worst[p], tuple(sorted(vendors[p]))) for p in ordered[:limit]]


@dataclass(frozen=True)
class Segment:
    """One severity's part of a bar."""

    x: float
    width: float
    severity: str
    count: int


@dataclass(frozen=True)
class Bar:
    """One labelled horizontal bar of a chart."""

    label: str
    y: int
    total: int
    end: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Chart:
    """Geometry of an inline SVG bar chart, stacked by severity."""

    bars: tuple[Bar, ...]
    width: int
    height: int
    label_width: int
    row: int


def bar_chart(items: Sequence[tuple[str, dict[str, int]]], width: int = 640) -> Chart:
    """Lay out horizontal bars, one per (label, counts by severity)."""
    label_width, row, room = 200, 24, width - 200 - 70
    top = max((sum(c.values()) for _, c in items), default=0) or 1
    bars = []
    for i, (label, counts) in enumerate(items):
        x = float(label_width)
        segments = []
        for severity in SEVERITIES:
            n = counts.get(severity, 0)
            if n:
                w = max(1.0, room * n / top)
                segments.append(Segment(round(x, 1), round(w, 1), severity, n))
                x += w
        bars.append(
            Bar(clip(label, 30), i * row, sum(counts.values()), round(x, 1), tuple(segments))
        )
    return Chart(tuple(bars), width, max(row, len(bars) * row), label_width, row)


@dataclass
class ReportContext:
    """What ``report.html.j2`` receives.

    ``sessions`` are the sessions covered; ``severity_counts`` counts findings
    per severity (most severe first) and ``quiet_flows`` the tracker flows
    without findings; ``vendors`` summarise each vendor, most findings first;
    ``matrix`` counts findings per vendor and data category; ``top_pages``
    lists the pages whose requests leaked most; ``severity_chart`` and
    ``vendor_chart`` are inline SVG bar charts; ``filters`` holds the values
    offered by each filter control; ``data`` is the findings list as JSON-ready
    data (columns named in ``data["columns"]``), which ``report.js`` renders
    page by page; ``csp`` is the Content-Security-Policy with the hashes of
    the inline style and script.
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
    total_flows: int
    total_findings: int
    flagged_flows: int
    csp: str = ""


def _category_order(categories: Iterable[str]) -> list[str]:
    known = {c: i for i, c in enumerate((*HEALTH_CATEGORIES, *IDENTIFIER_CATEGORIES))}
    return sorted(set(categories), key=lambda c: (known.get(c, len(known)), c))


def _filters(leaks: Sequence[Leak], vendors: Sequence[VendorView]) -> dict[str, list[Any]]:
    pages: Counter[str] = Counter(leak.page_key for leak in leaks)
    return {
        "severity": [(s, s) for s in SEVERITIES if any(leak.severity == s for leak in leaks)],
        "vendor": [(v.vendor, v.name) for v in vendors if v.findings],
        "category": [(c, c) for c in _category_order(leak.category for leak in leaks)],
        "page": [(p, p or "unknown page") for p, _ in pages.most_common(PAGE_OPTIONS)],
    }


def _data(findings: Findings) -> dict[str, Any]:
    """The findings list for report.js: flows once each, findings pointing at them."""
    flows: dict[int, int] = {}
    flow_rows: list[list[Any]] = []
    rows: list[list[Any]] = []
    for leak in findings.leaks:
        index = flows.get(leak.flow_id)
        if index is None:
            index = flows[leak.flow_id] = len(flow_rows)
            raw = findings.raw.get(leak.flow_id)
            flow_rows.append(
                [
                    leak.page_url,
                    leak.page_key,
                    leak.method,
                    clip(leak.url, 4 * VALUE_LIMIT),
                    leak.request_sha256,
                    raw_text(leak.method, leak.url, raw) if raw else None,
                    leak.vendor_label,
                    leak.status_code,
                ]
            )
        value = clip(leak.value, VALUE_LIMIT)
        term = leak.matched if leak.kind == "health" else ""
        marks = [i for span in match_spans(value, term) for i in span]
        rows.append(
            [
                index,
                leak.severity,
                leak.vendor,
                leak.kind,
                leak.category,
                leak.field,
                leak.trail,
                value,
                leak.matched,
                marks,
                leak.reason,
                leak.rule,
            ]
        )
    columns = {"finding": FINDING_COLUMNS, "flow": FLOW_COLUMNS}
    return {"columns": columns, "page_size": PAGE_SIZE, "flows": flow_rows, "findings": rows}


def context_for(findings: Findings) -> ReportContext:
    """Turn loaded findings into the report's context."""
    leaks = findings.leaks
    counts = dict.fromkeys(SEVERITIES, 0)
    for leak in leaks:
        counts[leak.severity] = counts.get(leak.severity, 0) + 1
    vendors = vendor_views(findings)
    flagged = len({leak.flow_id for leak in leaks})
    charted = [v for v in vendors if v.findings][:12]
    return ReportContext(
        generated_at=findings.generated_at,
        phitrace_version=__version__,
        sessions=findings.sessions,
        severity_counts=counts,
        quiet_flows=findings.total_flows - flagged,
        vendors=vendors,
        matrix=matrix(leaks, vendors, _category_order(leak.category for leak in leaks)),
        top_pages=top_pages(leaks),
        severity_chart=bar_chart([(s, {s: n}) for s, n in counts.items() if n]),
        vendor_chart=bar_chart([(v.name, dict(v.severities)) for v in charted]),
        filters=_filters(leaks, vendors),
        data=_data(findings),
        total_flows=findings.total_flows,
        total_findings=len(leaks),
        flagged_flows=flagged,
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


def render_html(context: ReportContext) -> str:
    """Render the HTML report for a context."""
    env = environment()
    context.csp = content_security_policy(env)
    return env.get_template("report.html.j2").render(report=context)


def write_private(path: Path, text: str | bytes) -> None:
    """Write a file readable by its owner only: reports carry health data."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "backslashreplace")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)
