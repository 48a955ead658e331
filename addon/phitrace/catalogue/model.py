"""The typed signature model: vocabularies, parsed records and the errors that name a file line.

A signature says which endpoints belong to a vendor (hosts by registrable
domain suffix, path globs, methods, query parameters and body keys, or a
payload shape on any host) and which decoded fields carry which kind of data
(its *field map*).  :mod:`phitrace.catalogue.loader` builds these frozen
records from YAML, :mod:`phitrace.catalogue.matcher` matches requests against
them.  The vocabularies below are also enumerated in ``signatures/schema.json``;
a test keeps the two equal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

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
"""What kind of product a signature describes."""

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
"""What an endpoint is for: sending data, loading a script or config, or syncing ids."""

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_$-]+$")


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a signature file, and where."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class SignatureError(ValueError):
    """A signature file is invalid; the message names the file and line.

    The :class:`Problem` is kept as a value, so that callers which report
    problems (the linter) need not read the formatted message back.
    """

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@lru_cache(maxsize=4096)
def compile_glob(pattern: str, *, sep: str | None = None) -> re.Pattern[str]:
    """Compile a glob where ``*`` spans anything (or anything but ``sep``).

    ``**`` always spans separators.  Every other character is literal, so
    brackets in field keys such as ``cd[*]`` need no escaping.  Compiled
    patterns are shared, since catalogues repeat the same globs (``*``,
    ``*/collect``) and loading one is dominated by regex compilation.
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


@dataclass(frozen=True)
class FieldRule:
    """A field-map entry: decoded field keys matching ``source`` carry ``role``.

    ``pattern`` is None for a key without ``*``, which is looked up exactly
    (compiling a regex for each of the catalogue's many exact keys would
    dominate the time to load it).
    """

    role: str
    pattern: re.Pattern[str] | None
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
        exact = {r.source: r.role for r in reversed(self.fields) if r.pattern is None}
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_globs", tuple(r for r in self.fields if r.pattern is not None))
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
