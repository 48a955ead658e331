"""Drive the proxy addon in mitmproxy's test harness: a running addon, hooks, flows, rows.

An addon made of child addons (``addons = [...]``) has no hook methods of its
own: mitmproxy calls each child in turn.  ``Hooks(tctx, addon).request(flow)``
does the same, for that addon and its children only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import mitmproxy.proxy.layers  # noqa: F401 - registers the HTTP and WebSocket hooks
from mitmproxy import hooks, http
from mitmproxy.test import taddons, tflow, tutils

from tests.support.database import rows  # noqa: F401 - proxy tests read the recorded rows


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


@contextmanager
def running(addon: Any, *others: Any, **options: Any) -> Iterator[tuple[taddons.context, Hooks]]:
    """``addon`` loaded in mitmproxy's test harness, configured and past its ``running`` hook.

    ``others`` load beside it (``Proxyserver()`` for the sinkhole's options).
    The ``done`` hook is left to the test, which may assert before and after it.
    """
    with taddons.context(addon, *others) as tctx:
        hooks = Hooks(tctx, addon)
        tctx.configure(addon, **options)
        hooks.running()
        yield tctx, hooks


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
