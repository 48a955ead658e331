"""Analysed flows as table rows, in the ``full`` or the ``redact`` storage mode.

``full`` keeps what phitrace saw; ``redact`` keeps only hashes and matched
terms (see :func:`redact_rows`).  A finding's path and decode trail go to
their own columns (the trail as a JSON array), and ``findings.field`` keeps
the joined text it always had.

Raw request bodies are stored as the bytes ``Request.body`` holds, cut to
``max_body`` bytes; the flow row keeps the whole body's length and SHA-256,
so a huge body costs at most the cap and never the record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from phitrace import urls
from phitrace.detect.channels import channel_of
from phitrace.detect.gpc import gpc_of
from phitrace.model import Analysis, utf8_safe, wire_bytes
from phitrace.store.schema import now_iso

if TYPE_CHECKING:
    from phitrace.capture.parties import Inventory

STORAGE_MODES: tuple[str, ...] = ("full", "redact")
"""``full`` stores URLs, values and (optionally) raw requests; ``redact`` only hashes."""

MAX_STORED_BODY = 1 << 20
"""Default cap on the bytes of a request body kept in ``requests.body`` (1 MiB)."""

MIN_REDACTED_IN_PATH = 4
"""Shorter values are not searched for in paths: they would mangle ordinary key names."""


@dataclass(frozen=True)
class Record:
    """One analysed flow ready to be written."""

    session_id: int
    analysis: Analysis
    status_code: int | None = None
    blocked: bool = False
    redacted: tuple[str, ...] = ()
    error: str | None = None
    """Set when the analysis failed: where and which exception (never its message, which
    may quote the payload); the analysis is then only the request as it was sent."""


Row = dict[str, Any]


def _text(value: str | None) -> str | None:
    """Text SQLite can store: lone surrogates (undecodable bytes) become escapes."""
    return None if value is None else utf8_safe(value)


def flow_row(record: Record) -> Row:
    """The ``flows`` row for a record (without its id)."""
    a = record.analysis
    req = a.request
    return {
        "session_id": record.session_id,
        "timestamp": now_iso(req.timestamp or None),
        "method": _text(req.method),
        "url": _text(req.url),
        "host": _text(req.host),
        "page_url": _text(a.page_url),
        "vendor": a.vendor,
        "vendor_name": a.vendor_name,
        "tracker_category": a.tracker_category,
        "status_code": record.status_code,
        "request_sha256": req.sha256(),
        "blocked": int(record.blocked),
        "redacted": json.dumps(list(record.redacted)) if record.redacted else None,
        "severity": a.severity,
        "endpoint_role": a.endpoint_role,
        "truncated": _text(a.truncated),
        "severity_reason": _text(a.severity_reason) or None,
        "vendor_company": _text(a.vendor_company),
        "host_header": _text(req.host_header),
        "request_body_length": len(req.body),
        "request_body_sha256": hashlib.sha256(req.body).hexdigest(),
        "request_body_truncated": None,
        "analysis_error": _text(record.error),
        "authenticated": a.authenticated,
        "authenticated_reason": _text(a.authenticated_reason),
        "gpc": gpc_of(req.headers),
    }


def finding_rows(record: Record) -> list[Row]:
    """The ``findings`` rows for a record (without ``flow_id``)."""
    a = record.analysis
    return [
        {
            "session_id": record.session_id,
            "vendor": a.vendor,
            "kind": f.kind,
            "category": _text(f.category),
            "field": _text(f.field),
            "value": _text(f.value),
            "matched": _text(f.matched),
            "severity": f.severity,
            "rule": _text(f.rule),
            "reason": _text(f.reason),
            "path": _text(f.path),
            "trail": json.dumps(list(f.trail)),
            "channel": _text(channel_of(f.path)),
            "policy": f.policy,
        }
        for f in a.findings
    ]


def _origin(url: str | None) -> str | None:
    if not url:
        return url
    origin = urls.parse_url(url).origin
    return f"{origin}/" if origin else None


def digest(value: str | None) -> str | None:
    """``sha256:`` and the hex digest of a value's UTF-8 bytes (the redacted form)."""
    if value is None:
        return None
    return "sha256:" + hashlib.sha256(wire_bytes(value)).hexdigest()


