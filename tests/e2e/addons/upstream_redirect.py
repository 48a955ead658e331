"""Test-only mitmproxy script: send every upstream connection to a local server.

The request bytes are left alone; only the address dialled changes, so a
loopback server can record exactly what would have reached a tracker.
"""

from __future__ import annotations

from mitmproxy import ctx
from mitmproxy.proxy import server_hooks


class UpstreamRedirect:
    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        loader.add_option("upstream_redirect_port", int, 0, "Local port to dial instead.")

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        data.server.address = ("127.0.0.1", ctx.options.upstream_redirect_port)


addons = [UpstreamRedirect()]
