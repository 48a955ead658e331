"""The findings of a database, read into plain records.

:func:`load_findings` is the one reader of the database for reports,
exports, the CI gate and evidence bundles: it joins each finding with its
flow into a :class:`Leak`, and gathers the sessions covered and the tracker
endpoints contacted.  Everything here is plain data; rendering lives in
:mod:`phitrace.report.html` and :mod:`phitrace.report.formats`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import SplitResult

from phitrace.model import SEVERITIES
from phitrace.store.engine import Store, batch_cursor
from phitrace.store.flowfacts import FlowFact, load_flow_facts
from phitrace.store.loggedin import LoggedInPage, load_logged_in_pages
from phitrace.store.parties import load_parties
from phitrace.store.raw import RawRequest as RawRequest
from phitrace.store.raw import load_raw
from phitrace.store.schema import now_iso
from phitrace.store.sessions import session_gpc
from phitrace.urls import split as url_parts

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
    "policy",
)
FLOW_COLUMNS = (
    "page",
    "page_key",
    "method",
    "url",
    "sha256",
    "raw",
    "vendor_label",
    "status",
    "authenticated",
)


def without_query(parts: SplitResult) -> str:
    """Origin and path of a split URL, without query or fragment (just the path if relative)."""
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else parts.path


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
    path: str
    """Where in the payload, without the decode trail, e.g. ``query.dl``."""
    trail: tuple[str, ...]
    """The decoders applied, e.g. ``("form", "json")`` (empty for plain values)."""
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
    policy: str | None = None
    """The policy rule that accepts the finding (``covered``, ``allowed:<n>``), or None."""
    authenticated: str = ""
    """Whether the flow's page was viewed logged in (``yes``, ``no``, ``unknown``), or ""."""

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
        return without_query(self._page)

    @property
    def trail_text(self) -> str:
        """The decode trail as shown and exported: ``form>json`` (empty for plain values)."""
        return ">".join(self.trail)

    @property
    def vendor_label(self) -> str:
        """The vendor's display name, else its id, else the host contacted."""
        return self.vendor_name or self.vendor or self.host


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
    status: str = ""
    """``running``, ``complete`` or ``failed``; empty for sessions recorded before it was kept."""
    error: str = ""
    """Why a failed session stopped."""
    gpc: str = ""
    """Whether its requests carried ``Sec-GPC: 1``: ``sent``, ``mixed``, ``not sent``, or ""."""

    @property
    def failed(self) -> bool:
        """True when the recording stopped on an error: its findings are incomplete."""
        return self.status == "failed"

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
            status=text("status"),
            error=text("error"),
            gpc=text("gpc"),
        )


class VendorInfo(NamedTuple):
    """What the flows say about a vendor: its display name, tracker category and company."""

    name: str
    category: str
    company: str


@dataclass
class Findings:
    """Everything the report and the exports read from one database selection."""

    sessions: list[SessionView]
    leaks: list[Leak]
    raw: dict[int, RawRequest] = field(default_factory=dict)
    """Raw requests by flow id (loaded only when asked for)."""
    endpoints: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per vendor: ``METHOD host/path`` contacted → number of flows (all tracker flows)."""
    session_endpoints: dict[int, dict[str, dict[str, int]]] = field(default_factory=dict)
    """The same per session, so a report of several sessions can compare them."""
    vendor_info: dict[str, VendorInfo] = field(default_factory=dict)
    """Per vendor: display name, tracker category and company."""
    total_flows: int = 0
    generated_at: str = field(default_factory=now_iso)
    parties: list[dict[str, Any]] = field(default_factory=list)
    """Every third party the sessions saw (:func:`phitrace.store.parties.load_parties`)."""
    logged_in_pages: list[LoggedInPage] = field(default_factory=list)
    """The pages viewed logged in (:func:`phitrace.store.loggedin.load_logged_in_pages`)."""
    facts: dict[int, FlowFact] = field(default_factory=dict)
    """Every flow's time, page, vendor and login state, in journey order (:mod:`.flowfacts`)."""

    @property
    def severity_counts(self) -> dict[str, int]:
        """Findings per severity, every known severity present (zero when none)."""
        counts = dict.fromkeys(SEVERITIES, 0)
        for leak in self.leaks:
            counts[leak.severity] = counts.get(leak.severity, 0) + 1
        return counts

    @property
    def flagged_flow_ids(self) -> set[int]:
        """The flows that have at least one finding."""
        return {leak.flow_id for leak in self.leaks}


@functools.lru_cache(maxsize=1024)
def _steps(trail: str) -> tuple[str, ...]:
    """A stored ``findings.trail`` (a JSON array) as a tuple; few distinct trails recur."""
    try:
        steps = json.loads(trail)
    except ValueError:
        return ()
    return tuple(str(step) for step in steps) if isinstance(steps, list) else ()


