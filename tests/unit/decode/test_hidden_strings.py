"""Reversed base64 and length-prefixed string streams are decoded."""

from __future__ import annotations

import base64
import json

from phitrace.decode.request import decode_request
from phitrace.model import Request


def fields(body: bytes, url: str = "https://t.example/i") -> dict[str, tuple[str, tuple[str, ...]]]:
    decoded = decode_request(Request("POST", url, (), body))
    return {f.path: (f.value, f.trail) for f in decoded.fields}


def test_reversed_base64_json_is_decoded() -> None:
    hidden = base64.b64encode(json.dumps({"page": "/conditions/asthma"}).encode()).decode()[::-1]
    assert fields(hidden.encode())["body.page"] == (
        "/conditions/asthma",
        ("reversed-base64", "json"),
    )


def test_each_string_of_a_binary_batch_is_a_value_and_a_printable_length_is_dropped() -> None:
    url = b"https://portal.example/conditions/type-2-diabetes?q=insulin+pump"
    body = b"\x03\x00" + bytes([len(url)]) + url + b"\x00\x0bMBR-2291-77\x00\xff"
    found = fields(body)
    assert found["body.strings[0]"] == (url.decode(), ("strings",))
    assert found["body.strings[1]"] == ("MBR-2291-77", ("strings",))
