"""Encoded data in URL path segments is decoded; plain path words are not fields."""

from __future__ import annotations

import base64
import json

from phitrace.decode.request import decode_request
from phitrace.model import Request

USER = {"user": {"email": "jane@example.org", "page": "https://clinic.example/conditions/hiv"}}


def segment(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_base64url_json_path_segment_is_decoded_into_fields() -> None:
    decoded = decode_request(Request("GET", f"https://t.example/v1/{segment(USER)}/collect"))
    values = {f.path: (f.value, f.trail[-1]) for f in decoded.fields}
    assert values == {
        "path[2].user.email": ("jane@example.org", "json"),
        "path[2].user.page": ("https://clinic.example/conditions/hiv", "json"),
    }


def test_plain_and_opaque_path_segments_give_no_fields() -> None:
    url = (
        "https://cdn.t.example/assets/type-2-diabetes-care-plans/8f14e45fceea167a5a36dedd4bea2543/x"
    )
    assert decode_request(Request("GET", url)).fields == ()
