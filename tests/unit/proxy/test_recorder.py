"""Recording sessions through the addon: one Session each, and no record lost to a failure."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from mitmproxy import websocket
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.exceptions import CommandError
from mitmproxy.test import taddons, tflow, tutils
from wsproto.frame_protocol import Opcode

from phitrace.proxy.addon import PhiTrace
from tests.support.postgres import Server
from tests.support.postgres import rows as pg_rows
from tests.support.proxy import flow_for, rows, running

# The same Meta Pixel browser id (fbp) first with health data, then with a hashed e-mail:
# within one session the second request links the person to the health data.
WITH_HEALTH = (
    "https://www.facebook.com/tr/?id=1&ev=Search&dl=https%3A%2F%2Fwww.example.org"
    "%2Fsearch&cd[search_string]=diabetes&fbp=fb.1.2.3"
)
ID_ONLY = "https://www.facebook.com/tr/?id=1&ev=PageView&fbp=fb.1.2.3&ud[em]=" + "a" * 64


async def test_a_new_session_forgets_the_ids_seen_before_it(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    addon = PhiTrace()
    with running(addon, phitrace_db=str(db), phitrace_label="first") as (tctx, hooks):
        for url in (WITH_HEALTH, ID_ONLY):
            flow = flow_for(url)
            hooks.request(flow)
            hooks.error(flow)
        linked = addon.session
        tctx.command(addon.recorder.session_command, "second")
        assert addon.session is not linked and addon.session.label == "second"
        flow = flow_for(ID_ONLY)
        hooks.request(flow)
        hooks.error(flow)
        hooks.done()
    assert rows(db, "select session_id, severity from flows order by id") == [
        (1, "high"),
        (1, "high"),  # linked to the health data by the fbp seen before
        (2, "low"),  # the same request after phitrace.session: nothing to link to
    ]


@pytest.mark.parametrize(
    ("settings", "part"),
    [
        ({"phitrace_mode": "redact"}, "enforcement"),
        ({"phitrace_sinkhole": True}, "view"),
        ({}, "view"),
    ],
)
async def test_an_internal_failure_leaves_the_flow_alone_but_keeps_its_record(
    tmp_path: Path, settings: dict[str, object], part: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "p.db"
    addon = PhiTrace()
    with running(addon, phitrace_db=str(db), **settings) as (tctx, hooks):

        def explode(*args: object) -> None:
            raise RuntimeError("boom")

        monkey = pytest.MonkeyPatch()
        if part == "enforcement":
            monkey.setattr("phitrace.proxy.enforcement.redact", explode)
        else:
            monkey.setattr("phitrace.proxy.view.summary", explode)
        flow = flow_for(WITH_HEALTH)
        before = flow.request.get_state()
        hooks.request(flow)
        monkey.undo()
        assert flow.response is None and flow.request.get_state() == before
        assert "internal error in request hook" in caplog.text
        flow.response = tutils.tresp()
        hooks.response(flow)
        hooks.done()
    assert rows(db, "select vendor, severity, blocked, redacted from flows") == [
        ("meta-pixel", "high", 0, None)
    ]
    assert rows(db, "select errors from sessions") == [(1,)]


async def test_the_commands_are_registered_under_their_documented_names() -> None:
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        names = {n for n in tctx.master.commands.commands if n.startswith("phitrace.")}
    assert names == {"phitrace.summary", "phitrace.session", "phitrace.report"}


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
async def test_the_report_command_refuses_to_write_over_the_live_database(
    tmp_path: Path, suffix: str
) -> None:
    db = tmp_path / "p.db"
    addon = PhiTrace()
    with running(addon, phitrace_db=str(db)) as (tctx, hooks):
        flow = flow_for(WITH_HEALTH)
        hooks.request(flow)
        hooks.error(flow)
        assert addon.writer is not None and addon.writer.flush()
        target = Path(f"{db}{suffix}")
        target.touch()
        before = target.read_bytes()
        with pytest.raises(CommandError, match=r"^refusing to write .*phitrace\.report") as info:
            tctx.command(addon.recorder.report_command, str(target))
        assert "\n" not in str(info.value)
        assert target.read_bytes() == before
        hooks.done()
    assert rows(db, "select vendor from flows") == [("meta-pixel",)]


async def test_stopping_the_proxy_waits_for_a_report_still_being_written(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    import phitrace.report.html as html

    render = html.render_html

    def slow_render(context: html.ReportContext) -> str:
        time.sleep(0.5)  # a large database on a busy machine
        return render(context)

    monkeypatch.setattr(html, "render_html", slow_render)
    db, report = tmp_path / "p.db", tmp_path / "late.html"
    addon = PhiTrace()
    with running(addon, phitrace_db=str(db)) as (tctx, hooks):
        flow = flow_for(WITH_HEALTH)
        hooks.request(flow)
        hooks.error(flow)
        tctx.command(addon.recorder.report_command, str(report))
        hooks.done()
        assert report.exists()
    assert "Meta Pixel" in report.read_text()


@pytest.mark.parametrize(
    ("mode", "storage"), [("passive", "full"), ("block", "full"), ("redact", "redact")]
)
async def test_a_failed_analysis_still_records_the_flow_with_its_error(
    tmp_path: Path, mode: str, storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import phitrace.analyzer as pipeline

    def explode(*args: object, **kwargs: object) -> None:
        raise KeyError("diabetes")  # an exception whose message quotes the payload

    db = tmp_path / "p.db"
    addon = PhiTrace()
    options = {"phitrace_db": str(db), "phitrace_mode": mode, "phitrace_storage": storage}
    with running(addon, Proxyserver(), **options) as (tctx, hooks):
        monkeypatch.setattr(pipeline, "decode_request", explode)
        flow = flow_for(WITH_HEALTH, method="POST", body=b"q=diabetes")
        before = flow.request.get_state()
        hooks.request(flow)
        monkeypatch.undo()
        # Fail open: not answered, not changed, not marked; only counted.
        assert flow.response is None and flow.request.get_state() == before
        assert not flow.marked and "phitrace" not in flow.metadata
        flow.response = tutils.tresp()
        hooks.response(flow)
        healthy = flow_for(ID_ONLY)
        hooks.request(healthy)
        hooks.error(healthy)
        hooks.done()
    recorded = rows(
        db,
        "select vendor, severity, analysis_error, status_code, request_body_length "
        "from flows order by id",
    )
    assert recorded == [
        (None, "info", "request hook: KeyError", 200, len(b"q=diabetes")),
        ("meta-pixel", "low", None, None, 0),
    ]
    assert rows(db, "select count(*) from findings where flow_id = 1") == [(0,)]
    assert rows(db, "select errors from sessions") == [(1,)]
    (url,) = rows(db, "select url from flows where id = 1")[0]
    assert url == (WITH_HEALTH if storage == "full" else "https://www.facebook.com/")
    if storage == "redact":
        assert "diabetes" not in repr(rows(db, "select * from flows where id = 1"))
        assert rows(db, "select count(*) from requests") == [(0,)]


async def test_a_failed_websocket_message_analysis_is_recorded_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise ValueError("broken decoder")

    db = tmp_path / "p.db"
    addon = PhiTrace()
    with running(addon, phitrace_db=str(db)) as (tctx, hooks):
        flow = tflow.twebsocketflow()
        assert flow.websocket is not None
        flow.websocket.messages = [websocket.WebSocketMessage(Opcode.TEXT, True, b'{"a": 1}')]
        assert addon.analyzer is not None
        monkeypatch.setattr(addon.analyzer, "analyse", explode)
        hooks.websocket_message(flow)
        monkeypatch.undo()
        assert not flow.websocket.messages[-1].dropped
        hooks.done()
    assert rows(db, "select method, status_code, analysis_error from flows") == [
        ("WEBSOCKET", 101, "websocket_message hook: ValueError")
    ]


def take_over_session_one(db: Path) -> int:
    """Purge every session, as ``purge --all --force`` does, and start another program's.

    Sessions have no AUTOINCREMENT: the new session gets the purged one's id.
    """
    from phitrace.store.database import open_database
    from phitrace.store.sessions import purge_sessions, select_sessions, start_session

    other = open_database(db)
    try:
        purge_sessions(other, select_sessions(other, everything=True))
        return start_session(other, source="har", label="someone else's scan")
    finally:
        other.close()


@pytest.mark.parametrize("written_before_purge", [True, False])
async def test_a_recorder_outliving_a_purge_never_writes_under_the_reused_id(
    tmp_path: Path, written_before_purge: bool
) -> None:
    db = tmp_path / "p.db"
    addon = PhiTrace()
    with running(addon, phitrace_db=str(db), phitrace_label="audit") as (tctx, hooks):
        assert addon.session_id == 1 and addon.writer is not None
        if written_before_purge:
            flow = flow_for(WITH_HEALTH)
            hooks.request(flow)
            hooks.error(flow)
        assert addon.writer.flush()
        assert take_over_session_one(db) == 1
        later = flow_for(WITH_HEALTH, referer="https://www.example.org/search")
        hooks.request(later)
        hooks.error(later)
        hooks.done()
    sessions = rows(db, "select id, label, source, status, errors from sessions order by id")
    assert sessions[0] == (1, "someone else's scan", "har", "running", 0)
    # Its heartbeat is its own recorder's to keep or clear, not ours.
    assert rows(db, "select heartbeat_at = started_at from sessions where id = 1") == [(1,)]
    assert rows(db, "select count(*) from flows where session_id = 1") == [(0,)]
    assert rows(db, "select count(*) from third_parties where session_id = 1") == [(0,)]
    (continued,) = [row for row in sessions if row[0] != 1]
    assert continued[2:4] == ("proxy", "complete")
    assert rows(db, "select session_id from flows") == [(continued[0],)]


async def test_a_gzip_request_is_stored_and_exported_as_sent_with_its_decoded_text(
    tmp_path: Path,
) -> None:
    import gzip
    import hashlib

    from phitrace.report.evidence import har_document
    from phitrace.store.database import open_database_readonly
    from phitrace.store.reader import load_findings

    text = b"id=1&ev=Search&cd[search_string]=diabetes"
    wire = gzip.compress(text)
    db = tmp_path / "p.db"
    addon = PhiTrace()
    with running(addon, phitrace_db=str(db)) as (tctx, hooks):
        flow = flow_for("https://www.facebook.com/tr/", method="POST", body=wire)
        flow.request.headers["content-encoding"] = "gzip"
        flow.request.headers["content-type"] = "application/x-www-form-urlencoded"
        hooks.request(flow)
        flow.response = tutils.tresp()
        hooks.response(flow)
        hooks.done()
    assert rows(db, "select request_body_length, request_body_sha256 from flows") == [
        (len(wire), hashlib.sha256(wire).hexdigest())
    ]
    assert rows(db, "select body from requests") == [(wire,)]
    reader = open_database_readonly(db)
    try:
        (entry,) = har_document(load_findings(reader, raw=True))["log"]["entries"]
    finally:
        reader.close()
    assert entry["_phitrace"]["wire_body"]["sha256"] == hashlib.sha256(wire).hexdigest()
    decoded = entry["_phitrace"]["decoded_body"]
    assert decoded["text"] == text.decode() and decoded["trail"] == ["gzip"]
    assert decoded["label"].startswith("decoded")


async def test_the_live_proxy_records_sec_gpc_per_flow_and_the_session_summary(
    tmp_path: Path,
) -> None:
    db = tmp_path / "p.db"
    addon = PhiTrace()
    with running(addon, phitrace_db=str(db), phitrace_consent="rejected") as (tctx, hooks):
        for url in (WITH_HEALTH, ID_ONLY):
            flow = flow_for(url)
            flow.request.headers["Sec-GPC"] = "1"
            hooks.request(flow)
            hooks.error(flow)
        hooks.done()
    assert rows(db, "select gpc from flows order by id") == [(1,), (1,)]
    assert rows(db, "select consent, gpc from sessions") == [("rejected", "sent")]


async def test_a_session_recorded_to_postgresql_is_stored_and_reported(
    postgres_server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = postgres_server.target()
    report = tmp_path / "report.html"
    addon = PhiTrace()
    caplog.set_level(logging.INFO)
    with running(addon, phitrace_db=target.url, phitrace_label="team") as (tctx, hooks):
        for url in (WITH_HEALTH, ID_ONLY):
            flow = flow_for(url)
            hooks.request(flow)
            hooks.error(flow)
        tctx.command(addon.recorder.report_command, str(report))
        for thread in addon.recorder.reports:
            thread.join(60)
        hooks.done()
    sql = (
        "select s.label, s.status, w.severity from flows w "
        "join sessions s on s.id = w.session_id order by w.id"
    )
    assert pg_rows(target, sql) == [("team", "complete", "high"), ("team", "complete", "high")]
    assert "Meta Pixel" in report.read_text(encoding="utf-8")
    assert "postgresql://phitrace:***@" in caplog.text
    assert postgres_server.password not in caplog.text
