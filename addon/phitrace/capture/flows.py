"""Adapters from mitmproxy flows (live or read from a flow file) to phitrace requests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from mitmproxy import http, io

from phitrace.analyzer import WEBSOCKET_METHOD
from phitrace.capture.pages import PageTracker
from phitrace.model import Request

__all__ = ["WEBSOCKET_METHOD", "message_request", "read_flow_file", "to_request"]


def to_request(flow: http.HTTPFlow, pages: PageTracker | None = None) -> Request:
    """Copy what phitrace needs out of a flow's request (content-encoding undone).

    With ``pages``, the page the request came from is worked out too, from the
    same URL and headers (mitmproxy rebuilds ``pretty_url`` on every access).
    """
    req = flow.request
    url = req.pretty_url
    headers = tuple(req.headers.items(multi=True))
    return Request(
        method=req.method,
        url=url,
        headers=headers,
        body=req.get_content(strict=False) or b"",
        timestamp=req.timestamp_start,
        page_url=pages.page_for(url, headers) if pages is not None else None,
    )


def message_request(handshake: Request, content: bytes, timestamp: float) -> Request:
    """A client-to-server WebSocket message as a request: the handshake plus the message."""
    return replace(handshake, method=WEBSOCKET_METHOD, body=content, timestamp=timestamp)


def read_flow_file(path: Path) -> Iterator[tuple[http.HTTPFlow, int]]:
    """Stream HTTP flows from a ``mitmdump -w`` file, with the bytes read so far.

    Raises ValueError with a one-line reason (and where it happened) when the
    file is not, or stops being, a readable flow file.
    """
    with path.open("rb") as handle:
        flows = iter(io.FlowReader(handle).stream())
        while True:
            start = handle.tell()
            try:
                flow = next(flows, None)
            # mitmproxy rebuilds flows from whatever state the file holds, and on
            # hostile state its reader raises almost anything (KeyError, TypeError,
            # FlowReadException...): all of them mean "not readable from here on".
            except Exception as exc:  # noqa: BLE001
                reason = (str(exc) or type(exc).__name__).rstrip(".")
                raise ValueError(
                    f"not a readable mitmproxy flow file ({reason} in the record at byte {start})"
                ) from exc
            if flow is None:
                return
            if isinstance(flow, http.HTTPFlow):
                yield flow, handle.tell()
