"""Loopback harness: mitmdump processes, a plain-HTTP upstream, tracker requests and a client.

The end-to-end and reliability tests and the benchmarks start mitmproxy's
tools through :class:`Mitmdump`; everything listens on 127.0.0.1 only; the
recorded rows are read with :mod:`tests.support.database`.
Tracker requests go to real tracker host names over HTTPS through the proxy,
which answers them itself in sinkhole mode; first-party requests go over
plain HTTP to :class:`Upstream` on 127.0.0.1.  Each request carries a unique
``rid`` query parameter so that database rows can be matched to what was sent.
"""

from __future__ import annotations

import asyncio
import http.server
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.ports import free_port, wait_for_port

UPSTREAM_BODY = b"upstream ok"

# (method, URL with a {rid} slot, headers, body): each is recognised as a tracker.
TRACKERS: tuple[tuple[str, str, dict[str, str], bytes], ...] = (
    (
        "GET",
        "https://www.facebook.com/tr/?id=1&ev=PageView&dl=https%3A%2F%2Fwww.example.org"
        "%2Fconditions%2Fdiabetes&fbp=fb.1.2.3&rid={rid}",
        {},
        b"",
    ),
    (
        "POST",
        "https://region1.google-analytics.com/g/collect?v=2&tid=G-1&cid=1.2&rid={rid}",
        {"Content-Type": "text/plain"},
        b"en=page_view\r\nen=view_search_results&ep.search_term=hiv%20test",
    ),
    (
        "POST",
        "https://www.facebook.com/tr/?rid={rid}",
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"id=1&ev=Search&cd[search_string]=diabetes&fbp=fb.1.2.3",
    ),
    (
        "GET",
        "https://bat.bing.com/action/0?ti=1&evt=pageLoad&p=https%3A%2F%2Fwww.example.org"
        "%2Fconditions%2Fcancer&rid={rid}",
        {},
        b"",
    ),
)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(UPSTREAM_BODY)))
        self.end_headers()
        self.wfile.write(UPSTREAM_BODY)
        with self.server.lock:
            self.server.count += 1
            self.server.paths.append(self.path)

    do_GET = do_POST = _answer


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.count = 0
        self.paths: list[str] = []


class Upstream:
    """A plain-HTTP server on 127.0.0.1 answering every request with :data:`UPSTREAM_BODY`."""

    def __init__(self) -> None:
        self._server = _Server()
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> int:
        """How many requests it has answered."""
        return self._server.count

    @property
    def paths(self) -> list[str]:
        """The request target (path and query) of every request, as it arrived."""
        with self._server.lock:
            return list(self._server.paths)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class Planned:
    """One request to send through the proxy."""

    rid: str
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    tracker: bool
    http2: bool


@dataclass
class Result:
    """What came back for one planned request."""

    planned: Planned
    status: int | None = None
    http_version: str = ""
    body: bytes = b""
    received_at: float = 0.0
    error: str = ""


def tracker_request(n: int, *, http2: bool) -> Planned:
    """The n-th tracker request, cycling through :data:`TRACKERS`."""
    method, url, headers, body = TRACKERS[n % len(TRACKERS)]
    rid = f"t{n}"
    return Planned(rid, method, url.format(rid=rid), headers, body, True, http2)


def first_party_request(n: int, upstream: Upstream) -> Planned:
    """The n-th plain-HTTP request to the loopback upstream."""
    rid = f"f{n}"
    if n % 2:
        return Planned(rid, "GET", f"{upstream.url}/page?rid={rid}", {}, b"", False, False)
    body = b'{"to": "clinic", "text": "my metformin dose"}'
    headers = {"Content-Type": "application/json"}
    return Planned(rid, "POST", f"{upstream.url}/api?rid={rid}", headers, body, False, False)


def rid_of(url: str) -> str:
    """The ``rid`` a request carried, from its recorded URL."""
    return parse_qs(urlsplit(url).query).get("rid", [""])[0]


class _PreferH2(ssl.SSLContext):
    """Offers h2 before http/1.1: mitmproxy picks the client's first choice."""

    def set_alpn_protocols(self, protocols: Iterable[str]) -> None:
        super().set_alpn_protocols(sorted(protocols, key=lambda p: p != "h2"))


