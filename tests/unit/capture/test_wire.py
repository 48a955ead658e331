"""Flows copied undecoded on the event loop read back as the requests and responses read."""

from __future__ import annotations

import pickle

from hypothesis import given
from hypothesis import strategies as st
from mitmproxy import http
from mitmproxy.test import tflow, tutils

from phitrace.analyzer import is_document
from phitrace.capture.flows import (
    from_wire,
    may_be_document,
    response_from_wire,
    response_of,
    to_request,
    wire_request,
    wire_response,
)


def flow_with(headers: list[tuple[bytes, bytes]], method: bytes = b"POST") -> http.HTTPFlow:
    request = tutils.treq(method=method, host="www.google-analytics.com", path=b"/g/collect?v=2")
    request.headers = http.Headers(headers)
    request.content = b"en=page_view"
    return tflow.tflow(req=request, resp=True)


def test_a_request_copied_undecoded_reads_back_as_to_request_makes_it() -> None:
    odd = b"caf\xe9 \xff"  # not UTF-8: decoded as mitmproxy decodes it
    flow = flow_with([(b"Host", b"cdn.example.org"), (b"X-Odd", odd), (b"Referer", b"https://a/")])
    wire = pickle.loads(pickle.dumps(wire_request(flow)))
    request = from_wire(wire)
    assert request == to_request(flow)
    assert request.host_header == "cdn.example.org"  # the spoofed Host is found off the loop
    assert request.header("x-odd") == odd.decode("utf-8", "surrogateescape")


def test_a_response_copied_undecoded_reads_back_as_response_of_makes_it() -> None:
    flow = flow_with([])
    assert flow.response is not None
    flow.response.headers = http.Headers([(b"Set-Cookie", b"s=1"), (b"Content-Type", b"text/html")])
    assert response_from_wire(pickle.loads(pickle.dumps(wire_response(flow)))) == response_of(flow)
    assert wire_response(flow, with_body=False).body == b""


HEADER_VALUES = st.sampled_from(
    [
        "text/html",
        "TEXT/HTML; charset=utf-8",
        " text/html ",
        "application/xhtml+xml",
        "text/plain",
        "image/png",
        "",
        "text/htm",
        "application/json",
    ]
)


@given(
    method=st.sampled_from([b"GET", b"POST", b"get", b"HEAD"]),
    types=st.lists(HEADER_VALUES, max_size=3),
    dest=st.sampled_from([None, "document", "iframe", "script", "image", "", "DOCUMENT"]),
)
def test_no_body_a_document_needs_is_left_out(
    method: bytes, types: list[str], dest: str | None
) -> None:
    flow = flow_with([(b"Sec-Fetch-Dest", dest.encode())] if dest is not None else [], method)
    assert flow.response is not None
    flow.response.headers = http.Headers([(b"Content-Type", t.encode()) for t in types])
    if is_document(to_request(flow), response_of(flow)):
        assert may_be_document(flow)


def test_a_page_load_keeps_its_body_and_an_image_does_not() -> None:
    page, image = flow_with([], b"GET"), flow_with([], b"GET")
    assert page.response is not None and image.response is not None
    page.response.headers = http.Headers([(b"Content-Type", b"text/html; charset=utf-8")])
    image.response.headers = http.Headers([(b"Content-Type", b"image/gif")])
    assert is_document(to_request(page), response_of(page)) and may_be_document(page)
    assert not may_be_document(image)
