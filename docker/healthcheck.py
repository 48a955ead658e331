#!/usr/bin/env python3
"""Container health: the proxy (and mitmweb's UI) listen and mitmproxy's CA has been written.

The UI's port counts too: mitmweb opens it after the proxy port, and a "healthy" container
whose published UI port still resets connections would fail whoever opens it first.

The listening socket is read from /proc/net rather than probed: a connection every
few seconds would fill mitmproxy's event log with connects and disconnects.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

LISTEN = "0A"  # the TCP state code of a listening socket in /proc/net/tcp


def listening(port: int, tables: tuple[Path, ...]) -> bool:
    """True when a socket listens on ``port`` in any of the /proc/net/tcp tables."""
    suffix = f":{port:04X}"
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            columns = line.split()
            if len(columns) > 3 and columns[1].endswith(suffix) and columns[3] == LISTEN:
                return True
    return False


PROXY_PORT = 8080
WEB_PORT = 8081
TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))


def problem(ports: tuple[int, ...], ca: Path, tables: tuple[Path, ...] = TABLES) -> str | None:
    """Why the container is unhealthy, or None when it is healthy."""
    if not ca.is_file():
        return f"no CA certificate at {ca} yet"
    for port in ports:
        if not listening(port, tables):
            return f"nothing listens on port {port} yet"
    return None


def expected_ports(ui: str) -> tuple[int, ...]:
    """The ports the entry point makes phitrace listen on for this PHITRACE_UI."""
    return (PROXY_PORT, WEB_PORT) if ui == "web" else (PROXY_PORT,)


def main() -> int:
    confdir = Path(os.environ.get("PHITRACE_CONFDIR", "/home/phitrace/.mitmproxy"))
    ports = expected_ports(os.environ.get("PHITRACE_UI", "web"))
    reason = problem(ports, confdir / "mitmproxy-ca-cert.pem")
    if reason:
        print(reason, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
