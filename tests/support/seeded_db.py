"""Databases for the report, export, gate and evidence tests, written through the store."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlite_utils

from phitrace.capture.parties import Inventory
from phitrace.model import Analysis, Finding, Request
from phitrace.store.database import open_database
from phitrace.store.rows import Record, party_rows
from phitrace.store.sessions import end_session, start_session
from phitrace.store.target import Target
from phitrace.store.writer import write_inventory, write_record
from phitrace.urls import registrable_domain

BASE_TIME = 1767225600.0
"""2026-01-01T00:00:00Z: flows are stamped from here, so exports are reproducible."""

GENERATED_AT = "2026-01-02T00:00:00.000+00:00"
PERSONA_SHA = hashlib.sha256(b"jane.canary@example.org").hexdigest()


def finding(
    kind: str,
    category: str,
    path: str,
    value: str,
    matched: str,
    severity: str,
    reason: str = "",
    trail: tuple[str, ...] = (),
) -> Finding:
    """A finding as the pipeline would record it."""
    rule = f"{kind}:{category}"
    return Finding(kind, category, path, value, matched, rule, severity, reason or rule, trail)


COMPANIES = {
    "meta-pixel": "Meta Platforms, Inc.",
    "google-analytics": "Google LLC",
    "microsoft-uet": "Microsoft Corporation",
}
"""The companies the bundled signatures name, as the analyzer records them on flows."""


def record_flow(
    db: sqlite_utils.Database,
    session: int,
    *,
    url: str,
    page: str | None,
    vendor: str | None,
    vendor_name: str | None = None,
    tracker_category: str | None = "analytics",
    findings: Sequence[Finding] = (),
    method: str = "GET",
    body: bytes = b"",
    headers: tuple[tuple[str, str], ...] = (("User-Agent", "phitrace-test"),),
    offset: float = 0.0,
    status: int | None = 200,
    bodies: bool = True,
    authenticated: str | None = None,
    authenticated_reason: str | None = None,
) -> int:
    """Write one analysed flow; its severity (and reason) is its worst finding's."""
    order = ("high", "medium", "low", "info")
    worst = min(findings, key=lambda f: order.index(f.severity), default=None)
    request = Request(method, url, headers, body, BASE_TIME + offset, page)
    analysis = Analysis(
        request=request,
        vendor=vendor,
        vendor_name=vendor_name,
        tracker_category=tracker_category,
        page_url=page,
        findings=tuple(findings),
        severity=worst.severity if worst else "info",
        severity_reason=worst.reason if worst else "tracker contacted; nothing sensitive found",
        vendor_company=COMPANIES.get(vendor or ""),
        authenticated=authenticated,
        authenticated_reason=authenticated_reason,
    )
    with db.atomic():
        return write_record(db, Record(session, analysis, status_code=status), bodies)


def new_session(
    db: sqlite_utils.Database, label: str, consent: str = "", day: int = 1, source: str = "har"
) -> int:
    """A session with fixed, reproducible times."""
    session = start_session(
        db, source=source, label=label, consent=consent, signatures_digest="0123456789abcdef"
    )
    end_session(db, session)
    db.table("sessions").update(
        session,
        {
            "started_at": f"2026-01-{day:02d}T00:00:00.000+00:00",
            "ended_at": f"2026-01-{day:02d}T00:10:00.000+00:00",
        },
    )
    return session


DIABETES_PAGE = "https://clinic.example/conditions/diabetes?ref=1234567890"


def pixel_flow(db: sqlite_utils.Database, session: int, page: str, offset: float) -> int:
    """A Meta Pixel hit sending the page (a condition) with the persona's hashed e-mail."""
    dl = page.replace(":", "%3A").replace("/", "%2F").replace("?", "%3F").replace("=", "%3D")
    return record_flow(
        db,
        session,
        url=f"https://www.facebook.com/tr/?id=123&ev=PageView&dl={dl}&ud[em]={PERSONA_SHA}",
        page=page,
        vendor="meta-pixel",
        vendor_name="Meta Pixel",
        tracker_category="advertising",
        headers=(("Referer", "https://clinic.example/"), ("User-Agent", "phitrace-test")),
        offset=offset,
        findings=[
            finding(
                "health",
                "condition",
                "query.dl",
                page,
                "diabetes",
                "high",
                "health data sent together with an identifier",
            ),
            finding("identifier", "hashed_email", "query.ud[em]", PERSONA_SHA, "sha256", "high"),
            finding("canary", "email", "query.ud[em]", PERSONA_SHA, "sha256(lower(trim))", "high"),
        ],
    )


