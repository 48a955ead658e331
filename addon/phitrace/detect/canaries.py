"""Canaries: a QA persona's planted values, searched for in every request.

A tester types known values (an e-mail, a phone number, a drug) into a site
and phitrace looks for them in every request, as sent or transformed the way
trackers transform them.  Each value yields *forms* (as typed, trimmed and
lower-cased, whitespace removed, digits with and without country code, a
Gmail-normalised address, ISO and US dates, each word of a name) and each
form is run through up to two *encoders* (percent-encoding, base64,
base64url, hex, MD5, SHA-1, SHA-256, SHA-512, SHA-256 as base64/base64url).
Every resulting needle is computed once, at load time, and all of them are
found in one pass of two Aho-Corasick automata (case-insensitive, and
case-sensitive for base64 forms).  Each hit names its chain, e.g.
``sha256(lower(trim))`` or ``base64(url(raw))``.  Keys are searched as well
as values: a decoded field's path (a cookie name, a query, form or JSON key).
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, quote_plus, unquote

import yaml

from phitrace.decode.budget import Limits
from phitrace.decode.request import body_content
from phitrace.decode.textcodecs import embedded_base64
from phitrace.detect.persona import read_persona
from phitrace.model import Field, Finding, Request
from phitrace.resources import load_yaml

MAX_BODY_CHARS = 1024 * 1024
"""Only this much of a raw body is searched (decoded fields are searched in full)."""

BODY_VIEW_LIMITS = Limits(max_decompressed_bytes=MAX_BODY_CHARS, max_seconds=0.05)
"""Bounds on undoing a body's ``Content-Encoding`` for the raw search."""


class CanaryError(ValueError):
    """The canaries file is invalid; the message says how to fix it."""


@dataclass(frozen=True)
class Needle:
    """One precomputed form of a canary value."""

    canary: str
    text: str
    chain: str
    case_sensitive: bool


Encoder = Callable[[str], str]


def _digest(algorithm: str) -> Encoder:
    return lambda text: hashlib.new(algorithm, text.encode()).hexdigest()


def _digest_b64(algorithm: str, url: bool) -> Encoder:
    def encode(text: str) -> str:
        raw = hashlib.new(algorithm, text.encode()).digest()
        return (
            base64.urlsafe_b64encode(raw).decode().rstrip("=")
            if url
            else base64.b64encode(raw).decode()
        )

    return encode


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


ENCODERS: tuple[tuple[str, Encoder, bool], ...] = (
    ("url", lambda t: quote(t, safe=""), False),
    ("url_plus", quote_plus, False),
    ("base64", _b64, True),
    ("base64url", _b64url, True),
    ("hex", lambda t: t.encode().hex(), False),
    ("md5", _digest("md5"), False),
    ("sha1", _digest("sha1"), False),
    ("sha256", _digest("sha256"), False),
    ("sha512", _digest("sha512"), False),
    ("sha256_b64", _digest_b64("sha256", url=False), True),
    ("sha256_b64url", _digest_b64("sha256", url=True), True),
)
"""Each encoder: its name in chains, the function, and whether its output is case-sensitive."""

HASHES = frozenset({"md5", "sha1", "sha256", "sha512", "sha256_b64", "sha256_b64url"})

_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_WORDS = re.compile(r"^[^\W\d_]+(?:[ '-][^\W\d_]+){1,3}$")


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def forms(value: str) -> dict[str, tuple[str, bool]]:
    """The plain forms of a value, by name, each with "may be matched as plain text".

    Word forms (each word of a name) are too short to match as text and are
    only searched hashed, as Meta and Google hash first and last names.
    """
    trimmed = value.strip()
    lower = trimmed.lower()
    out: dict[str, tuple[str, bool]] = {"raw": (value, True), "lower(trim)": (lower, True)}
    if "@" in lower:
        local, _, domain = lower.partition("@")
        if domain in ("gmail.com", "googlemail.com"):
            out["gmail(lower(trim))"] = (local.split("+")[0].replace(".", "") + "@gmail.com", True)
    digits = _digits(trimmed)
    if len(digits) >= 7 and not _ISO_DATE.match(trimmed) and not re.search(r"[a-z]", lower):
        if trimmed.startswith("+"):
            out["cc_digits"] = (digits, True)
            out["e164"] = ("+" + digits, True)
            out["national"] = (digits[-10:], True)
        else:
            out["digits"] = (digits, True)
            if len(digits) == 10:
                out["cc_digits"] = ("1" + digits, True)
                out["e164"] = ("+1" + digits, True)
    date = _ISO_DATE.match(trimmed)
    if date:
        y, m, d = date.groups()
        out["yyyymmdd"] = (f"{y}{m}{d}", True)
        out["mm/dd/yyyy"] = (f"{m}/{d}/{y}", True)
        out["mmddyyyy"] = (f"{m}{d}{y}", True)
        out["dd/mm/yyyy"] = (f"{d}/{m}/{y}", True)
    out.setdefault("collapse(lower(trim))", (" ".join(lower.split()), True))
    out.setdefault("nospace(lower(trim))", ("".join(lower.split()), True))
    if _WORDS.match(trimmed):
        words = re.split(r"[ '-]+", lower)
        out["first(lower(trim))"] = (words[0], False)
        out["last(lower(trim))"] = (words[-1], False)
    return out


