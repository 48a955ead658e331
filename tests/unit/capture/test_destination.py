"""Flows become requests with the body as sent and the URL of the real destination."""

from __future__ import annotations

import time

import brotlicffi
from mitmproxy.proxy import mode_specs
from mitmproxy.test import tflow, tutils

from phitrace.capture.flows import to_request

BROTLI_BOMB = brotlicffi.compress(bytes(16 << 20), quality=1)
"""A few hundred bytes that expand to 16 MiB."""


def test_the_body_stays_as_sent_so_a_compression_bomb_is_not_expanded() -> None:
    req = tutils.treq(method=b"POST", content=b"")
    req.headers["content-encoding"] = "br"
    req.raw_content = BROTLI_BOMB
    start = time.perf_counter()
    request = to_request(tflow.tflow(req=req, resp=False))
    assert time.perf_counter() - start < 0.5
    assert request.body == BROTLI_BOMB


def test_the_url_is_the_request_target_and_a_spoofed_host_is_kept_apart() -> None:
    req = tutils.treq(scheme=b"http", host="www.google-analytics.com", port=80, path=b"/collect")
    req.headers["host"] = "x"
    request = to_request(tflow.tflow(req=req, resp=False))
    assert request.url == "http://www.google-analytics.com/collect"
    assert request.host_header == "x"


def test_a_host_header_naming_the_destination_is_no_observation() -> None:
    req = tutils.treq(host="www.google-analytics.com", port=443, path=b"/collect")
    req.headers["host"] = "WWW.Google-Analytics.com:443"
    assert to_request(tflow.tflow(req=req, resp=False)).host_header is None


def test_in_transparent_mode_the_tls_server_name_names_the_destination() -> None:
    req = tutils.treq(scheme=b"https", host="203.0.113.7", port=443, path=b"/tr?id=1")
    req.headers["host"] = "cdn.example.org"
    flow = tflow.tflow(req=req, resp=False)
    flow.client_conn.proxy_mode = mode_specs.ProxyMode.parse("transparent")
    flow.client_conn.sni = "www.facebook.com"
    request = to_request(flow)
    assert request.url == "https://www.facebook.com/tr?id=1"
    assert request.host_header == "cdn.example.org"


def test_a_tunnel_redirected_to_an_address_keeps_the_name_the_client_asked_tls_for() -> None:
    # An addon (or a connect_addr setting) sent the connection to an IP address: the
    # request's host becomes that address, but the tracker the client meant is the SNI.
    req = tutils.treq(scheme=b"https", host="127.0.0.1", port=8443, path=b"/tr/?ev=PageView")
    req.headers["host"] = "www.facebook.com"
    flow = tflow.tflow(req=req, resp=False)
    flow.client_conn.sni = "www.facebook.com"
    flow.client_conn.proxy_mode = mode_specs.ProxyMode.parse("regular")
    request = to_request(flow)
    assert request.host == "www.facebook.com"
    assert request.host_header is None