def clinic(path: Target) -> Target:
    """One session at a clinic site: high, medium and low leaks, a quiet flow, two repeats."""
    db = open_database(path)
    session = new_session(db, "consent rejected", consent="rejected")
    pixel_flow(db, session, DIABETES_PAGE, 1)
    record_flow(
        db,
        session,
        url="https://region1.google-analytics.com/g/collect?v=2&tid=G-TEST",
        page="https://clinic.example/search?q=metformin",
        vendor="google-analytics",
        vendor_name="Google Analytics",
        method="POST",
        body=b"en=page_view\nen=view_search_results&ep.search_term=metformin%20dosage",
        headers=(("Content-Type", "text/plain;charset=UTF-8"), ("User-Agent", "phitrace-test")),
        offset=2,
        status=204,
        findings=[
            finding(
                "health",
                "medication",
                "body.line[1].ep.search_term",
                "metformin dosage",
                "metformin",
                "medium",
                "health data sent to a tracker without an identifier",
                trail=("lines", "form"),
            )
        ],
    )
    record_flow(
        db,
        session,
        url="https://region1.google-analytics.com/g/collect?v=2&tid=G-TEST&en=scroll",
        page="https://clinic.example/",
        vendor="google-analytics",
        vendor_name="Google Analytics",
        offset=3,
        status=204,
    )
    record_flow(
        db,
        session,
        url="https://bat.bing.com/action/0?ti=1&vid=abc-123",
        page="https://clinic.example/",
        vendor="microsoft-uet",
        vendor_name="Microsoft Advertising UET",
        tracker_category="advertising",
        offset=4,
        bodies=False,
        findings=[finding("identifier", "user_id", "query.vid", "abc-123", "user_id", "low")],
    )
    # The same leak again, with another cache-busting number: one fingerprint, seen twice.
    pixel_flow(db, session, "https://clinic.example/conditions/diabetes?ref=9876543210", 5)
    db.close()
    return path


def observe(
    inventory: Inventory, url: str, offset: float, vendor: str | None, company: str | None
) -> None:
    """Count one request in a session's inventory, as the analyzer does for each third party."""
    request = Request("GET", url, timestamp=BASE_TIME + offset)
    inventory.observe(request, registrable_domain(request.host), vendor, company)


CHAT_URL = "https://widget.carechat.example/v1/visitor?member=MBR-2291-77&page=%2Fappointments"


def portal(path: Target) -> Target:
    """Two sessions with an inventory of third parties: catalogued, unlisted with data, assets.

    Day 1 sends the pixel, a chat widget nobody lists receives the member id,
    and fonts load from a CDN; day 2 only loads the fonts again.
    """
    db = open_database(path)
    first = new_session(db, "portal day 1", day=1)
    pixel_flow(db, first, DIABETES_PAGE, 1)
    record_flow(
        db,
        first,
        url=CHAT_URL,
        page="https://clinic.example/appointments",
        vendor="third-party:carechat.example",
        vendor_name="carechat.example",
        tracker_category="unlisted",
        offset=2,
        findings=[
            finding("canary", "member_id", "query.member", "MBR-2291-77", "MBR-2291-77", "high"),
            finding("health", "appointment", "query.page", "/appointments", "appointments", "low"),
        ],
    )
    inventory = Inventory()
    observe(
        inventory, "https://www.facebook.com/tr/?id=123", 1, "meta-pixel", COMPANIES["meta-pixel"]
    )
    observe(inventory, CHAT_URL, 2, "third-party:carechat.example", None)
    for offset in (3, 4, 5):
        observe(inventory, f"https://fonts.examplecdn.net/f{offset}.woff2", offset, None, None)
    write_inventory(db, first, party_rows(first, inventory))
    second = new_session(db, "portal day 2", day=2)
    later = Inventory()
    observe(later, "https://fonts.examplecdn.net/f1.woff2", 86_400, None, "Example CDN Inc.")
    write_inventory(db, second, party_rows(second, later))
    db.close()
    return path


