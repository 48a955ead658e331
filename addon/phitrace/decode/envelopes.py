"""Containers that hold several values: forms, multipart bodies, Sentry envelopes,
newline batches and JSONP-style wrappers.

Each function only splits its container into named parts; deciding what a
part holds is left to :mod:`phitrace.decode.sniff`.  All of them are
recognised from the data itself (a multipart body names its own boundary on
its first line), never from a ``Content-Type`` header.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

_FORM_KEY = r"[\w.\[\]%$:-]{1,128}"
_STRICT_FORM = re.compile(rf"{_FORM_KEY}=[^&\s]*(?:&{_FORM_KEY}=[^&\s]*)+")
_BOUNDARY_LINE = re.compile(rb"--([\x21-\x7e]{1,200})\r?\n")
_DISPOSITION_NAME = re.compile(r'\bname\*?=(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))', re.I)
_JSONP = re.compile(r"[\w$.\[\]]{1,128}\s*\(([\s\S]*)\)\s*;?", re.ASCII)
XSSI_PREFIXES = (")]}'", "for(;;);", "while(1);", "/**/")
"""Prefixes that stop a JSON response from running as a script."""

SENTRY_HEADER_KEYS = ("event_id", "sent_at", "dsn", "sdk", "trace")
_SENTRY_HEADER_MARKS = tuple(f'"{key}"'.encode() for key in SENTRY_HEADER_KEYS)
SENTRY_HEADER_BYTES = 16 * 1024
"""An envelope header line is small; longer first lines are not looked at."""


def looks_like_json(text: str) -> bool:
    """True when ``text`` starts and ends like a JSON object or array."""
    start = text.lstrip()[:1]
    return start in ("{", "[") and text.rstrip()[-1:] in ("}", "]")


def parse_json(text: str | bytes) -> Any | None:
    """The parsed document, or None when it is not JSON (or nested too deep)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def looks_like_form(text: str) -> bool:
    """A lenient test for a whole body of ``k=v&k2=v2``: no spaces, an ``=`` up front."""
    if text[:1] in ("{", "[", "<"):
        return False
    head = text[:200]
    equals = head.find("=")
    if equals < 0 or equals >= 64 or " " in head or "\n" in head:
        return False
    # Base64 ends in "=" padding: one run of "=" at the very end is not a form.
    return "&" in text or text.rstrip("=") != text[:equals]


def looks_like_nested_form(text: str) -> bool:
    """A strict test for form data inside a value: two or more ``key=value`` pairs."""
    return "&" in text and _STRICT_FORM.fullmatch(text) is not None


def unform(text: str) -> str:
    """One form-encoded key or value as text: ``+`` is a space, percent-escapes undone."""
    if "+" in text:
        text = text.replace("+", " ")
    return unquote(text, errors="replace") if "%" in text else text


def bare_items(text: str) -> Iterator[str]:
    """Pieces of a query string without ``=``, percent-decoded, one at a time.

    They are usually flags, but some carry the data itself: a JSON document
    (``?{"tagKey":...}``) or Google's ``1s<string>`` parameters.
    """
    for piece in text.split("&"):
        if piece and "=" not in piece:
            yield unform(piece)


def form_pairs(text: str) -> Iterator[tuple[str, str]]:
    """``k=v`` pairs of a query string or form body, percent-decoded, blanks kept.

    The same pairs as ``urllib.parse.parse_qsl(text, keep_blank_values=True)``,
    at a fraction of the cost for the common case of values without escapes.
    Pairs come one at a time, so a body of a hundred thousand escaped pairs
    costs only those that the field and time limits let through.
    """
    for piece in text.split("&"):
        if piece:
            key, _, value = piece.partition("=")
            yield unform(key), unform(value)


class FormDocument(Mapping[str, str]):
    """A form's pairs as a mapping whose values are percent-decoded only when read.

    Equal to ``dict(parse_qsl(text, keep_blank_values=True))`` (a later pair wins):
    a shape check asks for one or two keys of a body that may hold 64 KiB of
    escaped JSON, which need not all be decoded to say the key is not there.
    """

    __slots__ = ("_raw",)

    def __init__(self, text: str) -> None:
        raw: dict[str, str] = {}
        for piece in text.split("&"):
            if piece:
                key, _, value = piece.partition("=")
                raw[unform(key)] = value
        self._raw = raw

    def __getitem__(self, key: str) -> str:
        return unform(self._raw[key])

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


