"""Files only their owner can read, replaced atomically, and never written over a database.

Databases, reports and bundles carry health data, so every output is private
(mode 0600).  An output is written to a private temporary file beside its
target and renamed over it only once complete and flushed to disk: a full
disk or a crash leaves the previous file as it was, never a truncated one.
An output is also never written onto a database (or its ``-wal``/``-shm``
files): a mistyped ``-o`` must not destroy the recording it reports on.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from phitrace.store.target import Target, files

SQLITE_HEADER = b"SQLite format 3\x00"
DATABASE_SUFFIXES = ("", "-wal", "-shm", "-journal")
"""The files SQLite keeps for a database: the file itself, its write-ahead log and index."""


def make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parents, each readable by the owner only.

    The mode is set again after creation because ``mkdir`` honours the umask,
    which a careless environment may have cleared.
    """
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)


class OutputError(OSError):
    """An output cannot be written; the message is one line that says what to do."""


def is_sqlite_file(path: Path) -> bool:
    """True when ``path`` is a file that starts with SQLite's header."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file, also through links or when one does not exist."""
    try:
        return a.samefile(b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b) or a.resolve() == b.resolve()


def refuse_database_target(
    path: Path, databases: Iterable[Target] = (), hint: str = "choose another output file with -o"
) -> None:
    """Raise :class:`OutputError` when writing ``path`` would overwrite a database.

    ``databases`` are the databases the command reads (their ``-wal`` and
    ``-shm`` files are protected too); any existing SQLite file is refused as well.
    A database on a PostgreSQL server has no file here to protect.
    """
    for database in files(list(databases)):
        for suffix in DATABASE_SUFFIXES:
            if _same_file(path, Path(f"{database}{suffix}")):
                raise OutputError(
                    f"refusing to write {path}: it is the database {database}{suffix} — {hint}"
                )
    if is_sqlite_file(path):
        raise OutputError(f"refusing to write {path}: it is a SQLite database — {hint}")


def _describe(path: Path, exc: OSError) -> str:
    """One line for a failed write: what failed, the system's reason, what to do."""
    reason = exc.strerror or str(exc)
    return f"cannot write {path}: {reason} — choose a writable location with free space"


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; some file systems cannot open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def private_output(path: Path, databases: Iterable[Target] = ()) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` (mode 0600) only if the block completes.

    The temporary file is created with mode 0600 by ``mkstemp`` (no moment when
    another user could open it) in the target's directory, so the rename is
    atomic.  On any error it is removed and ``path`` is left untouched; an
    ``OSError`` (full disk, read-only directory) becomes an :class:`OutputError`.
    """
    path = Path(path)
    refuse_database_target(path, databases)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(_describe(path, exc)) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(_describe(path, exc)) from exc
        raise
    _fsync_directory(directory)


def write_private(path: Path, data: str | bytes, databases: Iterable[Target] = ()) -> None:
    """Atomically replace ``path`` with ``data``, mode 0600, never over a database."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "backslashreplace")
    with private_output(path, databases) as handle:
        handle.write(raw)
