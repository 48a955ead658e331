"""The envelopes on their own: forms, multipart, Sentry envelopes, NDJSON, JSONP and cookies."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from phitrace.decode import envelopes


@pytest.mark.parametrize(
    "query", ["a=1&b=2", "a&b=&&c=%zz&d=%E2%82%AC+x", "=x&a==b", "%ff=1", "a=1;b=2", ""]
)
def test_form_pairs_match_the_standard_library(query: str) -> None:
    assert list(envelopes.form_pairs(query)) == parse_qsl(
        query, keep_blank_values=True, errors="replace"
    )


@pytest.mark.parametrize(
    ("text", "form"),
    [
        ("id=1&ev=PageView", True),
        ("security=b548056bc5", True),
        ("eyJ1cmwiOiAid3d3LmV4YW1wbGUub3JnL3BhdGllbnRzIn0=", False),
        ('{"a": "b=c"}', False),
        ("hello world=1", False),
    ],
)
def test_form_bodies_are_told_from_base64(text: str, form: bool) -> None:
    assert envelopes.looks_like_form(text) is form


def test_nested_forms_must_have_two_clean_pairs() -> None:
    assert envelopes.looks_like_nested_form("email=jane%40x.org&id=42")
    assert not envelopes.looks_like_nested_form("https://x.org/?a=1&b=2")
    assert not envelopes.looks_like_nested_form("a=1")


def test_multipart_names_and_unnamed_parts() -> None:
    body = (
        b'--b1\r\nContent-Disposition: form-data; name="data"\r\n\r\n{"a":1}\r\n'
        b"--b1\r\nContent-Disposition: form-data; name*=utf-8''x; filename=\"f\"\r\n\r\n"
        b"\x00\x01\r\n"
        b"--b1\r\nContent-Type: text/plain\r\n\r\nloose\r\n"
        b"--b1--\r\n"
    )
    parts = envelopes.multipart(body, 10)
    assert parts == [
        envelopes.Part("data", b'{"a":1}'),
        envelopes.Part("utf-8''x", b"\x00\x01"),
        envelopes.Part(None, b"loose"),
    ]
    assert envelopes.multipart(b"--not a boundary line", 10) is None
    assert envelopes.multipart(body, 1) == parts[:1]


def test_sentry_envelope_items_with_and_without_length() -> None:
    body = (
        b'{"event_id":"e1","dsn":"https://k@o1.ingest.sentry.io/2"}\n'
        b'{"type":"attachment","length":4}\n\x00\n\x01\x02\n'
        b'{"type":"session"}\n{"sid":"s"}\n'
    )
    envelope = envelopes.sentry_envelope(body, 10)
    assert envelope is not None
    header, items = envelope
    assert header["event_id"] == "e1"
    assert [(i.header["type"], i.payload) for i in items] == [
        ("attachment", b"\x00\n\x01\x02"),
        ("session", b'{"sid":"s"}'),
    ]


def test_ndjson_without_an_envelope_header_is_not_an_envelope() -> None:
    assert envelopes.sentry_envelope(b'{"type":"view"}\n{"type":"action"}\n', 10) is None


@pytest.mark.parametrize(
    ("text", "inner"),
    [
        ('cb({"a": 1});', '{"a": 1}'),
        ("window.__x.y([1, 2])", "[1, 2]"),
        (")]}'\n[1]", "[1]"),
        ('for(;;);{"a": 2}', '{"a": 2}'),
        ("alert(1)", None),
        ("plain", None),
    ],
)
def test_jsonp_unwrapping(text: str, inner: str | None) -> None:
    assert envelopes.unwrap_jsonp(text) == inner


def test_cookie_pairs_unquote_and_strip_quotes() -> None:
    assert list(envelopes.cookie_pairs('a=1; b="x%20y"; broken; c=')) == [
        ("a", "1"),
        ("b", "x y"),
        ("c", ""),
    ]
