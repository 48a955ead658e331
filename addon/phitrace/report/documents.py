"""Pieces the machine formats share: JSON with one row per line, and a leak's title."""

from __future__ import annotations

import json
import secrets
from typing import Any

from phitrace.gate.baseline import Group, field_path


class _Rows:
    """The place in a document where :func:`dump_json` puts the rows."""


ROWS = _Rows()


def dump_json(document: dict[str, Any], rows: list[Any]) -> str:
    """JSON indented for reading, with each row of the one long list on a line of its own.

    ``document`` holds :data:`ROWS` where the list goes; rows are encoded
    compactly (by the C encoder), which keeps 100k rows fast.
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
    encoded = [f"{indent}  {json.dumps(row, ensure_ascii=False)}" for row in rows]
    body = "[\n" + ",\n".join(encoded) + "\n" + indent + "]" if rows else "[]"
    return head.replace(marker, body, 1) + "\n"


def leak_title(item: Group) -> str:
    """One line naming what leaked, where, on which page (no captured value)."""
    leak = item.first
    what = f"{leak.category} '{leak.matched}'" if leak.matched else leak.category
    return f"{what} in {field_path(leak.path)} on {leak.page_path}"
