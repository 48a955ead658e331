"""Compression bombs stop at the configured limits, in bounded memory.

Each bomb expands to 1 GiB of zeros: gzip, zlib, raw deflate, brotli and zstd
alone, and nested (down to a few hundred bytes for three gzip layers).
Decoding must stop at ``max_decompressed_bytes`` (or the ratio limit), say so
in ``truncated``, and never hold more than a small multiple of the limit in
memory, whether the format is sniffed or named by ``Content-Encoding``, and
however many bombs one body holds.
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

from phitrace.decode import lzstring
from phitrace.decode.request import Limits, decode_message, decode_request
from phitrace.model import Decoded, Request

GIB = 1 << 30
MIB = 1 << 20
LIMITS = Limits(max_decompressed_bytes=8 * MIB, max_ratio=1e12, max_seconds=60.0)
"""Only the byte limit can stop these decodes, so each test shows that it does (on a busy
machine the default time limit could otherwise stop a bomb first)."""
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


ZLIB_HEADER = b"\x78\xda"
"""A zlib header: deflate, 32 KiB window, best compression."""


def deflate_stream(gzip_data: bytes) -> bytes:
    """The raw deflate stream inside a single-member gzip file with a bare 10-byte header."""
    return gzip_data[10:-8]


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    zeros = bytes(MIB)
    squeezer = brotlicffi.Compressor(quality=1)
    brotli = b"".join(squeezer.process(zeros) for _ in range(GIB // MIB)) + squeezer.finish()
    packer = zstandard.ZstdCompressor(level=1).compressobj()
    zstd = b"".join(packer.compress(zeros) for _ in range(GIB // MIB)) + packer.flush()
    single = gzip_bomb()
    double = gzip.compress(single, 9)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    return {
        "gzip": single,
        "brotli": brotli,
        "zstd": zstd,
        "zlib": ZLIB_HEADER + deflate_stream(single),
        "raw deflate": deflate_stream(single),
        "gzip in gzip": double,
        "gzip in gzip in gzip": gzip.compress(double, 9),
        "gzip in zstd": zstandard.ZstdCompressor(level=19).compress(single),
        "gzip in brotli": brotlicffi.compress(single, quality=11),
        "gzip in zlib in deflate": deflater.compress(zlib.compress(single, 9)) + deflater.flush(),
    }


NAMES = [
    "gzip",
    "brotli",
    "zstd",
    "zlib",
    "raw deflate",
    "gzip in gzip",
    "gzip in gzip in gzip",
    "gzip in zstd",
    "gzip in brotli",
    "gzip in zlib in deflate",
]


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


@pytest.mark.parametrize("name", NAMES)
def test_bomb_bodies_stop_at_the_decompressed_limit(bombs: dict[str, bytes], name: str) -> None:
    body = bombs[name]
    decoded, peak = peak_while(
        lambda: decode_request(Request("POST", "https://t.example/c", (), body), LIMITS)
    )
    assert decoded.truncated is not None
    assert f"more than {8 * MIB} decompressed bytes" in decoded.truncated
    assert peak < MEMORY_CEILING, f"{name}: peak {peak / MIB:.0f} MiB"


def test_the_nested_bombs_are_kilobyte_sized_gigabytes(bombs: dict[str, bytes]) -> None:
    assert len(bombs["gzip in gzip"]) < 4 * 1024
    assert len(bombs["gzip in gzip in gzip"]) < 1024
    assert len(bombs["gzip in brotli"]) < 1024
    assert gzip.decompress(gzip.decompress(bombs["gzip in gzip in gzip"])) == bombs["gzip"]


@pytest.mark.parametrize(("name", "wbits"), [("zlib", 15), ("raw deflate", -15)])
def test_the_zlib_and_deflate_bombs_start_as_valid_streams(
    bombs: dict[str, bytes], name: str, wbits: int
) -> None:
    assert zlib.decompressobj(wbits).decompress(bombs[name], MIB) == bytes(MIB)


@pytest.mark.parametrize("name", NAMES)
def test_bombs_stop_under_the_default_limits(bombs: dict[str, bytes], name: str) -> None:
    decoded, peak = peak_while(
        lambda: decode_request(Request("POST", "https://t.example/c", (), bombs[name]))
    )
    # Whichever limit comes first: the ratio, the total, or on a busy machine the time.
    assert decoded.truncated is not None
    assert any(
        reason in decoded.truncated
        for reason in ("decompression ratio over 250", "decompressed bytes", "longer than")
    )
    assert peak < MEMORY_CEILING, f"{name}: peak {peak / MIB:.0f} MiB"


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("br", "brotli"), ("zstd", "zstd"), ("deflate", "zlib"), ("gzip", "gzip")],
)
def test_bombs_named_by_content_encoding_stop_at_the_limit(
    bombs: dict[str, bytes], encoding: str, name: str
) -> None:
    request = Request("POST", "https://t.example/c", (("Content-Encoding", encoding),), bombs[name])
    decoded, peak = peak_while(lambda: decode_request(request, LIMITS))
    assert f"more than {8 * MIB} decompressed bytes" in (decoded.truncated or "")
    assert peak < MEMORY_CEILING


def test_many_bombs_in_one_body_share_one_limit(bombs: dict[str, bytes]) -> None:
    boundary = b"----bombs"
    body = b"".join(
        b"--"
        + boundary
        + b'\r\nContent-Disposition: form-data; name="p%d"\r\n\r\n' % index
        + bombs["gzip in gzip in gzip"]
        + b"\r\n"
        for index in range(50)
    )
    body += b"--" + boundary + b"--\r\n"
    decoded, peak = peak_while(
        lambda: decode_request(Request("POST", "https://t.example/c", (), body), LIMITS)
    )
    assert f"more than {8 * MIB} decompressed bytes" in (decoded.truncated or "")
    assert peak < MEMORY_CEILING


def test_the_ratio_limit_stops_a_bomb_before_the_total_does(bombs: dict[str, bytes]) -> None:
    decoded = decode_request(
        Request("POST", "https://t.example/c", (), bombs["zstd"]),
        Limits(max_ratio=100.0, max_seconds=60.0),
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
        Limits(max_decompressed_bytes=20_000, max_ratio=1e12, max_seconds=60.0),
    )
    assert decoded.truncated == "more than 20000 decompressed bytes"
