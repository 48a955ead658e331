"""Real processes on loopback: a fixture web site, mitmdump with phitrace, headless Chromium."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def free_port() -> int:
    """Ask the kernel for a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        # /conditions/type-2-diabetes and friends serve the fixture page.
        if self.path.startswith("/conditions/"):
            self.path = "/condition.html"
        super().do_GET()


@pytest.fixture
def site() -> Iterator[str]:
    """Serve tests/fixtures/site on 127.0.0.1; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(FIXTURES / "site"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Proxy:
    """A running mitmdump with the phitrace addon."""

    def __init__(self, port: int, db: Path, process: subprocess.Popen[bytes], log: Path) -> None:
        self.port = port
        self.db = db
        self.process = process
        self.log = log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 30.0) -> str:
        """Stop mitmdump the way a user does (SIGTERM) and return its output."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log.read_text(errors="replace")


def mitmdump_path() -> str:
    local = Path(sys.executable).parent / "mitmdump"
    return str(local) if local.exists() else (shutil.which("mitmdump") or "mitmdump")


@pytest.fixture
def start_proxy(tmp_path: Path) -> Iterator[object]:
    """Factory: start mitmdump + phitrace with extra --set options; stopped at teardown."""
    from phitrace.cli import ADDON_SCRIPT

    started: list[Proxy] = []

    def start(*options: str, db: Path | None = None) -> Proxy:
        port = free_port()
        db = db or tmp_path / "phitrace.db"
        log = tmp_path / f"mitmdump-{port}.log"
        args = [
            mitmdump_path(),
            "-s",
            str(ADDON_SCRIPT),
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            str(port),
            "--set",
            f"phitrace_db={db}",
            "--set",
            f"confdir={tmp_path / 'mitmproxy-conf'}",
        ]
        for option in options:
            args += ["--set", option]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with log.open("wb") as out:
            process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
        proxy = Proxy(port, db, process, log)
        started.append(proxy)
        try:
            wait_for_port(port)
        except TimeoutError:
            raise RuntimeError("mitmdump did not start:\n" + proxy.stop()) from None
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


@pytest.fixture
def browser_for() -> Iterator[object]:
    """Factory: a headless Chromium (via Playwright) whose traffic goes through a proxy."""
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    browsers = []

    def launch(proxy_url: str):  # type: ignore[no-untyped-def]
        browser = manager.chromium.launch(
            executable_path=chromium_executable(),
            args=[
                *CHROMIUM_FLAGS,
                f"--proxy-server={proxy_url}",
                "--proxy-bypass-list=<-loopback>",
                "--ignore-certificate-errors",
            ],
        )
        browsers.append(browser)
        return browser

    yield launch
    for browser in browsers:
        browser.close()
    manager.stop()
