"""Compression bombs with Content-Encoding through a real mitmdump: bounded memory, no stall.

Each bomb is a few kilobytes to a megabyte that expands to 1 GiB, built
streaming so this test stays small in memory.  It is sent to a tracker URL
(sinkholed, so analysed and answered locally) and to a non-tracker URL (the
loopback upstream, as a third party of a page) while a second client sends
small requests; the proxy's peak RSS growth and the longest wait of the small
requests are printed and bounded.
"""

from __future__ import annotations

import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import brotlicffi
import httpx
import pytest
import zstandard
from tests.support.loopback import Upstream

pytestmark = pytest.mark.e2e

MIB = 1 << 20
EXPANDED_MIB = 1024
"""Every bomb expands to this many MiB of zeros."""

MAX_RSS_GROWTH = 64 * MIB
MAX_STALL = 0.25
TRACKER_URL = "http://www.google-analytics.com/collect?v=1&t=pageview&dt=diabetes&tid=UA-1"


def _deflate_blocks() -> tuple[bytes, bytes]:
    """Raw deflate of 1 GiB of zeros, as one repeated fully flushed block, and the checksums."""
    zeros = bytes(MIB)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    raw = block * EXPANDED_MIB + packer.flush()  # a full flush makes every block the same
    crc, adler = 0, 1
    for _ in range(EXPANDED_MIB):
        crc, adler = zlib.crc32(zeros, crc), zlib.adler32(zeros, adler)
    size = (EXPANDED_MIB * MIB) & 0xFFFFFFFF
    return raw, struct.pack("<II", crc, size) + struct.pack(">I", adler)


def bombs() -> Iterator[tuple[str, bytes]]:
    """(Content-Encoding, body) for gzip, deflate, brotli and zstd, each 1 GiB expanded."""
    raw, checks = _deflate_blocks()
    yield "gzip", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + raw + checks[:8]
    yield "deflate", b"\x78\xda" + raw + checks[8:]
    zeros = bytes(MIB)
    brotli = brotlicffi.Compressor(quality=5)
    yield "br", b"".join([*(brotli.process(zeros) for _ in range(EXPANDED_MIB)), brotli.finish()])
    zstd = zstandard.ZstdCompressor(level=1).compressobj()
    yield "zstd", b"".join([*(zstd.compress(zeros) for _ in range(EXPANDED_MIB)), zstd.flush()])


def _status(pid: int, key: str) -> int:
    """A memory figure of a process from /proc, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def _reset_peak(pid: int) -> int:
    """Start a new peak-RSS measurement; the RSS it starts from."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:  # older kernels: the peak since start stands, which only overstates growth
        pass
    return _status(pid, "VmRSS")


class Ticker:
    """Small requests one after another through the proxy; the longest any of them took."""

    def __init__(self, proxy: str, url: str) -> None:
        self.client = httpx.Client(proxy=proxy, timeout=30)
        self.url = url
        self.longest = 0.0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            try:
                ok = self.client.get(self.url).status_code == 200
            except httpx.HTTPError:
                ok = False
            self.longest = max(self.longest, time.perf_counter() - start)
            self.failures += not ok
            time.sleep(0.01)

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.client.close()


def test_compression_bombs_cost_bounded_memory_and_stall_no_request(
    start_proxy,  # type: ignore[no-untyped-def]
    upstream: Upstream,
    figures: Callable[[str], None],
) -> None:
    proxy = start_proxy("phitrace_sinkhole=true", "flow_detail=0")
    pid = proxy.process.pid
    sender = httpx.Client(proxy=proxy.url, timeout=60)
    third_party = {"Referer": "https://www.example.org/conditions/diabetes"}
    for _ in range(3):  # warm up: the catalogue, the decoders and the store are loaded
        sender.post(TRACKER_URL, content=b"en=page_view", headers=third_party)
        sender.post(f"{upstream.url}/upload", content=b"a=1", headers=third_party)
    with Ticker(proxy.url, f"{upstream.url}/tick") as ticker:
        for _ in range(2):
            sender.post(TRACKER_URL, content=b"en=page_view", headers=third_party)
            sender.post(f"{upstream.url}/upload", content=b"a=1", headers=third_party)
        time.sleep(0.5)
    figures(
        f"bombs: longest wait of concurrent requests without a bomb {ticker.longest * 1000:.0f} ms"
    )
    results = []
    for encoding, bomb in bombs():
        headers = {**third_party, "Content-Encoding": encoding, "Content-Type": "text/plain"}
        time.sleep(0.2)
        before = _reset_peak(pid)
        with Ticker(proxy.url, f"{upstream.url}/tick") as ticker:
            time.sleep(0.1)
            tracker = sender.post(TRACKER_URL, content=bomb, headers=headers)
            other = sender.post(f"{upstream.url}/upload", content=bomb, headers=headers)
            time.sleep(0.1)
        growth = max(_status(pid, "VmHWM") - before, 0)
        results.append((encoding, len(bomb), growth, ticker.longest))
        figures(
            f"bomb {encoding}: {len(bomb)} bytes -> {EXPANDED_MIB} MiB; proxy peak RSS growth "
            f"{growth / MIB:.1f} MiB, longest stall of concurrent requests "
            f"{ticker.longest * 1000:.0f} ms ({tracker.status_code}, {other.status_code})"
        )
        assert tracker.status_code in (200, 204) and other.status_code == 200
        assert ticker.failures == 0
    sender.close()
    output = proxy.stop()

    assert "Traceback" not in output
    for encoding, _, growth, stall in results:
        assert growth < MAX_RSS_GROWTH, (encoding, growth)
        assert stall < MAX_STALL, (encoding, stall)
