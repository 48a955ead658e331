"""String fields of protobuf messages, read without a schema.

The wire format is a run of (field number, wire type, value) records.  Only
length-delimited values can hold text; each is taken as a string when it is
readable UTF-8, else as a nested message when it parses as one completely.
Numbers are skipped.  A blob only counts as protobuf when every byte of it
parses and at least one string comes out, which random binary data almost
never manages.
"""

from __future__ import annotations

from phitrace.decode.budget import Budget
from phitrace.decode.textcodecs import readable

MAX_FIELD_NUMBER = (1 << 29) - 1


class _Malformed(Exception):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Malformed
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _records(data: bytes, budget: Budget) -> list[tuple[int, bytes]]:
    """The length-delimited records of one message; raises _Malformed if it is not one."""
    pos = 0
    out: list[tuple[int, bytes]] = []
    end = len(data)
    while pos < end:
        budget.tick()
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if not 0 < number <= MAX_FIELD_NUMBER:
            raise _Malformed
        if wire == 0:
            _, pos = _varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > end:
                raise _Malformed
            out.append((number, data[pos : pos + length]))
            pos += length
        else:  # groups (3, 4) are long deprecated; 6 and 7 do not exist
            raise _Malformed
        if pos > end:
            raise _Malformed
    return out


def strings(
    data: bytes, budget: Budget, max_nesting: int, prefix: str = ""
) -> list[tuple[str, str]] | None:
    """(dotted field-number path, text) for every string in a message; None if not protobuf.

    Repeated fields keep the same path, as repeated query parameters do.
    """
    try:
        records = _records(data, budget)
    except _Malformed:
        return None
    found: list[tuple[str, str]] = []
    for number, value in records:
        if not value:
            continue
        path = f"{prefix}.{number}" if prefix else str(number)
        # A nested message can be printable too ("\n" then a length byte); it wins
        # when it parses completely and holds strings, which text almost never does.
        nested = strings(value, budget, max_nesting - 1, path) if max_nesting > 1 else None
        if nested:
            found.extend(nested)
            continue
        text = readable(value)
        if text is not None:
            found.append((path, text))
    return found
