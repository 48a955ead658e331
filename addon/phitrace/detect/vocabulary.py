"""Health vocabularies: curated YAML term lists plus imported dictionaries, and a matcher.

Each file under ``signatures/health/`` holds one category's terms with their
source and licence, or one of the lists that steer matching (stoplist,
deny-list, context words, search parameter names).  The large imported
dictionaries (drugs, MeSH diseases) come from :mod:`phitrace.detect.dictionaries`.

Text is normalised into lower-case alphanumeric tokens (camelCase, ``-``,
``_``, ``+`` and percent-encoding all split words) and every phrase is found
in one left-to-right pass over the tokens, with a hash table of phrases and an
index of each phrase's first word (built once per vocabulary, on first use or
by :meth:`Vocabulary.prepare`).  Matching whole tokens means only whole words
match ("ms" never inside "terms", "flu" never inside "fluent"), and trying the
longest phrase first at each word picks "flu shot" over "flu".

Why not an Aho-Corasick automaton: on the ~146k phrases the matcher holds,
``ahocorasick_rs`` took 1.3 s to build; the token table takes about 0.1 s and
gives the same matches, as fast on the short values trackers send.

Matching policy (see ``signatures/health/README.md``):

- *weak* terms (generic health-site words such as "appointments") count only
  where a page URL, title, search or event is expected;
- *ambiguous* terms ("cold", "ms", "ed") count only when the same text holds
  another health term or a context word ("cold symptoms", "ms treatment");
- *deny* phrases (organisation names, boilerplate such as "City of Hope",
  "American Cancer Society") swallow the words inside them;
- the *stoplist* removes phrases that mostly are not health terms at all.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import yaml

from phitrace.model import HEALTH_CATEGORIES
from phitrace.resources import load_yaml

SENSITIVITIES: tuple[str, ...] = (
    "general",
    "chronic",
    "mental_health",
    "sexual_reproductive",
    "substance_use",
    "hiv",
    "oncology",
    "genetic",
    "minors",
)

LIST_KEYS = ("stoplist", "search_params", "deny", "context")
"""Keys of the files that steer matching instead of listing terms."""

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_TOKEN = re.compile(r"[a-z0-9]+")
_CACHE_TEXT = 2048
_CACHE_SIZE = 50_000


class VocabularyError(ValueError):
    """A vocabulary file is invalid; the message names the file."""


@dataclass(frozen=True)
class Term:
    """A health term: what it is, its category, and how strong a signal it is.

    ``weak`` terms (generic page words such as "appointments" or "pharmacy")
    only count where a page URL, title or search is expected.  ``ambiguous``
    terms only count next to another health word.  ``source`` names the file
    or package the term came from.  ``phrase`` is the normalised words of a
    curated variant; imported concepts share one term whose phrase is their
    canonical name.
    """

    phrase: str
    canonical: str
    category: str
    sensitivity: str
    weak: bool
    source: str
    ambiguous: bool = False


class _Marker:
    """A non-reporting pattern: a deny phrase or a context word."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind


_DENY = _Marker("deny")
_CONTEXT = _Marker("context")


def tokens(text: str) -> list[str]:
    """Split text into lower-case word tokens, undoing percent-encoding and camelCase."""
    if "%" in text or "+" in text:
        text = unquote_plus(unquote_plus(text))
    return _TOKEN.findall(_CAMEL.sub(" ", text).lower())


