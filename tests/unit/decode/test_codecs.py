"""Each decoder on its own: compression, text codecs, lz-string, protobuf, containers."""

from __future__ import annotations

import gzip
import json
import zlib
from urllib.parse import parse_qsl

import brotlicffi
import pytest
import zstandard

from phitrace.decode import compression, envelopes, lzstring, protobuf, textcodecs
from phitrace.decode.budget import Budget, Limits

TEXT = b'{"event": "page_view", "url": "https://www.example.org/conditions/lupus"}' * 4


def budget(**limits: object) -> Budget:
    return Budget(Limits(**limits))  # type: ignore[arg-type]


# -- compression -----------------------------------------------------------------------------


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


PACKED = {
    "gzip": gzip.compress(TEXT),
    "zlib": zlib.compress(TEXT),
    "deflate": _raw_deflate(TEXT),
    "brotli": brotlicffi.compress(TEXT),
    "zstd": zstandard.ZstdCompressor().compress(TEXT),
}


@pytest.mark.parametrize("name", sorted(PACKED))
def test_each_format_decompresses_completely(name: str) -> None:
    out = compression.decompress(name, PACKED[name], budget())
    assert out is not None and out.data == TEXT and out.complete


@pytest.mark.parametrize("name", ["gzip", "zlib", "zstd"])
def test_formats_with_magic_bytes_are_sniffed(name: str) -> None:
    assert compression.sniff(PACKED[name]) == name


@pytest.mark.parametrize("data", [TEXT, b"", b"x", b"\x1f\x8b", PACKED["brotli"]])
def test_text_and_magic_less_formats_are_not_sniffed(data: bytes) -> None:
    assert compression.sniff(data) is None


@pytest.mark.parametrize("name", sorted(PACKED))
def test_data_in_another_format_is_refused(name: str) -> None:
    assert compression.decompress(name, b"plain text, not compressed at all", budget()) is None


def test_a_cut_stream_returns_what_it_holds_as_incomplete() -> None:
    big = json.dumps([{"i": i, "page": "/clinic"} for i in range(2000)]).encode()
    packed = gzip.compress(big)
    out = compression.decompress("gzip", packed[: len(packed) // 2], budget())
    assert out is not None and not out.complete
    assert 0 < len(out.data) < len(big) and big.startswith(out.data)


def test_concatenated_gzip_members_are_all_read() -> None:
    out = compression.decompress("gzip", gzip.compress(b"one ") + gzip.compress(b"two"), budget())
    assert out is not None and out.data == b"one two" and out.complete


def test_decompression_is_capped_by_the_ratio() -> None:
    packed = gzip.compress(bytes(1_000_000))
    spent = budget(max_ratio=10.0)
    out = compression.decompress("gzip", packed, spent)
    assert out is not None and not out.complete
    assert len(out.data) == 10 * len(packed)
    assert spent.truncated == "decompression ratio over 10"


def test_decompression_is_capped_by_the_request_total() -> None:
    spent = budget(max_decompressed_bytes=5000, max_ratio=1e9)
    first = compression.decompress("zlib", zlib.compress(bytes(4000)), spent)
    second = compression.decompress("zstd", zstandard.ZstdCompressor().compress(bytes(4000)), spent)
    assert first is not None and first.complete and len(first.data) == 4000
    assert second is not None and len(second.data) == 1000 and not second.complete
    assert spent.truncated == "more than 5000 decompressed bytes"


# -- text codecs -----------------------------------------------------------------------------


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
        (gzip.compress(b"x"), True),
        (b"www.example.org/patients", True),
        (b"\x8f\x1a\xc3\x00\x12\x99\xfe\x01", False),
        (b"12345678", False),  # no letters
        (b"", False),
    ],
)
def test_decoded_bytes_worth_keeping(data: bytes, worth: bool) -> None:
    assert textcodecs.worth_decoding(data) is worth


# -- lz-string -------------------------------------------------------------------------------

