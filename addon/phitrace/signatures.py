"""Tracker signatures: parse the YAML catalogue and match requests against it.

A signature says which endpoints belong to a vendor (hosts by registrable
domain suffix, path globs, methods, or a payload shape on any host) and which
decoded fields carry which kind of data (its *field map*).  Files are parsed
once into frozen records; matching is a dict lookup per host suffix, never a
scan over every signature.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
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
)

FIELD_ROLES: tuple[str, ...] = (
    "page_url",
    "referrer",
    "page_title",
    "search_term",
    "event_name",
    "event_properties",
    "free_text",
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

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_HOST = re.compile(r"^[a-z0-9*](?:[a-z0-9*.-]*[a-z0-9])?$")


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


@dataclass(frozen=True)
class Endpoint:
    """One way a vendor is reached: hosts and/or a payload shape."""

    hosts: tuple[str, ...]
    paths: tuple[re.Pattern[str], ...]
    methods: frozenset[str]
    params: tuple[tuple[str, re.Pattern[str]], ...]
    role: str

    def accepts(self, request: Request, query: Mapping[str, str] | None) -> bool:
        """True when method, path and required parameters fit this endpoint."""
        if self.methods and request.method.upper() not in self.methods:
            return False
        path = request.path
        if self.paths and not any(p.match(path) for p in self.paths):
            return False
        if self.params:
            if query is None:
                return False
            for key, pattern in self.params:
                value = query.get(key)
                if value is None or not pattern.match(value):
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


class _LineLoader(yaml.SafeLoader):
    """A safe YAML loader that records each mapping's line for error messages."""


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


def _parse_endpoint(file: str, node: Any) -> Endpoint:
    if not isinstance(node, Mapping):
        raise _fail(file, None, "each endpoint must be a mapping")
    unknown = set(node) - {"hosts", "paths", "methods", "params", "role", "__line__"}
    if unknown:
        raise _fail(file, node, f"unknown endpoint key(s): {', '.join(sorted(unknown))}")
    hosts = tuple(h.lower() for h in _strings(file, node, "hosts"))
    for host in hosts:
        if not _HOST.match(host):
            raise _fail(file, node, f"host {host!r} is not a host name or host glob")
    paths = tuple(compile_glob(p) for p in _strings(file, node, "paths"))
    params_node = node.get("params", {})
    if not isinstance(params_node, Mapping):
        raise _fail(file, node, "'params' must map parameter names to value globs")
    params = tuple(
        (str(k), compile_glob(str(v))) for k, v in params_node.items() if k != "__line__"
    )
    if not hosts and not (paths and params):
        raise _fail(
            file, node, "an endpoint without hosts must give both 'paths' and 'params' (a shape)"
        )
    role = node.get("role", "collect")
    if role not in ENDPOINT_ROLES:
        raise _fail(file, node, f"role must be one of {', '.join(ENDPOINT_ROLES)}, not {role!r}")
    methods = frozenset(m.upper() for m in _strings(file, node, "methods"))
    return Endpoint(hosts, paths, methods, params, role)


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
    known = {"id", "name", "company", "category", "endpoints", "fields", "tests"}
    unknown = set(data) - known - {"__line__", "description", "references", "notes"}
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


def _index_key(host: str) -> str:
    """The literal suffix a host glob is filed under (``region*.x.com`` → ``x.com``)."""
    if "*" not in host:
        return host
    return host.rsplit("*", 1)[1].lstrip(".-")


class Catalogue:
    """All loaded signatures, indexed for fast matching."""

    def __init__(self, signatures: Iterable[Signature]) -> None:
        self.signatures: tuple[Signature, ...] = tuple(signatures)
        ids = [s.id for s in self.signatures]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise SignatureError(f"duplicate signature id(s): {', '.join(dupes)}")
        self._by_id = {s.id: s for s in self.signatures}
        self._by_suffix: dict[str, list[tuple[str, Signature, Endpoint]]] = {}
        self._shapes: list[tuple[Signature, Endpoint]] = []
        for sig in self.signatures:
            for ep in sig.endpoints:
                if not ep.hosts:
                    self._shapes.append((sig, ep))
                for host in ep.hosts:
                    self._by_suffix.setdefault(_index_key(host), []).append((host, sig, ep))
        self._glob_cache: dict[str, re.Pattern[str]] = {}
        self.digest = hashlib.sha256(
            "\n".join(sorted(f"{s.id}:{s.file}" for s in self.signatures)).encode()
        ).hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.signatures)

    def get(self, signature_id: str) -> Signature | None:
        """Look a signature up by id."""
        return self._by_id.get(signature_id)

    def _host_matches(self, pattern: str, host: str) -> bool:
        if "*" not in pattern:
            return host == pattern or host.endswith("." + pattern)
        compiled = self._glob_cache.get(pattern)
        if compiled is None:
            compiled = self._glob_cache[pattern] = compile_glob(pattern, sep=".")
        return bool(compiled.match(host))

    def match(self, request: Request) -> Match | None:
        """Identify the vendor endpoint a request goes to, or None.

        Host suffixes are tried from the most specific (the full host) to the
        least; shapes (first-party collectors) are tried last.
        """
        host = request.host
        query: dict[str, str] | None = None
        labels = host.split(".")
        for i in range(len(labels) - 1):
            candidates = self._by_suffix.get(".".join(labels[i:]))
            if not candidates:
                continue
            for pattern, sig, ep in candidates:
                if not self._host_matches(pattern, host):
                    continue
                if ep.params and query is None:
                    query = dict(parse_qsl(urlsplit(request.url).query))
                if ep.accepts(request, query):
                    return Match(sig, ep)
        for sig, ep in self._shapes:
            if not any(p.match(request.path) for p in ep.paths):
                continue
            if query is None:
                query = dict(parse_qsl(urlsplit(request.url).query))
            if ep.accepts(request, query):
                return Match(sig, ep)
        return None


def bundled_dir() -> Path:
    """The directory of tracker signatures shipped with phitrace."""
    from phitrace.resources import data_dir

    return data_dir("signatures") / "trackers"


def load_catalogue(paths: Iterable[Path] = ()) -> Catalogue:
    """Load the bundled signatures plus any extra files or directories given."""
    sources = [bundled_dir(), *paths]
    signatures: list[Signature] = []
    for source in sources:
        if not source.exists():
            raise SignatureError(f"{source}:1: no such signature file or directory")
        files = sorted(source.glob("*.yaml")) if source.is_dir() else [source]
        for file in files:
            signatures.extend(load_file(file))
    return Catalogue(signatures)
