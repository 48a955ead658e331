"""Decompression on its own: every format, sniffing, cut streams and the caps."""

from __future__ import annotations

import gzip
import json
import zlib

import brotlicffi
import pytest
import zstandard

from phitrace.decode import compression
from phitrace.decode.budget import Budget, Limits

TEXT = b'{"event": "page_view", "url": "https://www.example.org/conditions/lupus"}' * 4


def budget(**limits: object) -> Budget:
    return Budget(Limits(**limits))  # type: ignore[arg-type]


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
