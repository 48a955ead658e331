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
