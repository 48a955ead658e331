"""Opening a phitrace database: private files, WAL mode, and the schema brought up to date.

The database holds health data, so it is created with mode 0600, and every
directory phitrace creates for it with mode 0700.  Opening applies the
recorded schema steps it lacks (:mod:`phitrace.store.migrations`).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import sqlite_utils

from phitrace.store.migrations import migrate


def _make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parents, each readable by the owner only."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)


def _create_private(path: Path) -> None:
    """Create the database file (and missing directories) readable by the owner only."""
    _make_private_dirs(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def open_database(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) a phitrace database with the current schema.

    SQLite creates its ``-wal`` and ``-shm`` files with the database file's
    mode, so they are private too.
    """
    path = Path(path)
    if not path.exists():
        _create_private(path)
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
    db = sqlite_utils.Database(conn)
    db.execute("PRAGMA busy_timeout = 30000")
    db.enable_wal()
    db.execute("PRAGMA synchronous = NORMAL")
    migrate(db)
    return db


class OutdatedDatabase(Exception):
    """A database opened read-only lacks schema steps; it must be opened writable once."""


def _connect_readonly(path: Path, timeout: float, immutable: bool) -> sqlite_utils.Database:
    from urllib.parse import quote

    uri = f"file:{quote(str(path.resolve()))}?mode=ro" + ("&immutable=1" if immutable else "")
    conn = sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
    db = sqlite_utils.Database(conn)
    db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    return db


def _missing_steps(db: sqlite_utils.Database) -> list[str]:
    from phitrace.store.migrations import MIGRATIONS, applied_migrations

    done = set(applied_migrations(db))
    return [m.name for m in MIGRATIONS if m.name not in done]


def open_database_readonly(path: str | Path, timeout: float = 30.0) -> sqlite_utils.Database:
    """Open an existing phitrace database for reading only: never create, lock or migrate it.

    Reports, checks and exports use this, so they work on a read-only file or
    directory (an archived recording, a CI artefact).  A WAL database in a
    directory where SQLite cannot create its ``-shm`` index is read as
    immutable, but only when no ``-wal`` log exists (nothing uncommitted is
    missed).  A database that lacks schema steps raises :class:`OutdatedDatabase`:
    upgrading it needs a writable open.
    """
    path = Path(path)
    immutable = False
    while True:
        db = _connect_readonly(path, timeout, immutable)
        try:
            missing = _missing_steps(db)
            break
        except sqlite3.OperationalError as exc:
            db.close()
            retry = "readonly" in str(exc) and not immutable
            if not retry or Path(f"{path}-wal").exists():
                raise
            immutable = True
        except BaseException:
            db.close()
            raise
    if missing:
        db.close()
        raise OutdatedDatabase(
            f"{path} needs a schema upgrade ({', '.join(missing)}) — open it writable once "
            "(for example with 'phitrace report' on a writable copy), then retry"
        )
    return db
