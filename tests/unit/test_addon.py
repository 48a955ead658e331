"""The mitmproxy addon, driven through mitmproxy's own test harness."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.test import taddons, tflow, tutils

from phitrace.addon import PhiTrace

GA4 = (
    "https://region1.google-analytics.com/g/collect?v=2&tid=G-1&cid=1.2"
    "&dl=https%3A%2F%2Fwww.example.org%2Fconditions%2Fdiabetes"
)


def tracker_flow(url: str = GA4, method: str = "POST", headers: dict | None = None):  # type: ignore[no-untyped-def]
    parts = url.split("/", 3)
    host = parts[2]
    req = tutils.treq(
        method=method.encode(),
        scheme=b"https",
        host=host,
        port=443,
        path=("/" + parts[3]).encode(),
        content=b"",
    )
    for key, value in (headers or {}).items():
        req.headers[key] = value
    return tflow.tflow(req=req, resp=False)


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql))


async def test_options_are_declared_with_the_phitrace_prefix() -> None:
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        names = {n for n in tctx.options.keys() if n.startswith("phitrace_")}
    assert names == {
        "phitrace_db",
        "phitrace_sinkhole",
        "phitrace_signatures",
        "phitrace_canaries",
        "phitrace_label",
        "phitrace_store_bodies",
        "phitrace_mode",
        "phitrace_block_severity",
        "phitrace_consent",
        "phitrace_scope",
        "phitrace_report",
    }


async def test_sinkhole_answers_tracker_requests_locally_and_records_them(tmp_path: Path) -> None:
    addon = PhiTrace()
    db = tmp_path / "p.db"
    with taddons.context(addon, Proxyserver()) as tctx:
        tctx.configure(addon, phitrace_db=str(db), phitrace_sinkhole=True, phitrace_label="t")
        assert tctx.options.connection_strategy == "lazy"
        addon.running()
        flow = tracker_flow(headers={"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "no-cors"})
        addon.request(flow)
        assert flow.response is not None and flow.response.status_code == 204
        assert flow.marked == ":red_circle:"
        assert "google-analytics [high]" in flow.comment
        assert flow.metadata["phitrace"]["vendor"] == "google-analytics"
        addon.response(flow)
        addon.done()
    assert rows(db, "select vendor, status_code, blocked, severity from flows") == [
        ("google-analytics", 204, 1, "high")
    ]
    assert ("condition", "diabetes") in rows(db, "select category, matched from findings")
    assert rows(db, "select label, ended_at is not null from sessions") == [("t", 1)]


async def test_passive_mode_leaves_the_flow_alone_and_records_after_the_response(
    tmp_path: Path,
) -> None:
    addon = PhiTrace()
    db = tmp_path / "p.db"
    with taddons.context(addon) as tctx:
        tctx.configure(addon, phitrace_db=str(db))
        addon.running()
        flow = tracker_flow()
        before = flow.request.get_state()
        addon.request(flow)
        assert flow.response is None
        assert flow.request.get_state() == before
        flow.response = tutils.tresp(status_code=200)
        addon.response(flow)
        addon.done()
    assert rows(db, "select vendor, status_code, blocked from flows") == [
        ("google-analytics", 200, 0)
    ]


async def test_non_tracker_flows_are_not_recorded(tmp_path: Path) -> None:
    addon = PhiTrace()
    db = tmp_path / "p.db"
    with taddons.context(addon) as tctx:
        tctx.configure(addon, phitrace_db=str(db), phitrace_sinkhole=True)
        addon.running()
        flow = tracker_flow("https://www.example.org/conditions/diabetes", method="GET")
        addon.request(flow)
        assert flow.response is None and not flow.marked
        addon.done()
    assert rows(db, "select count(*) from flows") == [(0,)]


async def test_an_error_inside_phitrace_never_reaches_the_flow(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, phitrace_db=str(tmp_path / "p.db"), phitrace_sinkhole=True)
        addon.running()

        def explode(request):  # type: ignore[no-untyped-def]
            raise RuntimeError("boom")

        assert addon.analyzer is not None
        addon.analyzer.analyse = explode  # type: ignore[method-assign]
        flow = tracker_flow()
        addon.request(flow)
        assert flow.response is None and flow.error is None
        assert addon.errors == 1
        assert "internal error in request hook" in caplog.text
        addon.done()


async def test_bad_signature_option_is_rejected_with_the_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "id: Not A Slug\nname: x\ncompany: y\ncategory: analytics\n"
        "endpoints: [{hosts: [x.example]}]\n"
    )
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        with pytest.raises(exceptions.OptionsError, match=r"broken.yaml:1: id 'Not A Slug'"):
            tctx.configure(addon, phitrace_signatures=str(broken))


async def test_canary_option_loads_the_persona(tmp_path: Path) -> None:
    canaries = tmp_path / "c.yaml"
    canaries.write_text("canaries: {email: jane.canary@example.org}\n")
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, phitrace_canaries=str(canaries))
        assert addon.analyzer is not None and addon.analyzer.canaries
        with pytest.raises(exceptions.OptionsError, match="Cannot load phitrace_canaries"):
            tctx.configure(addon, phitrace_canaries=str(tmp_path / "missing.yaml"))
