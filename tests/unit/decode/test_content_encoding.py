"""Content-Encoding is undone by the bounded decompressors, stacked codings last first."""

from __future__ import annotations

import gzip
import time
import zlib

import brotlicffi
import pytest
import zstandard

from phitrace.decode.budget import Limits
from phitrace.decode.compression import content_codings
from phitrace.decode.request import body_content, decode_request
from phitrace.model import Request

FORM = b"en=page_view&dt=diabetes%20care"

CODERS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotlicffi.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


def _post(body: bytes, encoding: str) -> Request:
    return Request("POST", "https://t.example/c", (("Content-Encoding", encoding),), body)


@pytest.mark.parametrize("encoding", sorted(CODERS))
def test_each_content_coding_is_undone(encoding: str) -> None:
    fields = {
        f.path: f.value for f in decode_request(_post(CODERS[encoding](FORM), encoding)).fields
    }
    assert fields["body.dt"] == "diabetes care"


def test_raw_deflate_labelled_deflate_is_read_too() -> None:
    packer = zlib.compressobj(wbits=-15)
    raw = packer.compress(FORM) + packer.flush()
    fields = decode_request(_post(raw, "deflate")).fields
    assert ("body.dt", "diabetes care", ("deflate", "form")) in fields


def test_stacked_codings_are_undone_last_applied_first() -> None:
    body = brotlicffi.compress(gzip.compress(FORM))
    fields = decode_request(_post(body, "gzip, br")).fields
    assert ("body.dt", "diabetes care", ("brotli", "gzip", "form")) in fields


def test_a_header_naming_what_the_body_is_not_leaves_the_body_as_it_is() -> None:
    request = _post(FORM, "gzip")  # a HAR body: decoded already, the header kept
    assert body_content(request).data == FORM
    assert ("body.dt", "diabetes care", ("form",)) in decode_request(request).fields


@pytest.mark.parametrize(
    ("header", "names"),
    [
        ("gzip", ("gzip",)),
        ("gzip, br", ("brotli", "gzip")),
        ("identity", None),
        ("gzip, compress", None),
        ("gzip," * 9, None),
    ],
)
def test_content_codings_are_read_from_the_header(
    header: str, names: tuple[str, ...] | None
) -> None:
    assert content_codings(header) == names


def test_a_stacked_bomb_stops_at_the_limits() -> None:
    bomb = brotlicffi.compress(gzip.compress(bytes(64 << 20)))
    limits = Limits(max_decompressed_bytes=1 << 20, max_seconds=5.0)
    start = time.perf_counter()
    content = body_content(_post(bomb, "gzip, br"), limits)
    assert time.perf_counter() - start < 1.0
    assert not content.complete and len(content.data) <= 1 << 20
