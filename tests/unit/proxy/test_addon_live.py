"""Live review in mitmproxy: marks, comments, commands, scope, modes and WebSockets."""

from __future__ import annotations

import json
from pathlib import Path

from mitmproxy import websocket
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.test import tflow, tutils
from wsproto.frame_protocol import Opcode

from phitrace.model import Analysis, Finding, Request
from phitrace.proxy.addon import PhiTrace, console_line, summary
from tests.support.database import rows
from tests.support.proxy import flow_for, running

HEALTH_HIT = (
    "https://www.facebook.com/tr/?id=1&ev=Search&dl=https%3A%2F%2Fwww.example.org"
    "%2Fsearch&cd[search_string]=diabetes&fbp=fb.1.2.3"
)
IDS_ONLY = "https://bat.bing.com/action/0?ti=1&evt=pageLoad&vid=abc"
LOADER = "https://connect.facebook.net/en_US/fbevents.js"


async def test_each_severity_gets_its_own_mark_and_a_comment(tmp_path: Path) -> None:
    addon = PhiTrace()
    with running(addon, phitrace_db=str(tmp_path / "p.db")) as (tctx, hooks):
        high, low, info = flow_for(HEALTH_HIT), flow_for(IDS_ONLY), flow_for(LOADER)
        for flow in (high, low, info):
            hooks.request(flow)
        assert high.marked == ":red_circle:"
        assert "meta-pixel [high]" in high.comment
        assert "health_search 'diabetes' in query.cd[search_string]" in high.comment
        assert low.marked == ":large_blue_circle:" and "device_id in query.vid" in low.comment
        assert info.marked == "" and info.metadata["phitrace"]["severity"] == "info"
        hooks.done()


async def test_summary_session_and_report_commands(tmp_path: Path) -> None:
    addon = PhiTrace()
    db = tmp_path / "p.db"
    report = tmp_path / "now.html"
    with running(addon, phitrace_db=str(db), phitrace_label="first") as (tctx, hooks):
        flow = flow_for(HEALTH_HIT)
        hooks.request(flow)
        hooks.error(flow)
        text = tctx.command(addon.recorder.summary_command)
        assert "1 tracker flows (high 1, medium 0, low 0, info 0)" in text
        assert "meta-pixel 1" in text
        tctx.command(addon.recorder.session_command, "second")
        hooks.request(flow_for(IDS_ONLY))
        tctx.command(addon.recorder.report_command, str(report))
        # Stopping the proxy waits for the report it was asked for, however slow.
        hooks.done()
    assert "Meta Pixel" in report.read_text()
    assert rows(db, "select id, label, ended_at is not null from sessions") == [
        (1, "first", 1),
        (2, "second", 1),
    ]
    assert rows(db, "select session_id, vendor from flows order by id") == [
        (1, "meta-pixel"),
        (2, "microsoft-uet"),
    ]


async def test_scope_restricts_analysis_to_pages_of_the_audited_site(tmp_path: Path) -> None:
    addon = PhiTrace()
    with running(addon, phitrace_db=str(tmp_path / "p.db"), phitrace_scope=["example.org"]) as (
        tctx,
        hooks,
    ):
        inside = flow_for(HEALTH_HIT, referer="https://portal.example.org/search?q=diabetes")
        outside = flow_for(HEALTH_HIT, referer="https://news.example.com/")
        hooks.request(inside)
        hooks.request(outside)
        assert inside.marked and not outside.marked
        assert "phitrace" not in outside.metadata
        hooks.done()


async def test_block_mode_answers_flagged_requests_and_lets_others_through(tmp_path: Path) -> None:
    addon = PhiTrace()
    db = tmp_path / "p.db"
    with running(addon, Proxyserver(), phitrace_db=str(db), phitrace_mode="block") as (tctx, hooks):
        leaking, harmless = flow_for(HEALTH_HIT), flow_for(IDS_ONLY)
        hooks.request(leaking)
        hooks.request(harmless)
        assert leaking.response is not None and leaking.response.headers["X-Phitrace"]
        assert harmless.response is None
        hooks.response(leaking)
        harmless.response = tutils.tresp()
        hooks.response(harmless)
        hooks.done()
    assert rows(db, "select vendor, blocked from flows order by id") == [
        ("meta-pixel", 1),
        ("microsoft-uet", 0),
    ]


