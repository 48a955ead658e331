"""The database contract: tables, columns, keys and indexes, and the time stamps they hold.

Tables ``sessions``, ``flows`` and ``findings`` are a documented interface
(see the README's "Database contract"); columns may be added, never renamed
or removed.  :data:`SCHEMA` is the contract as it stands; the database gets
there through the recorded steps of :mod:`phitrace.store.migrations`, and a
test checks that the two agree.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

THIRD_PARTIES: dict[str, type] = {
    "id": int,
    "session_id": int,
    "domain": str,
    "hosts": str,
    "requests": int,
    "bytes_sent": int,
    "first_seen": str,
    "last_seen": str,
    "catalogued": int,
    "vendor": str,
    "company": str,
}
"""A session's inventory: one row per third-party registrable domain (``hosts`` a JSON list)."""

SCHEMA: dict[str, dict[str, type]] = {
    "sessions": {
        "id": int,
        "started_at": str,
        "ended_at": str,
        "label": str,
        "source": str,
        "phitrace_version": str,
        "signatures_digest": str,
        "input": str,
        "consent": str,
        "scope": str,
        "errors": int,
        "status": str,
        "error": str,
        "heartbeat_at": str,
        "gpc": str,
        "uid": str,
    },
    "flows": {
        "id": int,
        "session_id": int,
        "timestamp": str,
        "method": str,
        "url": str,
        "host": str,
        "page_url": str,
        "vendor": str,
        "vendor_name": str,
        "tracker_category": str,
        "status_code": int,
        "request_sha256": str,
        "blocked": int,
        "redacted": str,
        "severity": str,
        "endpoint_role": str,
        "truncated": str,
        "severity_reason": str,
        "vendor_company": str,
        "host_header": str,
        "request_body_length": int,
        "request_body_sha256": str,
        "request_body_truncated": int,
        "analysis_error": str,
        "authenticated": str,
        "authenticated_reason": str,
        "gpc": int,
    },
    "findings": {
        "id": int,
        "flow_id": int,
        "session_id": int,
        "vendor": str,
        "kind": str,
        "category": str,
        "field": str,
        "value": str,
        "matched": str,
        "severity": str,
        "rule": str,
        "reason": str,
        "path": str,
        "trail": str,
        "channel": str,
        "policy": str,
    },
    "requests": {"flow_id": int, "headers": str, "body": bytes},
    "third_parties": THIRD_PARTIES,
}
"""Every table and column of the current contract, with its type."""

PRIMARY_KEYS = {
    "sessions": "id",
    "flows": "id",
    "findings": "id",
    "requests": "flow_id",
    "third_parties": "id",
}

FOREIGN_KEYS = {
    "flows": [("session_id", "sessions", "id")],
    "findings": [("flow_id", "flows", "id"), ("session_id", "sessions", "id")],
    "requests": [("flow_id", "flows", "id")],
    "third_parties": [("session_id", "sessions", "id")],
}

INDEXES = {
    "flows": [["session_id"], ["vendor"]],
    "findings": [["flow_id"], ["session_id"], ["severity"]],
}


def now_iso(timestamp: float | None = None) -> str:
    """An ISO-8601 UTC time stamp with milliseconds: the form of every time in the database."""
    moment = datetime.fromtimestamp(time.time() if timestamp is None else timestamp, UTC)
    return moment.isoformat(timespec="milliseconds")
