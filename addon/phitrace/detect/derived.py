"""The derived vocabulary, kept between starts in the user's cache directory.

Building the matcher from the imported dictionaries (decompressing, filtering
and normalising ~180k variants) costs seconds of CPU at every start, yet its
result only changes when phitrace, a dictionary package or a vocabulary YAML
file does.  So the finished tables are written once through
:mod:`phitrace.cache` (atomic, private, checksummed ``marshal``) and read
back at the next start.

The key: phitrace's and Python's versions, the payload format, each
dictionary package's version and data file (path, size, modification time),
and digests of every vocabulary YAML file and of the modules that derive the
tables.  A different key means stale: the tables are rebuilt and the file
replaced.  Any cache problem only means building in memory, as without a
cache; errors in the vocabulary files themselves still raise.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phitrace import cache
from phitrace.detect import dictionaries
from phitrace.detect.vocabulary import (
    _CONTEXT,
    _DENY,
    LIST_KEYS,
    Term,
    Vocabulary,
    _Marker,
    _Matcher,
)

log = logging.getLogger(__name__)

FORMAT = 2
"""Bumped whenever the payload's layout changes."""

_INDEX = "I"
"""The ``array`` type of the matcher's entries: row numbers, in native byte order."""
_SEPARATOR = "\n"
"""Joins the phrases and first words into one string each (no phrase holds a newline)."""
_TERM_FIELDS = tuple(f.name for f in dataclasses.fields(Term))

_DERIVING = (__file__, dictionaries.__file__, sys.modules[Vocabulary.__module__].__file__ or "")
"""The modules whose code decides the tables."""


def _dictionary_identity(data: dictionaries.DataFile) -> list[Any]:
    """A dictionary's version and data file, so a reinstall of any kind is noticed."""
    path = dictionaries.locate(data)
    if path is None:
        return [data.distribution, "absent"]
    st = path.stat()
    return [data.distribution, dictionaries.version(data), str(path), st.st_size, st.st_mtime_ns]


def cache_key(directory: Path, imported: bool) -> str:
    """What the derived tables depend on, as one hex digest."""
    parts: list[Any] = [FORMAT, array(_INDEX).itemsize, sys.byteorder, imported]
    if imported:
        parts += [_dictionary_identity(d) for d in (dictionaries.DISEASES, dictionaries.DRUGS)]
    files = [Path(module) for module in _DERIVING] + sorted(directory.glob("*.yaml"))
    return cache.make_key(parts, files)


def cache_path(directory: Path, imported: bool, cache_dir: Path | None = None) -> Path:
    """The file that holds the tables of one vocabulary directory (one file each)."""
    return cache.cache_path("vocabulary", f"{directory.resolve()}\0{imported}", cache_dir)


def encode(vocabulary: Vocabulary) -> dict[str, Any]:
    """The vocabulary and its built matcher as plain data (each shared term stored once)."""
    matcher = vocabulary._matcher()
    index: dict[int, int] = {}
    rows: list[tuple[Any, ...]] = []
    objects: list[Term | _Marker] = [
        *vocabulary.terms.values(),
        *(t for t in matcher.table.values() if isinstance(t, Term)),
    ]
    for term in objects:
        if isinstance(term, Term) and id(term) not in index:
            index[id(term)] = len(rows)
            rows.append(_row(term))
    markers = {id(_DENY): len(rows), id(_CONTEXT): len(rows) + 1}
    index.update(markers)
    phrases = list(matcher.table)
    if any(not p or _SEPARATOR in p for p in [*phrases, *matcher.first]):
        raise ValueError("an empty phrase or one with a newline cannot be cached")
    if any(n > 255 for n in matcher.first.values()):
        raise ValueError("a phrase of more than 255 words cannot be cached")
    payload: dict[str, Any] = {
        "rows": rows,
        "curated": [index[id(t)] for t in vocabulary.terms.values()],
        # One string and one byte string rather than 150k objects: read at every start.
        "phrases": _SEPARATOR.join(phrases),
        "entries": array(_INDEX, [index[id(t)] for t in matcher.table.values()]).tobytes(),
        "first": _SEPARATOR.join(matcher.first),
        "longest": bytes(matcher.first.values()),
        "imported": vocabulary.imported,
    }
    for name in LIST_KEYS:
        payload[name] = sorted(getattr(vocabulary, name))
    return payload


