"""Compression bombs stop at the configured limits, in bounded memory.

Each bomb expands to 1 GiB of zeros.  Decoding must stop at
``max_decompressed_bytes`` (or the ratio limit), say so in ``truncated``, and
never hold more than a small multiple of the limit in memory.
"""

from __future__ import annotations

import base64
import gzip
import json
import struct
import tracemalloc
import zlib
from collections.abc import Callable

import brotlicffi
import pytest
import zstandard

from phitrace.decode import Limits, decode_message, decode_request
from phitrace.decoders import lzstring
from phitrace.model import Decoded, Request

GIB = 1 << 30
MIB = 1 << 20
LIMITS = Limits(max_decompressed_bytes=8 * MIB, max_ratio=1e12)
MEMORY_CEILING = 64 * MIB
"""Peak Python allocations allowed while decoding one bomb: a few times the limit."""


def gzip_bomb(size: int = GIB) -> bytes:
    """A valid gzip stream of ``size`` zeros, built without compressing them all.

    After a full flush the deflate coder starts afresh, so every further
    megabyte of zeros compresses to the very same bytes.
    """
    zeros = bytes(MIB)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    tail = packer.flush()
    crc = 0
    for _ in range(size // MIB):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return header + block * (size // MIB) + tail + trailer


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    zeros = bytes(MIB)
    squeezer = brotlicffi.Compressor(quality=1)
    brotli = b"".join(squeezer.process(zeros) for _ in range(GIB // MIB)) + squeezer.finish()
    packer = zstandard.ZstdCompressor(level=1).compressobj()
    zstd = b"".join(packer.compress(zeros) for _ in range(GIB // MIB)) + packer.flush()
    single = gzip_bomb()
    return {
        "gzip": single,
        "brotli": brotli,
        "zstd": zstd,
        "gzip in gzip": gzip.compress(single, 9),
        "gzip in zstd": zstandard.ZstdCompressor(level=19).compress(single),
    }


def peak_while(decode: Callable[[], Decoded]) -> tuple[Decoded, int]:
    tracemalloc.start()
    try:
        decoded = decode()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return decoded, peak


def test_the_small_scale_bomb_is_a_valid_gzip_stream() -> None:
    assert gzip.decompress(gzip_bomb(4 * MIB)) == bytes(4 * MIB)


@pytest.mark.parametrize("name", ["gzip", "brotli", "zstd", "gzip in gzip", "gzip in zstd"])
def test_bomb_bodies_stop_at_the_decompressed_limit(bombs: dict[str, bytes], name: str) -> None:
    body = bombs[name]
    decoded, peak = peak_while(
        lambda: decode_request(Request("POST", "https://t.example/c", (), body), LIMITS)
    )
    assert decoded.truncated is not None
    assert f"more than {8 * MIB} decompressed bytes" in decoded.truncated
    assert peak < MEMORY_CEILING, f"{name}: peak {peak / MIB:.0f} MiB"


def test_the_nested_gzip_bomb_is_a_kilobyte_sized_gigabyte(bombs: dict[str, bytes]) -> None:
    assert len(bombs["gzip in gzip"]) < 16 * 1024


def test_the_ratio_limit_stops_a_bomb_before_the_total_does(bombs: dict[str, bytes]) -> None:
    decoded = decode_request(
        Request("POST", "https://t.example/c", (), bombs["zstd"]),
        Limits(max_ratio=100.0),
    )
    assert decoded.truncated is not None and "decompression ratio over 100" in decoded.truncated


def test_a_bomb_inside_a_base64_json_value_is_capped(bombs: dict[str, bytes]) -> None:
    body = json.dumps({"blob": base64.b64encode(bombs["gzip in gzip"]).decode()})
    decoded, peak = peak_while(
        lambda: decode_request(Request("POST", "https://t.example/c", (), body.encode()), LIMITS)
    )
    assert "decompressed bytes" in (decoded.truncated or "")
    assert peak < MEMORY_CEILING


def test_a_bomb_in_a_websocket_message_is_capped(bombs: dict[str, bytes]) -> None:
    decoded, peak = peak_while(lambda: decode_message(bombs["zstd"], LIMITS))
    assert "decompressed bytes" in (decoded.truncated or "")
    assert peak < MEMORY_CEILING


def test_an_lz_string_bomb_is_capped() -> None:
    packed = lzstring.compress_to_base64("a" * 200_000)
    assert len(packed) < 2000
    decoded = decode_request(
        Request("GET", f"https://t.example/p?d={packed}"),
        Limits(max_decompressed_bytes=20_000, max_ratio=1e12),
    )
    assert decoded.truncated == "more than 20000 decompressed bytes"
