"""A tracker request with a spoofed Host header, through a real mitmdump: still sinkholed.

mitmdump runs in upstream mode towards the loopback server, so a request the
proxy forwarded would arrive there (and nothing leaves the machine).
"""

from __future__ import annotations

import httpx
import pytest
from tests.support.database import rows, wait_for_session
from tests.support.loopback import UPSTREAM_BODY, Upstream

pytestmark = pytest.mark.e2e

TRACKER = "http://www.google-analytics.com/collect?v=1&t=pageview&tid=UA-1&cid=1.2&dt=diabetes"


@pytest.mark.parametrize("host_header", ["cdn.example.org", "x"])
def test_a_spoofed_host_header_does_not_let_a_tracker_request_through(
    start_proxy,  # type: ignore[no-untyped-def]
    upstream: Upstream,
    host_header: str,
) -> None:
    proxy = start_proxy("phitrace_sinkhole=true", args=("--mode", f"upstream:{upstream.url}"))
    wait_for_session(proxy.db)
    with httpx.Client(proxy=proxy.url, timeout=30) as client:
        response = client.get(TRACKER, headers={"Host": host_header})
    output = proxy.stop()

    assert response.content != UPSTREAM_BODY and upstream.requests == 0, "forwarded"
    ((vendor, url),) = rows(proxy.db, "select vendor, url from flows")
    assert vendor == "google-analytics"
    assert str(url).startswith("http://www.google-analytics.com/collect?")
    assert "Traceback" not in output