# Outputs of the reference JavaScript library, as published with other ports of it.
KNOWN = [
    (lzstring.compress_to_uri, "red", "E4UwJkA"),
    (
        lzstring.compress_to_base64,
        "Žluťoučký kůň úpěl ďábelské ódy!",
        "r6ABsK6KaAD2aLCADWBfgBPQ9oCAlAZAvgDobEARlB4QAEOAjAUxAGd4BL5AZ4BMBPAQiA==",
    ),
]


@pytest.mark.parametrize(("compress", "text", "expected"), KNOWN)
def test_lz_string_matches_the_reference_output(compress: object, text: str, expected: str) -> None:
    assert compress(text) == expected  # type: ignore[operator]


def test_lz_string_known_prefix_of_a_longer_text() -> None:
    out = lzstring.compress_to_uri("The quick brown fox jumps over the lazy dog")
    assert out.startswith("CoCwpgBAjgrglgYwNYQEYCcD2B3AdhAM0wA8IArGAWwAcBnCTANzHQgBdwIAbAQwC8AnhAA")


@pytest.mark.parametrize(
    ("compress", "decompress"),
    [
        (lzstring.compress_to_base64, lzstring.decompress_from_base64),
        (lzstring.compress_to_uri, lzstring.decompress_from_uri),
        (lzstring.compress_to_utf16, lzstring.decompress_from_utf16),
    ],
)
@pytest.mark.parametrize("text", ["", "a", "aaaaaaaaaaaaaaaa", "emoji 😀 and ✓", "abc" * 500])
def test_lz_string_round_trips(compress: object, decompress: object, text: str) -> None:
    assert decompress(compress(text)) == text  # type: ignore[operator]


def test_lz_string_rejects_text_that_only_starts_like_it() -> None:
    # "Goog..." decodes to three characters and an end code, with most input left over.
    assert lzstring.decompress_from_base64("GoogleTagManagerClient") is None
    assert lzstring.decompress_from_uri("not lz-string at all!") is None


def test_lz_string_output_can_be_capped() -> None:
    packed = lzstring.compress_to_base64("x" * 100_000)
    out = lzstring.decompress_from_base64(packed, lambda size: size <= 1000)
    assert out is not None and 1000 < len(out) < 2000


def test_utf16_variant_is_recognised_by_its_characters() -> None:
    assert lzstring.looks_utf16(lzstring.compress_to_utf16('{"a": "some text here"}'))
    assert not lzstring.looks_utf16("plain words ")


# -- protobuf --------------------------------------------------------------------------------


def _field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_protobuf_strings_nested_and_repeated() -> None:
    message = (
        _field(1, b"first")
        + b"\x10\x96\x01"  # field 2, varint 150
        + b"\x1d\x00\x00\x80\x3f"  # field 3, fixed32
        + _field(4, _field(1, b"inner") + _field(1, b"again"))
        + b"\x29"
        + bytes(8)  # field 5, fixed64
    )
    assert protobuf.strings(message, budget(), 8) == [
        ("1", "first"),
        ("4.1", "inner"),
        ("4.1", "again"),
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"\x0a\x10short",  # length past the end
        b"\x00\x01",  # field number 0
        b"\x0b\x0c",  # group wire types
        b"\x08\xff\xff\xff",  # unterminated varint
    ],
)
def test_malformed_protobuf_is_refused(data: bytes) -> None:
    assert protobuf.strings(data, budget(), 8) is None


def test_printable_nested_messages_are_still_parsed() -> None:
    url = b"https://www.example.org/contact-us/form"  # length 39: the length byte is "'"
    message = _field(7, _field(1, url))
    assert message[2:4] == b"\n'"
    assert protobuf.strings(message, budget(), 8) == [("7.1", url.decode())]


def test_protobuf_nesting_is_bounded() -> None:
    message = _field(2, b"deep text")
    for _ in range(5):
        message = _field(1, message)
    assert protobuf.strings(message, budget(), 8) == [("1.1.1.1.1.2", "deep text")]
    assert protobuf.strings(message, budget(), 3) == []


# -- containers ------------------------------------------------------------------------------


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
