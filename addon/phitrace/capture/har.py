"""Read HAR captures (``.har`` and ``.har.gz``, Chrome and Firefox exports) as a stream.

Entries are parsed one at a time with ijson, so a capture of any size is read
in bounded memory.  Chrome stores each page's URL as its title; Firefox
stores the document title, so the page URL is then taken from the first HTML
document loaded for that page.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any, cast

import ijson

from phitrace.model import Request


class HarError(ValueError):
    """The file is not a HAR capture phitrace can read."""


def _timestamp(text: object) -> float:
    if not isinstance(text, str) or not text:
        return 0.0
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _body(request: dict[str, Any]) -> bytes:
    post = request.get("postData") or {}
    text = post.get("text")
    if text is None and post.get("params"):
        pairs = (f"{p.get('name', '')}={p.get('value', '')}" for p in post["params"])
        return "&".join(pairs).encode()
    if text is None:
        return b""
    if post.get("encoding") == "base64":
        try:
            return base64.b64decode(text)
        except ValueError:
            return str(text).encode("utf-8", "replace")
    return str(text).encode("utf-8", "surrogateescape")


@contextmanager
def _opened(path: Path) -> Iterator[tuple[IO[bytes], IO[bytes]]]:
    """Open a HAR file, gzip or not: yields (raw file, decompressed stream)."""
    with path.open("rb") as raw:
        if raw.read(2) == b"\x1f\x8b":
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield raw, cast(IO[bytes], unzipped)
        else:
            raw.seek(0)
            yield raw, raw


def _page_titles(path: Path) -> dict[str, str]:
    """Page id → URL, for pages whose title is a URL (Chrome's HAR export)."""
    pages: dict[str, str] = {}
    with _opened(path) as (_, handle):
        for page in ijson.items(handle, "log.pages.item"):
            title = page.get("title") if isinstance(page, dict) else None
            if isinstance(title, str) and title.startswith(("http://", "https://")):
                pages[str(page.get("id", ""))] = title
    return pages


def _is_document(entry: dict[str, Any]) -> bool:
    if entry.get("_resourceType") == "document":
        return True
    content = (entry.get("response") or {}).get("content") or {}
    return str(content.get("mimeType", "")).startswith("text/html")


def read_har(
    path: Path, progress: Callable[[int], None] | None = None
) -> Iterator[tuple[Request, int | None]]:
    """Yield each entry's request with the response status it got.

    ``progress`` is called with the number of (compressed) bytes read so far.
    """
    try:
        pages = _page_titles(path)
        count = 0
        with _opened(path) as (raw, handle):
            for entry in ijson.items(handle, "log.entries.item", use_float=True):
                count += 1
                item = _entry(entry, pages)
                if item is not None:
                    yield item
                if progress is not None and count % 200 == 0:
                    progress(raw.tell())
    except (ijson.JSONError, OSError, EOFError, UnicodeDecodeError) as exc:
        raise HarError(f"{path}: not a readable HAR file ({exc})") from exc
    if count == 0:
        raise HarError(f"{path}: no log.entries array with entries; is this a HAR export?")


def _entry(entry: Any, pages: dict[str, str]) -> tuple[Request, int | None] | None:
    if not isinstance(entry, dict):
        return None
    request = entry.get("request") or {}
    if not request.get("url"):
        return None
    url = str(request["url"])
    pageref = str(entry.get("pageref", ""))
    if pageref and pageref not in pages and _is_document(entry):
        pages[pageref] = url
    headers = tuple(
        (str(h.get("name", "")), str(h.get("value", ""))) for h in request.get("headers") or []
    )
    status = (entry.get("response") or {}).get("status")
    return (
        Request(
            method=str(request.get("method", "GET")),
            url=url,
            headers=headers,
            body=_body(request),
            timestamp=_timestamp(entry.get("startedDateTime")),
            page_url=pages.get(pageref),
        ),
        status if isinstance(status, int) and status > 0 else None,
    )
