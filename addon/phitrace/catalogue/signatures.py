"""Tracker signatures: parse the YAML catalogue and match requests against it.

A signature says which endpoints belong to a vendor (hosts by registrable
domain suffix, path globs, methods, query parameters and body keys, or a
payload shape on any host) and which decoded fields carry which kind of data
(its *field map*).  Files are parsed once into frozen records; matching is a
dict lookup per host suffix, never a scan over every signature.  The format is
documented in ``signatures/README.md`` and described by ``signatures/schema.json``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from phitrace.model import Request

TRACKER_CATEGORIES: tuple[str, ...] = (
    "analytics",
    "advertising",
    "social",
    "session_replay",
    "survey",
    "tag_manager",
    "rum",
    "cdp",
    "consent",
    "other",
    "error_monitoring",
    "experimentation",
    "customer_engagement",
    "chat",
    "scheduling",
    "forms",
)

CONTENT_ROLES: tuple[str, ...] = (
    "page_url",
    "referrer",
    "page_title",
    "search_term",
    "event_name",
    "event_properties",
    "free_text",
)
"""Field roles whose values say what the visitor saw, sought or wrote."""

FIELD_ROLES: tuple[str, ...] = (
    *CONTENT_ROLES,
    "user_id",
    "client_id",
    "cookie_id",
    "email",
    "phone",
    "hashed_email",
    "hashed_phone",
    "ip_address",
)
"""What a field map may say a field carries."""

ENDPOINT_ROLES: tuple[str, ...] = ("collect", "loader", "sync")
ENDPOINT_KEYS = frozenset({"hosts", "paths", "methods", "params", "body", "role"})
SIGNATURE_KEYS = frozenset({"id", "name", "company", "category", "endpoints", "fields", "tests"})
INFO_KEYS = frozenset({"description", "references", "notes"})

SHAPE_BODY_BYTES = 64 * 1024
"""Only this much of a body is read when an endpoint asks for body keys."""

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_HOST = re.compile(r"^[a-z0-9*](?:[a-z0-9*.-]*[a-z0-9])?$")
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_$-]+$")


class SignatureError(ValueError):
    """A signature file is invalid; the message names the file and line."""


def compile_glob(pattern: str, *, sep: str | None = None) -> re.Pattern[str]:
    """Compile a glob where ``*`` spans anything (or anything but ``sep``).

    ``**`` always spans separators.  Every other character is literal, so
    brackets in field keys such as ``cd[*]`` need no escaping.
    """
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append(f"[^{re.escape(sep)}]*" if sep else ".*")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _lookup(doc: Any, dotted: str) -> Any:
    """Follow ``a.b.c`` through nested mappings; a list stands for its first item."""
    node = doc
    for part in dotted.split("."):
        if isinstance(node, list):
            node = node[0] if node else None
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def body_document(body: bytes) -> Mapping[str, Any] | None:
    """The body as a mapping of keys, for shape checks: JSON, NDJSON or a form.

    Only the first :data:`SHAPE_BODY_BYTES` are read; a JSON array stands for
    its first object and NDJSON for its first line.  Never raises.
    """
    text = body[:SHAPE_BODY_BYTES].decode("utf-8", "replace").strip()
    if not text:
        return None
    if text[0] in "{[":
        try:
            doc: Any = json.loads(text)
        except (ValueError, RecursionError):
            first, newline, _ = text.partition("\n")
            if not newline:  # the first line is the whole text, which just failed
                return None
            try:
                doc = json.loads(first)
            except (ValueError, RecursionError):
                return None
        if isinstance(doc, list):
            doc = next((d for d in doc if isinstance(d, Mapping)), None)
        return doc if isinstance(doc, Mapping) else None
    if "=" in text[:256] and " " not in text[:256]:
        return dict(parse_qsl(text, keep_blank_values=True))
    return None


@dataclass(frozen=True)
class Endpoint:
    """One way a vendor is reached: hosts and/or a request shape.

    ``params`` are query parameters and ``body`` are body keys (dotted for
    JSON) that must be present with a value matching their glob.
    """

    hosts: tuple[str, ...]
    paths: tuple[re.Pattern[str], ...]
    methods: frozenset[str]
    params: tuple[tuple[str, re.Pattern[str]], ...]
    role: str
    body: tuple[tuple[str, re.Pattern[str]], ...] = ()
    path_globs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Body keys a matching body must contain verbatim: checked on the raw bytes
        # before any parsing, so that a non-matching POST costs a substring search.
        needles = tuple(
            key.rsplit(".", 1)[-1].encode()
            for key, _ in self.body
            if _PLAIN_KEY.match(key.rsplit(".", 1)[-1])
        )
        object.__setattr__(self, "needles", needles)
        simple = tuple(key for key, _ in self.params if _PLAIN_KEY.match(key))
        object.__setattr__(self, "param_needles", simple)

    def accepts(
        self,
        request: Request,
        query: Callable[[], Mapping[str, str]],
        body: Callable[[], Mapping[str, Any] | None],
        *,
        path: str,
    ) -> bool:
        """True when path, query parameters and body keys fit this endpoint.

        The caller has checked the method.  ``query`` and ``body`` are functions
        that parse them, so that they are only parsed when an endpoint asks.
        """
        if self.paths and not any(p.match(path) for p in self.paths):
            return False
        if self.params and not _fits(query(), self.params):
            return False
        if not self.body:
            return True
        raw = request.body[:SHAPE_BODY_BYTES]
        if not raw or not all(n in raw for n in self.needles):  # type: ignore[attr-defined]
            return False
        return _fits(body(), self.body)


def _fits(doc: Mapping[str, Any] | None, wanted: tuple[tuple[str, re.Pattern[str]], ...]) -> bool:
    if doc is None:
        return False
    for key, pattern in wanted:
        value = doc.get(key) if key in doc else _lookup(doc, key)
        if value is None:
            return False
        if isinstance(value, (Mapping, list)):
            if pattern.pattern != r".*\Z":
                return False
        elif not pattern.match(value if isinstance(value, str) else str(value)):
            return False
    return True


@dataclass(frozen=True)
class FieldRule:
    """A field-map entry: decoded field keys matching ``pattern`` carry ``role``."""

    role: str
    pattern: re.Pattern[str]
    source: str


@dataclass(frozen=True)
class Signature:
    """A parsed tracker signature."""

    id: str
    name: str
    company: str
    category: str
    endpoints: tuple[Endpoint, ...]
    fields: tuple[FieldRule, ...]
    tests: tuple[Mapping[str, Any], ...]
    file: str

    def __post_init__(self) -> None:
        exact = {r.source: r.role for r in reversed(self.fields) if "*" not in r.source}
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_globs", tuple(r for r in self.fields if "*" in r.source))
        object.__setattr__(self, "_memo", {})

    def role_of(self, key: str) -> str | None:
        """Return the field-map role of a decoded field key, if any.

        A key named exactly wins over a glob (``cd[buttonText]`` is free text
        even though ``cd[*]`` is event properties); among globs, the first listed.
        """
        memo: dict[str, str | None] = self._memo  # type: ignore[attr-defined]
        if key in memo:
            return memo[key]
        role = self._exact.get(key)  # type: ignore[attr-defined]
        if role is None:
            for rule in self._globs:  # type: ignore[attr-defined]
                if rule.pattern.match(key):
                    role = rule.role
                    break
        if len(memo) < 8192:
            memo[key] = role
        return role


@dataclass(frozen=True)
class Match:
    """A request identified as going to a vendor endpoint."""

    signature: Signature
    endpoint: Endpoint


YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(YAML_LOADER):  # type: ignore[valid-type,misc]  # chosen at import time
    """A safe YAML loader (libyaml when available) that records each mapping's line."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = dict(loader.construct_mapping(node, deep=True))
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _fail(file: str, node: Mapping[str, Any] | None, message: str) -> SignatureError:
    line = node.get("__line__", 1) if isinstance(node, Mapping) else 1
    return SignatureError(f"{file}:{line}: {message}")