def insecure_context(prefer_h2: bool) -> ssl.SSLContext:
    """A client TLS context that accepts mitmproxy's certificates without its CA."""
    context = (
        _PreferH2(ssl.PROTOCOL_TLS_CLIENT) if prefer_h2 else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    )
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@dataclass
class Traffic:
    """The outcome of :func:`send`: every result, and the most requests in flight at once."""

    results: list[Result]
    peak_in_flight: int
    seconds: float


async def _send(
    proxy_url: str,
    planned: list[Planned],
    concurrency: int,
    on_result: Callable[[Result], None] | None,
) -> Traffic:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    queue: asyncio.Queue[Planned] = asyncio.Queue()
    for item in planned:
        queue.put_nowait(item)
    results: list[Result] = []
    in_flight = peak = 0
    started = time.monotonic()

    async with (
        httpx.AsyncClient(
            proxy=proxy_url, verify=insecure_context(False), limits=limits, timeout=30
        ) as h1,
        httpx.AsyncClient(
            proxy=proxy_url, verify=insecure_context(True), http2=True, limits=limits, timeout=30
        ) as h2,
    ):

        async def worker() -> None:
            nonlocal in_flight, peak
            while not queue.empty():
                item = queue.get_nowait()
                result = Result(item)
                in_flight += 1
                peak = max(peak, in_flight)
                try:
                    client = h2 if item.http2 else h1
                    response = await client.request(
                        item.method, item.url, headers=item.headers, content=item.body
                    )
                    result.status = response.status_code
                    result.http_version = response.http_version
                    result.body = response.content
                except Exception as exc:  # recorded, not hidden: callers check every error
                    # A proxy stopped mid-request can surface as anyio.EndOfStream,
                    # which httpx does not wrap in its own errors.
                    result.error = f"{type(exc).__name__}: {exc}"
                finally:
                    in_flight -= 1
                result.received_at = time.monotonic()
                results.append(result)
                if on_result is not None:
                    on_result(result)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Traffic(results, peak, time.monotonic() - started)


def send(
    proxy_url: str,
    planned: list[Planned],
    concurrency: int = 64,
    on_result: Callable[[Result], None] | None = None,
) -> Traffic:
    """Send every planned request through the proxy, ``concurrency`` at a time."""
    return asyncio.run(_send(proxy_url, planned, concurrency, on_result))


# mitmproxy's tools -------------------------------------------------------------


def tool_path(tool: str = "mitmdump") -> str:
    """A mitmproxy tool from this Python's environment, else from PATH."""
    local = Path(sys.executable).parent / tool
    return str(local) if local.exists() else (shutil.which(tool) or tool)


class Mitmdump:
    """A mitmproxy tool (mitmdump unless told) on 127.0.0.1 with the given scripts and options.

    ``mitmweb`` also gets a web port of its own; ``db`` is only carried for the
    caller (the phitrace database the options point at).
    """

    def __init__(
        self,
        workdir: Path,
        scripts: Sequence[Path] = (),
        options: Sequence[str] = (),
        *,
        tool: str = "mitmdump",
        args: Sequence[str] = (),
        db: Path | None = None,
    ) -> None:
        self.port = free_port()
        self.db = db
        self.tool = tool
        self.web_port: int | None = free_port() if tool == "mitmweb" else None
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / f"{tool}-{self.port}.log"
        command = [tool_path(tool), "--listen-host", "127.0.0.1", "--listen-port", str(self.port)]
        command += ["--set", f"confdir={workdir / 'mitmproxy-conf'}"]
        for script in scripts:
            command += ["-s", str(script)]
        if self.web_port:
            command += ["--set", "web_open_browser=false", "--set", "web_host=127.0.0.1"]
            command += ["--set", f"web_port={self.web_port}"]
        command += args
        for option in options:
            command += ["--set", option]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            for port in (self.port, self.web_port):
                if port:
                    wait_for_port(port, timeout=60.0)
        except TimeoutError:
            raise RuntimeError(f"{tool} did not start:\n" + self.stop()) from None

    @property
    def url(self) -> str:
        """The proxy's address, for a client's proxy setting."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """CPU time (user + system, every thread) the process has used so far."""
        import psutil

        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)

    def output(self) -> str:
        """What the tool has printed so far."""
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 60.0) -> str:
        """Stop it as a user does (SIGTERM), so addons finish their work; return its output."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.output()

    def __enter__(self) -> Mitmdump:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
