"""Fail open: a failure in any pipeline stage never reaches the client, and is counted."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from loopback import UPSTREAM_BODY, Upstream, rid_of, rows

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
FAULTS = HERE / "addons" / "fault_injection.py"
STAGES = ("match", "decode", "detect", "assess", "store")
ROUNDS = 3
# GA4 through a first-party tagging server: a tracker request the loopback upstream answers.
HIT = (
    "{upstream}/g/collect?v=2&tid=G-1&cid=1.2&dl=https%3A%2F%2Fwww.example.org"
    "%2Fconditions%2Fdiabetes&phitrace_fault={stage}&rid={stage}-{n}"
)


def test_a_failing_stage_leaves_the_flow_to_its_server_and_counts_in_the_session(
    start_proxy,  # type: ignore[no-untyped-def]
    upstream: Upstream,
) -> None:
    proxy = start_proxy(args=("-s", str(FAULTS)))
    answers = {}
    with httpx.Client(proxy=proxy.url, timeout=20) as client:
        # Interleaved, so that failing and healthy records share the writer's batches.
        for n in range(ROUNDS):
            for stage in (*STAGES, "none"):
                response = client.get(HIT.format(upstream=upstream.url, stage=stage, n=n))
                answers[f"{stage}-{n}"] = (response.status_code, response.content)
    output = proxy.stop()

    ((errors,),) = rows(proxy.db, "select errors from sessions")
    recorded = sorted(rid_of(str(url)) for (url,) in rows(proxy.db, "select url from flows"))
    print(f"\nfail open: {len(answers)} requests, {errors} internal errors counted")
    assert set(answers.values()) == {(200, UPSTREAM_BODY)}
    assert upstream.requests == len(answers)
    assert errors == len(STAGES) * ROUNDS
    assert recorded == [f"none-{n}" for n in range(ROUNDS)]
    # Each failure in the request hook is logged once, with the flow's id.
    assert output.count("internal error in request hook for flow") == 4 * ROUNDS
    for stage in STAGES[:4]:
        assert output.count(f"InjectedFault: injected failure in the {stage} stage") == ROUNDS
    assert "could not store 1 of" in output
