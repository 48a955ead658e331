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
from functools import cache, lru_cache
from typing import NamedTuple
from urllib.parse import SplitResult, urlsplit

from publicsuffixlist import PSLFILE, PublicSuffixList, encode_idn


def _rule_lines() -> list[str]:
    with open(PSLFILE, encoding="utf-8") as source:
        return source.read().splitlines()


def public_suffix_list() -> PublicSuffixList:
    """The bundled Public Suffix List, parsed without running IDNA over every ASCII rule.

    ``PublicSuffixList()`` punycodes each of its ~10k rules, a quarter of its
    parse, though only the few hundred non-ASCII rules change; adding their
    punycode forms as rules of their own gives the same list.
    """
    lines = _rule_lines()
    rules = (line.lower().split(" ")[0].rstrip() for line in lines)
    encoded = [
        ("!" if rule[0] == "!" else "") + encode_idn(rule.lstrip("!"))
        for rule in rules
        if rule and not rule.startswith("//") and not rule.isascii()
    ]
    return PublicSuffixList(lines + encoded, accept_encoded_idn=False)


_PSL = PublicSuffixList(_rule_lines(), accept_encoded_idn=False)
"""The rules as written: the whole list for every host without a punycode label.

A punycode rule has an ``xn--`` label that a host must carry to match it, so
only such hosts need :func:`public_suffix_list`'s punycode forms, whose IDNA
encoding is most of the list's parse; that list is built the first time one
is seen (:func:`_punycode_list`).
"""


@cache
def _punycode_list() -> PublicSuffixList:
    return public_suffix_list()


_EMPTY = urlsplit("")
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


_new_url = tuple.__new__
"""Builds a :class:`Url` without the Python-level ``__new__`` of a named tuple (hot path)."""


def _simple_parts(text: str) -> tuple[str, str, str, str, str] | None:
    """(scheme, netloc, path, query, fragment) of a plain ASCII http(s) URL, else None.

    A plain URL has a lower-case ``http``/``https`` scheme and a host part
    without user info, IPv6 brackets or ``%``; its parts are cut at the first
    ``#``, the first ``?`` before it and the first ``/`` before that, with
    ``str.find`` (C speed over a long tracker URL), giving :func:`urlsplit`'s
    parts.  Other URLs go through :func:`urlsplit`.
    """
    if text.startswith("https://"):
        scheme, start = "https", 8
    elif text.startswith("http://"):
        scheme, start = "http", 7
    else:
        return None
    if not text.isascii() or "\t" in text or "\n" in text or "\r" in text:
        return None  # urlsplit strips these characters: leave them to it
    hash_at = text.find("#", start)
    if hash_at < 0:
        hash_at, fragment = len(text), ""
    else:
        fragment = text[hash_at + 1 :]
    query_at = text.find("?", start, hash_at)
    head_end = hash_at if query_at < 0 else query_at
    slash = text.find("/", start, head_end)
    netloc_end = head_end if slash < 0 else slash
    netloc = text[start:netloc_end]
    if "@" in netloc or "[" in netloc or "]" in netloc or "%" in netloc:
        return None
    query = "" if query_at < 0 else text[query_at + 1 : hash_at]
    return scheme, netloc, text[netloc_end:head_end], query, fragment


@lru_cache(maxsize=URL_MEMO_SIZE)
def split_parts(text: str) -> SplitResult:
    """``urlsplit``, with plain http(s) URLs cut by :func:`_simple_parts`; raises as it does.

    Remembered, as :func:`parse_url` is: the matcher, the third-party check
    and the decoder each read a flow's URL.
    """
    simple = _simple_parts(text)
    if simple is not None:
        return SplitResult(*simple)
    return urlsplit(text)


def split(text: str) -> SplitResult:
    """``urlsplit`` that never raises: an unreadable URL reads as empty parts."""
    try:
        return split_parts(text)
    except ValueError:
        return _EMPTY


def hostname(parts: SplitResult) -> str:
    """``parts.hostname or ""``, read by hand when the netloc is a plain ``host[:port]``."""
    netloc = parts.netloc
    if "@" in netloc or "[" in netloc or "%" in netloc:
        return parts.hostname or ""
    return netloc.partition(":")[0].lower()


def _host_and_port(parts: SplitResult) -> tuple[str, int | None]:
    """Host (no trailing dot) and port as ``SplitResult`` reads them; ("", None) if unreadable."""
    netloc = parts.netloc
    if "@" in netloc or "[" in netloc or "%" in netloc:
        try:
            return (parts.hostname or "").rstrip("."), parts.port
        except ValueError:  # a port that is not a number, or out of range
            return "", None
    return _plain_host_and_port(netloc)


def _plain_host_and_port(netloc: str) -> tuple[str, int | None]:
    """Host and port of a netloc without user info, brackets or ``%``.

    The port as ``SplitResult.port`` reads it: ASCII digits within 0-65535,
    else the whole netloc is unreadable.
    """
    name, _, port = netloc.partition(":")
    if not port:
        return name.lower().rstrip("."), None
    if not (port.isdigit() and port.isascii()) or int(port) > 65535:
        return "", None
    return name.lower().rstrip("."), int(port)


@lru_cache(maxsize=URL_MEMO_SIZE)
def parse_url(text: str | None) -> Url:
    """Read ``text`` as a URL; never raises (a malformed URL gives empty parts).

    A plain http(s) URL is read straight from :func:`_simple_parts` (its
    scheme is already lower-case), without building a ``SplitResult`` first:
    every flow's URL is read here at least once.  Any other URL goes through
    :func:`split`.
    """
    text = text or ""
    simple = _simple_parts(text)
    if simple is None:
        return _parse_other(text)
    scheme, netloc, path, query, fragment = simple
    if ":" in netloc:
        host, port = _plain_host_and_port(netloc)
    else:
        host, port = netloc.lower().rstrip("."), None
    return _new_url(Url, (text, scheme, host, port, path, query, fragment))


def _parse_other(text: str) -> Url:
    """:func:`parse_url` of a URL that is not plain ASCII http(s) with a plain host."""
    parts = split(text)
    host, port = _host_and_port(parts)
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
    suffixes = _punycode_list() if "xn--" in host else _PSL
    return suffixes.privatesuffix(host) or host


def same_site(first: str, second: str) -> bool:
    """True when two hosts share a registrable domain."""
    return registrable_domain(first) == registrable_domain(second)


def within(host: str, domain: str) -> bool:
    """True when ``host`` is ``domain`` or one of its subdomains."""
    host, domain = host.lower().rstrip("."), domain.lower().strip(".")
    return host == domain or host.endswith("." + domain)
