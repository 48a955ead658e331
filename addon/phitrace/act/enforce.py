"""Enforcement: decide whether to block a request, and strip sensitive values from it.

``block`` answers flagged tracker requests locally so a site can be tested
without leaking; ``redact`` forwards them with health values and identifiers
removed.  Both are pure functions over a :class:`~phitrace.model.Request` and
its findings; the addon applies the result to the flow.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlunsplit

from phitrace import urls
from phitrace.decode import compression
from phitrace.decode.budget import DEFAULT_LIMITS, Budget
from phitrace.detect.vocabulary import tokens
from phitrace.model import Analysis, Field, Finding, Request, severity_rank

MODES: tuple[str, ...] = ("passive", "block", "redact")


def should_block(analysis: Analysis, threshold: str) -> bool:
    """True for a tracker request whose severity is at or above ``threshold``."""
    if analysis.vendor is None or analysis.severity is None:
        return False
    return severity_rank(analysis.severity) <= severity_rank(threshold)


@dataclass(frozen=True)
class Redaction:
    """A request with sensitive values removed, and what was removed."""

    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    removed: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.removed)


def _carrier(path: str, names: Sequence[str], prefix: str) -> str | None:
    """The parameter that carries a field: the longest name the path starts with.

    Parameter names may contain dots (GA4's ``ep.search_term``), so the path
    is matched against the names actually present rather than split on dots.
    """
    if not path.startswith(prefix):
        return None
    rest = path[len(prefix) :]
    best = None
    for name in names:
        if rest == name or rest.startswith((name + ".", name + "[")):
            if best is None or len(name) > len(best):
                best = name
    return best


def _blank_pairs(
    pairs: list[tuple[str, str]], paths: set[str], prefix: str, removed: list[str]
) -> list[tuple[str, str]]:
    names = [k for k, _ in pairs]
    targets = {c for p in paths if (c := _carrier(p, names, prefix))}
    for name in sorted(targets):
        removed.append(prefix + name)
    return [(k, "" if k in targets else v) for k, v in pairs]


def _encode(pairs: list[tuple[str, str]]) -> str:
    # surrogateescape: raw bytes a client put in a URL go back out as the same bytes.
    return urlencode(pairs, quote_via=quote, safe="[]", errors="surrogateescape")


def _json_segments(path: str) -> list[str | int]:
    segments: list[str | int] = []
    for part in path.replace("[", ".[").split("."):
        if part.startswith("[") and part.endswith("]") and part[1:-1].isdigit():
            segments.append(int(part[1:-1]))
        elif part:
            segments.append(part)
    return segments


def _blank_json(doc: Any, segments: list[str | int]) -> bool:
    node = doc
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if isinstance(node, dict) and isinstance(segment, str) and segment in node:
            if last or not isinstance(node[segment], (dict, list)):
                node[segment] = ""
                return True
            node = node[segment]
        elif isinstance(node, list) and isinstance(segment, int) and segment < len(node):
            if last or not isinstance(node[segment], (dict, list)):
                node[segment] = ""
                return True
            node = node[segment]
        else:
            return False
    return False


WHOLE_BODY = "body"
"""What :attr:`Redaction.removed` lists when the whole body was removed."""


def _rewrite_body(text: str, paths: list[str], removed: list[str]) -> bytes | None:
    """The body with the carriers of ``paths`` blanked, by its structure; None if it has none."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            doc = json.loads(stripped)
        except ValueError:
            doc = None
        if doc is not None:
            for path in paths:
                if _blank_json(doc, _json_segments(path[len("body") :])):
                    removed.append(path)
            return json.dumps(doc, separators=(",", ":")).encode()
    lines = text.replace("\r\n", "\n").split("\n")
    if len(lines) > 1 and any(p.startswith("body.line[") for p in paths):
        out = []
        for index, line in enumerate(lines):
            prefix = f"body.line[{index}]."
            pairs = parse_qsl(line, keep_blank_values=True)
            out.append(_encode(_blank_pairs(pairs, set(paths), prefix, removed)) if pairs else line)
        return "\r\n".join(out).encode()
    pairs = parse_qsl(text, keep_blank_values=True)
    if pairs:
        return _encode(_blank_pairs(pairs, set(paths), "body.", removed)).encode()
    return None


def _covered(path: str, removed: Sequence[str]) -> bool:
    """True when ``path`` lies in a removed carrier (itself, or inside one)."""
    return any(path == r or path.startswith((r + ".", r + "[")) for r in removed)


def _redact_body(body: bytes, paths: set[str], removed: list[str]) -> bytes:
    """The body without the fields at ``paths``; empty when it cannot be rewritten safely.

    Only a UTF-8 body whose every finding is found again by its structure is
    rewritten.  A compressed or otherwise encoded body (raw gzip without
    Content-Encoding, base64), or one whose findings cannot all be located, is
    removed whole and ``body`` is listed: forwarding part of it could leak.
    """
    targets = sorted(p for p in paths if p.startswith("body"))
    if not body or not targets:
        return body
    found: list[str] = []
    try:
        rewritten = _rewrite_body(body.decode("utf-8"), targets, found)
    except Exception:  # noqa: BLE001 - whatever the body holds, redaction must not fail open
        rewritten = None
    if rewritten is None or not all(_covered(p, found) for p in targets):
        removed.append(WHOLE_BODY)
        return b""
    removed.extend(found)
    return rewritten


def _hidden_canaries(body: bytes, findings: Sequence[Finding]) -> bool:
    """True when a canary was found in the body in a form stripping cannot see (encoded)."""
    text = body.decode("utf-8", "surrogateescape").lower()
    return any(
        f.kind == "canary" and f.path.startswith("body") and f.value.lower() not in text
        for f in findings
    )


def _strip_needles(text: str, needles: Sequence[str]) -> str:
    lowered = text.lower()
    for needle in needles:
        start = lowered.find(needle.lower())
        while start >= 0:
            text = text[:start] + text[start + len(needle) :]
            lowered = lowered[:start] + lowered[start + len(needle) :]
            start = lowered.find(needle.lower())
    return text


def _carrying(fields: Sequence[Field], findings: Sequence[Finding]) -> set[str]:
    """Paths of every field that carries a matched health term, not only the reported one.

    Detection reports a term once per request; redaction must remove it from
    every field it travels in (a page title repeats the page URL's condition).
    """
    terms = {" ".join(tokens(f.matched)) for f in findings if f.kind == "health"}
    terms.discard("")
    paths = set()
    for field in fields:
        if field.path.startswith("cookie."):
            continue
        text = " " + " ".join(tokens(field.value)) + " "
        if any(f" {term} " in text for term in terms):
            paths.add(field.path)
    return paths


def redact(
    request: Request, findings: Sequence[Finding], fields: Sequence[Field] = ()
) -> Redaction:
    """Remove every field that carried a finding; strip canary values wherever they appear."""
    paths = {f.path for f in findings if f.kind != "canary"}
    paths |= _carrying(fields, findings)
    needles = [f.value for f in findings if f.kind == "canary" and len(f.value) >= 4]
    removed: list[str] = []
    parts = urls.split(request.url)
    query = parts.query
    if query:
        before = len(removed)
        pairs = _blank_pairs(parse_qsl(query, keep_blank_values=True), paths, "query.", removed)
        if len(removed) > before:  # untouched query strings keep their exact bytes
            query = _encode(pairs)
    path = parts.path
    if ";" in path and any(p.startswith("path.") for p in paths):
        head, *params = path.split(";")
        kept = []
        for param in params:
            key = param.partition("=")[0]
            if f"path.{key}" in paths:
                removed.append(f"path.{key}")
                kept.append(f"{key}=")
            else:
                kept.append(param)
        path = ";".join([head, *kept])
    url = urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))
    plain, coded = _content(request)
    if plain is None:  # compressed beyond the limits: unreadable, so removed if touched
        plain = request.body
        touched = any(p.startswith("body") for p in paths) or any(
            f.kind == "canary" and f.path.startswith("body") for f in findings
        )
        content = b"" if touched else plain
        if touched:
            removed.append(WHOLE_BODY)
    else:
        content = _redacted_content(plain, paths, findings, removed)
    headers = list(request.headers)
    if "header.referer" in paths:
        headers = [(k, _origin(v) if k.lower() == "referer" else v) for k, v in headers]
        removed.append("header.referer")
    body = content
    if needles:
        new_url = _strip_needles(url, needles)
        new_body = _strip_needles(body.decode("utf-8", "surrogateescape"), needles).encode(
            "utf-8", "surrogateescape"
        )
        if new_url != url or new_body != body:
            removed.append("canary values")
        url, body = new_url, new_body
    if body == plain:
        body = request.body  # untouched: forwarded exactly as sent, still encoded
    elif coded:  # rewritten from the decoded content, so it goes out without a coding
        headers = [(k, v) for k, v in headers if k.lower() != "content-encoding"]
    return Redaction(url, tuple(headers), body, tuple(dict.fromkeys(removed)))


REDACT_LIMITS = DEFAULT_LIMITS
"""Bounds on decoding a compressed body to redact it; beyond them the body is removed."""


def _content(request: Request) -> tuple[bytes | None, bool]:
    """The body's content and whether it had a ``Content-Encoding`` to undo.

    The content is None when the coding could not be undone within the
    limits: such a body cannot be redacted, only removed.
    """
    undone = compression.undo_content_encoding(
        request.body, request.header("content-encoding"), Budget(REDACT_LIMITS)
    )
    if undone is None:
        return request.body, False
    inflated, _ = undone
    return (inflated.data if inflated.complete else None), True


def _redacted_content(
    content: bytes, paths: set[str], findings: Sequence[Finding], removed: list[str]
) -> bytes:
    """The content without the fields at ``paths``, or empty when a canary hides in it."""
    before = len(removed)
    body = _redact_body(content, paths, removed)
    if len(removed) == before:
        body = content
    if body and _hidden_canaries(body, findings):
        body = b""
        removed.append(WHOLE_BODY)
    return body


def _origin(url: str) -> str:
    origin = urls.parse_url(url).origin
    return f"{origin}/" if origin else ""
