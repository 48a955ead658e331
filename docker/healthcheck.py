#!/usr/bin/env python3
"""Container health: the proxy is listening and mitmproxy's CA has been written.

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


def problem(port: int, ca: Path) -> str | None:
    """Why the container is unhealthy, or None when it is healthy."""
    if not ca.is_file():
        return f"no CA certificate at {ca} yet"
    if not listening(port, (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))):
        return f"nothing listens on port {port} yet"
    return None


def main() -> int:
    confdir = Path(os.environ.get("PHITRACE_CONFDIR", "/home/phitrace/.mitmproxy"))
    reason = problem(8080, confdir / "mitmproxy-ca-cert.pem")
    if reason:
        print(reason, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