_PATH_TEXTS = ("field", "path", "channel", "reason")
"""Finding columns that can spell out a payload key, and so a value used as a key."""


def _scrub(text: str | None, values: Sequence[str]) -> str | None:
    """``text`` with each of ``values`` (longest first) replaced by its digest."""
    if not text:
        return text
    for value in values:
        if value in text:
            text = text.replace(value, digest(value) or "")
    return text


def redact_rows(flow: Row, findings: Sequence[Row]) -> tuple[Row, list[Row]]:
    """The ``redact`` storage mode: keep hashes and matched terms, drop captured values.

    URLs keep only their origin (the query, path and fragment can carry health
    data); finding values become SHA-256 digests, so a capture can still be
    checked against them; what matched (a vocabulary term or rule name), the
    field path and the request's fingerprint stay.  A value found in a path
    (an e-mail address used as a query parameter name or JSON key) is replaced
    there by its digest too, in every finding of the flow and in the flow's
    own texts.
    """
    found = {f["value"] for f in findings if f["value"]}
    values = sorted((v for v in found if len(v) >= MIN_REDACTED_IN_PATH), key=len, reverse=True)
    kept = {
        **flow,
        "url": _origin(flow["url"]),
        "page_url": _origin(flow["page_url"]),
        "truncated": _scrub(flow["truncated"], values),
        "severity_reason": _scrub(flow["severity_reason"], values),
        "authenticated_reason": _scrub(flow["authenticated_reason"], values),
        # A Host header is whatever the client wrote, found or not: only its digest is kept.
        "host_header": digest(flow["host_header"]),
        "redacted": _scrub(flow["redacted"], values),
    }
    rows = []
    for f in findings:
        scrubbed = {key: _scrub(f[key], values) for key in _PATH_TEXTS}
        rows.append({**f, **scrubbed, "value": digest(f["value"])})
    return kept, rows


def check_storage(storage: str) -> None:
    """Refuse a storage mode phitrace does not know, naming the ones it does."""
    if storage not in STORAGE_MODES:
        raise ValueError(f"unknown storage mode {storage!r}; expected one of {STORAGE_MODES}")


def prepared(record: Record, storage: str) -> tuple[Row, list[Row], bool]:
    """The rows for a record in a storage mode, and whether its raw request may be kept."""
    check_storage(storage)
    flow, findings = flow_row(record), finding_rows(record)
    if storage == "redact":
        return *redact_rows(flow, findings), False
    return flow, findings, True


def raw_row(flow_id: int, record: Record, max_body: int = MAX_STORED_BODY) -> Row:
    """The ``requests`` row for a record: headers in wire order as JSON, the body's first bytes.

    The body is stored as ``Request.body`` holds it, cut to ``max_body`` bytes
    (a negative cap keeps it whole); the flow row says how long it really was.
    """
    req = record.analysis.request
    body = req.body if max_body < 0 else req.body[:max_body]
    return {"flow_id": flow_id, "headers": json.dumps(list(req.headers)), "body": body}


def with_raw(
    flow: Row, flow_id: int, record: Record, max_body: int = MAX_STORED_BODY
) -> tuple[Row, Row]:
    """The flow row marked with whether its stored body is cut, and the ``requests`` row."""
    raw = raw_row(flow_id, record, max_body)
    cut = len(raw["body"]) < len(record.analysis.request.body)
    return {**flow, "request_body_truncated": int(cut)}, raw


def party_rows(session_id: int, inventory: Inventory) -> list[Row]:
    """The ``third_parties`` rows of a session's inventory, one per registrable domain."""
    return [
        {
            "session_id": session_id,
            "domain": _text(party.domain),
            "hosts": json.dumps(sorted(_text(h) or "" for h in party.hosts)),
            "requests": party.requests,
            "bytes_sent": party.bytes_sent,
            "first_seen": now_iso(party.first_seen) if party.first_seen else None,
            "last_seen": now_iso(party.last_seen) if party.last_seen else None,
            "catalogued": int(party.catalogued),
            "vendor": party.vendor if party.catalogued else f"third-party:{party.domain}",
            "company": _text(party.company),
        }
        for party in inventory.parties.values()
    ]
