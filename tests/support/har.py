"""Small HAR files written on the spot, for tests and benchmarks that need a capture to scan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def tracker_entry(url: str, page: str = "p1") -> dict[str, Any]:
    """One HAR entry: a GET of ``url`` from page ``page``, answered 200 with an empty body."""
    return {
        "pageref": page,
        "startedDateTime": "2026-01-01T00:00:01Z",
        "time": 1,
        "request": {
            "method": "GET",
            "url": url,
            "httpVersion": "HTTP/1.1",
            "headers": [],
            "queryString": [],
            "cookies": [],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {"status": 200, "headers": [], "content": {"size": 0}},
    }


def write_har(path: Path, urls: list[str] | None = None) -> Path:
    """A HAR of one page and a tracker request per URL (by default one, with a health term)."""
    urls = urls or [
        "https://www.facebook.com/tr/?id=1&ev=PageView"
        "&dl=https%3A%2F%2Fclinic.example%2Fconditions%2Fdiabetes"
    ]
    log = {
        "version": "1.2",
        "creator": {"name": "phitrace-tests", "version": "1"},
        "pages": [
            {"id": "p1", "title": "Diabetes care", "startedDateTime": "2026-01-01T00:00:00Z"}
        ],
        "entries": [tracker_entry(url) for url in urls],
    }
    path.write_text(json.dumps({"log": log}), encoding="utf-8")
    return path
