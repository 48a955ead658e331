"""Pieces the machine formats share: JSON with one row per line, streamed, and a leak's title."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from phitrace.gate.baseline import Group, field_path
from phitrace.store.reader import Leak


class _Rows:
    """The place in a document where :func:`dump_json` puts the rows."""


ROWS = _Rows()


LeakSource = Callable[[], Iterator[Leak]]
"""Reads the findings anew at each call, in report order (most severe first)."""

Write = Callable[[str], object]
"""Where a streamed document goes, a piece at a time (``list.append``, a file's ``write``)."""


def write_json(document: dict[str, Any], rows: Iterable[Any], write: Write) -> None:
    """JSON indented for reading, with each row of the one long list on a line of its own.

    ``document`` holds :data:`ROWS` where the list goes; rows are encoded
    compactly (by the C encoder), which keeps 100k rows fast, and each is
    written as it comes, so ``rows`` may be a generator that never exists whole.
    """
    # A random marker, so no captured text can be mistaken for it.
    marker = json.dumps(f"rows-{secrets.token_hex(16)}")

    def place(value: object) -> str:
        if value is ROWS:
            return str(json.loads(marker))
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")

    head = json.dumps(document, indent=2, ensure_ascii=False, default=place)
    line = next(x for x in head.splitlines() if marker in x)
    indent = line[: len(line) - len(line.lstrip())]
    before, _, after = head.partition(marker)
    write(before)
    opening = "[\n"
    for row in rows:
        write(f"{opening}{indent}  {json.dumps(row, ensure_ascii=False)}")
        opening = ",\n"
    write("[]" if opening == "[\n" else "\n" + indent + "]")
    write(after + "\n")


def dump_json(document: dict[str, Any], rows: Iterable[Any]) -> str:
    """:func:`write_json` into one string."""
    pieces: list[str] = []
    write_json(document, rows, pieces.append)
    return "".join(pieces)


def leak_title(item: Group) -> str:
    """One line naming what leaked, where, on which page (no captured value)."""
    leak = item.first
    what = f"{leak.category} '{leak.matched}'" if leak.matched else leak.category
    return f"{what} in {field_path(leak.path)} on {leak.page_path}"
