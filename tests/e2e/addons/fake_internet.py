"""Test-only mitmproxy script: stands in for the internet, after phitrace has run.

Every request to a non-loopback host that nothing has answered yet is
recorded (method, URL, headers, body) to the JSON-lines file named by the
``fake_internet_log`` option and answered locally with CORS-friendly
responses, so block and redact modes can be tested with no network at all.
"""

from __future__ import annotations

import json

from mitmproxy import ctx, http

GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


class FakeInternet:
    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        loader.add_option("fake_internet_log", str, "", "Where to record what left.")

    def request(self, flow: http.HTTPFlow) -> None:
        host = flow.request.pretty_host
        if flow.response is not None or host in ("127.0.0.1", "localhost"):
            return
        with open(ctx.options.fake_internet_log, "a", encoding="utf-8") as out:
            out.write(
                json.dumps(
                    {
                        "method": flow.request.method,
                        "url": flow.request.pretty_url,
                        "headers": list(flow.request.headers.items(multi=True)),
                        "body": flow.request.get_text(strict=False),
                    }
                )
                + "\n"
            )
        origin = flow.request.headers.get("origin", "*")
        cors = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": flow.request.headers.get(
                "access-control-request-headers", "content-type"
            ),
        }
        if flow.request.method == "OPTIONS":
            flow.response = http.Response.make(204, b"", cors)
        elif flow.request.headers.get("sec-fetch-dest") == "image":
            flow.response = http.Response.make(200, GIF, {**cors, "Content-Type": "image/gif"})
        else:
            flow.response = http.Response.make(
                200, b"{}", {**cors, "Content-Type": "application/json"}
            )


addons = [FakeInternet()]
