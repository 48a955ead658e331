"""Loopback load: an upstream process and a lean HTTP/1.1 proxy client, for the benchmarks.

Everything listens on and connects to 127.0.0.1 only; every run sends a
bounded list of requests and stops.  The client writes pre-encoded requests
in absolute form (``GET http://host/path HTTP/1.1``) on keep-alive
connections, so it costs far less CPU than the proxy it measures: on a
two-core machine the client and the upstream share one core, the proxy has
the other.  The mitmdump processes come from the shared harness,
:mod:`tests.support.loopback`.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from phitrace.model import Request
from tests.bench.figures import REPO
from tests.ports import free_port, wait_for_port
from tests.support import loopback

UPSTREAM_BODY = b"<!doctype html><title>first party</title>" + b"x" * 2000
ADDONS = Path(__file__).resolve().parent / "addons"


# Upstream ---------------------------------------------------------------------


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n"
    response = head % len(UPSTREAM_BODY) + UPSTREAM_BODY
    try:
        while True:
            headers = await reader.readuntil(b"\r\n\r\n")
            length = _content_length(headers)
            if length:
                await reader.readexactly(length)
            writer.write(response)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


def _serve(port: int) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_answer, "127.0.0.1", port, backlog=512)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class Upstream:
    """A keep-alive HTTP/1.1 server on 127.0.0.1, in its own process, answering 2 KB of HTML."""

    def __init__(self) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "tests.bench.loopback", str(self.port)]
        self._process = subprocess.Popen(command, cwd=REPO)
        wait_for_port(self.port, timeout=60.0)

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(10)

    def __enter__(self) -> Upstream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Load -------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One request, encoded as the client sends it to the proxy."""

    wire: bytes
    tracker: bool
    host: str


def encode(method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    """An absolute-form HTTP/1.1 request for a proxy."""
    parts = urlsplit(url)
    lines = [f"{method} {url} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{k}: {v}" for k, v in headers if k.lower() not in ("host", "content-length")]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


def as_http(url: str) -> str:
    """The same URL over plain HTTP: TLS would cost both runs alike and hide the difference."""
    return "http://" + url.split("://", 1)[1] if url.startswith("https://") else url


def plan(
    trackers: Sequence[Request],
    first_party: Sequence[Request],
    upstream_port: int,
    count: int,
    tracker_share: float = 0.3,
    seed: int = 9,
) -> list[Planned]:
    """``count`` requests: ``tracker_share`` of them corpus tracker requests, the rest
    corpus first-party requests re-pointed at the loopback upstream."""
    rng = random.Random(seed)
    out: list[Planned] = []
    for i in range(count):
        if rng.random() < tracker_share:
            row = trackers[i % len(trackers)]
            url = as_http(row.url)
            out.append(Planned(encode(row.method, url, row.headers, row.body), True, _host(url)))
        else:
            row = first_party[i % len(first_party)]
            parts = urlsplit(row.url)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            url = f"http://127.0.0.1:{upstream_port}{path}"
            out.append(Planned(encode(row.method, url, row.headers, row.body), False, "127.0.0.1"))
    return out


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _content_length(head: bytes) -> int:
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    end = lower.find(b"\r\n", at + 2)
    return int(lower[at + 17 : end].strip())


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return its status and whether the server closes the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    if b"\r\ntransfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        length = _content_length(head)
        if length:
            await reader.readexactly(length)
    return status, b"\r\nconnection: close" in lower


@dataclass
class Outcome:
    """What a run of the client measured."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    tracker_latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    first_error: str = ""

    @property
    def sent(self) -> int:
        return len(self.latencies) + self.errors

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


async def _drive(
    port: int, planned: Sequence[Planned], concurrency: int, timeout: float
) -> Outcome:
    outcome = Outcome()
    cursor = iter(planned)

    async def worker() -> None:
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        for item in cursor:
            started = time.perf_counter()
            try:
                if connection is None:
                    connection = await asyncio.open_connection("127.0.0.1", port)
                reader, writer = connection
                writer.write(item.wire)
                status, close = await asyncio.wait_for(_read_response(reader), timeout)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                outcome.errors += 1
                outcome.first_error = outcome.first_error or f"{type(exc).__name__}: {exc}"
                close, status = True, 0
            else:
                elapsed = time.perf_counter() - started
                outcome.latencies.append(elapsed)
                if item.tracker:
                    outcome.tracker_latencies.append(elapsed)
                outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
            if close and connection is not None:
                connection[1].close()
                connection = None
        if connection is not None:
            connection[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    outcome.seconds = time.perf_counter() - started
    return outcome


def drive(
    port: int, planned: Sequence[Planned], concurrency: int = 50, timeout: float = 30.0
) -> Outcome:
    """Send every planned request through the proxy on 127.0.0.1:port, ``concurrency`` at once."""
    return asyncio.run(_drive(port, planned, concurrency, timeout))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


# mitmdump ---------------------------------------------------------------------


class Mitmdump(loopback.Mitmdump):
    """mitmdump as the benchmarks run it, from :mod:`tests.support.loopback`."""

    def __init__(self, workdir: Path, scripts: Sequence[Path], options: Sequence[str]) -> None:
        # Neither run prints each flow; phitrace's own alert lines stay on.
        quiet = ["flow_detail=0", "connection_strategy=lazy"]
        super().__init__(workdir, scripts, [*quiet, *options])


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
