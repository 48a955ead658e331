"""Read HAR captures (``.har`` and ``.har.gz``, Chrome and Firefox exports) as a stream.

Entries are parsed one at a time, each nested at most ``MAX_DEPTH`` levels,
so a capture of any size or shape is read in bounded memory.  Chrome stores
each page's URL as its title; Firefox stores the document title, so the
page URL is then taken from the first HTML document loaded for that page.

An entry whose request cannot be rebuilt faithfully (no URL, a field of the
wrong type, nesting too deep) is skipped and reported by its index; fields
that only add context (time, page, response status) are ignored when
malformed, so the request is still analysed.  A file that is not a HAR at
all raises :class:`HarError` with a one-line message.
"""

from __future__ import annotations

import base64
import gzip
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ijson

from phitrace.capture.json_stream import (
    MAX_DEPTH,
    READ_ERRORS,
    Event,
    TooDeep,
    build,
    events,
    next_event,
    one_line,
    skip,
)
from phitrace.capture.skipped import SkipLog
from phitrace.capture.timestamps import from_iso
from phitrace.decode.document import MAX_DOCUMENT_BYTES
from phitrace.model import Request, Response, wire_bytes

Responses = Callable[[Request, Response], None]
"""Called with each entry's request (its cookies as a header) and its response."""

__all__ = ["MAX_DEPTH", "EntryError", "HarError", "read_har"]


class HarError(ValueError):
    """The file is not a capture phitrace can read; the message is one line naming it."""


class EntryError(ValueError):
    """Why one entry cannot be read: the field and what is wrong with it."""


class _NotHar(ValueError):
    """Valid JSON, but not shaped like a HAR capture."""


_KINDS: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}


