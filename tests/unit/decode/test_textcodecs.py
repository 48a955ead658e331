"""The text codecs on their own: percent layers, base64, hex, JWT, bytes worth keeping."""

from __future__ import annotations

import gzip

import pytest

from phitrace.decode import textcodecs


@pytest.mark.parametrize(
    ("text", "decoded", "layers"),
    [
        ("hiv%20test", "hiv test", 1),
        ("https%253A%252F%252Fx.org", "https://x.org", 2),
        ("100%", "100%", 0),
        ("bad%zzescape", "bad%zzescape", 0),
        ("%FF%FE", "%FF%FE", 0),  # not UTF-8: left alone
        ("nul%00byte", "nul%00byte", 0),  # a control character: left alone
    ],
)
def test_percent_layers(text: str, decoded: str, layers: int) -> None:
    assert textcodecs.unpercent(text) == (decoded, layers)


def test_base64_variants_and_padding() -> None:
    assert textcodecs.base64_variant("eyJhIjoxfQ") == "base64"
    assert textcodecs.base64_variant("ab-_cd") == "base64url"
    assert textcodecs.base64_variant("abcde") is None  # 4n+1 characters never decode
    assert textcodecs.base64_variant("not base64!") is None
    assert textcodecs.unbase64("eyJhIjoxfQ", "base64") == b'{"a":1}'
    assert textcodecs.unbase64("fn5-Pw", "base64url") == b"~~~?"
    assert textcodecs.unbase64("a===", "base64") is None


def test_hex_needs_a_letter_and_an_even_length() -> None:
    assert textcodecs.is_hex("68656c6c6f")
    assert not textcodecs.is_hex("1234567890")
    assert not textcodecs.is_hex("abc")
    assert textcodecs.unhex("68656c6c6f") == b"hello"


def test_jwt_payload_segment() -> None:
    token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJwYXRpZW50LTQyIn0."
    assert textcodecs.jwt_payload(token) == b'{"sub":"patient-42"}'
    assert textcodecs.jwt_payload("eyJhbGciOiJub25lIn0.not-a-jwt") is None


@pytest.mark.parametrize(
    ("data", "worth"),
    [
        (b'{"a": 1}', True),
        (gzip.compress(b"x", mtime=0), True),
        (b"www.example.org/patients", True),
        (b"\x8f\x1a\xc3\x00\x12\x99\xfe\x01", False),
        (b"12345678", False),  # no letters
        (b"", False),
    ],
)
def test_decoded_bytes_worth_keeping(data: bytes, worth: bool) -> None:
    assert textcodecs.worth_decoding(data) is worth