def path_params(path: str) -> Iterator[tuple[str, str]]:
    """``;key=value`` parameters in a URL path, as DoubleClick and Floodlight use.

    Both ``/activityi;src=1;type=x`` and ``/ddm/activity/src=1;type=x`` forms.
    """
    pieces = path.split(";")
    if len(pieces) < 2:
        return
    head = pieces[0].rsplit("/", 1)[-1]
    if "=" in head:
        pieces[0] = head
    else:
        pieces = pieces[1:]
    for piece in pieces:
        key, sep, value = piece.partition("=")
        if sep and key:
            yield key, unquote(value)


def cookie_pairs(header: str) -> Iterator[tuple[str, str]]:
    """Name and percent-decoded value of each cookie in a ``Cookie`` header."""
    for piece in header.split(";"):
        key, sep, value = piece.strip().partition("=")
        if sep and key:
            yield key, unquote(value.strip().strip('"'))


def unwrap_jsonp(text: str) -> str | None:
    """The JSON inside ``callback({...})`` or behind an anti-XSSI prefix, else None."""
    stripped = text.strip()
    prefixed = False
    for prefix in XSSI_PREFIXES:
        if stripped.startswith(prefix):
            stripped = stripped[len(prefix) :].lstrip()
            prefixed = True
            break
    match = _JSONP.fullmatch(stripped)
    inner = match.group(1) if match else stripped if prefixed else None
    return inner if inner is not None and looks_like_json(inner) else None


def lines(text: str) -> Iterator[str]:
    """The non-blank lines of a body (``\\n`` or ``\\r\\n``), one at a time."""
    for line in text.split("\n"):
        line = line.removesuffix("\r")
        if line.strip():
            yield line


@dataclass(frozen=True)
class Part:
    """One part of a multipart body."""

    name: str | None
    content: bytes


def multipart(data: bytes, max_parts: int) -> list[Part] | None:
    """Split a multipart body at the boundary named on its first line; None if not one."""
    head = _BOUNDARY_LINE.match(data)
    if head is None:
        return None
    delimiter = b"--" + head.group(1)
    parts: list[Part] = []
    for chunk in data.split(delimiter)[1:]:
        if chunk.startswith(b"--") or len(parts) >= max_parts:
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk[1:]
        headers, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            headers, sep, content = chunk.partition(b"\n\n")
        if not sep:
            return None
        if content.endswith(b"\r\n"):
            content = content[:-2]
        elif content.endswith(b"\n"):
            content = content[:-1]
        parts.append(Part(_part_name(headers.decode("utf-8", "replace")), content))
    return parts or None


def _part_name(headers: str) -> str | None:
    for line in headers.splitlines():
        if line.lower().startswith("content-disposition:"):
            found = _DISPOSITION_NAME.search(line)
            if found:
                return found.group(1) if found.group(1) is not None else found.group(2)
    return None


@dataclass(frozen=True)
class Item:
    """One item of a Sentry envelope: its header and its payload."""

    header: dict[str, Any]
    payload: bytes


def sentry_envelope(data: bytes, max_items: int) -> tuple[dict[str, Any], list[Item]] | None:
    """Split a Sentry envelope into its header and items; None if it is not one.

    An envelope is a JSON header line, then for each item a JSON item header
    (with a ``type`` and, for binary payloads, a ``length``) and a payload.
    """
    end = data.find(b"\n", 0, SENTRY_HEADER_BYTES)
    if end < 0:
        return None
    first = data[:end]
    if not any(mark in first for mark in _SENTRY_HEADER_MARKS):
        return None
    rest = data[end + 1 :]
    header = parse_json(first)
    if not isinstance(header, dict) or not any(key in header for key in SENTRY_HEADER_KEYS):
        return None
    items: list[Item] = []
    pos = 0
    while pos < len(rest) and len(items) < max_items:
        end = rest.find(b"\n", pos)
        end = len(rest) if end < 0 else end
        line = rest[pos:end]
        pos = end + 1
        if not line.strip():
            continue
        item_header = parse_json(line)
        if not isinstance(item_header, dict) or not isinstance(item_header.get("type"), str):
            return None if not items else (header, items)
        length = item_header.get("length")
        if isinstance(length, int) and not isinstance(length, bool) and length >= 0:
            payload = rest[pos : pos + length]
            pos += length + 1
        else:
            end = rest.find(b"\n", pos)
            end = len(rest) if end < 0 else end
            payload = rest[pos:end]
            pos = end + 1
        items.append(Item(item_header, payload))
    return (header, items) if items else None


def split_first_line(data: bytes) -> tuple[Any, bytes] | None:
    """A JSON first line and the rest, as in Sentry replay recordings; None otherwise."""
    first, sep, rest = data.partition(b"\n")
    if not sep or not rest:
        return None
    header = parse_json(first)
    return (header, rest) if isinstance(header, dict) else None
