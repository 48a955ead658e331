"""Adapters from mitmproxy flows (live or read from a flow file) to phitrace requests."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from mitmproxy import http, io
from mitmproxy.net.http import url as mitmproxy_url
from mitmproxy.proxy import mode_specs

from phitrace.analyzer import WEBSOCKET_METHOD
from phitrace.capture.pages import PageTracker
from phitrace.decode.document import MAX_DOCUMENT_BYTES
from phitrace.model import Request, Response

__all__ = [
    "WEBSOCKET_METHOD",
    "WireRequest",
    "WireResponse",
    "destination_url",
    "from_wire",
    "may_be_document",
    "message_request",
    "read_flow_file",
    "response_from_wire",
    "response_of",
    "spoofed_host",
    "to_request",
    "wire_request",
    "wire_response",
]


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _named_by_address(flow: http.HTTPFlow) -> bool:
    """True when the request's host is only the address it was sent to (transparent modes).

    In regular, upstream and reverse mode the host is the request target
    (absolute-form, CONNECT or the configured upstream): where the request
    really goes.  Only when it is a bare IP address may a name be looked for.
    """
    mode = getattr(flow.client_conn, "proxy_mode", None)
    if isinstance(mode, (mode_specs.RegularMode, mode_specs.UpstreamMode, mode_specs.ReverseMode)):
        return False
    return _is_address(flow.request.host)


def destination_url(flow: http.HTTPFlow) -> str:
    """The URL the request really goes to, never the client's ``Host`` header.

    mitmproxy's ``pretty_url`` prefers the Host header, which the client
    chooses: a request to a tracker with ``Host: cdn.example.org`` would pass
    for a CDN request.  With only an IP address to go by (transparent modes)
    the TLS server name is used, and for plain HTTP the Host header, the one
    name there is.
    """
    req = flow.request
    sni = flow.client_conn.sni
    if sni and req.first_line_format != "authority" and _is_address(req.host):
        # Inside a TLS tunnel whose server address is only an IP (a transparent mode,
        # or an addon that redirected the connection), the name the client asked
        # TLS for is where the request was meant to go.
        return mitmproxy_url.unparse(req.scheme, sni, req.port, req.path)
    if not _named_by_address(flow):
        return req.url
    return req.pretty_url


def spoofed_host(request: Request) -> str | None:
    """The ``Host`` header when it names another host than the request goes to, else None."""
    header = request.header("host")
    if header is None:
        return None
    try:
        named = mitmproxy_url.parse_authority(header, check=False)[0].lower()
    except ValueError:
        return header
    return None if named == request.host else header


def decoded(fields: tuple[tuple[bytes, bytes], ...]) -> tuple[tuple[str, str], ...]:
    """Header fields as text, decoded as mitmproxy's ``Headers.items`` decodes them."""
    return tuple(
        (key.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
        for key, value in fields
    )


class WireRequest(NamedTuple):
    """A request's parts as mitmproxy holds them: what the event loop copies, at the least cost.

    Decoding the headers and building the :class:`Request` (:func:`from_wire`)
    is left to where the request is analysed, off the loop.
    """

    method: str
    url: str
    """The real destination (:func:`destination_url`)."""
    fields: tuple[tuple[bytes, bytes], ...]
    """The headers as sent, undecoded."""
    body: bytes
    timestamp: float


def wire_request(flow: http.HTTPFlow) -> WireRequest:
    """The parts of a flow's request phitrace needs, copied without decoding anything."""
    req = flow.request
    fields = tuple(req.headers.fields)
    return WireRequest(
        req.method, destination_url(flow), fields, req.raw_content or b"", req.timestamp_start
    )


def from_wire(wire: WireRequest, pages: PageTracker | None = None) -> Request:
    """The request a :class:`WireRequest` holds, as :func:`to_request` makes it of the flow."""
    headers = decoded(wire.fields)
    request = Request(
        method=wire.method,
        url=wire.url,
        headers=headers,
        body=wire.body,
        timestamp=wire.timestamp,
        page_url=pages.page_for(wire.url, headers) if pages is not None else None,
    )
    host_header = spoofed_host(request)
    return replace(request, host_header=host_header) if host_header else request


def to_request(flow: http.HTTPFlow, pages: PageTracker | None = None) -> Request:
    """Copy what phitrace needs out of a flow's request, its body as sent on the wire.

    The body keeps its ``Content-Encoding``: it is decoded only by phitrace's
    bounded decoders, and only when analysis needs it (mitmproxy's own
    decoding has no limit, and a few kilobytes of brotli can expand to
    gigabytes).  The URL is the real destination (:func:`destination_url`);
    a Host header naming another host is kept as ``host_header``.  With
    ``pages``, the page the request came from is worked out too.
    """
    return from_wire(wire_request(flow), pages)


class WireResponse(NamedTuple):
    """A response's status, undecoded headers and the first bytes of its body, as received."""

    status: int
    fields: tuple[tuple[bytes, bytes], ...]
    body: bytes


def wire_response(flow: http.HTTPFlow, with_body: bool = True) -> WireResponse:
    """The response's status, headers and at most the first bytes phitrace reads of its body.

    The body is taken as received (``raw_content``, still encoded): reading it
    never decodes, copies the whole of or changes what the client gets.
    Without ``with_body`` it is left out (empty).
    """
    assert flow.response is not None
    raw = (flow.response.raw_content or b"") if with_body else b""
    fields = tuple(flow.response.headers.fields)
    return WireResponse(flow.response.status_code, fields, raw[:MAX_DOCUMENT_BYTES])


def may_be_document(flow: http.HTTPFlow) -> bool:
    """Whether a response may be a page document, the only kind whose body phitrace reads.

    Decided on the raw headers, and never False for a response that
    :func:`phitrace.analyzer.is_document` takes (a GET whose first Content-Type
    is ``text/html``): other bodies (scripts, images, data) need not be copied.
    """
    if flow.request.method != "GET" or flow.response is None:
        return False
    for key, value in flow.response.headers.fields:
        if b"html" in value.lower() and key.lower() == b"content-type":
            return True
    return False


def response_from_wire(wire: WireResponse) -> Response:
    """The :class:`Response` a :class:`WireResponse` holds, its headers decoded."""
    return Response(wire.status, decoded(wire.fields), wire.body)


def response_of(flow: http.HTTPFlow) -> Response:
    """The response as phitrace reads it (:func:`wire_response`), its headers decoded."""
    return response_from_wire(wire_response(flow))


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
