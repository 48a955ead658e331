"""Turn a request into a flat list of decoded fields, each with a decode trail.

Decoders are chosen by sniffing bytes, not by trusting headers: trackers send
JSON as ``text/plain``, raw gzip without ``Content-Encoding`` and form data
without a content type.  A field's ``path`` says where it was found
(``query.dl``, ``body.cd[buttonText]``, ``body.line[2].ep.search_term``,
``body.events[0].xdm.web.webPageDetails.URL``, ``path.u1``, ``cookie._fbp``,
``header.referer``, ``message.…`` for WebSocket messages) and its ``trail``
which decoders produced it, e.g. ``("gzip", "json", "base64", "json")``.

Everything is bounded by :class:`Limits` (input and decompressed bytes,
decompression ratio, nested decoders, structure nesting, fields, time) and
nothing raises: on a limit the fields decoded so far are returned with a
``truncated`` reason.  The decoders themselves live in :mod:`phitrace.decode`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from phitrace import urls
from phitrace.decode import compression, envelopes
from phitrace.decode.budget import DEFAULT_LIMITS, Budget, Limits, Stop
from phitrace.decode.compression import Inflated
from phitrace.decode.sniff import Decoder
from phitrace.model import Decoded, Request

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "body_content",
    "decode_message",
    "decode_request",
    "field_key",
]

log = logging.getLogger(__name__)

BARE_QUERY_CHARS = 8
"""A query piece without ``=`` this long is also read as a value (``query``)."""

_C1_CONTROL = re.compile(rb"\xc2[\x80-\x9f]")
"""U+0080–U+009F (C1 control characters) as UTF-8 bytes."""
_SOCKET_IO = re.compile(rb"\d{1,4}(?=[\[{])")


def _run(
    decoder: Decoder, steps: tuple[Callable[[Decoder, Any], None], ...], subject: Any
) -> Decoded:
    """Apply each step to ``subject``; a limit ends them all, a bug only its own step."""
    for step in steps:
        try:
            step(decoder, subject)
        except Stop:
            break
        # Fail open: a decoder bug must cost the fields of one part of one
        # request, never the proxy's flow.  The reason stays visible in the result.
        except Exception as exc:
            log.debug("decoder error", exc_info=True)
            decoder.budget.note(f"decoder error: {type(exc).__name__}")
    budget = decoder.budget
    return Decoded(tuple(budget.fields), budget.truncated)


def _cap(decoder: Decoder, text: str, what: str) -> str:
    limit = decoder.limits.max_body_bytes
    if len(text) > limit:
        decoder.budget.note(f"{what} longer than {limit} characters")
        return text[:limit]
    return text


def _url(decoder: Decoder, url: str) -> None:
    if len(url) > decoder.limits.max_body_bytes:
        url = _cap(decoder, url, "URL")
    parsed = urls.parse_url(url)  # a host means the URL was readable: its parts are urlsplit's
    if parsed.host:
        query, path, fragment = parsed.query, parsed.path, parsed.fragment
    else:
        try:
            parts = urls.split_parts(url)
            query, path, fragment = parts.query, parts.path, parts.fragment
        except ValueError:  # e.g. an unbalanced IPv6 bracket: split by hand
            rest, _, fragment = url.partition("#")
            path, _, query = rest.partition("?")
    _query(decoder, query)
    if ";" in path:  # path parameters are ;-separated: most paths have none
        for key, value in envelopes.path_params(path):
            decoder.value(f"path.{key}", value, ())
    if len(path) >= PATH_SEGMENT_CHARS:
        _path_segments(decoder, path)
    if "=" in fragment:
        for key, value in envelopes.form_pairs(fragment):
            decoder.value(f"fragment.{key}", value, ())
    elif fragment:
        decoder.value("fragment", fragment, ())


def _query(decoder: Decoder, query: str) -> None:
    """The query's pairs (blanks kept), then its long bare pieces again, as values.

    The fields of :func:`envelopes.form_pairs` followed by those of
    :func:`envelopes.bare_items`, in one pass over the pieces: the query is
    most of what a tracker hit sends.  Pieces are still decoded one at a
    time, so the field and time limits cut a huge query short.
    """
    value = decoder.value
    unform = envelopes.unform
    bare: list[str] = []
    for piece in query.split("&"):
        if not piece:
            continue
        key, equals, val = piece.partition("=")
        if "+" in piece or "%" in piece:
            key, val = unform(key), unform(val)
        value(f"query.{key}", val, ())
        if not equals:
            bare.append(key)
    for item in bare:
        if len(item) >= BARE_QUERY_CHARS:
            value("query", item, ())


PATH_SEGMENT_CHARS = 16
"""Shortest URL path segment read as a possible encoding (a base64url user object…)."""


def _path_segments(decoder: Decoder, path: str) -> None:
    """Encoded data in URL path segments, as some SDKs send a user object or event.

    Only what a segment decodes to is recorded (``path[3].user.email``): the
    plain words of a path are the address of a resource, not what was sent.
    """
    for index, segment in enumerate(path.split("/")):
        if len(segment) >= PATH_SEGMENT_CHARS and ";" not in segment:
            decoder.expand(f"path[{index}]", unquote(segment), ())


def _repair_latin1(body: bytes) -> bytes | None:
    """Binary bodies that went through a latin-1 text round trip (as in some HAR exports).

    Their bytes come back as UTF-8 of U+0000–U+00FF, with C1 control characters
    that real text never holds; encoding the text as latin-1 restores them.
    """
    if body.isascii() or _C1_CONTROL.search(body) is None:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return None


def _body(
    decoder: Decoder, body: bytes, encoding: str | None, root: str, trail: tuple[str, ...] = ()
) -> None:
    if not body:
        return
    limit = decoder.limits.max_body_bytes
    if len(body) > limit:
        decoder.budget.note(f"{root} larger than {limit} bytes")
        body = body[:limit]
    repaired = _repair_latin1(body)
    if repaired is not None:
        body, trail = repaired, trail + ("latin1",)
    undone = compression.undo_content_encoding(body, encoding, decoder.budget)
    if undone is None:
        decoder.blob(body, root, trail, top=True)
    elif undone[0].data:
        decoder.blob(undone[0].data, root, trail + undone[1], top=True)


def _cookies(decoder: Decoder, request: Request) -> None:
    for name, value in request.headers:
        if name.lower() == "cookie":
            for key, val in envelopes.cookie_pairs(_cap(decoder, value, "Cookie header")):
                decoder.value(f"cookie.{key}", val, ())


def _referer(decoder: Decoder, request: Request) -> None:
    referer = request.header("referer")
    if referer:
        decoder.budget.add("header.referer", referer, ())


def _request_url(decoder: Decoder, request: Request) -> None:
    _url(decoder, request.url)


def _request_body(decoder: Decoder, request: Request) -> None:
    if request.body:
        _body(decoder, request.body, request.header("content-encoding"), "body")


_REQUEST_STEPS = (_request_url, _request_body, _cookies, _referer)
"""The parts of a request, decoded in this order (the order of its fields)."""


def decode_request(request: Request, limits: Limits = DEFAULT_LIMITS) -> Decoded:
    """Decode every part of a request (URL, body, cookies, Referer) into fields; never raises."""
    return _run(Decoder(limits), _REQUEST_STEPS, request)


def body_content(request: Request, limits: Limits = DEFAULT_LIMITS) -> Inflated:
    """The request's body with its ``Content-Encoding`` undone within ``limits``.

    A live capture keeps bodies as sent; whatever reads their content (the raw
    canary search, redaction) goes through here, never an unbounded decoder.
    A body without a coding, or not what its header says, comes back as it
    is; one cut by a limit comes back incomplete.
    """
    body = request.body
    if len(body) > limits.max_body_bytes:
        return Inflated(body[: limits.max_body_bytes], False)
    undone = compression.undo_content_encoding(
        body, request.header("content-encoding"), Budget(limits)
    )
    return Inflated(body, True) if undone is None else undone[0]


def _message(decoder: Decoder, data: bytes | str) -> None:
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else bytes(data)
    trail: tuple[str, ...] = ()
    prefix = _SOCKET_IO.match(raw)
    if prefix is not None:
        raw, trail = raw[prefix.end() :], ("socketio",)
    _body(decoder, raw, None, "message", trail)


def decode_message(data: bytes | str, limits: Limits = DEFAULT_LIMITS) -> Decoded:
    """Decode one WebSocket message (text or binary) into fields under ``message``; never raises.

    Socket.IO's numeric packet prefix (``42["event", {...}]``) is skipped.
    """
    return _run(Decoder(limits), (_message,), data)


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
