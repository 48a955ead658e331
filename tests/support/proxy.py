"""Drive the proxy addon in mitmproxy's test harness: hooks, flows and the recorded rows.

An addon made of child addons (``addons = [...]``) has no hook methods of its
own: mitmproxy calls each child in turn.  ``Hooks(tctx, addon).request(flow)``
does the same, for that addon and its children only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mitmproxy.proxy.layers  # noqa: F401 - registers the HTTP and WebSocket hooks
from mitmproxy import hooks, http
from mitmproxy.test import taddons, tflow, tutils


class Hooks:
    """Calls ``hooks.<name>(*args)`` as mitmproxy's hook of that name on one addon tree."""

    def __init__(self, tctx: taddons.context, addon: object) -> None:
        self.tctx = tctx
        self.addon = addon

    def __getattr__(self, name: str) -> Callable[..., None]:
        hook = hooks.all_hooks[name]

        def invoke(*args: Any) -> None:
            self.tctx.master.addons.invoke_addon_sync(self.addon, hook(*args))

        return invoke


def flow_for(
    url: str, method: str = "GET", referer: str | None = None, body: bytes = b""
) -> http.HTTPFlow:
    """A live client flow for ``url`` with no response yet, as the request hook sees it."""
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    request = tutils.treq(
        method=method.encode(),
        scheme=scheme.encode(),
        host=host,
        port=443,
        path=("/" + path).encode(),
        content=body,
    )
    if referer:
        request.headers["referer"] = referer
    return tflow.tflow(req=request, resp=False)


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    """The rows a query returns from a recorded database."""
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql))
