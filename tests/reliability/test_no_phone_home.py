"""No phone-home: with sinkhole on, the proxy process dials nothing but loopback."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.database import rows
from tests.support.loopback import Upstream, first_party_request, send, tracker_request

from phitrace.cli.main import ADDON_SCRIPT

pytestmark = pytest.mark.e2e

GUARD = Path(__file__).resolve().parent / "addons" / "socket_guard.py"
LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    """Loopback addresses and names; a Unix socket (an absolute path) is local too."""
    if host in LOOPBACK_NAMES or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def test_sinkholed_tracker_traffic_causes_no_outbound_connection(
    start_proxy,  # type: ignore[no-untyped-def]
    upstream: Upstream,
    tmp_path: Path,
    figures: Callable[[str], None],
) -> None:
    log = tmp_path / "connections.jsonl"
    db = tmp_path / "audit.db"
    # The guard loads before phitrace, so even phitrace's start-up is watched.
    proxy = start_proxy(
        "phitrace_sinkhole=true",
        f"socket_guard_log={log}",
        phitrace=False,
        args=("-s", str(GUARD), "-s", str(ADDON_SCRIPT), "--set", f"phitrace_db={db}"),
    )
    planned = [tracker_request(n, http2=n % 2 == 0) for n in range(200)]
    planned += [first_party_request(n, upstream) for n in range(20)]
    traffic = send(proxy.url, planned, concurrency=20)
    proxy.stop()

    events = [json.loads(line) for line in log.read_text().splitlines()]
    outbound = [e for e in events if not is_loopback(e["host"])]
    figures(
        f"no phone-home: {len(traffic.results)} requests, {len(events)} connection attempts "
        f"and lookups by the proxy, {len(outbound)} beyond loopback"
    )
    assert all(r.status in (200, 204) for r in traffic.results)
    assert rows(db, "select count(*) from flows") == [(200,)]
    # The guard sees the proxy's own loopback dials, so it is watching.
    assert {"kind": "connect", "host": "127.0.0.1", "port": str(upstream.port)} in events
    assert outbound == []
