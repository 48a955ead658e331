"""The names of a field's path and the roles they give it, worked out once per signature and path.

Every detector reads a field's path the same way: its field-map key, its last
two names (normalised), the role the signature's field map gives the key and
the role the shared conventions give the names.  The same paths come back in
every request to a vendor (a dozen parameters per hit, the same JSON keys per
event), so each signature keeps a bounded table of what its paths read as.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple

from phitrace.catalogue.model import Signature
from phitrace.decode.request import field_key
from phitrace.detect.roles import load_conventions

PATHS_PER_SIGNATURE = 8192
"""Paths remembered per signature; the table is emptied when full."""
SIGNATURE_TABLES = 1024
"""Tables kept (one per signature and detector); all are emptied when full."""

_KEY_SPLIT = re.compile(r"[.\[\]]+")
_NON_ALNUM = re.compile(r"[^a-z0-9]")


@lru_cache(maxsize=65536)
def key_parts(path: str) -> tuple[str, str, str]:
    """The field-map key of a path, its last name and the name before it, normalised.

    ``query.ud[em]`` → (``ud[em]``, ``em``, ``ud``);
    ``body.data[0].user_data.fn [json]`` → (…, ``fn``, ``userdata``).
    """
    key = field_key(path)
    names: list[str] = []
    for part in reversed(_KEY_SPLIT.split(key.lower())):
        name = part if part.isalnum() else _NON_ALNUM.sub("", part)
        if name and not name.isdigit():
            names.append(name)
            if len(names) == 2:
                break
    leaf = names[0] if names else ""
    parent = names[1] if len(names) > 1 else ""
    return key, leaf, parent


class FieldNames(NamedTuple):
    """What one field path reads as under one signature."""

    key: str
    leaf: str
    parent: str
    mapped: str | None
    """The role the signature's field map gives ``key`` (None without a signature)."""
    conventional: str | None
    """The role the shared conventions give ``leaf`` under ``parent``."""


_tables: dict[tuple[int, str], tuple[Signature | None, dict[str, Any]]] = {}


def plan_table(signature: Signature | None, kind: str) -> dict[str, Any]:
    """A detector's own table of what it decided per path under ``signature``.

    Keyed by the signature object itself (kept alive by its entry), so two
    catalogues with the same ids never share one; fill it with :func:`remember`.
    """
    entry = _tables.get((id(signature), kind))
    if entry is not None and entry[0] is signature:
        return entry[1]
    if len(_tables) >= SIGNATURE_TABLES:
        _tables.clear()
    table: dict[str, Any] = {}
    _tables[(id(signature), kind)] = (signature, table)
    return table


def remember(table: dict[str, Any], path: str, value: Any) -> None:
    """Keep ``value`` for ``path`` in a table from :func:`plan_table`, within its bound."""
    if len(table) >= PATHS_PER_SIGNATURE:
        table.clear()
    table[path] = value


def path_table(signature: Signature | None) -> dict[str, FieldNames]:
    """The table of paths already read under ``signature``: look up, then :func:`field_names`."""
    return plan_table(signature, "names")


def field_names(table: dict[str, FieldNames], signature: Signature | None, path: str) -> FieldNames:
    """Read ``path`` under ``signature`` and remember it in ``table`` (from :func:`path_table`)."""
    key, leaf, parent = key_parts(path)
    mapped = signature.role_of(key) if signature is not None else None
    names = FieldNames(key, leaf, parent, mapped, load_conventions().role_of(leaf, parent))
    remember(table, path, names)
    return names