def needles_for(name: str, value: str) -> list[Needle]:
    """Every needle of one canary value: forms, one encoder, and two encoders.

    Identical texts keep the simplest chain (forms first, then one layer).
    """
    found: dict[tuple[str, bool], Needle] = {}

    def add(text: str, chain: str, case_sensitive: bool) -> None:
        if len(text) < 4:
            return
        key = (text if case_sensitive else text.lower(), case_sensitive)
        if key not in found:
            found[key] = Needle(name, key[0], chain, case_sensitive)

    all_forms = forms(value)
    layered: list[tuple[str, str]] = []
    for form_name, (form, plain) in all_forms.items():
        if plain:
            add(form, form_name, False)
        for enc_name, encode, sensitive in ENCODERS:
            if not plain and enc_name not in HASHES:
                continue
            first = encode(form)
            chain = f"{enc_name}({form_name})"
            add(first, chain, sensitive)
            layered.append((first, chain))
    for text, chain in layered:
        for enc_name, encode, sensitive in ENCODERS:
            add(encode(text), f"{enc_name}({chain})", sensitive)
    for form_name, (form, plain) in all_forms.items():
        if plain:
            for enc_name, aligned in (("base64", False), ("base64url", True)):
                for text in embedded_base64(form, url=aligned):
                    add(text, f"{enc_name}({form_name})", True)
    return list(found.values())


@dataclass(frozen=True, eq=False)
class Canaries:
    """All needles of a persona, ready to search with (automata built on first use)."""

    values: Mapping[str, str]
    needles: tuple[Needle, ...]
    kinds: Mapping[str, str] = field(default_factory=dict)
    """Each canary's kind (one of :data:`~phitrace.model.CANARY_KINDS`)."""
    _state: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __bool__(self) -> bool:
        return bool(self.needles)

    def automata(self) -> tuple[Any, list[Needle], Any, list[Needle]]:
        """The case-insensitive and case-sensitive automata and their needles."""
        built = self._state.get("automata")
        if built is None:
            with self._state.setdefault("lock", threading.Lock()):
                built = self._state.get("automata")
                if built is None:
                    built = _build(self.needles)
                    self._state["automata"] = built
        return built


def _build(needles: Iterable[Needle]) -> tuple[Any, list[Needle], Any, list[Needle]]:
    import ahocorasick_rs

    folded = [n for n in needles if not n.case_sensitive]
    exact = [n for n in needles if n.case_sensitive]

    def automaton(group: list[Needle]) -> Any:
        if not group:
            return None
        return ahocorasick_rs.AhoCorasick([n.text for n in group])

    return automaton(folded), folded, automaton(exact), exact


NO_CANARIES = Canaries({}, ())


def parse_canaries(data: object, source: str = "canaries") -> Canaries:
    """Build needles from a parsed canaries file; raises :class:`CanaryError`.

    A plain ``name: value`` gets its kind from what the value is
    (:func:`~phitrace.detect.persona.kind_of_value`), never from its name.
    """
    try:
        values, kinds = read_persona(data, source)
    except ValueError as exc:
        raise CanaryError(str(exc)) from None
    needles = [n for name, value in values.items() for n in needles_for(name, value)]
    return Canaries(values, tuple(needles), kinds)


def load_canaries(path: Path) -> Canaries:
    """Read a canaries YAML file."""
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CanaryError(f"{path}: cannot read canaries file: {exc}") from exc
    return parse_canaries(data, str(path))


RAW_PLACES = ("url", "url (decoded)", "body")
_SURROGATE = re.compile("[\ud800-\udfff]")


class KeyOf(NamedTuple):
    """The key (a cookie name, a query, form or JSON key) of a decoded field, as a place."""

    path: str
    trail: tuple[str, ...]


Place = Field | KeyOf | str
"""Where a haystack came from: a decoded field, its key, or a raw part of the request."""


def _where(place: Place) -> tuple[str, tuple[str, ...]]:
    """The path and decode trail of a place (raw parts have no trail)."""
    return (place, ()) if isinstance(place, str) else (place.path, place.trail)