def search_key(name: str) -> str:
    """A parameter name as search-parameter lists compare it: lower case, letters and digits."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _normalise(phrase: str) -> str:
    return " ".join(tokens(phrase))


@dataclass(eq=False)
class _Matcher:
    """Phrases (words joined by one space) and, per first word, the most words a phrase has."""

    table: dict[str, Term | _Marker]
    first: dict[str, int]

    @property
    def size(self) -> int:
        return len(self.table)

    def scan(self, words: Sequence[str]) -> list[Term | _Marker]:
        """Leftmost-longest, non-overlapping phrase matches over whole words."""
        found: list[Term | _Marker] = []
        first = self.first
        table = self.table
        count = len(words)
        index = 0
        while index < count:
            longest = first.get(words[index])
            if longest:
                span = min(longest, count - index)
                while span:
                    hit = table.get(" ".join(words[index : index + span]))
                    if hit is not None:
                        found.append(hit)
                        index += span
                        break
                    span -= 1
                else:
                    index += 1
            else:
                index += 1
        return found


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """Every curated term (keyed by normalised phrase), the steering lists, and a matcher.

    With ``imported`` the drug and disease dictionaries of
    :mod:`phitrace.detect.dictionaries` join the curated terms when the matcher is
    first built (curated terms win over imported ones with the same words).
    """

    terms: Mapping[str, Term]
    stoplist: frozenset[str]
    search_params: frozenset[str]
    deny: frozenset[str] = frozenset()
    context: frozenset[str] = frozenset()
    imported: bool = False
    _state: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def prepare(self) -> Vocabulary:
        """Build the matcher now (it is otherwise built on first use); return self."""
        self._matcher()
        return self

    def memo(self, name: str) -> dict[Any, Any]:
        """A per-vocabulary memo table for results derived from it (bounded by its users)."""
        table: dict[Any, Any] = self._state.setdefault(f"memo:{name}", {})
        return table

    @property
    def size(self) -> int:
        """How many phrases the matcher holds (building it if needed)."""
        return self._matcher().size

    def _matcher(self) -> _Matcher:
        matcher = self._state.get("matcher")
        if matcher is None:
            lock = self._state.setdefault("lock", threading.Lock())
            with lock:
                matcher = self._state.get("matcher")
                if matcher is None:
                    matcher = self._build()
                    self._state["matcher"] = matcher
        return matcher

    def _build(self) -> _Matcher:
        table: dict[str, Term | _Marker] = {}
        for phrase in self.context:
            table[phrase] = _CONTEXT
        if self.imported:
            from phitrace.detect.dictionaries import imported_entries

            # One Term per imported concept, shared by all its variants.
            shared: dict[tuple[str, str], Term] = {}
            for variant, canonical, category, sensitivity, source in imported_entries(
                self.stoplist
            ):
                term = shared.get((category, canonical))
                if term is None:
                    term = Term(canonical, canonical, category, sensitivity, False, source)
                    shared[(category, canonical)] = term
                table[variant] = term
        for phrase, term in self.terms.items():
            if phrase not in self.stoplist:
                table[phrase] = term
        for phrase in self.deny:
            table[phrase] = _DENY
        first: dict[str, int] = {}
        for phrase in table:
            head, _, rest = phrase.partition(" ")
            words = rest.count(" ") + 2 if rest else 1
            if first.get(head, 0) < words:
                first[head] = words
        return _Matcher(table, first)

    def find(self, text: str, *, allow_weak: bool = True) -> list[Term]:
        """Return the terms found in ``text``, leftmost-longest, without overlaps."""
        if not text:
            return []
        matcher = self._matcher()
        cache: dict[tuple[str, bool], tuple[Term, ...]] = self.memo("find")
        key = (text, allow_weak)
        hit = cache.get(key)
        if hit is None:
            hit = self._find_words(matcher, tokens(text), allow_weak)
            if len(text) <= _CACHE_TEXT:
                if len(cache) >= _CACHE_SIZE:
                    cache.clear()
                cache[key] = hit
        return list(hit)

    def find_words(self, words: Sequence[str], *, allow_weak: bool = True) -> list[Term]:
        """Like :meth:`find` for text already split into tokens."""
        return list(self._find_words(self._matcher(), words, allow_weak))

    @staticmethod
    def _find_words(matcher: _Matcher, words: Sequence[str], allow_weak: bool) -> tuple[Term, ...]:
        if not words:
            return ()
        hits = matcher.scan(words)
        if not hits:
            return ()
        terms = [h for h in hits if isinstance(h, Term)]
        if not terms:
            return ()
        context = any(h is _CONTEXT or (isinstance(h, Term) and not h.ambiguous) for h in hits)
        return tuple(
            t for t in terms if (context or not t.ambiguous) and (allow_weak or not t.weak)
        )


def _term_entries(data: Mapping[str, Any], file: str) -> Iterable[Mapping[str, Any]]:
    entries = data.get("terms")
    if not isinstance(entries, list):
        raise VocabularyError(f"{file}: 'terms' must be a list")
    for entry in entries:
        if isinstance(entry, str):
            yield {"term": entry}
        elif isinstance(entry, Mapping) and isinstance(entry.get("term"), str):
            yield entry
        else:
            raise VocabularyError(f"{file}: each term is a string or a mapping with 'term'")


def _check_provenance(data: Mapping[str, Any], file: str) -> None:
    for key in ("source", "licence"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise VocabularyError(f"{file}: missing required key '{key}'")


def parse_file(data: Any, file: str) -> list[Term]:
    """Parse one category file into terms; raises :class:`VocabularyError`."""
    if not isinstance(data, Mapping):
        raise VocabularyError(f"{file}: a vocabulary file must hold one mapping")
    for key in ("category", "source", "licence", "terms"):
        if key not in data:
            raise VocabularyError(f"{file}: missing required key '{key}'")
    _check_provenance(data, file)
    category = data["category"]
    if category not in HEALTH_CATEGORIES:
        raise VocabularyError(f"{file}: category {category!r} is not one of {HEALTH_CATEGORIES}")
    default_sensitivity = data.get("sensitivity", "general")
    weak = bool(data.get("weak", False))
    templates = data.get("templates", ["{}"])
    if not isinstance(templates, list) or not all(
        isinstance(t, str) and t.count("{}") == 1 for t in templates
    ):
        raise VocabularyError(f"{file}: 'templates' must be strings each holding one '{{}}'")
    terms = []
    for entry in _term_entries(data, file):
        sensitivity = entry.get("sensitivity", default_sensitivity)
        if sensitivity not in SENSITIVITIES:
            raise VocabularyError(f"{file}: sensitivity {sensitivity!r} of {entry['term']!r}")
        variants = entry.get("variants", [])
        if not isinstance(variants, list):
            raise VocabularyError(f"{file}: variants of {entry['term']!r} must be a list")
        canonical = templates[0].format(entry["term"])
        for base in [entry["term"], *variants]:
            for template in templates:
                phrase = _normalise(template.format(base))
                if not phrase:
                    continue
                terms.append(
                    Term(
                        phrase,
                        canonical,
                        category,
                        sensitivity,
                        bool(entry.get("weak", weak)),
                        file,
                        bool(entry.get("ambiguous", False)),
                    )
                )
    return terms


def parse_list(data: Mapping[str, Any], key: str, file: str) -> set[str]:
    """Parse a steering list (stoplist, deny, context, search_params)."""
    _check_provenance(data, file)
    values = data[key]
    if not isinstance(values, list) or not all(isinstance(v, (str, int)) for v in values):
        raise VocabularyError(f"{file}: '{key}' must be a list of strings")
    if key == "search_params":
        return {search_key(str(v)) for v in values}
    return {p for p in (_normalise(str(v)) for v in values) if p}


def _signature(directory: Path) -> tuple[tuple[str, int, int], ...]:
    stats = ((p.name, p.stat()) for p in sorted(directory.glob("*.yaml")))
    return tuple((name, st.st_mtime_ns, st.st_size) for name, st in stats)


_LOADED: dict[tuple[str, bool, tuple[tuple[str, int, int], ...]], Vocabulary] = {}


def load_vocabulary(directory: Path | None = None, *, imported: bool = True) -> Vocabulary:
    """Load every category file and steering list under ``directory``.

    The default is the bundled ``signatures/health/``.  Vocabularies are
    immutable, so the same files loaded twice give the same object, its
    matcher built.  The built tables are kept between starts by
    :mod:`phitrace.detect.derived`.
    """
    if directory is None:
        from phitrace.resources import data_dir

        directory = data_dir("signatures") / "health"
    key = (str(directory.resolve()), imported, _signature(directory))
    cached = _LOADED.get(key)
    if cached is not None:
        return cached
    from phitrace.detect.derived import cached_vocabulary  # it imports this module

    vocabulary = cached_vocabulary(directory, imported, lambda: build(directory, imported))
    _LOADED[key] = vocabulary
    return vocabulary


def build(directory: Path, imported: bool) -> Vocabulary:
    """Parse the files under ``directory`` afresh (no cache; the matcher is built on first use)."""
    terms: dict[str, Term] = {}
    lists: dict[str, set[str]] = {key: set() for key in LIST_KEYS}
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = load_yaml(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise VocabularyError(f"{path.name}: cannot read: {exc}") from exc
        listed = [k for k in LIST_KEYS if isinstance(data, Mapping) and k in data]
        if listed:
            for key in listed:
                lists[key].update(parse_list(data, key, path.name))
            continue
        for term in parse_file(data, path.name):
            # A strong reading wins over a weak one for the same words.
            if term.phrase not in terms or (terms[term.phrase].weak and not term.weak):
                terms[term.phrase] = term
    return Vocabulary(
        terms,
        frozenset(lists["stoplist"]),
        frozenset(lists["search_params"]),
        frozenset(lists["deny"]),
        frozenset(lists["context"]),
        imported,
    )
