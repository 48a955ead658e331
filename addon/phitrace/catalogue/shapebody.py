"""What a request's body says to a shape check: its first keys, read within bounds.

An endpoint may ask for body keys (``schema`` in a Snowplow POST); the body is
read only as far as :data:`SHAPE_BODY_BYTES`, its ``Content-Encoding`` undone
within :data:`SHAPE_LIMITS`, and parsed as JSON, NDJSON or a form.  Never raises.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from phitrace.catalogue.model import Glob
from phitrace.decode.budget import Budget, Limits
from phitrace.decode.compression import undo_content_encoding
from phitrace.decode.envelopes import FormDocument
from phitrace.model import Request

SHAPE_BODY_BYTES = 64 * 1024
"""Only this much of a body is read when an endpoint asks for body keys."""

SHAPE_LIMITS = Limits(max_decompressed_bytes=SHAPE_BODY_BYTES, max_seconds=0.02)
"""Bounds on undoing a body's ``Content-Encoding`` to read its keys."""


def shape_body(request: Request) -> bytes:
    """The start of a request's body content, for body-key checks.

    A live capture keeps the body as sent; a compressed one is decoded here,
    only as far as :data:`SHAPE_BODY_BYTES`, so a compression bomb costs no more.
    """
    raw = request.body
    coding = request.header("content-encoding") if raw else None
    if coding:
        undone = undo_content_encoding(raw, coding, Budget(SHAPE_LIMITS))
        if undone is not None:
            return undone[0].data[:SHAPE_BODY_BYTES]
    return raw[:SHAPE_BODY_BYTES]


def lookup(doc: Any, dotted: str) -> Any:
    """Follow ``a.b.c`` through nested mappings; a list stands for its first item."""
    node = doc
    for part in dotted.split("."):
        if isinstance(node, list):
            node = node[0] if node else None
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def body_document(body: bytes) -> Mapping[str, Any] | None:
    """The body as a mapping of keys, for shape checks: JSON, NDJSON or a form.

    Only the first :data:`SHAPE_BODY_BYTES` are read; a JSON array stands for
    its first object and NDJSON for its first line.  Never raises.
    """
    text = body[:SHAPE_BODY_BYTES].decode("utf-8", "replace").strip()
    if not text:
        return None
    if text[0] in "{[":
        try:
            doc: Any = json.loads(text)
        except (ValueError, RecursionError):
            first, newline, _ = text.partition("\n")
            if not newline:  # the first line is the whole text, which just failed
                return None
            try:
                doc = json.loads(first)
            except (ValueError, RecursionError):
                return None
        if isinstance(doc, list):
            doc = next((d for d in doc if isinstance(d, Mapping)), None)
        return doc if isinstance(doc, Mapping) else None
    if "=" in text[:256] and " " not in text[:256]:
        return FormDocument(text)
    return None


def fits(doc: Mapping[str, Any] | None, wanted: tuple[tuple[str, Glob], ...]) -> bool:
    """True when every wanted key is in ``doc`` with a value its glob accepts."""
    if doc is None:
        return False
    for key, pattern in wanted:
        value = doc.get(key) if key in doc else lookup(doc, key)
        if value is None:
            return False
        if isinstance(value, (Mapping, list)):
            if not pattern.spans_anything:
                return False
        elif not pattern.match(value if isinstance(value, str) else str(value)):
            return False
    return True
