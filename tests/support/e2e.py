"""Real processes on loopback for the end-to-end and reliability tests.

A fixture web site, mitmdump with phitrace, headless Chromium and a TLS
upstream that records raw requests; the conftests of ``tests/e2e`` and
``tests/reliability`` import the fixtures from here.
"""

from __future__ import annotations

import datetime
import functools
import http.server
import os
import shutil
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.loopback import Mitmdump

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        # /conditions/type-2-diabetes and friends serve the fixture page.
        if self.path.startswith("/conditions/"):
            self.path = "/condition.html"
        super().do_GET()


def _serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def serve() -> Iterator[object]:
    """Factory: serve a directory on 127.0.0.1; yields its base URL; stopped at teardown."""
    servers = []

    def start(directory: Path) -> str:
        server, url = _serve(directory)
        servers.append(server)
        return url

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site(serve) -> str:  # type: ignore[no-untyped-def]
    """The fixture health page site (tests/fixtures/site) on 127.0.0.1."""
    return str(serve(FIXTURES / "site"))


Proxy = Mitmdump
"""A running mitmdump (or mitmweb) with the phitrace addon."""


@pytest.fixture
def start_proxy(tmp_path: Path) -> Iterator[object]:
    """Factory: start mitmdump + phitrace with extra --set options; stopped at teardown."""
    from phitrace.cli.main import ADDON_SCRIPT

    started: list[Proxy] = []

    def start(
        *options: str,
        db: Path | None = None,
        tool: str = "mitmdump",
        args: tuple[str, ...] = (),
        phitrace: bool = True,
    ) -> Proxy:
        db = db or tmp_path / "phitrace.db"
        scripts = [ADDON_SCRIPT] if phitrace else []
        settings = [f"phitrace_db={db}", *options] if phitrace else list(options)
        proxy = Proxy(tmp_path, scripts, settings, tool=tool, args=args, db=db)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def chromium_executable() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Debian's chromium is not installed; run 'make test', which installs it")


def _launch(manager: Any, *extra: str) -> Any:
    """Debian's Chromium, headless with the project's flags, through Playwright."""
    return manager.chromium.launch(
        executable_path=chromium_executable(), args=[*CHROMIUM_FLAGS, *extra]
    )


@pytest.fixture
def browser_for() -> Iterator[object]:
    """Factory: a headless Chromium (via Playwright) whose traffic goes through a proxy."""
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    browsers = []

    def launch(proxy_url: str):  # type: ignore[no-untyped-def]
        browser = _launch(
            manager,
            f"--proxy-server={proxy_url}",
            "--proxy-bypass-list=<-loopback>",
            "--ignore-certificate-errors",
        )
        browsers.append(browser)
        return browser

    yield launch
    for browser in browsers:
        browser.close()
    manager.stop()


@pytest.fixture(scope="module")
def offline_browser() -> Iterator[Any]:
    """A headless Chromium without a proxy, shared by a module, for pages opened from files."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as manager:
        browser = _launch(manager)
        yield browser
        browser.close()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate and key for the recorder."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "recorder.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "recorder.pem", directory / "recorder.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Recorder:
    """Accepts TLS connections on 127.0.0.1 and records each HTTP/1.1 request's raw bytes."""

    def __init__(self, directory: Path) -> None:
        cert, key = self_signed(directory)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.context.set_alpn_protocols(["http/1.1"])
        self.requests: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stop = True
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        conn: socket.socket = raw
        try:
            conn = self.context.wrap_socket(raw, server_side=True)
            conn.settimeout(10)
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                buffer = rest[length:]
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except (OSError, ssl.SSLError, ValueError):
            return
        finally:
            conn.close()
            raw.close()

    def by_id(self) -> dict[str, bytes]:
        """Recorded requests keyed by their X-Test-Id header."""
        found = {}
        for request in self.requests:
            for line in request.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
                if line.lower().startswith(b"x-test-id:"):
                    found[line.split(b":", 1)[1].strip().decode()] = request
        return found


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[object]:
    """Factory: a loopback TLS upstream recording raw request bytes; closed at teardown."""
    made: list[Recorder] = []

    def make() -> Recorder:
        made.append(Recorder(tmp_path))
        return made[-1]

    yield make
    for item in made:
        item.close()


@pytest.fixture
def chromium() -> str:
    """Path of Debian's Chromium."""
    return chromium_executable()


def need_tool(tool: str, install: str) -> str:
    """The path of a command-line tool the test needs.

    In CI (``CI=true``) a missing tool fails the test with one line saying
    what to install, so a machine without it never passes by skipping;
    elsewhere the test is skipped with the same reason.
    """
    found = shutil.which(tool)
    if found:
        return found
    reason = f"{tool} is not installed; install it with '{install}'"
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)
