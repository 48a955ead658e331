"""Reading a recorded database from outside the proxy: rows, and waiting for rows or a session."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def rows(db: Path, sql: str, params: Iterable[object] = ()) -> list[tuple[object, ...]]:
    """Rows of a query on a database file, read with a separate connection."""
    conn = sqlite3.connect(db)
    try:
        return list(conn.execute(sql, tuple(params)))
    finally:
        conn.close()


def wait_for_rows(
    db: Path, sql: str, expected: list[tuple[object, ...]], timeout: float = 15.0
) -> list[tuple[object, ...]]:
    """Poll a query until it returns ``expected`` (or time runs out); return the last result."""
    deadline = time.monotonic() + timeout
    while True:
        found = rows(db, sql)
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def wait_for_session(db: Path, timeout: float = 30.0) -> None:
    """Block until the proxy has opened its recording session in ``db``.

    mitmproxy accepts connections before phitrace's ``running`` hook has created
    the tables, so a reader started at once could find an empty database.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if rows(db, "select count(*) from sessions where ended_at is null") == [(1,)]:
                return
        except sqlite3.OperationalError:  # the file or its tables do not exist yet
            pass
        time.sleep(0.05)
    raise TimeoutError(f"no open session in {db} after {timeout}s")


def new_session(path: Path, **kwargs: Any) -> int:
    """Start a session in the phitrace database at ``path`` and close the connection again."""
    from phitrace.store.database import open_database
    from phitrace.store.sessions import start_session

    with open_database(path) as db:
        return start_session(db, **kwargs)
