"""An endpoint's signature can declare its collector's answer; the sinkhole then gives that one."""

from __future__ import annotations

import base64
import json

import pytest

from phitrace.act.sinkhole import PIXEL_GIF, answer
from phitrace.catalogue.loader import load_catalogue, parse_signature
from phitrace.catalogue.model import SignatureError
from phitrace.model import Request, SinkholeReply

ORIGIN = (("Origin", "https://clinic.example"),)
COUNTLY = "https://portal-health.count.ly/i?app_key=abc&device_id=dev-1&begin_session=1"
ACK = SinkholeReply(200, "application/json", b'{"result":"Success"}')


def signature(sinkhole: object) -> dict[str, object]:
    """A minimal signature document whose one endpoint declares ``sinkhole``."""
    return {
        "id": "collector",
        "name": "Collector",
        "company": "Collector Ltd.",
        "category": "analytics",
        "endpoints": [{"hosts": ["collect.example"], "sinkhole": sinkhole}],
    }


def declared(sinkhole: object) -> SinkholeReply | None:
    return parse_signature(signature(sinkhole), "s.yaml").endpoints[0].sinkhole


@pytest.mark.parametrize(
    ("sinkhole", "expected"),
    [
        ({"status": 200, "json": {"result": "Success"}}, ACK),
        ({"status": 204}, SinkholeReply(204, "", b"")),
        ({"body": "ok"}, SinkholeReply(200, "text/plain; charset=utf-8", b"ok")),
        (
            {"status": 202, "content_type": "text/plain", "body": "accepted"},
            SinkholeReply(202, "text/plain", b"accepted"),
        ),
        (
            {"content_type": "image/gif", "body_base64": base64.b64encode(PIXEL_GIF).decode()},
            SinkholeReply(200, "image/gif", PIXEL_GIF),
        ),
        ({"json": {}}, SinkholeReply(200, "application/json", b"{}")),
    ],
    ids=["json", "204", "text", "status and type", "gif", "empty json"],
)
def test_a_declared_answer_is_read_as_status_type_and_bytes(
    sinkhole: object, expected: SinkholeReply
) -> None:
    assert declared(sinkhole) == expected


def test_an_endpoint_without_an_answer_declares_none() -> None:
    document = signature({})
    del document["endpoints"][0]["sinkhole"]  # type: ignore[index]
    assert parse_signature(document, "s.yaml").endpoints[0].sinkhole is None


@pytest.mark.parametrize(
    "sinkhole",
    [
        {"status": 204, "body": "x"},
        {"status": 500, "json": {}},
        {"status": "200"},
        {"body": "a", "json": {}},
        {"content_type": "json", "body": "{}"},
        {"body_base64": "not base64!"},
        {"headers": {"X": "y"}},
        {},
    ],
    ids=[
        "204 body",
        "error status",
        "status text",
        "two bodies",
        "bad type",
        "bad b64",
        "extra",
        "empty",
    ],
)
def test_the_schema_refuses_answers_that_are_not_one_clear_reply(sinkhole: object) -> None:
    with pytest.raises(SignatureError, match="sinkhole"):
        parse_signature(signature(sinkhole), "s.yaml")


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("POST", (("Sec-Fetch-Dest", "empty"), ("Sec-Fetch-Mode", "cors"))),
        ("POST", (("Sec-Fetch-Dest", "empty"), ("Sec-Fetch-Mode", "no-cors"))),
        ("GET", (("Sec-Fetch-Dest", "image"),)),
        ("GET", ()),
    ],
    ids=["fetch", "sendBeacon", "image", "plain GET"],
)
def test_a_collectors_requests_get_the_declared_answer_with_cors(
    method: str, headers: tuple[tuple[str, str], ...]
) -> None:
    got = answer(Request(method, COUNTLY, (*ORIGIN, *headers)), ACK)
    assert (got.status, got.body) == (200, b'{"result":"Success"}')
    fields = dict(got.headers)
    assert fields["Content-Type"] == "application/json"
    assert fields["Access-Control-Allow-Origin"] == "https://clinic.example"
    assert fields["X-Phitrace"] == "sinkhole"


def test_a_204_answer_has_no_content_type() -> None:
    got = answer(Request("POST", COUNTLY, ORIGIN), SinkholeReply(204))
    assert (got.status, got.body) == (204, b"")
    assert "Content-Type" not in dict(got.headers)


def test_preflights_keep_their_answer_whatever_is_declared() -> None:
    preflight = Request(
        "OPTIONS",
        COUNTLY,
        (
            *ORIGIN,
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "x"),
        ),
    )
    assert answer(preflight, ACK) == answer(preflight)
    assert answer(preflight, ACK).status == 204


@pytest.mark.parametrize("dest", ["script", "iframe"])
def test_scripts_and_documents_keep_their_answer_so_pages_still_load(dest: str) -> None:
    request = Request("GET", "https://portal-health.count.ly/sdk.js", (("Sec-Fetch-Dest", dest),))
    assert answer(request, ACK) == answer(request)
    assert answer(request, ACK).body != ACK.body


def test_without_a_declared_answer_a_collector_gets_the_default() -> None:
    got = answer(Request("POST", COUNTLY, (("Sec-Fetch-Dest", "empty"),)))
    assert (got.status, got.body) == (200, b"{}")


@pytest.mark.parametrize(
    ("url", "body", "vendor", "reply"),
    [
        (COUNTLY, b"", "countly", {"result": "Success"}),
        (
            "https://countly.clinic.example/i?app_key=a&device_id=d",
            b"",
            "countly",
            {"result": "Success"},
        ),
        ("https://api.openreplay.com/ingest/v1/web/start", b"{}", "openreplay", "token"),
        (
            "https://replay.clinic.example/ingest/v1/web/start",
            b'{"projectKey":"k","trackerVersion":"19.0.1"}',
            "openreplay",
            "token",
        ),
    ],
)
def test_bundled_signatures_declare_what_their_sdks_wait_for(
    url: str, body: bytes, vendor: str, reply: object
) -> None:
    request = Request("POST", url, (("Content-Type", "application/json"),), body)
    match = load_catalogue().match(request)
    assert match is not None and match.signature.id == vendor
    assert match.endpoint.sinkhole is not None
    sent = json.loads(answer(request, match.endpoint.sinkhole).body)
    if isinstance(reply, dict):
        assert sent == reply
    else:
        # OpenReplay starts recording only on these types (its tracker checks each).
        assert isinstance(sent[reply], str) and isinstance(sent["userUUID"], str)
        assert isinstance(sent["sessionID"], str) and isinstance(sent["delay"], int)


def test_an_openreplay_recording_batch_gets_the_default_answer() -> None:
    request = Request("POST", "https://api.openreplay.com/ingest/v1/web/i?batch=0_1_9_kyes")
    match = load_catalogue().match(request)
    assert match is not None and match.signature.id == "openreplay"
    assert match.endpoint.sinkhole is None