def location(path: str | None, trail: str | None, field: str) -> tuple[str, tuple[str, ...]]:
    """A finding's path and decode trail, from their columns.

    Rows written before ``findings.path`` existed have only the joined
    ``field`` text (``path [trail]``): this is the one place it is split, and
    only for them.  A path that itself holds `` [`` cannot be told apart
    there, which is why later rows store the two apart.
    """
    if path is not None:
        return path, _steps(trail or "[]")
    if field.endswith("]") and " [" in field:
        head, _, tail = field.rpartition(" [")
        return head, tuple(tail[:-1].split(">"))
    return field, ()


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
    + ", w.status_code, w.blocked, f.path, f.trail, f.policy, coalesce(w.authenticated, '')"
    + " from findings f join flows w on w.id = f.flow_id"
)


def _leak(row: tuple[Any, ...]) -> Leak:
    """One row of :data:`_LEAK_SELECT` as a :class:`Leak`."""
    t = [str(x) for x in row[3:20]]
    path, trail = location(row[22], row[23], t[5])
    return Leak(
        id=row[0],
        session_id=row[1],
        flow_id=row[2],
        vendor=t[0],
        vendor_name=t[1],
        tracker_category=t[2],
        kind=t[3],
        category=t[4],
        path=path,
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
        policy=row[24],
        authenticated=row[25],
    )


LEAK_BATCH = 1000
"""Rows fetched from SQLite at a time by :func:`iter_leaks`."""


def iter_leaks(db: Store, session: int | None = None, *, batch: int = LEAK_BATCH) -> Iterator[Leak]:
    """Every finding with its flow, in :func:`load_leaks`'s order, ``batch`` rows at a time.

    Exports of 100,000 findings write each as it comes, so only one batch is
    held; the generator keeps its cursor open until it is used up or closed.
    """
    where, params = _where(session, "f.session_id")
    cursor = batch_cursor(db, f"{_LEAK_SELECT} {where} order by {_SEVERITY_ORDER}, f.id", params)
    try:
        while rows := cursor.fetchmany(batch):
            yield from (_leak(row) for row in rows)
            del rows  # before the next batch is fetched, so only one is held
    finally:
        cursor.close()


def load_leaks(db: Store, session: int | None = None) -> list[Leak]:
    """Every finding (of one session, or all) with its flow, most severe first."""
    return list(iter_leaks(db, session))


def count_leaks(db: Store, session: int | None = None) -> int:
    """How many findings :func:`iter_leaks` yields, counted by SQLite."""
    where, params = _where(session, "session_id")
    return int(db.execute(f"select count(*) from findings {where}", params).fetchone()[0])


def load_sessions(db: Store, session: int | None = None) -> list[SessionView]:
    """The sessions covered, oldest first."""
    where, params = _where(session, "id")
    rows = list(db.query(f"select * from sessions {where} order by id", params))
    for row in rows:
        if row.get("gpc") is None and "gpc" in row:
            row["gpc"] = session_gpc(db, row["id"])  # still running: summed up now
    return [SessionView.from_row(r) for r in rows]


def _load_endpoints(findings: Findings, db: Store, session: int | None) -> None:
    where, params = _where(session, "session_id")
    columns = "session_id, vendor, vendor_name, tracker_category, vendor_company, method, host, url"
    sql = f"select {columns} from flows {where} order by id"
    for row in db.query(sql, params):
        findings.total_flows += 1
        vendor = row["vendor"] or ""
        path = url_parts(row["url"] or "").path or "/"
        key = f"{row['method']} {row['host']}{path}"
        counts = findings.endpoints.setdefault(vendor, {})
        counts[key] = counts.get(key, 0) + 1
        mine = findings.session_endpoints.setdefault(row["session_id"], {}).setdefault(vendor, {})
        mine[key] = mine.get(key, 0) + 1
        known = findings.vendor_info.get(vendor)
        if known is None or (not known.company and row["vendor_company"]):
            name = row["vendor_name"] or vendor or row["host"] or ""
            category, company = row["tracker_category"] or "", row["vendor_company"] or ""
            findings.vendor_info[vendor] = VendorInfo(name, category, company)


def load_findings(
    db: Store, session: int | None = None, *, raw: bool = False, leaks: bool = True
) -> Findings:
    """Read one session (or all) for a report or an export.

    With ``leaks=False`` the findings themselves are left out (``leaks`` is
    empty): a streamed export reads them with :func:`iter_leaks` instead.
    """
    found = load_leaks(db, session) if leaks else []
    findings = Findings(load_sessions(db, session), found)
    if raw:
        findings.raw = load_raw(db, session)
    _load_endpoints(findings, db, session)
    findings.parties = load_parties(db, session)
    findings.logged_in_pages = load_logged_in_pages(db, session)
    findings.facts = load_flow_facts(db, session)
    return findings
