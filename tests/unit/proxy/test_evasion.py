"""Evasion through the addon: a spoofed Host header and compressed bodies in the live proxy."""

from __future__ import annotations

import gzip
from pathlib import Path

import brotlicffi
from mitmproxy.test import taddons, tflow, tutils

from phitrace.proxy.addon import PhiTrace
from tests.support.proxy import Hooks, rows

GA_PATH = b"/collect?v=1&t=pageview&tid=UA-1&cid=1.2&dt=diabetes"


def _absolute_form(host_header: str) -> tflow.HTTPFlow:
    """``GET http://www.google-analytics.com/collect?… HTTP/1.1`` with another Host header."""
    request = tutils.treq(
        scheme=b"http", host="www.google-analytics.com", port=80, path=GA_PATH, authority=b""
    )
    request.headers["host"] = host_header
    return tflow.tflow(req=request, resp=False)


async def test_a_spoofed_host_header_neither_hides_a_tracker_nor_becomes_its_url(
    tmp_path: Path,
) -> None:
    db = tmp_path / "p.db"
    addon = PhiTrace()
    with taddons.context(addon) as tctx:
        hooks = Hooks(tctx, addon)
        tctx.configure(addon, phitrace_db=str(db), phitrace_sinkhole=True)
        hooks.running()
        flow = _absolute_form("cdn.example.org")
        assert flow.request.pretty_url.startswith("http://cdn.example.org/")
        hooks.request(flow)
        assert flow.response is not None, "sinkholed: answered locally, not forwarded"
        assert flow.metadata["phitrace"]["action"] == "sinkhole"
        hooks.response(flow)
        hooks.done()
    ((vendor, url, severity, claimed),) = rows(
        db, "select vendor, url, severity, host_header from flows"
    )
    assert vendor == "google-analytics" and severity is not None
    assert claimed == "cdn.example.org"
    assert str(url).startswith("http://www.google-analytics.com/collect?")


async def test_a_compressed_tracker_body_is_analysed_and_redacted_from_its_content(
    tmp_path: Path,
) -> None:
    db = tmp_path / "p.db"
    addon = PhiTrace()
    body = brotlicffi.compress(gzip.compress(b"v=1&t=pageview&tid=UA-1&cid=1.2&dt=diabetes"))
    with taddons.context(addon) as tctx:
        hooks = Hooks(tctx, addon)
        tctx.configure(addon, phitrace_db=str(db), phitrace_mode="redact")
        hooks.running()
        request = tutils.treq(
            method=b"POST", host="www.google-analytics.com", path=b"/collect", content=b""
        )
        request.headers["content-encoding"] = "gzip, br"
        request.raw_content = body
        flow = tflow.tflow(req=request, resp=False)
        hooks.request(flow)
        assert flow.metadata["phitrace"]["action"] == "redacted"
        assert "content-encoding" not in flow.request.headers
        forwarded = flow.request.raw_content or b""
        assert b"diabetes" not in forwarded and b"tid=UA-1" in forwarded
        assert flow.request.headers["content-length"] == str(len(forwarded))
        flow.response = tutils.tresp()
        hooks.response(flow)
        hooks.done()
    assert rows(db, "select vendor from flows") == [("google-analytics",)]
