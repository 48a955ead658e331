"""Test-only mitmproxy script: record every request raw, then stand in for the internet.

Loaded after phitrace, it writes each request to a non-loopback host to the
JSON-lines file named by ``sdk_capture_log`` exactly as the browser sent it
(method, URL, headers, the body's raw bytes as base64, and whether phitrace
had already answered it), independently of phitrace's own decoding.  Then it
answers whatever nothing has answered yet, so no request ever leaves the
machine: with ``sdk_stand_in=vendor`` like a permissive collection server
(CORS preflights allowed, images as a GIF, everything else JSON: the
acknowledgement Countly waits for, and the session-start answer OpenReplay
needs before it sends its recording), with
``sdk_stand_in=unreachable`` as a 502, as an offline network would.
"""

from __future__ import annotations

import base64
import json
import time

from mitmproxy import ctx, http

GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
OPENREPLAY_START = {
    "token": "stand-in-token",
    "userUUID": "0b6f3a52-5d53-4f5e-9e0c-stand-in",
    "projectID": "1",
    "sessionID": "7260000000000000001",
    "startTimestamp": 0,
    "delay": 0,
    "beaconSizeLimit": 1000000,
    "compressionThreshold": 200,
}


def _cors(request: http.Request) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": request.headers.get("origin", "*"),
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, OPTIONS",
        "Access-Control-Allow-Headers": request.headers.get(
            "access-control-request-headers", "content-type"
        ),
    }


def vendor_answer(request: http.Request) -> http.Response:
    """What a permissive collection server would answer."""
    cors = _cors(request)
    if request.method == "OPTIONS":
        return http.Response.make(204, b"", cors)
    if request.headers.get("sec-fetch-dest") == "image":
        return http.Response.make(200, GIF, {**cors, "Content-Type": "image/gif"})
    # Countly holds back the rest of its queue until a request is acknowledged like this.
    body = b'{"result": "Success"}'
    if request.path.startswith("/ingest/v1/web/start"):
        start = {**OPENREPLAY_START, "startTimestamp": int(time.time() * 1000)}
        body = json.dumps(start).encode()
    return http.Response.make(200, body, {**cors, "Content-Type": "application/json"})


class StandIn:
    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        loader.add_option("sdk_capture_log", str, "", "Where to record every request, raw.")
        loader.add_option("sdk_stand_in", str, "unreachable", "vendor or unreachable.")

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.request.pretty_host in ("127.0.0.1", "localhost"):
            return
        record = {
            "time": flow.request.timestamp_start,
            "method": flow.request.method,
            "url": flow.request.pretty_url,
            "headers": list(flow.request.headers.items(multi=True)),
            "body_b64": base64.b64encode(flow.request.raw_content or b"").decode(),
            "answered_by_phitrace": flow.response is not None,
        }
        with open(ctx.options.sdk_capture_log, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        if flow.response is not None:
            return
        if ctx.options.sdk_stand_in == "vendor":
            flow.response = vendor_answer(flow.request)
        else:
            flow.response = http.Response.make(502, b"unreachable", _cors(flow.request))


addons = [StandIn()]
