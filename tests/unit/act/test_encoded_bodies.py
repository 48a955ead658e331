"""Redaction of bodies sent with a Content-Encoding: rewritten from their content, or removed."""

from __future__ import annotations

import gzip

import brotlicffi

from phitrace.act.enforce import WHOLE_BODY, redact
from phitrace.model import Finding, Request

FORM = b"tid=UA-1&dt=diabetes"
FINDING = Finding("health", "condition", "body.dt", "diabetes", "diabetes", "vocabulary")


def _post(body: bytes, encoding: str) -> Request:
    headers = (("Content-Encoding", encoding), ("Content-Type", "text/plain"))
    return Request("POST", "https://www.google-analytics.com/collect", headers, body)


def test_a_compressed_body_is_redacted_from_its_content_and_sent_without_a_coding() -> None:
    result = redact(_post(gzip.compress(FORM), "gzip"), [FINDING])
    assert result.body == b"tid=UA-1&dt="
    assert "body.dt" in result.removed
    assert all(k.lower() != "content-encoding" for k, _ in result.headers)


def test_a_compressed_body_without_findings_is_forwarded_as_sent() -> None:
    request = _post(gzip.compress(FORM), "gzip")
    finding = Finding("health", "condition", "query.dt", "diabetes", "diabetes", "vocabulary")
    result = redact(request, [finding])
    assert result.body == request.body
    assert ("Content-Encoding", "gzip") in result.headers


def test_a_body_too_compressed_to_read_within_the_limits_is_removed() -> None:
    bomb = brotlicffi.compress(FORM + bytes(4 << 20), quality=1)  # beyond the ratio limit
    result = redact(_post(bomb, "br"), [FINDING])
    assert result.body == b"" and WHOLE_BODY in result.removed
