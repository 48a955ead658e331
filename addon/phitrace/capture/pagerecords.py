"""What a session has learnt about each page: logged in or not, and its health content.

A page record is keyed by the page's URL without its fragment.  It is filled
from the document (its request's cookies, its title and headings) and from
tracker payloads sent from the page (a title naming a condition, a login
flag), and read when another tracker event comes from the same page.  The
records and the login cookies are bounded (LRU), so a long session keeps
constant memory.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

from phitrace.model import Finding
from phitrace.urls import split

MAX_PAGES = 1024
"""Pages a session keeps a record of."""
MAX_LOGIN_COOKIES = 64
"""Login cookies a session remembers."""


@dataclass(frozen=True)
class PageRecord:
    """One page as the session knows it."""

    url: str
    authenticated: str = "unknown"
    """``yes``, ``no`` or ``unknown``."""
    authenticated_reason: str | None = None
    title: str | None = None
    health: tuple[Finding, ...] = ()
    """The health findings in the page's own content (document or tracker payload)."""
    health_source: str | None = None
    """Where the page's health content was seen: the document URL or a flow."""


def page_key(url: str) -> str:
    """A page URL without its fragment: ``#section`` is the same page."""
    return url.split("#", 1)[0] if split(url).fragment or url.endswith("#") else url


class PageRecords:
    """The session's page records and the cookies its login responses set."""

    def __init__(self, max_pages: int = MAX_PAGES, max_cookies: int = MAX_LOGIN_COOKIES) -> None:
        self.max_pages = max_pages
        self.max_cookies = max_cookies
        self._pages: OrderedDict[str, PageRecord] = OrderedDict()
        self.login_cookies: OrderedDict[str, str] = OrderedDict()
        """Cookie name → the login request that set it (``POST /login``)."""

    def get(self, url: str | None) -> PageRecord | None:
        """The record of the page at ``url``, if the session has one."""
        return self._pages.get(page_key(url)) if url else None

    def put(self, record: PageRecord) -> None:
        """Store (or replace) a page's record, forgetting the least recent beyond the bound."""
        key = page_key(record.url)
        self._pages[key] = replace(record, url=key)
        self._pages.move_to_end(key)
        while len(self._pages) > self.max_pages:
            self._pages.popitem(last=False)

    def record_for(self, url: str) -> PageRecord:
        """The page's record, or a new empty one (not stored until :meth:`put`)."""
        return self.get(url) or PageRecord(page_key(url))

    def logged_in(self, names: list[str], where: str) -> None:
        """Remember cookies a login response set, and which request set them."""
        for name in names:
            self.login_cookies[name] = where
            self.login_cookies.move_to_end(name)
        while len(self.login_cookies) > self.max_cookies:
            self.login_cookies.popitem(last=False)