def _haystacks(request: Request, fields: Iterable[Field]) -> list[tuple[Place, str]]:
    """Where to look: decoded fields first (they name the place best), then the raw request.

    Fields are kept as they are and named only when a needle is found in
    them: naming every field of every request cost more than the search.
    """
    fields = list(fields)
    out: list[tuple[Place, str]] = [(f, f.value) for f in fields if len(f.value) >= 4]
    # A key may be the leak (``Cookie: jane%40example.org=1``); a field's path holds its keys.
    keys = dict.fromkeys(KeyOf(f.path, f.trail) for f in fields)
    out.extend((key, key.path) for key in keys)
    out.append(("url", request.url))
    decoded = unquote(unquote(request.url))
    if decoded != request.url:
        out.append(("url (decoded)", decoded))
    for name, value in request.headers:
        lowered = name.lower()
        if lowered not in ("host", "content-length", "cookie", "referer"):
            out.append((f"header.{lowered}", value))
    if request.body:
        # The body as sent may be compressed: search its content, decoded within bounds.
        content = body_content(request, BODY_VIEW_LIMITS).data
        out.append(("body", content[:MAX_BODY_CHARS].decode("utf-8", "replace")))
    return out


@dataclass(frozen=True)
class _Haystack:
    """The texts of a request joined by NULs, with where each text starts."""

    texts: list[str]
    starts: list[int]
    joined: str

    @classmethod
    def of(cls, texts: list[str]) -> _Haystack:
        starts: list[int] = []
        offset = 0
        for text in texts:
            starts.append(offset)
            offset += len(text) + 1
        joined = "\x00".join(texts)
        if not joined.isascii():
            # Lone surrogates (undecodable bytes kept by surrogateescape) are not UTF-8,
            # and the matcher takes UTF-8: swap each for one U+FFFD so offsets still hold.
            joined = _SURROGATE.sub("\ufffd", joined)
        return cls(texts, starts, joined)

    def folded(self) -> _Haystack:
        """The same texts in lower case, lowering the joined text once when it is ASCII."""
        if self.joined.isascii():
            return _Haystack(self.texts, self.starts, self.joined.lower())
        return _Haystack.of([text.lower() for text in self.texts])


def _search(
    automaton: Any, group: list[Needle], places: list[tuple[Place, str]], hay: _Haystack, fold: bool
) -> Iterable[tuple[Needle, Place, str]]:
    """Yield (needle, place, matched text) for every needle in the joined haystacks."""
    if automaton is None:
        return
    starts = hay.starts
    for index, start, end in automaton.find_matches_as_indexes(hay.joined, overlapping=True):
        slot = bisect_right(starts, start) - 1
        place, original = places[slot]
        local = start - starts[slot]
        text = original[local : local + end - start]
        if fold and text.lower() != group[index].text:
            text = group[index].text
        yield group[index], place, text


def find_canaries(request: Request, fields: Iterable[Field], canaries: Canaries) -> list[Finding]:
    """Search the request, raw and decoded, for every canary needle in one pass."""
    if not canaries:
        return []
    places = _haystacks(request, fields)
    folded, folded_needles, exact, exact_needles = canaries.automata()
    raw = _Haystack.of([text for _, text in places])
    hits: dict[tuple[str, str], Finding] = {}
    for group in (
        _search(folded, folded_needles, places, raw.folded(), True),
        _search(exact, exact_needles, places, raw, False),
    ):
        for needle, where, text in group:
            key = (needle.canary, needle.chain)
            current = hits.get(key)
            path, trail = _where(where)
            same_place = current is not None and (current.path, current.trail) == (path, trail)
            if current is None or (same_place and len(text) > len(current.value)):
                hits[key] = Finding(
                    kind="canary",
                    category=needle.canary,
                    path=path,
                    value=text,
                    matched=needle.chain,
                    rule=f"canary:{needle.chain.split('(')[0]}",
                    reason=f"test-persona value '{needle.canary}' found as {needle.chain}"
                    + (" in a key" if isinstance(where, KeyOf) else ""),
                    trail=trail,
                    canary_kind=canaries.kinds.get(needle.canary, "other"),
                )
    return _simplest(hits.values())


def _rank(finding: Finding) -> tuple[int, int]:
    # The longest match explains the most of what was sent; then the fewest layers.
    return (-len(finding.value), finding.matched.count("("))


def _simplest(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per canary and place: the chain explaining the longest match.

    A canary found in a decoded field is not reported again in the raw URL
    or body it was decoded from.
    """
    best: dict[tuple[str, str, tuple[str, ...]], Finding] = {}
    for finding in findings:
        key = (finding.category, finding.path, finding.trail)
        current = best.get(key)
        if current is None or _rank(finding) < _rank(current):
            best[key] = finding
    raw = {key for key in best if not key[2] and key[1] in RAW_PLACES}
    in_fields = {key[0] for key in best if key not in raw and not key[1].startswith("header.")}
    return [f for key, f in best.items() if not (key in raw and key[0] in in_fields)]
