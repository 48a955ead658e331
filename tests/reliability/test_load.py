"""Load through a real mitmdump: no proxy errors, exactly one flows row per tracker request."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest
from tests.support.database import rows
from tests.support.loopback import (
    UPSTREAM_BODY,
    Planned,
    Upstream,
    first_party_request,
    rid_of,
    send,
    tracker_request,
)

pytestmark = pytest.mark.e2e

TRACKER_REQUESTS = 3000  # half over HTTP/2, half over HTTP/1.1, all HTTPS
FIRST_PARTY_REQUESTS = 2000  # plain HTTP/1.1 to the loopback upstream
CONCURRENCY = 64


def plan(upstream: Upstream) -> list[Planned]:
    planned = [tracker_request(n, http2=n % 2 == 0) for n in range(TRACKER_REQUESTS)]
    planned += [first_party_request(n, upstream) for n in range(FIRST_PARTY_REQUESTS)]
    random.Random(10).shuffle(planned)
    return planned


@pytest.mark.slow
def test_mixed_load_loses_and_duplicates_no_tracker_flow(
    start_proxy,  # type: ignore[no-untyped-def]
    upstream: Upstream,
    figures: Callable[[str], None],
) -> None:
    proxy = start_proxy("phitrace_sinkhole=true", "flow_detail=0")
    planned = plan(upstream)
    traffic = send(proxy.url, planned, CONCURRENCY)
    output = proxy.stop()

    failed = [r for r in traffic.results if r.error or r.status not in (200, 204)]
    versions = Counter(r.http_version for r in traffic.results)
    recorded = Counter(rid_of(str(url)) for (url,) in rows(proxy.db, "select url from flows"))
    sent = {p.rid for p in planned if p.tracker}
    ((errors, ended),) = rows(proxy.db, "select errors, ended_at from sessions")
    figures(
        f"load: {len(traffic.results)} requests ({TRACKER_REQUESTS} tracker, "
        f"{FIRST_PARTY_REQUESTS} first-party) in {traffic.seconds:.1f} s "
        f"({len(traffic.results) / traffic.seconds:.0f}/s), peak {traffic.peak_in_flight} "
        f"in flight, {dict(versions)}; tracker flows recorded {sum(recorded.values())} "
        f"of {len(sent)} sent; proxy errors {errors}"
    )

    assert failed == [], failed[:3]
    assert traffic.peak_in_flight >= 50
    assert versions["HTTP/2"] == TRACKER_REQUESTS // 2
    assert upstream.requests == FIRST_PARTY_REQUESTS
    assert all(r.body == UPSTREAM_BODY for r in traffic.results if not r.planned.tracker)
    assert set(recorded) == sent
    assert max(recorded.values()) == 1
    assert errors == 0 and ended is not None
    assert "Traceback" not in output and "internal error" not in output