def _uet_flow(
    db: sqlite_utils.Database, session: int, offset: float, leaks: Sequence[Finding]
) -> None:
    record_flow(
        db,
        session,
        url="https://bat.bing.com/action/0?ti=1&vid=abc-123&p=%2Fconditions%2Fdiabetes",
        page="https://clinic.example/conditions/diabetes",
        vendor="microsoft-uet",
        vendor_name="Microsoft Advertising UET",
        tracker_category="advertising",
        offset=offset,
        findings=leaks,
    )


def consent_pair(path: Target) -> Target:
    """The same journey twice: consent accepted (session 1), then rejected (session 2).

    Accepted sends the pixel (three high findings), a medication search to
    Google Analytics (medium) and a user id to Bing (low).  Rejected stops the
    pixel; Google Analytics still pings the same endpoint but with nothing
    found; Bing now also sends the condition (worse); Hotjar appears, quiet.
    """
    db = open_database(path)
    accepted = new_session(db, "consent accepted", consent="accepted", day=1)
    pixel_flow(db, accepted, DIABETES_PAGE, 1)
    record_flow(
        db,
        accepted,
        url="https://region1.google-analytics.com/g/collect?v=2&tid=G-TEST",
        page="https://clinic.example/search?q=metformin",
        vendor="google-analytics",
        vendor_name="Google Analytics",
        method="POST",
        body=b"en=view_search_results&ep.search_term=metformin%20dosage",
        offset=2,
        findings=[
            finding(
                "health",
                "medication",
                "body.ep.search_term",
                "metformin dosage",
                "metformin",
                "medium",
                trail=("form",),
            )
        ],
    )
    user_id = finding("identifier", "user_id", "query.vid", "abc-123", "user_id", "low")
    _uet_flow(db, accepted, 3, [user_id])
    rejected = new_session(db, "consent rejected", consent="rejected", day=2)
    record_flow(
        db,
        rejected,
        url="https://region1.google-analytics.com/g/collect?v=2&tid=G-TEST&gcs=G100",
        page="https://clinic.example/search?q=metformin",
        vendor="google-analytics",
        vendor_name="Google Analytics",
        offset=86_401,
    )
    condition = finding(
        "health",
        "condition",
        "query.p",
        "/conditions/diabetes",
        "diabetes",
        "high",
        "health data sent together with an identifier",
    )
    _uet_flow(db, rejected, 86_402, [condition, user_id])
    record_flow(
        db,
        rejected,
        url="https://in.hotjar.com/api/v2/client/sites/1/visit-data?sv=7",
        page="https://clinic.example/",
        vendor="hotjar",
        vendor_name="Hotjar",
        method="POST",
        offset=86_403,
    )
    db.close()
    return path


PORTAL_CONDITION_PAGE = "https://portal.example/content?id=8812"
PORTAL_MESSAGES_PAGE = "https://portal.example/messages"
LOGIN_COOKIE_REASON = "cookie 'sid' set by the login response to POST /login"
SESSION_COOKIE_REASON = "session cookie 'sid' on the document request"
GPC_HEADERS = (("User-Agent", "phitrace-test"), ("Sec-GPC", "1"))


