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
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import SplitResult, urlsplit

from publicsuffixlist import PSLFILE, PublicSuffixList, encode_idn


def public_suffix_list() -> PublicSuffixList:
    """The bundled Public Suffix List, parsed without running IDNA over every ASCII rule.

    ``PublicSuffixList()`` punycodes each of its ~10k rules, a quarter of its
    parse, though only the few hundred non-ASCII rules change; adding their
    punycode forms as rules of their own gives the same list.
    """
    with open(PSLFILE, encoding="utf-8") as source:
        lines = source.read().splitlines()
    rules = (line.lower().split(" ")[0].rstrip() for line in lines)
    encoded = [
        ("!" if rule[0] == "!" else "") + encode_idn(rule.lstrip("!"))
        for rule in rules
        if rule and not rule.startswith("//") and not rule.isascii()
    ]
    return PublicSuffixList(lines + encoded, accept_encoded_idn=False)


_PSL = public_suffix_list()
_EMPTY = urlsplit("")


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


def split(text: str) -> SplitResult:
    """``urlsplit`` that never raises: an unreadable URL reads as empty parts."""
    try:
        return urlsplit(text)
    except ValueError:
        return _EMPTY


def parse_url(text: str | None) -> Url:
    """Read ``text`` as a URL; never raises (a malformed URL gives empty parts)."""
    text = text or ""
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
