"""Work out which page a request came from.

Cross-site requests usually carry only the page's origin in ``Referer``
(browsers' default referrer policy), so phitrace remembers the last document
loaded from each origin and uses it as the page.  Bounded: an LRU of origins.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from phitrace.urls import parse_url

DOCUMENT_DESTINATIONS = frozenset({"document", "iframe", "frame"})


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


class PageTracker:
    """Remembers documents per origin and resolves a request's page."""

    def __init__(self, max_origins: int = 512) -> None:
        self.max_origins = max_origins
        self._documents: OrderedDict[str, str] = OrderedDict()

    def seen_document(self, url: str) -> None:
        """Record that ``url`` was loaded as a page."""
        origin = parse_url(url).origin
        self._documents[origin] = url
        self._documents.move_to_end(origin)
        while len(self._documents) > self.max_origins:
            self._documents.popitem(last=False)

    def page_for(self, url: str, headers: Iterable[tuple[str, str]]) -> str | None:
        """The page a request belongs to, or None for a page load itself."""
        headers = tuple(headers)
        if (_header(headers, "sec-fetch-dest") or "").lower() in DOCUMENT_DESTINATIONS:
            self.seen_document(url)
            return None
        referer = _header(headers, "referer")
        if not referer:
            return None
        page = parse_url(referer)
        if not page.host:  # unreadable (e.g. ``http://[clinic.example/``): no page known
            return None
        if page.is_origin_only:
            return self._documents.get(page.origin, referer)
        return referer
