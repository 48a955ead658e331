"""Stored raw requests: the wire headers and body of each flow that has findings."""

from __future__ import annotations

import json
from dataclasses import dataclass

from phitrace.store.engine import Store


@dataclass(frozen=True)
class RawRequest:
    """A stored raw request: headers in wire order and the body."""

    headers: tuple[tuple[str, str], ...]
    body: bytes


def _where(session: int | None, column: str) -> tuple[str, list[object]]:
    return (f"where {column} = ?", [session]) if session is not None else ("", [])


def _headers(text: str | None) -> tuple[tuple[str, str], ...]:
    try:
        pairs = json.loads(text or "[]")
        return tuple((str(k), str(v)) for k, v in pairs)
    except (ValueError, TypeError):
        return ()


def load_raw(db: Store, session: int | None = None) -> dict[int, RawRequest]:
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
