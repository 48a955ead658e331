"""Regression: payload text never reaches mitmweb comments or console lines as control codes.

A malicious page can put terminal escape sequences (clear screen, set the
window title, fake log lines, hyperlinks) or bidirectional overrides into
anything a tracker request carries: URL, keys, values.  Whatever phitrace
shows the tester must come out as printable text.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mitmproxy.test import taddons, tflow, tutils
from tests.support.proxy import Hooks

from phitrace.model import Analysis, Finding, Request
from phitrace.proxy.addon import PhiTrace, console_line, summary

HOSTILE = {
    "clear screen": "\x1b[2J\x1b[H",
    "window title": "\x1b]0;pwned\x07",
    "hyperlink": "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    "C1 CSI": "\x9b31m",
    "device control": "\x1bP+q\x1b\\",
    "fake log line": "\r\nphitrace HIGH   all clear",
    "bidi override": "\u202eevil",
    "line separator": "\u2028\u0085",
    "NUL and DEL": "\x00\x7f",
    "undecodable byte": "\udc9b",
}


def unprintable(text: str) -> list[str]:
    """Characters a terminal would act on; phitrace adds no colour codes of its own."""
    return sorted({repr(ch) for ch in text if not ch.isprintable()})


def hostile_flows(payload: str) -> list[object]:
    """Tracker requests carrying the payload in the URL, a form key and a form value."""
    encoded = quote(payload, safe="", errors="surrogateescape")
    raw = payload.encode("utf-8", "surrogateescape")
    requests = [
        tutils.treq(
            host="www.facebook.com",
            port=443,
            scheme=b"https",
            path=(
                f"/tr/?id=1&ev=PageView&dl=https%3A%2F%2Fwww.example.org%2Fconditions%2F"
                f"diabetes{encoded}&fbp=fb.1.2.3"
            ).encode(),
        ),
        tutils.treq(
            method=b"POST",
            host="www.facebook.com",
            port=443,
            scheme=b"https",
            path=b"/tr/",
            content=(
                f"id=1&ev=Search&cd[search_string]=diabetes{encoded}"
                f"&cd[{encoded}]=diabetes&fbp=fb.1.2.3"
            ).encode(),
        ),
        # Raw bytes in the request line, as a hostile client can send them.
        tutils.treq(
            host="www.facebook.com",
            port=443,
            scheme=b"https",
            path=b"/tr/?id=1&ev=Search&cd[search_string]=diabetes&x=" + raw,
        ),
    ]
    return [tflow.tflow(req=request, resp=False) for request in requests]


@pytest.mark.parametrize("payload", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_hostile_payloads_reach_comments_and_console_only_as_printable_text(
    payload: str, caplog: pytest.LogCaptureFixture, tmp_path: object
) -> None:
    addon = PhiTrace()
    with caplog.at_level(logging.DEBUG), taddons.context(addon) as tctx:
        hooks = Hooks(tctx, addon)
        tctx.configure(addon, phitrace_db=str(tmp_path) + "/p.db")
        flows = hostile_flows(payload)
        for flow in flows:
            hooks.request(flow)
    comments = [flow.comment for flow in flows]  # type: ignore[attr-defined]
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("phitrace")]
    assert all(comments), "every hostile request was flagged"
    assert len([line for line in lines if line.startswith("phitrace ")]) == len(flows)
    assert [c for c in comments if unprintable(c)] == []
    assert [line for line in lines if unprintable(line)] == []


text = st.text(alphabet=st.characters(codec=None), max_size=40)


@settings(max_examples=500, deadline=None)
@given(url=text, vendor=text, field=text, matched=text, category=text)
def test_summaries_of_any_text_are_printable(
    url: str, vendor: str, field: str, matched: str, category: str
) -> None:
    finding = Finding("health", category, field, "v", matched, "r", "high", "")
    identifier = Finding("identifier", category, field, "v", matched, "r", "low", "")
    analysis = Analysis(
        Request("GET", "https://x.example/" + url),
        vendor or None,
        findings=(finding, identifier),
        severity="high",
    )
    assert unprintable(summary(analysis)) == []
    assert unprintable(console_line(analysis, "sinkhole")) == []
