"""Tables phitrace derives from its data files, kept between starts in the user's cache directory.

What is cached can always be rebuilt: the health vocabulary derived from
the dictionary packages (:mod:`phitrace.detect.derived`) and the parsed,
validated tracker signatures (:mod:`phitrace.catalogue.loader`).

- **Where.** :func:`phitrace.resources.user_cache_dir`, one file per table.
  A directory that is not the user's own, or that others can write, is not
  read or written (its content would be trusted like phitrace's code).
- **Format.** ``marshal`` of plain lists, dicts and strings (never pickle:
  loading it runs no code), behind a magic line and a BLAKE2b digest of the
  body, so a truncated or corrupt file is noticed.  The body starts with the
  key the table was built for; a different key means stale.
- **Writes** go to a private temporary file in the same directory, renamed
  over the old one: two processes starting at once each write a whole file,
  and a reader sees one of them, never a mix.  Directory 0700, file 0600.
- **Fail open.** :func:`recall` and :func:`remember` log and carry on after
  any error, so a cache problem only costs the time to rebuild.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from phitrace import __version__
from phitrace.resources import user_cache_dir
from phitrace.store.private import make_private_dirs

log = logging.getLogger(__name__)

MAGIC = b"phitrace derived table\n"
DIGEST_SIZE = 32


def digest(data: bytes) -> bytes:
    """BLAKE2b of ``data``: the checksum of a cache file, and of the inputs in a key."""
    return hashlib.blake2b(data, digest_size=DIGEST_SIZE).digest()


def make_key(parts: Iterable[Any], files: Iterable[Path]) -> str:
    """A key over plain ``parts`` and the names and contents of ``files``, as hex.

    phitrace's version and the Python version (marshal's format may change
    between them) are always part of it.
    """
    hasher = hashlib.blake2b(digest_size=DIGEST_SIZE)
    hasher.update(marshal.dumps([__version__, list(sys.version_info[:2]), marshal.version]))
    hasher.update(marshal.dumps(list(parts)))
    for path in files:
        hasher.update(path.name.encode() + b"\0" + digest(path.read_bytes()))
    return hasher.hexdigest()


def cache_path(table: str, source: str, cache_dir: Path | None = None) -> Path:
    """The file of ``table`` built from ``source`` (a directory, say): one file per pair."""
    slot = hashlib.blake2b(f"{table}\0{source}".encode(), digest_size=8).hexdigest()
    return (cache_dir or user_cache_dir()) / f"{table}-{slot}.bin"


def _safe_dir(directory: Path) -> bool:
    """Whether ``directory`` is ours alone (a cache others can write could feed us anything)."""
    st = directory.stat()
    mine = not hasattr(os, "getuid") or st.st_uid == os.getuid()
    return stat.S_ISDIR(st.st_mode) and mine and not st.st_mode & 0o022


def read(path: Path, key: str) -> Any | None:
    """The payload at ``path`` if the file is whole and was built for ``key``; else None."""
    if not path.is_file() or not _safe_dir(path.parent):
        return None
    blob = path.read_bytes()
    head = len(MAGIC) + DIGEST_SIZE
    if blob[: len(MAGIC)] != MAGIC or digest(blob[head:]) != blob[len(MAGIC) : head]:
        log.info("phitrace: cache file %s is damaged; rebuilding it", path)
        return None
    stored_key, payload = marshal.loads(blob[head:])
    if stored_key != key:
        log.debug("phitrace: cache file %s is stale; rebuilding it", path)
        return None
    return payload


def write(path: Path, key: str, payload: Any) -> None:
    """Write ``payload`` for ``key`` to ``path`` atomically, readable by the owner only."""
    make_private_dirs(path.parent)
    if not _safe_dir(path.parent):
        raise PermissionError(f"{path.parent} is writable by others; not caching there")
    body = marshal.dumps((key, payload))
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:  # mkstemp's file is already 0600
            out.write(MAGIC + digest(body) + body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def recall(path: Path, key: str) -> Any | None:
    """:func:`read`, with any error logged and taken as a miss."""
    try:
        return read(path, key)
    # Fail open: a cache that cannot be read is only a slower start.
    except Exception:  # noqa: BLE001
        log.info("phitrace: cannot read the cache file %s; rebuilding", path, exc_info=True)
        return None


def remember(path: Path, key: str, payload: Any) -> None:
    """:func:`write`, with any error logged and ignored."""
    try:
        write(path, key, payload)
    # Fail open: an unwritable cache only means building again next start.
    except Exception:  # noqa: BLE001
        log.info("phitrace: cannot write the cache file %s", path, exc_info=True)