def _strings(file: str, node: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = node.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(file, node, f"'{key}' must be a string or a list of strings")
    return tuple(value)


def _value_globs(file: str, node: Mapping[str, Any], key: str) -> tuple[tuple[str, Any], ...]:
    value = node.get(key, {})
    if not isinstance(value, Mapping):
        raise _fail(file, node, f"'{key}' must map names to value globs")
    pairs = []
    for name, glob in value.items():
        if name == "__line__":
            continue
        if isinstance(glob, bool) or not isinstance(glob, (str, int)):
            raise _fail(file, value, f"{key} value for {name!r} must be a string glob")
        pairs.append((str(name), compile_glob(str(glob))))
    return tuple(pairs)


def _parse_endpoint(file: str, node: Any) -> Endpoint:
    if not isinstance(node, Mapping):
        raise _fail(file, None, "each endpoint must be a mapping")
    unknown = set(node) - ENDPOINT_KEYS - {"__line__"}
    if unknown:
        raise _fail(file, node, f"unknown endpoint key(s): {', '.join(sorted(unknown))}")
    hosts = tuple(h.lower() for h in _strings(file, node, "hosts"))
    for host in hosts:
        if not _HOST.match(host) or "." not in host.strip("*"):
            raise _fail(file, node, f"host {host!r} is not a host name or host glob")
    path_globs = _strings(file, node, "paths")
    paths = tuple(compile_glob(p) for p in path_globs)
    params = _value_globs(file, node, "params")
    body = _value_globs(file, node, "body")
    if not hosts and not (paths and (params or body)):
        raise _fail(
            file,
            node,
            "an endpoint without hosts must give 'paths' and 'params' or 'body' (a shape)",
        )
    role = node.get("role", "collect")
    if role not in ENDPOINT_ROLES:
        raise _fail(file, node, f"role must be one of {', '.join(ENDPOINT_ROLES)}, not {role!r}")
    methods = frozenset(m.upper() for m in _strings(file, node, "methods"))
    return Endpoint(hosts, paths, methods, params, role, body, path_globs)


def _parse_fields(file: str, node: Any) -> tuple[FieldRule, ...]:
    if node is None:
        return ()
    if not isinstance(node, Mapping):
        raise _fail(file, None, "'fields' must map roles to lists of field keys")
    rules = []
    for role in node:
        if role == "__line__":
            continue
        if role not in FIELD_ROLES:
            raise _fail(file, node, f"unknown field role {role!r}; use one of {FIELD_ROLES}")
        for pattern in _strings(file, node, role):
            rules.append(FieldRule(role, compile_glob(pattern, sep="."), pattern))
    return tuple(rules)


def parse_signature(data: Any, file: str) -> Signature:
    """Validate one signature document and build its record.

    Raises :class:`SignatureError` naming the file and line of the problem.
    """
    if not isinstance(data, Mapping):
        raise _fail(file, None, "a signature file must hold one mapping")
    for key in ("id", "name", "company", "category", "endpoints"):
        if key not in data:
            raise _fail(file, data, f"missing required key '{key}'")
    unknown = set(data) - SIGNATURE_KEYS - INFO_KEYS - {"__line__"}
    if unknown:
        raise _fail(file, data, f"unknown key(s): {', '.join(sorted(unknown))}")
    if not isinstance(data["id"], str) or not _SLUG.match(data["id"]):
        raise _fail(file, data, f"id {data['id']!r} must be a lowercase slug like 'meta-pixel'")
    if data["category"] not in TRACKER_CATEGORIES:
        raise _fail(
            file,
            data,
            f"category must be one of {', '.join(TRACKER_CATEGORIES)}, not {data['category']!r}",
        )
    endpoints = data["endpoints"]
    if not isinstance(endpoints, list) or not endpoints:
        raise _fail(file, data, "'endpoints' must be a non-empty list")
    tests = data.get("tests", [])
    if not isinstance(tests, list):
        raise _fail(file, data, "'tests' must be a list of test vectors")
    return Signature(
        id=data["id"],
        name=str(data["name"]),
        company=str(data["company"]),
        category=data["category"],
        endpoints=tuple(_parse_endpoint(file, e) for e in endpoints),
        fields=_parse_fields(file, data.get("fields")),
        tests=tuple(tests),
        file=file,
    )


def load_file(path: Path) -> list[Signature]:
    """Parse a YAML file holding one or more signature documents."""
    try:
        text = path.read_text(encoding="utf-8")
        docs = [d for d in yaml.load_all(text, Loader=_LineLoader) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise SignatureError(f"{path}:{line}: not valid YAML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SignatureError(f"{path}:1: cannot read: {exc}") from exc
    return [parse_signature(doc, str(path)) for doc in docs]


def index_key(host: str) -> str:
    """The literal suffix a host glob is filed under (``region*.x.com`` → ``x.com``)."""
    if "*" not in host:
        return host
    return host.rsplit("*", 1)[1].lstrip(".-")


_Candidate = tuple[re.Pattern[str] | None, Signature, Endpoint]
_Gate = tuple[tuple[str, ...], tuple[bytes, ...] | None, Signature, Endpoint]

HOST_MEMO_SIZE = 16_384
"""Hosts whose candidate endpoints are remembered; the memo is emptied when full."""

_SIMPLE_URL = re.compile(r"https?://([^/?#@\[\]%]*)(?=[/?#]|\Z)([^?#]*)(?:\?([^#]*))?")
"""A URL whose host part has no user info, IPv6 brackets or ``%`` (else no match)."""


def split_url(url: str) -> tuple[str, str, str] | None:
    """(lower-cased host without port, path or ``/``, query) as :func:`urlsplit` gives them.

    Plain ``http``/``https`` URLs in ASCII, without user info, IPv6 brackets
    or ``%`` in the host, take a single regex match; anything else goes
    through :func:`urlsplit` so that odd URLs are read exactly as before.
    None when the URL cannot be parsed.
    """
    if url.isascii() and "\t" not in url and "\n" not in url and "\r" not in url:
        simple = _SIMPLE_URL.match(url)
        if simple is not None:
            return simple[1].partition(":")[0].lower(), simple[2] or "/", simple[3] or ""
    try:
        parts = urlsplit(url)
        return parts.hostname or "", parts.path or "/", parts.query
    except ValueError:  # an unreadable host or port: the URL matches nothing
        return None


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
        ids = [s.id for s in self.signatures]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise SignatureError(f"duplicate signature id(s): {', '.join(dupes)}")
        self._by_id = {s.id: s for s in self.signatures}
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
        self._anywhere_by_method: dict[str, tuple[_Gate, ...]] = {}
        """Per method, the any-host endpoints reduced to gates (see :meth:`_anywhere_for`)."""
        self.digest = hashlib.sha256(
            "\n".join(sorted(f"{s.id}:{s.file}" for s in self.signatures)).encode()
        ).hexdigest()[:16]

    def _index_shapes(self) -> None:
        """Index shapes so that most requests are ruled out without a regex.

        A glob ``*<literal>`` fits exactly the paths ending in that literal,
        so all such tails are checked at once with one ``str.endswith``.  The
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
        self._any_tail = tuple(tails)
        self._gated = sorted(set(others))
        gate = "|".join(re.escape(p) for p in sorted(pieces, key=len, reverse=True) if p)
        self._shape_gate = re.compile(gate) if gate else None
        if any(not p for p in pieces):  # a glob of stars only: every path is a candidate
            self._shape_gate = re.compile("")

    def _anywhere_for(self, method: str) -> tuple[_Gate, ...]:
        """What a request must show before endpoints on any host and any path are asked.

        Such endpoints are tried for every request that nothing else matched,
        so each is reduced, per request method, to its query-parameter names
        and body keys, checked as substring searches before anything is parsed.
        """
        gates = self._anywhere_by_method.get(method)
        if gates is None:
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
            if len(self._anywhere_by_method) < 64:  # methods are few; bound odd ones
                self._anywhere_by_method[method] = gates
        return gates

    def _shape_candidates(self, path: str) -> list[int]:
        found: list[int] = []
        if path.endswith(self._any_tail):
            found = [i for tail, indexes in self._tails if path.endswith(tail) for i in indexes]
        if self._shape_gate is not None and self._shape_gate.search(path):
            return sorted({*found, *self._gated})
        return sorted(set(found)) if len(found) > 1 else found

    def _host_candidates(self, host: str) -> tuple[tuple[Signature, Endpoint], ...]:
        """The host-bound endpoints that may fit ``host``, most specific suffix first."""
        remembered = self._by_host.get(host)
        if remembered is not None:
            return remembered
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
        for sig, ep in self._host_candidates(host):
            lazy = lazy or _Lazy(request, query)
            if lazy.accepts(ep, path):
                return Match(sig, ep)
        for index in self._shape_candidates(path):
            sig, ep = self._shapes[index]
            lazy = lazy or _Lazy(request, query)
            if lazy.accepts(ep, path):
                return Match(sig, ep)
        return self._match_anywhere(request, path, query, lazy)

    def _match_anywhere(
        self, request: Request, path: str, query: str, lazy: _Lazy | None
    ) -> Match | None:
        raw: bytes | None = None
        for params, needles, sig, ep in self._anywhere_for(request.method):
            if params and not _has_all(query, params):
                continue
            if needles is not None:
                if raw is None:
                    raw = request.body[:SHAPE_BODY_BYTES]
                if not raw or not _has_all(raw, needles):
                    continue
            lazy = lazy or _Lazy(request, query)
            if lazy.accepts(ep, path):
                return Match(sig, ep)
        return None


def _has_all(text: Any, needles: tuple[Any, ...]) -> bool:
    """True when every needle occurs in ``text`` (a str or bytes haystack)."""
    for needle in needles:
        if needle not in text:
            return False
    return True


class _Lazy:
    """A request's query and body documents, parsed only when an endpoint asks."""

    __slots__ = ("request", "method", "_query_text", "_query", "_body", "_body_done")

    def __init__(self, request: Request, query_text: str) -> None:
        self.request = request
        self.method = request.method.upper()
        self._query_text = query_text
        self._query: dict[str, str] | None = None
        self._body: Mapping[str, Any] | None = None
        self._body_done = False

    def query(self) -> Mapping[str, str]:
        if self._query is None:
            self._query = dict(parse_qsl(self._query_text, keep_blank_values=True))
        return self._query

    def body(self) -> Mapping[str, Any] | None:
        if not self._body_done:
            self._body = body_document(self.request.body)
            self._body_done = True
        return self._body

    def accepts(self, ep: Endpoint, path: str) -> bool:
        if ep.methods and self.method not in ep.methods:
            return False
        needles: tuple[str, ...] = ep.param_needles  # type: ignore[attr-defined]
        if needles and not all(n in self._query_text for n in needles):
            return False
        return ep.accepts(self.request, self.query, self.body, path=path)


def bundled_dir() -> Path:
    """The directory of tracker signatures shipped with phitrace."""
    from phitrace.resources import data_dir

    return data_dir("signatures") / "trackers"


def signature_files(paths: Iterable[Path] = (), *, bundled: bool = True) -> list[Path]:
    """The YAML files of the bundled catalogue (optionally) plus extra files or directories."""
    sources = [bundled_dir(), *paths] if bundled else list(paths)
    files: list[Path] = []
    for source in sources:
        if not source.exists():
            raise SignatureError(f"{source}:1: no such signature file or directory")
        files.extend(sorted(source.glob("*.yaml")) if source.is_dir() else [source])
    return files


def load_catalogue(paths: Iterable[Path] = ()) -> Catalogue:
    """Load the bundled signatures plus any extra files or directories given."""
    signatures: list[Signature] = []
    for file in signature_files(paths):
        signatures.extend(load_file(file))
    return Catalogue(signatures)