def _row(term: Term) -> tuple[Any, ...]:
    return (
        term.phrase,
        term.canonical,
        term.category,
        term.sensitivity,
        term.weak,
        term.source,
        term.ambiguous,
    )


def _terms(rows: list[tuple[Any, ...]]) -> list[Term]:
    """:class:`Term` objects from their rows, as ``Term(*row)`` builds them.

    Each is filled through its instance dictionary: a frozen dataclass's
    ``__init__`` sets every field through ``object.__setattr__``, which for
    tens of thousands of terms is a noticeable part of a start.
    """
    terms: list[Term] = []
    new, fields = object.__new__, _TERM_FIELDS
    for row in rows:
        term = new(Term)
        term.__dict__.update(zip(fields, row, strict=True))
        terms.append(term)
    return terms


def _split(text: str) -> list[str]:
    return text.split(_SEPARATOR) if text else []


def decode(payload: dict[str, Any]) -> Vocabulary:
    """A vocabulary with its matcher already built, from :func:`encode`'s plain data."""
    objects: list[Term | _Marker] = [*_terms(payload["rows"]), _DENY, _CONTEXT]
    curated = [objects[i] for i in payload["curated"]]
    terms = {t.phrase: t for t in curated if isinstance(t, Term)}
    entries = array(_INDEX)
    entries.frombytes(payload["entries"])
    phrases = _split(payload["phrases"])
    table = dict(zip(phrases, map(objects.__getitem__, entries), strict=True))
    first = dict(zip(_split(payload["first"]), payload["longest"], strict=True))
    vocabulary = Vocabulary(
        terms,
        frozenset(payload["stoplist"]),
        frozenset(payload["search_params"]),
        frozenset(payload["deny"]),
        frozenset(payload["context"]),
        bool(payload["imported"]),
    )
    vocabulary._state["matcher"] = _Matcher(table, first)
    return vocabulary


def read(path: Path, key: str) -> Vocabulary | None:
    """The cached vocabulary at ``path`` if it is whole and built for ``key``; else None."""
    payload = cache.read(path, key)
    return None if payload is None else decode(payload)


def write(path: Path, key: str, vocabulary: Vocabulary) -> None:
    """Write the vocabulary's tables to ``path`` (atomically, owner only)."""
    cache.write(path, key, encode(vocabulary))


def cached_vocabulary(
    directory: Path, imported: bool, build: Callable[[], Vocabulary]
) -> Vocabulary:
    """The vocabulary of ``directory`` from the cache, or ``build()`` and cache it.

    ``build`` must return a vocabulary whose matcher can be built; its errors
    propagate.  Every cache error falls back to the built vocabulary.
    """
    try:
        key = cache_key(directory, imported)
        path = cache_path(directory, imported)
        payload = cache.recall(path, key)
        if payload is not None:
            return decode(payload)
    # Fail open: a cache that cannot be read (or decoded) is only a slower start.
    except Exception:  # noqa: BLE001
        log.info("phitrace: cannot use the vocabulary cache; building", exc_info=True)
        return build().prepare()
    vocabulary = build().prepare()
    if imported and not dictionaries.imported_complete(vocabulary.stoplist):
        return vocabulary  # a dictionary failed to read: try it again next start
    try:
        payload = encode(vocabulary)
    # Fail open: a vocabulary that cannot be encoded is used, just not kept.
    except Exception:  # noqa: BLE001
        log.info("phitrace: cannot encode the vocabulary for the cache", exc_info=True)
        return vocabulary
    cache.remember(path, key, payload)
    return vocabulary
