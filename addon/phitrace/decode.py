"""Turn a request into a flat list of decoded fields, each with a decode trail.

Decoders are chosen by sniffing bytes, not by trusting headers: trackers send
JSON as ``text/plain`` and form data without a content type.  Everything is
bounded (input bytes, recursion depth, field count) and never raises: on a
limit the fields decoded so far are returned with a ``truncated`` reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from phitrace.model import Decoded, Field, Request


@dataclass(frozen=True)
class Limits:
    """Bounds on the work spent decoding one request."""

    max_body_bytes: int = 2 * 1024 * 1024
    max_depth: int = 8
    max_fields: int = 4000
    max_value_chars: int = 64 * 1024


DEFAULT_LIMITS = Limits()


class _Budget(Exception):
    """Raised internally when a limit is hit; never escapes this module."""


class _Collector:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.fields: list[Field] = []
        self.truncated: str | None = None

    def add(self, path: str, value: str, trail: tuple[str, ...]) -> None:
        if len(self.fields) >= self.limits.max_fields:
            self.truncated = f"more than {self.limits.max_fields} fields"
            raise _Budget
        if len(value) > self.limits.max_value_chars:
            value = value[: self.limits.max_value_chars]
        self.fields.append(Field(path, value, trail))


def _looks_like_json(text: str) -> bool:
    stripped = text.lstrip()
    return stripped[:1] in ("{", "[") and stripped.rstrip()[-1:] in ("}", "]")


def _looks_like_form(text: str) -> bool:
    """A conservative test for ``k=v&k2=v2``: no spaces or braces, an ``=`` up front."""
    if "=" not in text or text[:1] in ("{", "[", "<"):
        return False
    head = text[:200]
    return " " not in head and "\n" not in head and head.index("=") < 64


def _parse_json(text: str) -> object | None:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _walk_json(
    node: object, path: str, trail: tuple[str, ...], out: _Collector, depth: int
) -> None:
    if depth > out.limits.max_depth:
        out.truncated = f"nesting deeper than {out.limits.max_depth}"
        return
    if isinstance(node, dict):
        for key, value in node.items():
            _walk_json(value, f"{path}.{key}" if path else str(key), trail, out, depth + 1)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _walk_json(value, f"{path}[{index}]", trail, out, depth + 1)
    elif isinstance(node, str):
        _value(path, node, trail, out, depth + 1)
    elif node is not None and not isinstance(node, bool):
        out.add(path, str(node), trail)


def _value(path: str, text: str, trail: tuple[str, ...], out: _Collector, depth: int) -> None:
    """Record a string value, and decode it further when it holds structure."""
    out.add(path, text, trail)
    if depth > out.limits.max_depth or len(text) < 2:
        return
    if _looks_like_json(text):
        parsed = _parse_json(text)
        if isinstance(parsed, (dict, list)):
            _walk_json(parsed, path, (*trail, "json"), out, depth + 1)


def _form_pairs(text: str) -> list[tuple[str, str]]:
    return parse_qsl(text, keep_blank_values=True, errors="replace")


def _query(request: Request, out: _Collector) -> None:
    parts = urlsplit(request.url)
    for key, value in _form_pairs(parts.query):
        _value(f"query.{key}", value, (), out, 1)
    # DoubleClick/Floodlight put `;key=value` parameters inside the path.
    if ";" in parts.path:
        for piece in parts.path.split(";")[1:]:
            key, sep, value = piece.partition("=")
            if sep:
                _value(f"path.{key}", unquote(value), (), out, 1)
    if parts.fragment and "=" in parts.fragment:
        for key, value in _form_pairs(parts.fragment):
            _value(f"fragment.{key}", value, (), out, 1)


def _cookies(request: Request, out: _Collector) -> None:
    for name, value in request.headers:
        if name.lower() != "cookie":
            continue
        for piece in value.split(";"):
            key, sep, val = piece.strip().partition("=")
            if sep:
                _value(f"cookie.{key}", unquote(val), (), out, 1)


def _lines(text: str) -> Iterator[str]:
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.strip():
            yield line


def _body(request: Request, out: _Collector) -> None:
    body = request.body
    if not body:
        return
    if len(body) > out.limits.max_body_bytes:
        out.truncated = f"body larger than {out.limits.max_body_bytes} bytes"
        body = body[: out.limits.max_body_bytes]
    text = body.decode("utf-8", "replace")
    if _looks_like_json(text):
        parsed = _parse_json(text)
        if isinstance(parsed, (dict, list)):
            _walk_json(parsed, "body", ("json",), out, 1)
            return
    lines = list(_lines(text))
    if len(lines) > 1 and all(_looks_like_json(line) for line in lines):
        for index, line in enumerate(lines):
            parsed = _parse_json(line)
            if parsed is not None:
                _walk_json(parsed, f"body.line[{index}]", ("ndjson", "json"), out, 1)
        return
    if len(lines) > 1 and all(_looks_like_form(line) for line in lines):
        for index, line in enumerate(lines):
            for key, value in _form_pairs(line):
                _value(f"body.line[{index}].{key}", value, ("lines", "form"), out, 1)
        return
    if _looks_like_form(text):
        for key, value in _form_pairs(text):
            _value(f"body.{key}", value, ("form",), out, 1)
        return
    out.add("body", text, ("text",))


def decode_request(request: Request, limits: Limits = DEFAULT_LIMITS) -> Decoded:
    """Decode every part of a request into fields; never raises."""
    out = _Collector(limits)
    try:
        _query(request, out)
        _body(request, out)
        _cookies(request, out)
        referer = request.header("referer")
        if referer:
            out.add("header.referer", referer, ())
    except _Budget:
        pass
    return Decoded(tuple(out.fields), out.truncated)


def field_key(path: str) -> str:
    """The part of a field path that a signature's field map names.

    ``query.dl`` → ``dl``; ``body.line[2].ep.search_term`` → ``ep.search_term``;
    ``body.events[0].xdm.web`` → ``events[0].xdm.web``.  Cookies and headers
    keep their prefix so that they never collide with payload keys.
    """
    source, _, rest = path.partition(".")
    if source in ("cookie", "header") or not rest:
        return path
    if rest.startswith("line["):
        _, _, rest = rest.partition("].")
    return rest
