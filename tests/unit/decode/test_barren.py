"""Values that decode to nothing are remembered, and only under the limits they met."""

from __future__ import annotations

import base64
import json

from phitrace.decode import barren
from phitrace.decode.budget import DEFAULT_LIMITS, Limits
from phitrace.decode.request import decode_message

TOKEN = "f3a9c2d17b6e4a5c9d8e7f6a5b4c3d2e1f0a9b8c"
ENCODED = base64.b64encode(json.dumps({"email": "jane@example.org"}).encode()).decode()


def test_a_value_that_decodes_to_nothing_is_remembered_and_decodes_the_same_again() -> None:
    document = json.dumps({"id": TOKEN}).encode()
    first = decode_message(document)
    assert barren.known((TOKEN, 1, 1), DEFAULT_LIMITS)
    assert decode_message(document) == first
    assert not barren.known((TOKEN, 1, 1), Limits(max_fields=10))


def test_a_value_that_holds_fields_is_never_remembered_as_barren() -> None:
    document = json.dumps({"blob": ENCODED}).encode()
    first = decode_message(document)
    assert not barren.known((ENCODED, 1, 1), DEFAULT_LIMITS)
    assert [f.path for f in first.fields] == ["message.blob", "message.blob.email"]
    assert decode_message(document) == first