def _field(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    """``obj[key]`` when it is a ``kind`` or absent (None); any other type fails the entry."""
    value = obj.get(key)
    if value is None or isinstance(value, kind):
        return value
    raise EntryError(f"{where}{key} is not {_KINDS[kind]}")


def _pairs(items: object, where: str, *, value_required: bool) -> tuple[tuple[str, str], ...]:
    """HAR name/value lists (headers, form params) as pairs of strings."""
    if items is None:
        return ()
    if not isinstance(items, list):
        raise EntryError(f"{where} is not a list")
    pairs = []
    for index, item in enumerate(items):
        here = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise EntryError(f"{here} is not an object")
        name, value = item.get("name"), item.get("value")
        if value is None and not value_required:
            value = ""
        if not isinstance(name, str):
            raise EntryError(f"{here}.name is missing or not a string")
        if not isinstance(value, str):
            raise EntryError(f"{here}.value is missing or not a string")
        pairs.append((name, value))
    return tuple(pairs)


def _body(request: dict[str, Any]) -> bytes:
    """The bytes sent: text as written (lone surrogates included), base64 decoded, or params."""
    post = _field(request, "postData", dict, "request.")
    if post is None:
        return b""
    text = _field(post, "text", str, "request.postData.")
    if text is None:
        params = _pairs(post.get("params"), "request.postData.params", value_required=False)
        return wire_bytes("&".join(f"{name}={value}" for name, value in params))
    if _field(post, "encoding", str, "request.postData.") == "base64":
        try:
            return base64.b64decode(text)
        except ValueError:
            pass
    return wire_bytes(text)


def _is_document(entry: dict[str, Any]) -> bool:
    """True for a page load: Firefox names pages by title, so its documents give their URLs."""
    if entry.get("_resourceType") == "document":
        return True
    response = entry.get("response")
    content = response.get("content") if isinstance(response, dict) else None
    mime = content.get("mimeType") if isinstance(content, dict) else None
    return isinstance(mime, str) and mime.startswith("text/html")


def _status(entry: dict[str, Any]) -> int | None:
    """The response status when there is a usable one (context only, never fails the entry)."""
    response = entry.get("response")
    status = response.get("status") if isinstance(response, dict) else None
    valid = isinstance(status, int) and not isinstance(status, bool) and status > 0
    return status if valid else None


def _cookie_pairs(message: dict[str, Any]) -> list[tuple[str, str]]:
    """A HAR message's ``cookies`` list as (name, value) pairs; malformed items are left out."""
    cookies = message.get("cookies")
    items = cookies if isinstance(cookies, list) else []
    pairs = [(c.get("name"), c.get("value")) for c in items if isinstance(c, dict)]
    return [(n, v) for n, v in pairs if isinstance(n, str) and isinstance(v, str) and n]


def _response(entry: dict[str, Any]) -> Response:
    """What the entry's response says (context only: a malformed part is left out)."""
    response = entry.get("response")
    response = response if isinstance(response, dict) else {}
    try:
        headers = list(_pairs(response.get("headers"), "response.headers", value_required=True))
    except EntryError:
        headers = []
    if not any(k.lower() == "set-cookie" for k, _ in headers):
        headers += [("Set-Cookie", f"{n}={v}") for n, v in _cookie_pairs(response)]
    content = response.get("content")
    content = content if isinstance(content, dict) else {}
    if not any(k.lower() == "content-type" for k, _ in headers) and content.get("mimeType"):
        headers.append(("Content-Type", str(content["mimeType"])))
    text = content.get("text")
    body = b""
    if isinstance(text, str):
        text = text[: MAX_DOCUMENT_BYTES * 2]
        if content.get("encoding") == "base64":
            try:
                body = base64.b64decode(text)
            except ValueError:
                body = b""
        else:
            body = wire_bytes(text)
    return Response(_status(entry), tuple(headers), body[:MAX_DOCUMENT_BYTES])


def _with_cookies(request: Request, entry: dict[str, Any]) -> Request:
    """The request with its HAR ``cookies`` as a Cookie header, when the headers lack one."""
    if request.header("cookie") is not None:
        return request
    pairs = _cookie_pairs(entry.get("request") or {})
    if not pairs:
        return request
    cookie = "; ".join(f"{n}={v}" for n, v in pairs)
    return Request(request.method, request.url, (*request.headers, ("Cookie", cookie)))


def _entry(entry: Any, pages: dict[str, str]) -> tuple[Request, int | None]:
    """One entry's request and response status; raises :class:`EntryError` saying why not."""
    if isinstance(entry, TooDeep):
        raise EntryError(str(entry))
    if not isinstance(entry, dict):
        raise EntryError("it is not an object")
    request = _field(entry, "request", dict, "")
    if request is None:
        raise EntryError("it has no request")
    url = _field(request, "url", str, "request.")
    if not url:
        raise EntryError("request.url is missing or empty")
    method = _field(request, "method", str, "request.") or "GET"
    headers = _pairs(request.get("headers"), "request.headers", value_required=True)
    body = _body(request)
    pageref = entry.get("pageref")
    pageref = pageref if isinstance(pageref, str) else ""
    if pageref and pageref not in pages and _is_document(entry):
        pages[pageref] = url
    timestamp = from_iso(entry.get("startedDateTime"))
    page_url = pages.get(pageref)
    return Request(method, url, headers, body, timestamp, page_url), _status(entry)


def _members(stream: Iterator[Event]) -> Iterator[tuple[str, Event]]:
    """(key, first event of its value) for each member of the open object; read each value."""
    while True:
        kind, key = next_event(stream)
        if kind == "end_map":
            return
        yield key, next_event(stream)


def _items(stream: Iterator[Event], built: bool) -> Iterator[tuple[int, Any]]:
    """(index, item) for each item of the open array: built, or None when only counted."""
    index = 0
    while (event := next_event(stream))[0] != "end_array":
        item: Any = None
        if built:
            try:
                item = build(stream, event)
            except TooDeep as exc:
                item = exc
        else:
            skip(stream, event)
        yield index, item
        index += 1


def _log_arrays(
    stream: Iterator[Event], built: str, note: Callable[[str, str], None]
) -> Iterator[tuple[str, int, Any]]:
    """("pages" | "entries", index, item) for the items of ``log.pages`` and ``log.entries``.

    Items of the array named ``built`` are built (a too-deep one as its
    :class:`TooDeep`), the others only counted; everything else is read past.
    """
    if next_event(stream)[0] != "start_map":
        raise _NotHar("its top level is not a JSON object")
    for key, event in _members(stream):
        if key != "log" or event[0] != "start_map":
            skip(stream, event)
            continue
        for name, inner in _members(stream):
            if name in ("pages", "entries") and inner[0] == "start_array":
                for index, item in _items(stream, name == built):
                    yield name, index, item
                continue
            if name == "entries":
                raise _NotHar("log.entries is not a list")
            if name == "pages" and inner[0] != "null":
                note("log.pages", "it is not a list, so pages are known only from documents")
            skip(stream, inner)


def _reason(exc: Exception) -> str:
    """Why a file could not be read, in a few words."""
    if isinstance(exc, _NotHar):
        return f"not a HAR capture ({exc})"
    if isinstance(exc, ijson.JSONError):
        return f"not valid JSON ({one_line(exc)}); is it a HAR export?"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason})"
    if isinstance(exc, gzip.BadGzipFile | zlib.error):
        return f"damaged gzip data ({exc})"
    if isinstance(exc, EOFError):
        return f"truncated ({exc})"
    if isinstance(exc, OSError):
        return f"cannot be read ({exc.strerror or exc})"
    return str(exc)


