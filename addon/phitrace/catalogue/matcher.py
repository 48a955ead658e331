"""Match a request against the catalogue's endpoints: host-suffix index, shapes and body keys.

Matching is a dict lookup per host suffix, never a scan over every
signature; endpoints without hosts (shapes) are gated by substring searches
before any regex runs or any body is parsed.  The request's URL is split by
:func:`split_url`, from the URL as :func:`phitrace.urls.parse_url` read it
for every stage.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from phitrace import urls
from phitrace.catalogue.model import (
    Endpoint,
    Glob,
    Match,
    Problem,
    Signature,
    SignatureError,
    compile_glob,
)
from phitrace.catalogue.shapebody import (
    SHAPE_BODY_BYTES,
    SHAPE_LIMITS,
    body_document,
    fits,
    shape_body,
)
from phitrace.model import Request

__all__ = [
    "SHAPE_BODY_BYTES",
    "SHAPE_LIMITS",
    "Catalogue",
    "body_document",
    "index_key",
    "shape_body",
    "split_url",
]

HOST_MEMO_SIZE = 16_384
"""Hosts whose candidate endpoints are remembered; the memo is emptied when full."""

_Candidate = tuple[Glob | None, Signature, Endpoint]
_Gate = tuple[tuple[str, ...], tuple[bytes, ...] | None, Signature, Endpoint]


_AFTER_HOST = ("", "/", "?", "#", ":")
"""What may follow the host in a URL whose host :func:`phitrace.urls.parse_url` read as written."""


def split_url(url: str) -> tuple[str, str, str] | None:
    """(lower-cased host without port, path or ``/``, query) as :func:`urlsplit` gives them.

    Read from :func:`phitrace.urls.parse_url`, which the other stages share,
    when the URL spells its host as parsed (lower-case, right after the
    scheme, no trailing dot); ``urlsplit``'s ``hostname`` keeps a trailing
    dot and ignores the port, so any other URL is split again by
    :func:`phitrace.urls.split_parts`.  None when the URL cannot be parsed.
    """
    _, scheme, host, _, path, query, _ = urls.parse_url(url)
    start = len(scheme) + 3
    if host and url.startswith(host, start):
        end = start + len(host)
        if url[end : end + 1] in _AFTER_HOST:
            return host, path or "/", query
    try:
        parts = urls.split_parts(url)
    except ValueError:  # an unreadable host or port: the URL matches nothing
        return None
    return urls.hostname(parts), parts.path or "/", parts.query


def _has_all(text: Any, needles: tuple[Any, ...]) -> bool:
    """True when every needle occurs in ``text`` (a str or bytes haystack)."""
    for needle in needles:
        if needle not in text:
            return False
    return True


def index_key(host: str) -> str:
    """The literal suffix a host glob is filed under (``region*.x.com`` → ``x.com``)."""
    if "*" not in host:
        return host
    return host.rsplit("*", 1)[1].lstrip(".-")


class Catalogue:
    """All loaded signatures, indexed for fast matching.

    Each endpoint host is filed under its literal suffix; a request looks up
    every suffix of its own host (``a.b.example.com``, ``b.example.com``,
    ``example.com``), so matching costs a handful of dict lookups however
    large the catalogue, and the endpoints found for a host are remembered.
    Endpoints without hosts (shapes) are tried last, and only those whose
    path glob fits are asked about parameters or body.
    """

    def __init__(self, signatures: Iterable[Signature]) -> None:
        self.signatures: tuple[Signature, ...] = tuple(signatures)
        self._by_id: dict[str, Signature] = {}
        for sig in self.signatures:
            other = self._by_id.setdefault(sig.id, sig)
            if other is not sig:
                message = f"duplicate signature id {sig.id!r}, also used by {other.file}"
                raise SignatureError(Problem(sig.file, 1, message))
        self._by_suffix: dict[str, list[_Candidate]] = {}
        self._shapes: list[tuple[Signature, Endpoint]] = []
        self._anywhere: list[tuple[Signature, Endpoint]] = []
        self._by_host: dict[str, tuple[tuple[Signature, Endpoint], ...]] = {}
        for sig in self.signatures:
            for ep in sig.endpoints:
                if not ep.hosts and any(not g.strip("*") for g in ep.path_globs):
                    self._anywhere.append((sig, ep))
                elif not ep.hosts:
                    self._shapes.append((sig, ep))
                for host in ep.hosts:
                    glob = compile_glob(host, sep=".") if "*" in host else None
                    self._by_suffix.setdefault(index_key(host), []).append((glob, sig, ep))
        self._index_shapes()
        self._anywhere_by_method: dict[str, tuple[tuple[_Gate, ...], tuple[str, ...] | None]] = {}
        """Per method, the any-host endpoints reduced to gates (see :meth:`_anywhere_for`)."""
        self.digest = hashlib.sha256(
            "\n".join(sorted(f"{s.id}:{s.file}" for s in self.signatures)).encode()
        ).hexdigest()[:16]

    def _index_shapes(self) -> None:
        """Index shapes so that most requests are ruled out without a regex.

        A glob ``*<literal>`` fits exactly the paths ending in that literal,
        so the tails ending in the path's last character are checked at once
        with one ``str.endswith``.  The
        rest are gated by one search for their longest literal pieces.
        """
        tails: dict[str, list[int]] = {}
        others: list[int] = []
        pieces: set[str] = set()
        for index, (_, ep) in enumerate(self._shapes):
            for glob in ep.path_globs:
                if glob.startswith("*") and "*" not in glob[1:] and len(glob) > 1:
                    tails.setdefault(glob[1:], []).append(index)
                else:
                    others.append(index)
                    pieces.add(max(glob.split("*"), key=len))
        self._tails = tuple((tail, tuple(found)) for tail, found in tails.items())
        by_end: dict[str, list[str]] = {}
        for tail in tails:
            by_end.setdefault(tail[-1], []).append(tail)
        # A path can only end in a tail with its own last character: a few, not all of them.
        self._tails_by_end = {end: tuple(group) for end, group in by_end.items()}
        self._gated = sorted(set(others))
        gate = "|".join(re.escape(p) for p in sorted(pieces, key=len, reverse=True) if p)
        self._shape_gate = re.compile(gate) if gate else None
        if any(not p for p in pieces):  # a glob of stars only: every path is a candidate
            self._shape_gate = re.compile("")

    def _anywhere_for(self, method: str) -> tuple[tuple[_Gate, ...], tuple[str, ...] | None]:
        """What a request must show before endpoints on any host and any path are asked.

        Such endpoints are tried for every request that nothing else matched,
        so each is reduced, per request method, to its query-parameter names
        and body keys, checked as substring searches before anything is parsed.
        Beside the gates come the first parameter name of each, which a query
        must hold one of before any gate is tried, or None when a gate asks
        for no parameter (and so must always be tried).

        Called when the memo (``_anywhere_by_method``, read by :meth:`match`) has not
        got the method; the answer goes into it.
        """
        upper = method.upper()
        gates = tuple(
            (
                ep.param_needles,  # type: ignore[attr-defined]
                ep.needles if ep.body else None,  # type: ignore[attr-defined]
                sig,
                ep,
            )
            for sig, ep in self._anywhere
            if not ep.methods or upper in ep.methods
        )
        free = any(not params for params, _, _, _ in gates)
        entry = (gates, None if free else tuple(params[0] for params, _, _, _ in gates))
        if len(self._anywhere_by_method) < 64:  # methods are few; bound odd ones
            self._anywhere_by_method[method] = entry
        return entry

    def _shape_candidates(self, path: str, tailed: bool, gated: bool) -> list[int]:
        """The shapes that may fit ``path``, in catalogue order.

        ``tailed``: the path ends in some shape's tail; ``gated``: it holds a
        piece of some gated shape (both as :meth:`match` found them).
        """
        found: list[int] = []
        if tailed:
            found = [i for tail, indexes in self._tails if path.endswith(tail) for i in indexes]
        if gated:
            return sorted({*found, *self._gated})
        return sorted(set(found)) if len(found) > 1 else found

    def _host_candidates(self, host: str) -> tuple[tuple[Signature, Endpoint], ...]:
        """The host-bound endpoints that may fit ``host``, most specific suffix first.

        Called when the memo (``_by_host``, read by :meth:`match`) has not got the host;
        the answer goes into it.
        """
        found: list[tuple[Signature, Endpoint]] = []
        key = host
        while True:
            for glob, sig, ep in self._by_suffix.get(key, ()):
                if glob is None or glob.match(host):
                    found.append((sig, ep))
            dot = key.find(".")
            if dot < 0:
                break
            key = key[dot + 1 :]
        if len(self._by_host) >= HOST_MEMO_SIZE:
            self._by_host.clear()
        self._by_host[host] = result = tuple(found)
        return result

    def __len__(self) -> int:
        return len(self.signatures)

    def get(self, signature_id: str) -> Signature | None:
        """Look a signature up by id."""
        return self._by_id.get(signature_id)

    def match(self, request: Request) -> Match | None:
        """Identify the vendor endpoint a request goes to, or None.

        Host suffixes are tried from the most specific (the full host) to the
        least; shapes (first-party collectors) are tried last.  Never raises
        on a malformed URL or body: such a request simply does not match.
        """
        split = split_url(request.url)
        if split is None:
            return None
        host, path, query = split
        lazy: _Lazy | None = None
        candidates = self._by_host.get(host)
        if candidates is None:
            candidates = self._host_candidates(host)
        if candidates:
            lazy = _Lazy(request, query)
            for sig, ep in candidates:
                if lazy.accepts(ep, path):
                    return Match(sig, ep)
        ends = self._tails_by_end.get(path[-1:])
        tailed = ends is not None and path.endswith(ends)
        gated = self._shape_gate is not None and self._shape_gate.search(path) is not None
        if tailed or gated:
            # Most paths end in no shape tail and hold no gated piece: ruled out here, no call.
            for index in self._shape_candidates(path, tailed, gated):
                sig, ep = self._shapes[index]
                lazy = lazy or _Lazy(request, query)
                if lazy.accepts(ep, path):
                    return Match(sig, ep)
        gates, keys = self._anywhere_by_method.get(request.method) or self._anywhere_for(
            request.method
        )
        if keys is not None:
            for key in keys:
                if key in query:
                    break
            else:  # no gate's first parameter is in the query (or there is no gate)
                return None
        return self._match_anywhere(request, path, query, lazy, gates)

    def _match_anywhere(
        self,
        request: Request,
        path: str,
        query: str,
        lazy: _Lazy | None,
        gates: tuple[_Gate, ...],
    ) -> Match | None:
        raw: bytes | None = None
        for params, needles, sig, ep in gates:
            if params and (params[0] not in query or not _has_all(query, params)):
                continue
            if needles is not None:
                if raw is None:
                    raw = shape_body(request)
                if not raw or not _has_all(raw, needles):
                    continue
            lazy = lazy or _Lazy(request, query)
            if lazy.accepts(ep, path):
                return Match(sig, ep)
        return None


class _Lazy:
    """A request's query and body documents, parsed only when an endpoint asks."""

    __slots__ = ("request", "method", "_query_text", "_query", "_body", "_body_done", "_content")

    def __init__(self, request: Request, query_text: str) -> None:
        self.request = request
        self.method = request.method.upper()
        self._query_text = query_text
        self._query: dict[str, str] | None = None
        self._body: Mapping[str, Any] | None = None
        self._body_done = False
        self._content: bytes | None = None

    def _raw(self) -> bytes:
        """The start of the body's content, decoded once per request."""
        if self._content is None:
            self._content = shape_body(self.request)
        return self._content

    def query(self) -> Mapping[str, str]:
        if self._query is None:
            self._query = dict(parse_qsl(self._query_text, keep_blank_values=True))
        return self._query

    def body(self) -> Mapping[str, Any] | None:
        if not self._body_done:
            self._body = body_document(self._raw())
            self._body_done = True
        return self._body

    def accepts(self, ep: Endpoint, path: str) -> bool:
        """True when method, path, query parameters and body keys fit ``ep``.

        The cheap checks come first: the method, then the parameter names and
        body keys as substrings of the raw query and body, and only then the
        globs over the parsed documents.
        """
        if ep.methods and self.method not in ep.methods:
            return False
        needles: tuple[str, ...] = ep.param_needles  # type: ignore[attr-defined]
        if needles and not all(n in self._query_text for n in needles):
            return False
        if ep.paths and not any(p.match(path) for p in ep.paths):
            return False
        if ep.params and not fits(self.query(), ep.params):
            return False
        if not ep.body:
            return True
        raw = self._raw()
        if not raw or not all(n in raw for n in ep.needles):  # type: ignore[attr-defined]
            return False
        return fits(self.body(), ep.body)
