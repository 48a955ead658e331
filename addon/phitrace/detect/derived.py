"""The derived vocabulary, kept between starts in the user's cache directory.

Building the matcher from the imported dictionaries (decompressing, filtering
and normalising ~180k variants) costs seconds of CPU at every start, yet its
result only changes when phitrace, a dictionary package or a vocabulary YAML
file does.  So the finished tables are written once to
:func:`phitrace.resources.user_cache_dir` and read back at the next start.

- **Key.** phitrace's version, the cache format, the Python version (marshal
  may change between them), each dictionary package's version and data file
  (path, size, modification time), and digests of every vocabulary YAML file
  and of the modules that derive the tables.
  The file holds its key; a different key means stale, and the tables are
  rebuilt and the file replaced.
- **Format.** ``marshal`` of plain lists, dicts and strings (never pickle:
  loading it runs no code), behind a magic line and a BLAKE2b digest of the
  body, so a truncated or corrupt file is noticed and rebuilt.
- **Writes** go to a private temporary file in the same directory, renamed
  over the old one: two processes starting at once each write a whole file,
  and a reader sees one of them, never a mix.  Directory 0700, file 0600.
- **Fail open.** Any cache problem (unwritable directory, corrupt file, a
  directory another user could write to) only means building in memory, as
  without a cache.  Errors in the vocabulary files themselves still raise.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phitrace import __version__
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
from phitrace.resources import user_cache_dir

log = logging.getLogger(__name__)

FORMAT = 1
"""Bumped whenever the payload's layout changes."""

MAGIC = b"phitrace derived vocabulary\n"
_DIGEST_SIZE = 32
_DERIVING = (__file__, dictionaries.__file__, sys.modules[Vocabulary.__module__].__file__ or "")
"""The modules whose code decides the tables."""


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=_DIGEST_SIZE).digest()


def _dictionary_identity(data: dictionaries.DataFile) -> list[Any]:
    """A dictionary's version and data file, so a reinstall of any kind is noticed."""
    path = dictionaries.locate(data)
    if path is None:
        return [data.distribution, "absent"]
    st = path.stat()
    return [data.distribution, dictionaries.version(data), str(path), st.st_size, st.st_mtime_ns]


def cache_key(directory: Path, imported: bool) -> str:
    """What the derived tables depend on, as one hex digest."""
    hasher = hashlib.blake2b(digest_size=_DIGEST_SIZE)
    parts: list[Any] = [FORMAT, __version__, list(sys.version_info[:2]), marshal.version, imported]
    if imported:
        parts += [_dictionary_identity(d) for d in (dictionaries.DISEASES, dictionaries.DRUGS)]
    hasher.update(marshal.dumps(parts))
    for module in _DERIVING:  # a source checkout changes code without changing the version
        hasher.update(_digest(Path(module).read_bytes()))
    for path in sorted(directory.glob("*.yaml")):
        hasher.update(path.name.encode() + b"\0" + _digest(path.read_bytes()))
    return hasher.hexdigest()


def cache_path(directory: Path, imported: bool, cache_dir: Path | None = None) -> Path:
    """The file that holds the tables of one vocabulary directory (one file each)."""
    slot = hashlib.blake2b(f"{directory.resolve()}\0{imported}".encode(), digest_size=8)
    return (cache_dir or user_cache_dir()) / f"vocabulary-{slot.hexdigest()}.bin"


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
    payload: dict[str, Any] = {
        "rows": rows,
        "curated": [index[id(t)] for t in vocabulary.terms.values()],
        "phrases": list(matcher.table),
        "entries": [index[id(t)] for t in matcher.table.values()],
        "first": matcher.first,
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


def decode(payload: dict[str, Any]) -> Vocabulary:
    """A vocabulary with its matcher already built, from :func:`encode`'s plain data."""
    objects: list[Term | _Marker] = [Term(*row) for row in payload["rows"]]
    objects += [_DENY, _CONTEXT]
    curated = [objects[i] for i in payload["curated"]]
    terms = {t.phrase: t for t in curated if isinstance(t, Term)}
    table = dict(zip(payload["phrases"], map(objects.__getitem__, payload["entries"]), strict=True))
    vocabulary = Vocabulary(
        terms,
        frozenset(payload["stoplist"]),
        frozenset(payload["search_params"]),
        frozenset(payload["deny"]),
        frozenset(payload["context"]),
        bool(payload["imported"]),
    )
    vocabulary._state["matcher"] = _Matcher(table, dict(payload["first"]))
    return vocabulary


def _safe_dir(directory: Path) -> bool:
    """Whether ``directory`` is ours alone (a cache others can write could feed us anything)."""
    st = directory.stat()
    mine = not hasattr(os, "getuid") or st.st_uid == os.getuid()
    return stat.S_ISDIR(st.st_mode) and mine and not st.st_mode & 0o022


def read(path: Path, key: str) -> Vocabulary | None:
    """The cached vocabulary at ``path`` if it is whole and built for ``key``; else None."""
    if not path.is_file() or not _safe_dir(path.parent):
        return None
    blob = path.read_bytes()
    head = len(MAGIC) + _DIGEST_SIZE
    if blob[: len(MAGIC)] != MAGIC or _digest(blob[head:]) != blob[len(MAGIC) : head]:
        log.info("phitrace: vocabulary cache %s is damaged; rebuilding it", path)
        return None
    stored_key, payload = marshal.loads(blob[head:])
    if stored_key != key:
        log.debug("phitrace: vocabulary cache %s is stale; rebuilding it", path)
        return None
    return decode(payload)


def write(path: Path, key: str, vocabulary: Vocabulary) -> None:
    """Write the vocabulary's tables to ``path`` atomically, readable by the owner only."""
    _private_dirs(path.parent)
    if not _safe_dir(path.parent):
        raise PermissionError(f"{path.parent} is writable by others; not caching there")
    body = marshal.dumps((key, encode(vocabulary)))
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".vocabulary-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:  # mkstemp's file is already 0600
            out.write(MAGIC + _digest(body) + body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _private_dirs(directory: Path) -> None:
    """Create the missing directories of ``directory``, each 0700 whatever the umask."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)


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
        hit = read(path, key)
        if hit is not None:
            return hit
    # Fail open: a cache that cannot be read is only a slower start.
    except Exception:  # noqa: BLE001
        log.info("phitrace: cannot read the vocabulary cache; building it", exc_info=True)
        return build().prepare()
    vocabulary = build().prepare()
    if imported and not dictionaries.imported_complete(vocabulary.stoplist):
        return vocabulary  # a dictionary failed to read: try it again next start
    try:
        write(path, key, vocabulary)
    # Fail open: an unwritable cache only means building again next start.
    except Exception:  # noqa: BLE001
        log.info("phitrace: cannot write the vocabulary cache %s", path, exc_info=True)
    return vocabulary
