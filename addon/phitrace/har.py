"""Read HAR captures (``.har`` and ``.har.gz``) into phitrace requests."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from phitrace.model import Request


class HarError(ValueError):
    """The file is not a HAR capture phitrace can read."""


def _open(path: Path) -> Any:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                return json.load(handle)
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError, EOFError) as exc:
        raise HarError(f"{path}: not a readable HAR file ({exc})") from exc


def _timestamp(text: str | None) -> float:
    if not text:
        return 0.0
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _body(request: dict[str, Any]) -> bytes:
    post = request.get("postData") or {}
    text = post.get("text")
    if text is None and post.get("params"):
        return "&".join(
            f"{p.get('name', '')}={p.get('value', '')}" for p in post["params"]
        ).encode()
    if text is None:
        return b""
    if post.get("encoding") == "base64":
        try:
            return base64.b64decode(text)
        except ValueError:
            return text.encode("utf-8", "replace")
    return str(text).encode("utf-8", "surrogateescape")


def _page_urls(log: dict[str, Any]) -> dict[str, str]:
    """Map HAR page ids to page URLs (browsers store the URL as the page title)."""
    pages = {}
    for page in log.get("pages") or []:
        title = page.get("title") or ""
        if isinstance(title, str) and title.startswith(("http://", "https://")):
            pages[page.get("id", "")] = title
    return pages


def read_har(path: Path) -> Iterator[tuple[Request, int | None]]:
    """Yield each entry's request with the response status it got."""
    data = _open(path)
    log = data.get("log") if isinstance(data, dict) else None
    if not isinstance(log, dict) or not isinstance(log.get("entries"), list):
        raise HarError(f"{path}: no log.entries array; is this a HAR export?")
    pages = _page_urls(log)
    for entry in log["entries"]:
        request = entry.get("request") or {}
        if not request.get("url"):
            continue
        headers = tuple(
            (str(h.get("name", "")), str(h.get("value", ""))) for h in request.get("headers") or []
        )
        status = (entry.get("response") or {}).get("status")
        yield (
            Request(
                method=str(request.get("method", "GET")),
                url=str(request["url"]),
                headers=headers,
                body=_body(request),
                timestamp=_timestamp(entry.get("startedDateTime")),
                page_url=pages.get(entry.get("pageref", "")),
            ),
            status if isinstance(status, int) and status > 0 else None,
        )
