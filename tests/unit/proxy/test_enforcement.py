"""Enforcement through the addon: sinkhole, block and redact on the flows mitmproxy hands over."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.test import taddons, tutils

from phitrace.proxy.addon import PhiTrace
from tests.support.proxy import Hooks, flow_for, rows

GA4 = (
    "https://region1.google-analytics.com/g/collect?v=2&tid=G-1&cid=1.2"
    "&dl=https%3A%2F%2Fwww.example.org%2Fconditions%2Fdiabetes"
)
PORTAL_PAGE = "https://portal.example/appointments"
HEALTH_FORM = (
    b"v=2&tid=G-1&cid=1.2&en=page_view&dl=https%3A%2F%2Fwww.example.org%2Fconditions%2Fdiabetes"
)


async def test_redact_removes_a_raw_gzip_body_it_cannot_rewrite_and_records_the_flow(
    tmp_path: Path,
) -> None:
    # PostHog and Clarity send gzip without Content-Encoding: mitmproxy hands the raw bytes.
    db = tmp_path / "p.db"
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        hooks = Hooks(tctx, addon)
        tctx.configure(addon, phitrace_db=str(db), phitrace_mode="redact")
        hooks.running()
        flow = flow_for(
            "https://region1.google-analytics.com/g/collect?v=2&tid=G-1",
            method="POST",
            body=gzip.compress(HEALTH_FORM),
        )
        assert "content-encoding" not in flow.request.headers
        hooks.request(flow)
        forwarded = flow.request.get_content(strict=False) or b""
        assert b"diabetes" not in forwarded and b"diabetes" not in gzip_or_raw(forwarded)
        assert flow.response is None, "redact forwards the request, without the health data"
        assert flow.metadata["phitrace"]["action"] == "redacted"
        flow.response = tutils.tresp()
        hooks.response(flow)
        hooks.done()
    assert rows(db, "select vendor, severity from flows") == [("google-analytics", "high")]
    ((removed,),) = rows(db, "select redacted from flows")
    assert "body" in json.loads(str(removed))
    assert rows(db, "select errors from sessions") == [(0,)]


def gzip_or_raw(data: bytes) -> bytes:
    """The bytes a vendor would read: gunzipped when they are gzip."""
    try:
        return gzip.decompress(data)
    except (OSError, EOFError):
        return data


async def test_sinkhole_answers_trackers_from_pages_out_of_scope_without_recording_them(
    tmp_path: Path,
) -> None:
    db = tmp_path / "p.db"
    addon = PhiTrace()
    with taddons.context(addon, Proxyserver()) as tctx:
        hooks = Hooks(tctx, addon)
        tctx.configure(addon, phitrace_db=str(db), phitrace_sinkhole=True)
        tctx.options.set("phitrace_scope=portal.example")  # as `phitrace proxy --scope`
        hooks.running()
        outside = flow_for(GA4, referer="https://news.example.com/story")
        inside = flow_for(GA4, referer=PORTAL_PAGE)
        first_party = flow_for("https://news.example.com/", referer="https://news.example.com/")
        for flow in (outside, inside, first_party):
            hooks.request(flow)
        assert outside.response is not None and outside.response.headers["X-Phitrace"]
        assert inside.response is not None and inside.response.headers["X-Phitrace"]
        assert first_party.response is None
        assert not outside.marked and inside.marked
        for flow in (outside, inside):
            hooks.response(flow)
        hooks.done()
    assert rows(db, "select page_url from flows") == [(PORTAL_PAGE,)]


async def test_sinkhole_answers_a_tracker_request_with_a_malformed_referer(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    addon = PhiTrace()
    with taddons.context(addon, Proxyserver()) as tctx:
        hooks = Hooks(tctx, addon)
        tctx.configure(addon, phitrace_db=str(db), phitrace_sinkhole=True)
        hooks.running()
        flow = flow_for(GA4, referer="http://[clinic.example/")
        hooks.request(flow)
        assert flow.response is not None and flow.response.headers["X-Phitrace"] == "sinkhole"
        hooks.response(flow)
        hooks.done()
    assert rows(db, "select vendor, blocked from flows") == [("google-analytics", 1)]
    assert rows(db, "select errors from sessions") == [(0,)]


async def test_flows_already_answered_failed_or_replayed_are_not_answered_again(
    tmp_path: Path,
) -> None:
    addon = PhiTrace()
    with taddons.context(addon, Proxyserver()) as tctx:
        hooks = Hooks(tctx, addon)
        tctx.configure(addon, phitrace_db=str(tmp_path / "p.db"), phitrace_sinkhole=True)
        hooks.running()
        answered, replayed = flow_for(GA4), flow_for(GA4)
        theirs = tutils.tresp(status_code=418)
        answered.response = theirs
        replayed.live = False
        for flow in (answered, replayed):
            hooks.request(flow)
        assert answered.response is theirs
        assert replayed.response is None
        assert replayed.marked, "a flow that is not answered is still analysed"
        hooks.done()


COUNTLY = "https://portal-health.count.ly/i?app_key=abc&device_id=dev-1&events=%5B%5D"


async def test_sinkhole_gives_a_collector_the_answer_its_signature_declares(
    tmp_path: Path,
) -> None:
    addon = PhiTrace()
    with taddons.context(addon, Proxyserver()) as tctx:
        hooks = Hooks(tctx, addon)
        tctx.configure(addon, phitrace_db=str(tmp_path / "p.db"), phitrace_sinkhole=True)
        tctx.options.set("phitrace_scope=portal.example")
        hooks.running()
        inside = flow_for(COUNTLY, method="POST", referer=PORTAL_PAGE)
        outside = flow_for(COUNTLY, method="POST", referer="https://news.example.com/")
        for flow in (inside, outside):
            hooks.request(flow)
            assert flow.response is not None, "answered locally, in scope or not"
            assert flow.response.headers["X-Phitrace"] == "sinkhole"
            assert json.loads(flow.response.content or b"") == {"result": "Success"}
            hooks.response(flow)
        hooks.done()
