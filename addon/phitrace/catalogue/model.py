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

from phitrace.model import SinkholeReply

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


MANY_WILDCARDS = 6
"""More wildcards than this in one glob is almost surely a mistake; lint says so."""


def wildcards(pattern: str) -> int:
    """How many wildcards a glob holds, a run of ``*`` counting once."""
    return len(_STAR_RUN.findall(pattern))


_STAR_RUN = re.compile(r"\*+")


class Glob:
    """A compiled glob, matched in time linear in the text whatever the pattern.

    A regex translation backtracks: ``*a*a*a…`` against a long text that does
    not match tries every way of splitting it, which stalled the proxy for
    seconds on one user signature.  Here a glob whose stars all span
    everything is matched by finding its literal pieces in order (the
    leftmost place for each is always the best), and one with stars that stop
    at a separator runs a bit-parallel automaton, one step per character.
    """

    __slots__ = ("text", "sep", "_pieces", "_masks", "_stars", "_spanning", "_bounded", "_final")

    def __init__(self, pattern: str, sep: str | None = None) -> None:
        self.text = pattern
        self.sep = sep
        pieces = _STAR_RUN.split(pattern)
        runs = _STAR_RUN.findall(pattern)
        # A run of two or more stars, or any star without a separator, spans everything.
        spans = [sep is None or len(run) > 1 for run in runs]
        self._pieces: tuple[str, ...] | None = tuple(pieces) if all(spans) else None
        self._masks: dict[str, int] = {}
        self._stars = self._spanning = self._bounded = self._final = 0
        if self._pieces is None:
            self._automaton(pieces, spans)

    def _automaton(self, pieces: list[str], spans: list[bool]) -> None:
        """Bit ``k`` stands for "the first ``k`` tokens matched"; tokens are characters, stars."""
        bit = 1
        for index, piece in enumerate(pieces):
            for char in piece:
                bit <<= 1
                self._masks[char] = self._masks.get(char, 0) | bit
            if index < len(spans):
                bit <<= 1
                self._stars |= bit
                if spans[index]:
                    self._spanning |= bit
                else:
                    self._bounded |= bit
        self._final = bit

    @property
    def spans_anything(self) -> bool:
        """True for a glob that every text fits (``*`` without a separator, ``**``)."""
        return self._pieces is not None and not "".join(self._pieces)

    def match(self, text: str) -> bool:
        """True when the whole of ``text`` fits the glob."""
        pieces = self._pieces
        if pieces is None:
            return self._run(text)
        first = pieces[0]
        if len(pieces) == 1:
            return text == first
        last = pieces[-1]
        end = len(text) - len(last)
        if end < len(first) or not text.startswith(first) or not text.endswith(last):
            return False
        at = len(first)
        for piece in pieces[1:-1]:
            found = text.find(piece, at, end)
            if found < 0:
                return False
            at = found + len(piece)
        return True

    def _run(self, text: str) -> bool:
        """Run the automaton: the set of matched prefixes of the glob, after each character."""
        masks, stars, spanning, sep = self._masks, self._stars, self._spanning, self.sep
        every_star = spanning | self._bounded
        state = 1 | (2 & stars)  # nothing matched yet, or a leading star matched empty
        for char in text:
            # A star may take the character (one that stops at separators: not a separator) ...
            stay = spanning if char == sep else every_star
            state = ((state << 1) & masks.get(char, 0)) | (state & stay)
            if not state:
                return False
            state |= (state << 1) & stars  # ... and may match empty; stars never adjoin
        return bool(state & self._final)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Glob) and (self.text, self.sep) == (other.text, other.sep)

    def __hash__(self) -> int:
        return hash((self.text, self.sep))

    def __repr__(self) -> str:
        return f"Glob({self.text!r}, sep={self.sep!r})"


@lru_cache(maxsize=4096)
def compile_glob(pattern: str, *, sep: str | None = None) -> Glob:
    """Compile a glob where ``*`` spans anything (or anything but ``sep``).

    ``**`` always spans separators.  Every other character is literal, so
    brackets in field keys such as ``cd[*]`` need no escaping.  Compiled
    globs are shared, since catalogues repeat the same ones (``*``,
    ``*/collect``).
    """
    return Glob(pattern, sep)


@dataclass(frozen=True)
class Endpoint:
    """One way a vendor is reached: hosts and/or a request shape.

    ``params`` are query parameters and ``body`` are body keys (dotted for
    JSON) that must be present with a value matching their glob.
    """

    hosts: tuple[str, ...]
    paths: tuple[Glob, ...]
    methods: frozenset[str]
    params: tuple[tuple[str, Glob], ...]
    role: str
    body: tuple[tuple[str, Glob], ...] = ()
    path_globs: tuple[str, ...] = ()
    sinkhole: SinkholeReply | None = None
    """What the sinkhole answers this endpoint's requests, when the signature says."""

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
    pattern: Glob | None
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
