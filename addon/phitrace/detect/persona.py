"""The canaries file: a QA persona's planted values, and what kind of data each one is.

A canary's name is never consulted: ``lab_email`` is an e-mail address and
``plan_member_id`` a member id, whatever words their names contain.  A
health fact is a health fact only when the file says ``kind: health``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from phitrace.model import CANARY_KINDS

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[\d\s().-]+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

ENTRY_KEYS = frozenset({"value", "kind"})


def kind_of_value(value: str) -> str:
    """The kind a plain ``name: value`` canary gets: what its value looks like, else ``other``.

    An ISO date in a persona is its date of birth; 7 to 15 digits with phone
    punctuation are a phone number.
    """
    text = value.strip()
    if _EMAIL.match(text):
        return "email"
    if _ISO_DATE.match(text):
        return "date_of_birth"
    if _PHONE.match(text) and 7 <= len(re.sub(r"\D", "", text)) <= 15:
        return "phone"
    return "other"


def parse_entry(name: str, entry: object, source: str) -> tuple[object, str | None]:
    """A canary's raw value and declared kind (None when the plain form gives no kind).

    Raises ``ValueError`` with a one-line message naming the file and the canary.
    """
    if not isinstance(entry, Mapping):
        return entry, None
    unknown = sorted(str(k) for k in entry if k not in ENTRY_KEYS)
    if unknown:
        raise ValueError(
            f"{source}: canary {name!r} has unknown key(s) {', '.join(unknown)}; "
            "use 'value' and 'kind'"
        )
    kind = entry.get("kind")
    if kind is not None and kind not in CANARY_KINDS:
        raise ValueError(
            f"{source}: canary {name!r} has kind {kind!r}; "
            f"expected one of {', '.join(CANARY_KINDS)}"
        )
    if "value" not in entry:
        raise ValueError(f"{source}: canary {name!r} needs a 'value'")
    return entry["value"], kind


def read_persona(data: object, source: str) -> tuple[dict[str, str], dict[str, str]]:
    """Each canary's value and kind from ``{canaries: {name: value | {value, kind}}}``.

    Raises ``ValueError`` with a one-line message naming the file and the canary.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("canaries"), Mapping):
        raise ValueError(
            f"{source}: expected a mapping 'canaries: {{name: value, ...}}', "
            "e.g. 'canaries: {email: jane.canary@example.org}'"
        )
    values: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for name, entry in data["canaries"].items():
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ValueError(f"{source}: canary name {name!r} must be a lower-case identifier")
        value, kind = parse_entry(name, entry, source)
        if isinstance(value, (Mapping, list)) or value is None:
            raise ValueError(f"{source}: canary {name!r} must be a single value")
        text = str(value).strip()
        if len(text) < 4:
            raise ValueError(f"{source}: canary {name!r} is too short to search for safely")
        values[name] = text
        kinds[name] = kind or kind_of_value(text)
    return values, kinds