async def test_redact_mode_strips_health_values_and_records_what_was_removed(
    tmp_path: Path,
) -> None:
    addon = PhiTrace()
    db = tmp_path / "p.db"
    with running(addon, phitrace_db=str(db), phitrace_mode="redact") as (tctx, hooks):
        flow = flow_for(HEALTH_HIT)
        hooks.request(flow)
        assert flow.response is None
        assert flow.request.query["cd[search_string]"] == ""
        assert flow.request.query["id"] == "1" and flow.request.query["ev"] == "Search"
        flow.response = tutils.tresp()
        hooks.response(flow)
        hooks.done()
    (removed,) = rows(db, "select redacted from flows")[0]
    assert "query.cd[search_string]" in json.loads(str(removed))


WS_SIGNATURE = """\
id: replay-example
name: Example session replay
company: Example Inc.
category: session_replay
endpoints: [{hosts: [replay.example.net]}]
fields: {page_url: [url]}
"""


async def test_client_websocket_messages_are_analysed_like_bodies(tmp_path: Path) -> None:
    signature = tmp_path / "replay.yaml"
    signature.write_text(WS_SIGNATURE)
    addon = PhiTrace()
    db = tmp_path / "p.db"
    with running(addon, phitrace_db=str(db), phitrace_signatures=[str(signature)]) as (tctx, hooks):
        flow = tflow.twebsocketflow()
        flow.request.host = "replay.example.net"
        text = json.dumps({"url": "https://www.example.org/conditions/diabetes"}).encode()
        assert flow.websocket is not None
        flow.websocket.messages = [websocket.WebSocketMessage(Opcode.TEXT, True, text)]
        hooks.websocket_message(flow)
        # Messages from the server are not data leaving the browser.
        flow.websocket.messages.append(websocket.WebSocketMessage(Opcode.TEXT, False, text))
        hooks.websocket_message(flow)
        assert flow.marked == ":orange_circle:"
        hooks.done()
    assert rows(db, "select vendor, method, status_code from flows") == [
        ("replay-example", "WEBSOCKET", 101)
    ]
    assert ("condition", "diabetes", "message.url [json]") in rows(
        db, "select category, matched, field from findings"
    )


def test_console_lines_and_comments_carry_no_control_characters() -> None:
    hostile = "diab\x1b[2J\x1b]0;pwned\x07etes\r\nfake line"
    request = Request("GET", f"https://t.example/x?q={hostile}")
    finding = Finding("health", "condition", "query.q\x1b[31m", hostile, hostile, "r", "high")
    analysis = Analysis(request, "meta-pixel\x1b[0m", findings=(finding,), severity="high")
    for text in (summary(analysis), console_line(analysis, "blocked")):
        assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in text), repr(text)
    # Colour is the log handler's job (mitmproxy's termlog colours by level).
    assert console_line(analysis, "blocked").startswith("phitrace HIGH   meta-pixel?[0m [high]")


async def test_imported_lists_flag_trackers_outside_the_catalogue(
    tmp_path: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "house-rules.txt").write_text(
        "! Title: house rules\n||pixel.unlisted-tracker.example^\n"
    )
    monkeypatch.setenv("PHITRACE_LISTS", str(lists))
    addon = PhiTrace()
    db = tmp_path / "p.db"
    with running(addon, phitrace_db=str(db)) as (tctx, hooks):
        flow = flow_for(
            "https://pixel.unlisted-tracker.example/p.gif?u=x",
            referer="https://www.example.org/conditions/asthma",
        )
        hooks.request(flow)
        hooks.error(flow)
        hooks.done()
    assert rows(db, "select vendor from flows") == [("list:house-rules",)]


SOCKET_IO_SIGNATURE = """\
id: chat-example
name: Example live chat
company: Example Inc.
category: other
endpoints: [{hosts: [chat.example.net]}]
"""


async def test_socket_io_websocket_messages_are_split_into_message_fields(
    tmp_path: Path,
) -> None:
    signature = tmp_path / "chat.yaml"
    signature.write_text(SOCKET_IO_SIGNATURE)
    addon = PhiTrace()
    db = tmp_path / "p.db"
    packet = (
        b'42["visitor_event",{"page":{"url":"https://www.example.org/conditions/diabetes"},'
        b'"visitor":{"email":"jane.doe@example.org"}}]'
    )
    with running(addon, phitrace_db=str(db), phitrace_signatures=[str(signature)]) as (tctx, hooks):
        flow = tflow.twebsocketflow()
        flow.request.host = "chat.example.net"
        assert flow.websocket is not None
        flow.websocket.messages = [websocket.WebSocketMessage(Opcode.TEXT, True, packet)]
        hooks.websocket_message(flow)
        hooks.done()
    fields = [str(f) for (f,) in rows(db, "select field from findings")]
    assert "message[1].page.url [socketio>json]" in fields, fields
