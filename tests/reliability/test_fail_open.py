"""Fail open: a failure in any stage never reaches the client or the server, and is counted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.support.database import rows
from tests.support.loopback import UPSTREAM_BODY, Upstream, rid_of

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
FAULTS = HERE / "addons" / "fault_injection.py"
STAGES = ("match", "decode", "detect", "assess", "enforce", "show", "store")
ROUNDS = 3
# GA4 through a first-party tagging server: a tracker request the loopback upstream answers.
HIT = (
    "/g/collect?v=2&tid=G-1&cid=1.2&dl=https%3A%2F%2Fwww.example.org"
    "%2Fconditions%2Fdiabetes&phitrace_fault={stage}&rid={stage}-{n}"
)


@pytest.mark.parametrize("mode", ["passive", "redact"])
def test_a_failing_stage_leaves_the_flow_as_sent_and_counts_in_the_session(
    start_proxy,  # type: ignore[no-untyped-def]
    upstream: Upstream,
    figures: Callable[[str], None],
    mode: str,
) -> None:
    proxy = start_proxy(f"phitrace_mode={mode}", args=("-s", str(FAULTS)))
    sent: dict[str, str] = {}
    answers = {}
    with httpx.Client(proxy=proxy.url, timeout=20) as client:
        # Interleaved, so that failing and healthy records share the writer's batches.
        for n in range(ROUNDS):
            for stage in (*STAGES, "none"):
                path = HIT.format(stage=stage, n=n)
                response = client.get(upstream.url + path)
                sent[f"{stage}-{n}"] = path
                answers[f"{stage}-{n}"] = (response.status_code, response.content)
    output = proxy.stop()

    # In passive mode the rewrite is never called, so its fault never fires; in redact
    # mode only requests whose request hook completes are rewritten (the store stage
    # fails later, on the writer thread).
    failing = [s for s in STAGES if mode == "redact" or s != "enforce"]
    changed = {"none", "store"} if mode == "redact" else set()
    arrived = {rid_of(path): path for path in upstream.paths}
    ((errors,),) = rows(proxy.db, "select errors from sessions")
    recorded = sorted(rid_of(str(url)) for (url,) in rows(proxy.db, "select url from flows"))
    marked = dict(
        (rid_of(str(url)), error)
        for url, error in rows(proxy.db, "select url, analysis_error from flows")
    )
    figures(
        f"fail open ({mode}): {len(answers)} requests, faults in {len(failing)} stages, "
        f"{errors} internal errors counted, {len(recorded)} flows recorded"
    )
    assert set(answers.values()) == {(200, UPSTREAM_BODY)}
    assert arrived.keys() == sent.keys()
    for rid, path in sent.items():
        stage = rid.split("-")[0]
        if stage in changed:
            assert "diabetes" not in arrived[rid], (rid, arrived[rid])
        else:  # exactly as the client sent it, even after a failure half-way through redacting
            assert arrived[rid] == path, (rid, arrived[rid])
    assert errors == len(failing) * ROUNDS
    # A failure after the analysis (enforcing, showing) leaves the flow as sent but never
    # loses its record; a failure inside the analysis keeps the request as sent, marked
    # with the error; only the store stage, which fails on the writer thread, loses it.
    analysis = ("match", "decode", "detect", "assess")
    kept = ("none", "enforce", "show", *analysis)
    assert recorded == sorted(f"{s}-{n}" for s in kept for n in range(ROUNDS))
    for rid, error in marked.items():
        failed_analysis = rid.split("-")[0] in analysis
        assert error == ("request hook: InjectedFault" if failed_analysis else None), rid
    # Each failure in the request hook is logged once, with the flow's id.
    in_request_hook = [s for s in failing if s != "store"]
    assert output.count("internal error in request hook for flow") == len(in_request_hook) * ROUNDS
    for stage in in_request_hook:
        assert output.count(f"InjectedFault: injected failure in the {stage} stage") == ROUNDS
    assert "could not store 1 of" in output
