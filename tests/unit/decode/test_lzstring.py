"""lz-string on its own: the reference outputs, round trips, refusals and the output cap."""

from __future__ import annotations

import pytest

from phitrace.decode import lzstring

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
