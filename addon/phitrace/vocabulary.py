"""Health vocabularies: load the curated YAML term lists and find terms in text.

Each file under ``signatures/health/`` holds one category's terms with their
source and licence.  Text is normalised into lower-case alphanumeric tokens
(camelCase, ``-``, ``_``, ``+`` and percent-encoding all split words), and
phrases are looked up as token n-grams, so only whole words ever match:
"ms" never matches inside "terms", "flu" never inside "fluent".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import yaml

from phitrace.model import HEALTH_CATEGORIES

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

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_TOKEN = re.compile(r"[a-z0-9]+")


class VocabularyError(ValueError):
    """A vocabulary file is invalid; the message names the file."""


@dataclass(frozen=True)
class Term:
    """A health term: what it is, its category, and how strong a signal it is.

    ``weak`` terms (generic page words such as "appointments" or "pharmacy")
    only count where a page URL, title or search is expected.
    """

    phrase: str
    canonical: str
    category: str
    sensitivity: str
    weak: bool
    source: str


def tokens(text: str) -> list[str]:
    """Split text into lower-case word tokens, undoing percent-encoding and camelCase."""
    if "%" in text or "+" in text:
        text = unquote_plus(unquote_plus(text))
    return _TOKEN.findall(_CAMEL.sub(" ", text).lower())


@dataclass(frozen=True)
class Vocabulary:
    """Every loaded term, keyed by its normalised token phrase."""

    terms: Mapping[str, Term]
    stoplist: frozenset[str]
    search_params: frozenset[str]
    max_words: int

    def find(self, text: str, *, allow_weak: bool = True) -> list[Term]:
        """Return the terms found in ``text``, longest phrase first, without overlaps."""
        words = tokens(text)
        found: list[Term] = []
        i = 0
        while i < len(words):
            hit = None
            for size in range(min(self.max_words, len(words) - i), 0, -1):
                phrase = " ".join(words[i : i + size])
                term = self.terms.get(phrase)
                if term is not None and phrase not in self.stoplist:
                    if allow_weak or not term.weak:
                        hit = (term, size)
                        break
            if hit:
                found.append(hit[0])
                i += hit[1]
            else:
                i += 1
        return found


def _normalise(phrase: str) -> str:
    return " ".join(tokens(phrase))


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


def parse_file(data: Any, file: str) -> list[Term]:
    """Parse one category file into terms; raises :class:`VocabularyError`."""
    if not isinstance(data, Mapping):
        raise VocabularyError(f"{file}: a vocabulary file must hold one mapping")
    for key in ("category", "source", "licence", "terms"):
        if key not in data:
            raise VocabularyError(f"{file}: missing required key '{key}'")
    category = data["category"]
    if category not in HEALTH_CATEGORIES:
        raise VocabularyError(f"{file}: category {category!r} is not one of {HEALTH_CATEGORIES}")
    default_sensitivity = data.get("sensitivity", "general")
    weak = bool(data.get("weak", False))
    terms = []
    for entry in _term_entries(data, file):
        sensitivity = entry.get("sensitivity", default_sensitivity)
        if sensitivity not in SENSITIVITIES:
            raise VocabularyError(f"{file}: sensitivity {sensitivity!r} of {entry['term']!r}")
        canonical = entry["term"]
        for variant in [canonical, *entry.get("variants", [])]:
            phrase = _normalise(str(variant))
            if phrase:
                terms.append(
                    Term(
                        phrase,
                        canonical,
                        category,
                        sensitivity,
                        bool(entry.get("weak", weak)),
                        file,
                    )
                )
    return terms


def load_vocabulary(directory: Path | None = None) -> Vocabulary:
    """Load every category file, the stoplist and the search-parameter list."""
    if directory is None:
        from phitrace.resources import data_dir

        directory = data_dir("signatures") / "health"
    terms: dict[str, Term] = {}
    stoplist: set[str] = set()
    search_params: set[str] = set()
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, Mapping) and "stoplist" in data:
            stoplist.update(_normalise(s) for s in data["stoplist"])
            continue
        if isinstance(data, Mapping) and "search_params" in data:
            search_params.update(str(s).lower() for s in data["search_params"])
            continue
        for term in parse_file(data, path.name):
            # A strong reading wins over a weak one for the same words.
            if term.phrase not in terms or (terms[term.phrase].weak and not term.weak):
                terms[term.phrase] = term
    max_words = max((len(p.split()) for p in terms), default=1)
    return Vocabulary(terms, frozenset(stoplist), frozenset(search_params), max_words)
