"""Infer what a payload key means when no signature's field map names it.

A catalogued vendor's field map says that GA4's ``dl`` is the page URL; an
unlisted third party has no map, and a vendor's map never covers every key its
SDK sends.  The conventions SDKs share (``pageUrl``, ``context.page.url``,
``currentPage``, ``searchTerm``, ``userId``…) are data, kept in
``signatures/conventions/field-roles.yaml``; this module matches a field's
normalised last name (and the name before it) against them.  Pure, cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from phitrace.resources import data_dir, load_yaml

if TYPE_CHECKING:
    from phitrace.catalogue.model import Signature

CONVENTIONS = "conventions/field-roles.yaml"
_NON_ALNUM = re.compile(r"[^a-z0-9]")


class ConventionError(ValueError):
    """The field-role conventions file is malformed."""


def normalise(name: str) -> str:
    """``pageUrl``, ``page_url`` and ``page-url`` all read as ``pageurl``."""
    return _NON_ALNUM.sub("", name.lower())


@dataclass(frozen=True)
class RoleConventions:
    """Normalised key names per role: by last name, and by "parent.leaf" pair."""

    by_leaf: dict[str, str]
    by_pair: dict[tuple[str, str], str]

    def role_of(self, leaf: str, parent: str = "") -> str | None:
        """The conventional role of a field whose (normalised) last names are given.

        A "parent.leaf" pair is more specific than a bare leaf, so it wins.
        """
        return self.by_pair.get((parent, leaf)) or self.by_leaf.get(leaf)


def parse_conventions(data: Any, source: str, roles: tuple[str, ...]) -> RoleConventions:
    """Build the lookup tables; a one-line :class:`ConventionError` names what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("roles"), dict):
        raise ConventionError(f"{source}: expected a mapping 'roles: {{role: {{leaf: [...]}}}}'")
    by_leaf: dict[str, str] = {}
    by_pair: dict[tuple[str, str], str] = {}
    for role, spec in data["roles"].items():
        if role not in roles:
            raise ConventionError(f"{source}: unknown role {role!r}; use one of {', '.join(roles)}")
        if not isinstance(spec, dict) or not set(spec) <= {"leaf", "parent_leaf"}:
            raise ConventionError(f"{source}: role {role!r} takes 'leaf' and 'parent_leaf' lists")
        for name in _names(spec.get("leaf", []), source, role):
            _claim(by_leaf, normalise(name), role, source)
        for name in _names(spec.get("parent_leaf", []), source, role):
            parent, dot, leaf = name.rpartition(".")
            if not dot or not parent or not leaf:
                raise ConventionError(f"{source}: {role}: {name!r} is not 'parent.leaf'")
            _claim(by_pair, (normalise(parent), normalise(leaf)), role, source)
    return RoleConventions(by_leaf, by_pair)


def _names(value: Any, source: str, role: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConventionError(f"{source}: {role}: expected a list of key names")
    return value


def _claim(table: dict[Any, str], key: Any, role: str, source: str) -> None:
    """One meaning per name: a name listed under two roles is an error, not a silent pick."""
    if table.get(key, role) != role:
        raise ConventionError(f"{source}: {key!r} is listed under both {table[key]} and {role}")
    table[key] = role


@lru_cache(maxsize=4)
def load_conventions(path: Path | None = None) -> RoleConventions:
    """The bundled conventions (or a file's), parsed once per process."""
    from phitrace.catalogue.model import FIELD_ROLES

    path = path or data_dir("signatures") / CONVENTIONS
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConventionError(f"{path}: cannot read field-role conventions: {exc}") from exc
    return parse_conventions(data, str(path), FIELD_ROLES)


def field_role(signature: Signature | None, key: str, leaf: str, parent: str) -> str | None:
    """A field's role: the signature's field map first, else the shared conventions.

    ``leaf`` and ``parent`` are the normalised last two names of the field's
    path (:func:`phitrace.detect.fieldnames.key_parts` gives them), so an
    unlisted third party's ``context.page.url`` reads as a page URL.
    """
    role = signature.role_of(key) if signature is not None else None
    return role if role is not None else load_conventions().role_of(leaf, parent)
