"""URLs, origins and registrable domains: one never-raising parser for every stage.

Captured traffic is hostile: a ``Referer`` of ``http://[clinic.example/`` or a
``Host`` of ``x`` must never stop an analysis.  :func:`parse_url` reads any
text into a :class:`Url` (empty parts when it cannot be read), and
:func:`registrable_domain` says which site a host belongs to, with the Public
Suffix List shipped inside the ``publicsuffixlist`` wheel (nothing is fetched
at run time), so ``a.github.io`` and ``b.github.io`` are two sites and
``www.example.co.uk`` is ``example.co.uk``.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import SplitResult, urlsplit

from publicsuffixlist import PublicSuffixList

_PSL = PublicSuffixList()
_EMPTY = urlsplit("")
_SIMPLE = re.compile(
    r"(https?)://([^/?#@\[\]%]*)(?=[/?#]|\Z)([^?#]*)(?:\?([^#]*))?(?:#(.*))?", re.S
)
"""An http(s) URL whose host part has no user info, IPv6 brackets or ``%``."""

URL_MEMO_SIZE = 256
"""URLs whose parts are remembered: a flow's URL is read by several stages, and a
page's URL by every request it makes; far fewer than a session's distinct URLs."""


class Url(NamedTuple):
    """A URL split once into the parts phitrace uses; parts are "" when absent or unreadable."""

    text: str
    scheme: str
    host: str
    """Lower-cased, without brackets, port or trailing dot."""
    port: int | None
    path: str
    query: str
    fragment: str

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` as a browser writes it in ``Origin`` ("" when unknown)."""
        if not self.scheme or not self.host:
            return ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.port is not None else "")

    @property
    def site(self) -> str:
        """The host's registrable domain (see :func:`registrable_domain`)."""
        return registrable_domain(self.host)

    @property
    def is_origin_only(self) -> bool:
        """True when the URL names no page, only its origin (``https://a.example/``)."""
        return self.path in ("", "/") and not self.query


def _simple_parts(text: str) -> tuple[str, str, str, str, str] | None:
    """(scheme, netloc, path, query, fragment) of a plain ASCII http(s) URL, else None.

    One regex match instead of :func:`urlsplit`'s character loops; it gives
    the same parts, and URLs it does not read go through :func:`urlsplit`.
    """
    if not text.isascii() or "\t" in text or "\n" in text or "\r" in text:
        return None  # urlsplit strips these characters: leave them to it
    simple = _SIMPLE.fullmatch(text)
    if simple is None:
        return None
    scheme, netloc, path, query, fragment = simple.groups()
    return scheme, netloc, path, query or "", fragment or ""


def split(text: str) -> SplitResult:
    """``urlsplit`` that never raises: an unreadable URL reads as empty parts."""
    simple = _simple_parts(text)
    if simple is not None:
        return SplitResult(*simple)
    try:
        return urlsplit(text)
    except ValueError:
        return _EMPTY


def _simple_url(text: str) -> Url | None:
    """:func:`parse_url` for a URL :func:`_simple_parts` reads: host and port by hand."""
    parts = _simple_parts(text)
    if parts is None:
        return None
    scheme, netloc, path, query, fragment = parts
    name, _, port_text = netloc.partition(":")
    port: int | None = None
    if port_text:  # as SplitResult.port: ASCII digits within 0-65535, else unreadable
        if not port_text.isdigit() or int(port_text) > 65535:
            return Url(text, scheme, "", None, path, query, fragment)
        port = int(port_text)
    return Url(text, scheme, name.lower().rstrip("."), port, path, query, fragment)


@lru_cache(maxsize=URL_MEMO_SIZE)
def parse_url(text: str | None) -> Url:
    """Read ``text`` as a URL; never raises (a malformed URL gives empty parts)."""
    text = text or ""
    simple = _simple_url(text)
    if simple is not None:
        return simple
    parts = split(text)
    try:
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError:  # a port that is not a number, or out of range
        host, port = "", None
    return Url(text, parts.scheme.lower(), host, port, parts.path, parts.query, parts.fragment)


def host_of(text: str | None) -> str:
    """The lower-cased host of a URL ("" when there is none or it cannot be read)."""
    return parse_url(text).host


def is_ip_address(host: str) -> bool:
    """True for an IPv4 or IPv6 address literal (without brackets)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=8192)
def registrable_domain(host: str) -> str:
    """The site a host belongs to: its public suffix plus one label.

    ``www.example.co.uk`` → ``example.co.uk``; ``a.github.io`` → ``a.github.io``
    (``github.io`` is a public suffix); an IP address, a single-label name such
    as ``localhost`` or a bare public suffix is its own site.
    """
    host = host.lower().rstrip(".")
    if not host or is_ip_address(host):
        return host
    return _PSL.privatesuffix(host) or host


def same_site(first: str, second: str) -> bool:
    """True when two hosts share a registrable domain."""
    return registrable_domain(first) == registrable_domain(second)


def within(host: str, domain: str) -> bool:
    """True when ``host`` is ``domain`` or one of its subdomains."""
    host, domain = host.lower().rstrip("."), domain.lower().strip(".")
    return host == domain or host.endswith("." + domain)
