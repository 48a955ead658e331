"""Passive sessions analysed in a worker process: verdicts come back, every record is kept."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from collections.abc import Callable
from pathlib import Path

from mitmproxy import http
from mitmproxy.test import tutils

from phitrace.proxy.addon import PhiTrace
from tests.support.database import rows
from tests.support.proxy import flow_for, running

GA4 = (
    "https://region1.google-analytics.com/g/collect?v=2&tid=G-1&cid=1.2"
    "&dl=https%3A%2F%2Fwww.example.org%2Fconditions%2Fdiabetes&rid={}"
)


def tracker_flows(count: int) -> list[http.HTTPFlow]:
    return [flow_for(GA4.format(n), "POST") for n in range(count)]


async def until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    """Let the event loop run (the worker's results arrive through it) until ``condition``."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


def answer(flow: http.HTTPFlow, status: int = 200) -> None:
    flow.response = tutils.tresp(status_code=status)


async def test_a_passive_session_marks_flows_a_moment_later_and_records_each_once(
    tmp_path: Path,
) -> None:
    addon = PhiTrace(workers=True)
    db = tmp_path / "p.db"
    with running(addon, phitrace_db=str(db)) as (tctx, hooks):
        assert addon.state.offloop is not None and addon.writer is None
        flows = tracker_flows(30)
        for flow in flows:
            hooks.request(flow)
            assert flow.response is None  # passive: the flow goes on untouched
        await until(lambda: all(flow.marked for flow in flows))
        assert "google-analytics [high]" in flows[0].comment
        assert flows[0].metadata["phitrace"]["action"] == "passive"
        for flow in flows[:20]:
            answer(flow)
            hooks.response(flow)
        hooks.done()
    urls = [url for (url,) in rows(db, "select url from flows order by id")]
    assert urls == [flow.request.url for flow in flows[:20]] + [f.request.url for f in flows[20:]]
    statuses = rows(db, "select status_code, count(*) from flows group by 1 order by 1")
    assert statuses == [(None, 10), (200, 20)]
    assert rows(db, "select errors, ended_at is not null from sessions") == [(0, 1)]


WITH_HEALTH = (
    "https://www.facebook.com/tr/?id=1&ev=Search&dl=https%3A%2F%2Fwww.example.org"
    "%2Fsearch&cd[search_string]=diabetes&fbp=fb.1.2.3"
)
ID_ONLY = "https://www.facebook.com/tr/?id=1&ev=PageView&fbp=fb.1.2.3&ud[em]=" + "a" * 64


async def test_the_worker_links_requests_as_the_event_loop_does(tmp_path: Path) -> None:
    # The same browser id first with health data, then with an e-mail: the second is linked.
    addon = PhiTrace(workers=True)
    db = tmp_path / "p.db"
    with running(addon, phitrace_db=str(db)) as (tctx, hooks):
        for url in (WITH_HEALTH, ID_ONLY):
            flow = flow_for(url, "POST")
            hooks.request(flow)
            answer(flow)
            hooks.response(flow)
        hooks.done()
    inline = PhiTrace()
    db2 = tmp_path / "q.db"
    with running(inline, phitrace_db=str(db2)) as (tctx, hooks):
        for url in (WITH_HEALTH, ID_ONLY):
            flow = flow_for(url, "POST")
            hooks.request(flow)
            answer(flow)
            hooks.response(flow)
        hooks.done()
    query = "select url, severity, severity_reason from flows order by id"
    assert rows(db, query) == rows(db2, query)


async def test_switching_to_block_mid_session_brings_the_analysis_back_to_the_loop(
    tmp_path: Path,
) -> None:
    addon = PhiTrace(workers=True)
    db = tmp_path / "p.db"
    with running(addon, phitrace_db=str(db)) as (tctx, hooks):
        first = tracker_flows(1)[0]
        hooks.request(first)
        tctx.configure(addon, phitrace_mode="block", phitrace_block_severity="low")
        assert addon.state.offloop is None and addon.writer is not None
        answer(first)
        hooks.response(first)
        second = flow_for(GA4.format(99), "POST")
        hooks.request(second)
        assert second.response is not None, "block mode answers on the spot"
        hooks.response(second)
        hooks.done()
    assert rows(db, "select blocked from flows order by id") == [(0,), (1,)]


async def test_a_dead_worker_costs_no_record_and_traffic_goes_on(tmp_path: Path) -> None:
    addon = PhiTrace(workers=True)
    db = tmp_path / "p.db"
    with running(addon, phitrace_db=str(db)) as (tctx, hooks):
        offloop = addon.state.offloop
        assert offloop is not None
        flows = tracker_flows(20)
        for flow in flows[:10]:
            hooks.request(flow)
        for flow in flows[:5]:
            answer(flow)
            hooks.response(flow)
        await until(lambda: len(offloop.pending) == 5)  # the answered five are committed
        os.kill(offloop.pid, signal.SIGKILL)
        await until(lambda: addon.state.offloop is None)
        for flow in flows[10:]:
            hooks.request(flow)
        for flow in flows[5:]:
            answer(flow)
            hooks.response(flow)
        hooks.done()
    urls = [url for (url,) in rows(db, "select url from flows")]
    assert sorted(urls) == sorted(flow.request.url for flow in flows)
    assert len(urls) == len(set(urls))
    ((errors,),) = rows(db, "select errors from sessions")
    assert errors == 1


async def test_the_sinkhole_answers_on_the_spot_and_the_record_says_so(tmp_path: Path) -> None:
    addon = PhiTrace(workers=True)
    db = tmp_path / "p.db"
    with running(addon, phitrace_db=str(db), phitrace_sinkhole=True) as (tctx, hooks):
        assert addon.state.offloop is not None
        flow = tracker_flows(1)[0]
        flow.request.headers["Sec-Fetch-Dest"] = "empty"
        hooks.request(flow)
        assert flow.response is not None, "answered by the sinkhole before the analysis"
        status = flow.response.status_code
        assert flow.metadata["phitrace"] == {"action": "sinkhole", "analysed": False}
        hooks.response(flow)
        await until(lambda: bool(flow.marked))
        assert flow.metadata["phitrace"]["action"] == "sinkhole"
        assert "analysed" not in flow.metadata["phitrace"]
        hooks.done()
    assert rows(db, "select vendor, status_code, blocked from flows") == [
        ("google-analytics", status, 1)
    ]


async def test_commands_see_what_the_worker_recorded(tmp_path: Path) -> None:
    addon = PhiTrace(workers=True)
    db = tmp_path / "p.db"
    report = tmp_path / "now.html"
    with running(addon, phitrace_db=str(db), phitrace_label="first") as (tctx, hooks):
        flow = flow_for(WITH_HEALTH)
        hooks.request(flow)
        hooks.error(flow)
        await until(lambda: bool(flow.marked))
        assert "1 tracker flows" in tctx.command(addon.recorder.summary_command)
        tctx.command(addon.recorder.session_command, "second")
        assert addon.state.offloop is not None, "the new session has a worker of its own"
        flow = flow_for(ID_ONLY)
        hooks.request(flow)
        tctx.command(addon.recorder.report_command, str(report))
        hooks.done()
    assert "Meta Pixel" in report.read_text()
    assert rows(db, "select id, label, ended_at is not null from sessions") == [
        (1, "first", 1),
        (2, "second", 1),
    ]
    assert rows(db, "select session_id, count(*) from flows group by 1") == [(1, 1), (2, 1)]


async def test_a_flow_let_go_before_its_verdict_is_still_counted_and_recorded(
    tmp_path: Path,
) -> None:
    # mitmdump keeps no flow once it is answered: the worker's verdict must not need it.
    addon = PhiTrace(workers=True)
    db = tmp_path / "p.db"
    with running(addon, phitrace_db=str(db)) as (tctx, hooks):
        flows = tracker_flows(3)
        for flow in flows:
            hooks.request(flow)
            answer(flow)
            hooks.response(flow)
        kept, ids = flows[0], [flow.id for flow in flows]
        del flow, flows
        gc.collect()
        offloop = addon.state.offloop
        assert offloop is not None
        assert [offloop.pending[key].flow is None for key in ids] == [False, True, True]
        await until(lambda: sum(addon.session.severities.values()) == 3)
        assert kept.marked
        hooks.done()
    assert rows(db, "select count(*), min(status_code) from flows") == [(3, 200)]
    assert rows(db, "select errors from sessions") == [(0,)]
