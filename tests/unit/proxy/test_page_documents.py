"""The response hook reads documents and logins without changing them, and fails open."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from mitmproxy.test import tutils

from phitrace.analyzer import Analyzer
from phitrace.proxy.addon import PhiTrace
from tests.support.proxy import flow_for, rows, running

PAGE = "https://portal.clinic.example.org/content?id=8812"
HTML = b"<html><head><title>Managing type 2 diabetes</title></head><body>x</body></html>"
CLICK = "https://www.facebook.com/tr/?id=1&ev=SubscribedButtonClick&cd[buttonText]=Go"


def document(cookie: str = "", body: bytes = HTML, encoding: str = "") -> object:
    flow = flow_for(PAGE)
    flow.request.headers["Sec-Fetch-Dest"] = "document"
    if cookie:
        flow.request.headers["Cookie"] = cookie
    flow.response = tutils.tresp(content=b"")
    flow.response.headers["Content-Type"] = "text/html; charset=utf-8"
    if encoding:
        flow.response.headers["Content-Encoding"] = encoding
    flow.response.raw_content = body
    return flow


def click() -> object:
    flow = flow_for(CLICK, referer="https://portal.clinic.example.org/")
    flow.request.headers["Sec-Fetch-Dest"] = "image"
    return flow


async def test_a_documents_title_and_cookies_apply_to_the_pages_tracker_and_stay_unchanged(
    tmp_path: Path,
) -> None:
    addon, db = PhiTrace(), tmp_path / "p.db"
    body = gzip.compress(HTML)
    with running(addon, phitrace_db=str(db)) as (_, hooks):
        page = document("JSESSIONID=A1", body, "gzip")
        hooks.request(page)
        before = page.response.get_state()
        hooks.response(page)
        assert page.response.get_state() == before
        tracker = click()
        hooks.request(tracker)
        tracker.response = tutils.tresp()
        hooks.response(tracker)
        hooks.done()
    assert rows(db, "select authenticated, authenticated_reason, severity from flows") == [
        ("yes", "session cookie 'JSESSIONID' on the document request", "high")
    ]
    assert rows(db, "select rule, matched from findings where kind = 'health'") == [
        ("health_page", "diabetes")
    ]


async def test_a_failure_reading_a_response_is_counted_and_the_response_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Analyzer, "observe_response", broken)
    addon = PhiTrace()
    with running(addon, phitrace_db=str(tmp_path / "p.db")) as (_, hooks):
        page = document()
        hooks.request(page)
        before = page.response.get_state()
        hooks.response(page)
        assert page.response.get_state() == before
        assert addon.session.errors == 1
        hooks.done()
