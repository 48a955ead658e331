"""Sinkhole answers look like what each kind of tag expects."""

from __future__ import annotations

import pytest

from phitrace.act.sinkhole import PIXEL_GIF, answer
from phitrace.model import Request


def req(method: str = "GET", **headers: str) -> Request:
    return Request(
        method,
        "https://bat.bing.com/action/0?ti=1",
        tuple((k.replace("_", "-"), v) for k, v in headers.items()),
    )


def test_preflight_allows_the_origin_method_headers_and_credentials() -> None:
    got = answer(
        req(
            "OPTIONS",
            Origin="http://127.0.0.1:8000",
            Access_Control_Request_Method="POST",
            Access_Control_Request_Headers="content-type",
        )
    )
    headers = dict(got.headers)
    assert got.status == 204
    assert headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8000"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Access-Control-Allow-Methods"] == "POST"
    assert headers["Access-Control-Allow-Headers"] == "content-type"


@pytest.mark.parametrize(
    ("method", "headers", "status", "content_type"),
    [
        ("GET", {"Sec-Fetch-Dest": "image"}, 200, "image/gif"),
        ("GET", {"Sec-Fetch-Dest": "script"}, 200, "application/javascript"),
        ("POST", {"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "no-cors"}, 204, None),
        ("POST", {"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors"}, 200, "application/json"),
    ],
)
def test_each_kind_of_request_gets_its_kind_of_answer(
    method: str, headers: dict[str, str], status: int, content_type: str | None
) -> None:
    got = answer(Request(method, "https://t.example/x", tuple(headers.items())))
    assert got.status == status
    assert dict(got.headers).get("Content-Type") == content_type


def test_pixels_are_real_gifs() -> None:
    got = answer(req(Sec_Fetch_Dest="image"))
    assert got.body == PIXEL_GIF and got.body.startswith(b"GIF89a")
