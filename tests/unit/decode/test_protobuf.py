"""Schema-less protobuf on its own: strings, nesting, repetition, refusals and the depth bound."""

from __future__ import annotations

import pytest

from phitrace.decode import protobuf
from phitrace.decode.budget import Budget, Limits


def budget(**limits: object) -> Budget:
    return Budget(Limits(**limits))  # type: ignore[arg-type]


def _field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_protobuf_strings_nested_and_repeated() -> None:
    message = (
        _field(1, b"first")
        + b"\x10\x96\x01"  # field 2, varint 150
        + b"\x1d\x00\x00\x80\x3f"  # field 3, fixed32
        + _field(4, _field(1, b"inner") + _field(1, b"again"))
        + b"\x29"
        + bytes(8)  # field 5, fixed64
    )
    assert protobuf.strings(message, budget(), 8) == [
        ("1", "first"),
        ("4.1", "inner"),
        ("4.1", "again"),
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"\x0a\x10short",  # length past the end
        b"\x00\x01",  # field number 0
        b"\x0b\x0c",  # group wire types
        b"\x08\xff\xff\xff",  # unterminated varint
    ],
)
def test_malformed_protobuf_is_refused(data: bytes) -> None:
    assert protobuf.strings(data, budget(), 8) is None


def test_printable_nested_messages_are_still_parsed() -> None:
    url = b"https://www.example.org/contact-us/form"  # length 39: the length byte is "'"
    message = _field(7, _field(1, url))
    assert message[2:4] == b"\n'"
    assert protobuf.strings(message, budget(), 8) == [("7.1", url.decode())]


def test_protobuf_nesting_is_bounded() -> None:
    message = _field(2, b"deep text")
    for _ in range(5):
        message = _field(1, message)
    assert protobuf.strings(message, budget(), 8) == [("1.1.1.1.1.2", "deep text")]
    assert protobuf.strings(message, budget(), 3) == []
