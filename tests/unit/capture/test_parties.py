"""Who a request goes to, what kind of request it is, and the session's third-party inventory."""

from __future__ import annotations

import pytest

from phitrace.capture.parties import (
    Inventory,
    carries_payload,
    is_beacon,
    request_kind,
    third_party_site,
)
from phitrace.model import Request

PAGE = "https://portal.clinic.example/conditions/hiv"


def req(url: str, method: str = "GET", body: bytes = b"", **headers: str) -> Request:
    pairs = tuple((k.replace("_", "-"), v) for k, v in headers.items())
    return Request(method, url, pairs, body, 0.0, PAGE)


@pytest.mark.parametrize(
    ("url", "site"),
    [
        ("https://cdn.clinic.example/app.js", None),
        ("https://clinic.example/api", None),
        ("https://d1.cloudfront.net/x.js", "d1.cloudfront.net"),
        ("https://stats.examplecdn.net/c?x=1", "examplecdn.net"),
        ("http://[bad/", None),
    ],
)
def test_a_third_party_is_another_registrable_domain(url: str, site: str | None) -> None:
    assert third_party_site(req(url)) == site


def test_without_a_known_page_nothing_is_called_third_party() -> None:
    assert third_party_site(Request("GET", "https://t.example/p")) is None
    assert third_party_site(Request("GET", "https://t.example/p", (("Origin", PAGE),))) == (
        "t.example"
    )


@pytest.mark.parametrize(
    ("request_", "kind", "beacon"),
    [
        (req("https://t.example/c", "OPTIONS", Access_Control_Request_Method="POST"),
         "preflight", True),
        (req("https://t.example/c", "POST", b"{}", Sec_Fetch_Dest="empty",
             Sec_Fetch_Mode="no-cors"), "beacon", True),
        (req("https://t.example/c", "POST", b"PING", Content_Type="text/ping"), "ping", True),
        (req("https://t.example/c", "POST", b"{}", Sec_Fetch_Dest="empty", Sec_Fetch_Mode="cors"),
         "fetch", True),
        (req("https://t.example/p.gif?u=https%3A%2F%2Fportal", Sec_Fetch_Dest="image"),
         "image", True),
        (req("https://t.example/logo.png", Sec_Fetch_Dest="image"), "image", False),
        (req("https://t.example/sdk.js?v=3", Sec_Fetch_Dest="script"), "script", False),
        (req("https://t.example/font.woff2"), "font", False),
        (req("https://t.example/style.css"), "style", False),
        (req("https://t.example/frame", Sec_Fetch_Dest="iframe"), "document", False),
        (req("https://t.example/e?data=eyJ1Ijoi"), "other", True),
        (req("https://t.example/e"), "other", False),
    ],
)  # fmt: skip
def test_request_kinds_and_beacons(request_: Request, kind: str, beacon: bool) -> None:
    assert request_kind(request_) == kind
    assert is_beacon(request_) is beacon


@pytest.mark.parametrize(
    ("url", "body", "payload"),
    [
        ("https://t.example/e?a=1", b"", True),
        ("https://t.example/e?eyJldmVudCI6InYifQ", b"", True),
        ("https://t.example/e?a=&v", b"", False),
        ("https://t.example/e", b"x", True),
        ("https://t.example/e", b"", False),
    ],
)
def test_payloads_are_query_values_or_a_body(url: str, body: bytes, payload: bool) -> None:
    assert carries_payload(req(url, body=body)) is payload


def test_the_inventory_counts_requests_bytes_hosts_and_times() -> None:
    inventory = Inventory(max_parties=2)
    first = Request("GET", "https://a.t.example/x?q=1", (), b"", 10.0, PAGE)
    second = Request("POST", "https://b.t.example/y", (), b"12345", 12.5, PAGE)
    inventory.observe(first, "t.example", "third-party:t.example")
    inventory.observe(second, "t.example", "t-vendor")
    party = inventory.parties["t.example"]
    assert (party.requests, party.hosts, party.first_seen, party.last_seen) == (
        2,
        {"a.t.example", "b.t.example"},
        10.0,
        12.5,
    )
    assert party.bytes_sent == len(first.url) + len(second.url) + 5
    assert party.catalogued and party.vendor == "t-vendor"
    inventory.observe(first, "u.example", None)
    inventory.observe(first, "v.example", None)
    assert set(inventory.parties) == {"t.example", "u.example"} and inventory.overflow == 1