def logged_in_portal(path: Target) -> Target:
    """A patient portal visited logged in, consent accepted, GPC sent by all but one request.

    The opaque condition page (logged in by the login cookie) sends Meta a
    neutral click that is a health finding from the page's title, and Google
    Analytics a page view with nothing found; the messages page (a session
    cookie) sends Meta a low-context event; the public home page, not logged
    in, sends Meta a page view without the GPC header.
    """
    db = open_database(path)
    session = start_session(
        db,
        source="proxy",
        label="logged in",
        consent="accepted",
        signatures_digest="0123456789abcdef",
    )
    condition = ("yes", LOGIN_COOKIE_REASON)
    click = finding(
        "health",
        "condition",
        "page.title",
        "Atrial fibrillation care",
        "atrial fibrillation",
        "high",
    )
    _portal_flow(db, session, PORTAL_CONDITION_PAGE, "meta-pixel", 1, condition, [click])
    _portal_flow(db, session, PORTAL_CONDITION_PAGE, "google-analytics", 2, condition, [])
    message = finding("identifier", "user_id", "query.external_id", "p-77", "user_id", "medium")
    messages = ("yes", SESSION_COOKIE_REASON)
    _portal_flow(db, session, PORTAL_MESSAGES_PAGE, "meta-pixel", 3, messages, [message])
    _portal_flow(
        db, session, "https://portal.example/", "meta-pixel", 4, ("no", None), [], gpc=False
    )
    end_session(db, session)
    db.table("sessions").update(
        session,
        {
            "started_at": "2026-01-01T00:00:00.000+00:00",
            "ended_at": "2026-01-01T00:10:00.000+00:00",
        },
    )
    db.close()
    return path


_PORTAL_VENDORS = {
    "meta-pixel": ("https://www.facebook.com/tr/?id=123&ev=SubscribedButtonClick", "Meta Pixel"),
    "google-analytics": ("https://region1.google-analytics.com/g/collect?v=2", "Google Analytics"),
}


def _portal_flow(
    db: sqlite_utils.Database,
    session: int,
    page: str,
    vendor: str,
    offset: float,
    auth: tuple[str, str | None],
    leaks: Sequence[Finding],
    gpc: bool = True,
) -> None:
    url, name = _PORTAL_VENDORS[vendor]
    record_flow(
        db,
        session,
        url=f"{url}&o={offset:g}",
        page=page,
        vendor=vendor,
        vendor_name=name,
        headers=GPC_HEADERS if gpc else GPC_HEADERS[:1],
        offset=offset,
        findings=leaks,
        authenticated=auth[0],
        authenticated_reason=auth[1],
    )


_MANY_VENDORS = (
    ("meta-pixel", "Meta Pixel", "https://www.facebook.com/tr/"),
    ("google-analytics", "Google Analytics", "https://www.google-analytics.com/g/collect"),
    ("microsoft-uet", "Microsoft Advertising UET", "https://bat.bing.com/action/0"),
    ("third-party:carechat.example", "carechat.example", "https://widget.carechat.example/v1"),
)
_MANY_TERMS = (
    ("health", "condition", "diabetes"),
    ("health", "medication", "metformin"),
    ("identifier", "user_id", "user_id"),
    ("canary", "email", "jane.canary@example.org"),
)


def many(path: Target, flows: int, sessions: int = 3) -> Target:
    """``flows`` flows of two to four findings each, over several sessions and vendors.

    Values vary by flow (and carry commas, quotes, line breaks, a formula
    start and text beyond ASCII), so every export has many distinct rows,
    fingerprints that repeat, every severity and a third-party inventory.
    """
    db = open_database(path)
    ids = [new_session(db, f"many {n}", day=n + 1) for n in range(sessions)]
    severities = ("high", "medium", "low", "info")
    with db.atomic():
        for i in range(flows):
            vendor, name, base = _MANY_VENDORS[i % len(_MANY_VENDORS)]
            page = f"https://clinic.example/conditions/page-{i % 37}?ref={i}"
            leaks = [
                finding(
                    kind,
                    category,
                    f"body.events[{k}].value",
                    f'{page} "{term}", visit {i % 11}\r\n=ü {k}' if k else f"{term} {i % 5}",
                    term,
                    severities[(i + k) % len(severities)],
                    trail=("json",) if k % 2 else (),
                )
                for k, (kind, category, term) in enumerate(_MANY_TERMS[: 2 + i % 3])
            ]
            record_flow(
                db,
                ids[i % sessions],
                url=f"{base}?cid={i}&dl={page}",
                page=page,
                vendor=vendor,
                vendor_name=name,
                offset=i,
                findings=leaks,
                bodies=False,
            )
    for session in ids:
        inventory = Inventory()
        for vendor, _name, base in _MANY_VENDORS:
            observe(inventory, base, session, vendor, COMPANIES.get(vendor))
        observe(inventory, "https://fonts.examplecdn.net/f.woff2", session, None, None)
        write_inventory(db, session, party_rows(session, inventory))
    db.close()
    return path
