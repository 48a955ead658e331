"""Loopback ports for the end-to-end tests and the benchmarks: pick one, wait for a listener."""

from __future__ import annotations

import socket
import time


def free_port() -> int:
    """Ask the kernel for a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port.

    Raises TimeoutError naming the port, so a proxy that never came up fails
    the test with a reason rather than a connection error later on.  The default
    is generous: mitmdump with phitrace builds its vocabulary before it listens,
    which took over 30 seconds on a busy two-core machine.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")