def _error(path: Path, exc: Exception) -> HarError:
    """The one-line error for a file that cannot be read, naming it."""
    return HarError(" ".join(f"{path}: {_reason(exc)}".split()))


def _survey(path: Path, skipped: SkipLog) -> dict[str, str]:
    """Check the whole file is a HAR with entries; page id → URL for pages titled by URL."""
    pages: dict[str, str] = {}
    entries = 0
    try:
        with events(path) as (_, stream):
            for name, _, page in _log_arrays(stream, "pages", skipped.add):
                entries += name == "entries"
                title = page.get("title") if isinstance(page, dict) else None
                if isinstance(title, str) and title.startswith(("http://", "https://")):
                    pages[str(page.get("id", ""))] = title
    except (_NotHar, *READ_ERRORS) as exc:
        raise _error(path, exc) from exc
    if entries == 0:
        raise HarError(f"{path}: no log.entries array with entries; is this a HAR export?")
    return pages


def _requests(
    path: Path,
    pages: dict[str, str],
    progress: Callable[[int], None] | None,
    skipped: SkipLog,
    responses: Responses | None = None,
) -> Iterator[tuple[Request, int | None]]:
    """The second pass: each readable entry as a request, each unreadable one noted."""
    try:
        with events(path) as (raw, stream):
            for name, index, entry in _log_arrays(stream, "entries", lambda *_: None):
                if name != "entries":
                    continue
                try:
                    item = _entry(entry, pages)
                except EntryError as exc:
                    skipped.add(f"entry {index}", str(exc))
                else:
                    if responses is not None:
                        # Before the request is yielded, so the page's own trackers that
                        # follow it already know what its document showed.
                        responses(_with_cookies(item[0], entry), _response(entry))
                    yield item
                if progress is not None and index % 200 == 199:
                    progress(raw.tell())
    except (_NotHar, *READ_ERRORS) as exc:
        raise _error(path, exc) from exc


def read_har(
    path: Path,
    progress: Callable[[int], None] | None = None,
    skipped: SkipLog | None = None,
    responses: Responses | None = None,
) -> Iterator[tuple[Request, int | None]]:
    """Each entry's request with the response status it got.

    The file is checked first (raising :class:`HarError`), then streamed.
    Entries that cannot be read are added to ``skipped``.  ``progress`` is
    called with the number of (compressed) bytes read so far; ``responses``
    with each entry's request and response, before that request is yielded.
    """
    skipped = skipped if skipped is not None else SkipLog()
    pages = _survey(path, skipped)
    return _requests(path, pages, progress, skipped, responses)
