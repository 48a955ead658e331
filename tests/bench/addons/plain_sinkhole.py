"""The sinkhole without phitrace: answers listed tracker hosts locally, as phitrace would.

Loaded into plain mitmdump for the proxy-overhead baseline, so both runs do
the same work for tracker requests (a local answer, nothing dialled) and the
difference is phitrace's analysis and recording.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mitmproxy import ctx, http

from phitrace.act.sinkhole import answer
from phitrace.model import Request


class PlainSinkhole:
    def __init__(self) -> None:
        self.hosts: frozenset[str] = frozenset()

    def load(self, loader: Any) -> None:
        loader.add_option(
            "bench_sinkhole_hosts", str, "", "File listing the tracker hosts to answer locally."
        )

    def configure(self, updated: set[str]) -> None:
        if "bench_sinkhole_hosts" in updated and ctx.options.bench_sinkhole_hosts:
            text = Path(ctx.options.bench_sinkhole_hosts).read_text()
            self.hosts = frozenset(text.split())

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.request.pretty_host.lower() not in self.hosts:
            return
        req = flow.request
        local = answer(Request(req.method, req.pretty_url, tuple(req.headers.items(multi=True))))
        headers = [(k.encode(), v.encode()) for k, v in local.headers]
        flow.response = http.Response.make(local.status, local.body, headers)


addons = [PlainSinkhole()]
