"""Opening a phitrace database: private files, ownership, waiting for locks, the schema up to date.

The database holds health data, so it is created with mode 0600, and every
directory phitrace creates for it with mode 0700; an existing file readable
by others is tightened.  A file that belongs to another program is refused:
phitrace's own carry ``PRAGMA application_id`` = :data:`APPLICATION_ID`
(older ones, written before the mark, are recognised by their tables and
marked).  Every connection waits up to its busy timeout for a lock and
overwrites deleted content (``secure_delete``).  Opening applies the
recorded schema steps it lacks (:mod:`phitrace.store.migrations`).  No
sqlite-utils plugin is loaded into a connection: none is needed, code found
installed beside phitrace has no business with health data, and looking for
plugins means reading every installed package's entry points at each open.

A PostgreSQL target (:mod:`phitrace.store.target`) opens the same way on the
server: the schema steps are applied under an advisory lock, and a database
holding other tables but not phitrace's is refused.  File modes, the
application id mark and the lock wait are SQLite's and do not apply there.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from phitrace.store.engine import Store, is_postgres, postgres, sqlite
from phitrace.store.migrations import MIGRATIONS_TABLE, migrate
from phitrace.store.private import make_private_dirs
from phitrace.store.target import PostgresTarget, Target, parse_target

if TYPE_CHECKING:
    import sqlite_utils

log = logging.getLogger(__name__)

APPLICATION_ID = 0x50485452
"""``PRAGMA application_id`` of a phitrace database (the bytes ``PHTR``)."""

BUSY_TIMEOUT = 30.0
"""Seconds a connection waits for another program's lock before giving up, by default."""

BUSY_TIMEOUT_ENV = "PHITRACE_BUSY_TIMEOUT"
"""Environment variable that sets the lock wait in seconds (a number ≥ 0) instead."""

_LEGACY_COLUMNS = {
    "sessions": {"started_at", "phitrace_version", "signatures_digest"},
    "flows": {"session_id", "request_sha256", "vendor"},
}
"""Columns that only phitrace's tables have: how a database from before the mark is known."""


class DatabaseError(Exception):
    """A database phitrace cannot use; the message is one line that names the file."""


class ForeignDatabase(DatabaseError):
    """The file is another program's database (or no SQLite database at all)."""


class DatabaseLocked(DatabaseError):
    """Another program held the database's lock for longer than the busy timeout."""


def is_locked(error: BaseException) -> bool:
    """True for SQLite's "database is locked" / "busy" errors."""
    text = str(error).lower()
    return isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def locked(path: Target | str, timeout: float) -> DatabaseLocked:
    """The one-line error for a lock held longer than we waited."""
    return DatabaseLocked(
        f"{path} is locked by another program (waited {timeout:g} s); "
        "stop the program writing to it, or choose another --db"
    )


def busy_timeout() -> float:
    """Seconds to wait for a lock: :data:`BUSY_TIMEOUT_ENV` when it is a number, else 30.

    A setting that is not a number ≥ 0 is ignored with a warning rather than
    refused, so a typo never stops a recording.
    """
    text = os.environ.get(BUSY_TIMEOUT_ENV, "").strip()
    if not text:
        return BUSY_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        log.warning(
            "phitrace: ignoring %s=%r (not a number of seconds); waiting %g s for locks",
            BUSY_TIMEOUT_ENV,
            text,
            BUSY_TIMEOUT,
        )
        return BUSY_TIMEOUT
    return seconds


@contextmanager
def write_transaction(db: Store) -> Iterator[Store]:
    """A transaction that takes the write lock first (``BEGIN IMMEDIATE``), waiting for it.

    A deferred ``BEGIN`` reads before it writes, and a reader that must become
    a writer after another connection committed fails at once, whatever the
    busy timeout.  Nested use runs inside the open transaction.  PostgreSQL
    locks rows, not the database, so there it is an ordinary transaction.
    """
    if is_postgres(db):
        with db.atomic():
            yield db
        return
    if sqlite(db).conn.in_transaction:
        yield db
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if sqlite(db).conn.in_transaction:
            db.execute("ROLLBACK")
        raise


def _create_private(path: Path) -> None:
    """Create the database file (and missing directories) readable by the owner only."""
    make_private_dirs(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def tighten(path: Path) -> None:
    """Make an existing database (and its -wal and -shm files) 0600, or warn in one line.

    A file created before phitrace made its files private, or copied with a
    loose umask, would otherwise keep health data readable by other users.
    Only the owner may change a file's mode, so for anyone else this warns.
    """
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except OSError:
            continue
        if not mode & 0o077:
            continue
        try:
            os.chmod(file, 0o600)
        except OSError as exc:
            log.warning(
                "phitrace: %s is readable by other users (mode %o) and cannot be made private "
                "(%s); run chmod 600 on it",
                file,
                mode,
                exc.strerror or exc,
            )


def connect(path: Path, timeout: float | None = None) -> sqlite3.Connection:
    """A connection that waits for locks (``timeout`` or :func:`busy_timeout` seconds).

    It also overwrites what it deletes.
    """
    if timeout is None:
        timeout = busy_timeout()
    conn = sqlite3.connect(str(path), timeout=timeout, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    conn.execute("PRAGMA secure_delete = ON")
    return conn


def is_phitrace_shape(db: Store, tables: set[str]) -> bool:
    """True when the tables are phitrace's from before the mark: its sessions and flows."""
    if MIGRATIONS_TABLE in tables:
        return True
    for name, columns in _LEGACY_COLUMNS.items():
        if name not in tables or not columns <= set(db.table(name).columns_dict):
            return False
    return True


def _refuse_foreign(db: sqlite_utils.Database, path: Path) -> None:
    """Refuse another program's database without writing anything (for read-only opens)."""
    marked = db.execute("PRAGMA application_id").fetchone()[0]
    if marked == APPLICATION_ID:
        return
    names = {row[0] for row in db.execute("select name from sqlite_master")}
    if marked or (names and not is_phitrace_shape(db, set(db.table_names()))):
        raise ForeignDatabase(
            f"{path} belongs to another program (not a phitrace database); choose another --db"
        )


def claim(db: sqlite_utils.Database, path: Path) -> None:
    """Mark an empty or older phitrace database as phitrace's; refuse anybody else's.

    Runs under the write lock, before anything is written, so another
    program's file is never changed, not even its journal mode.
    """
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.DatabaseError as exc:
        if is_locked(exc):
            raise
        raise ForeignDatabase(f"{path} is not an SQLite database; choose another --db") from exc
    try:
        marked = db.execute("PRAGMA application_id").fetchone()[0]
        names = {row[0] for row in db.execute("select name from sqlite_master")}
        tables = set(db.table_names())
        if marked != APPLICATION_ID:
            if marked or (names and not is_phitrace_shape(db, tables)):
                raise ForeignDatabase(
                    f"{path} belongs to another program (not a phitrace database); "
                    "choose another --db"
                )
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
        raise


def open_database(path: str | Path | Target, *, timeout: float | None = None) -> Store:
    """Open (creating if needed) a phitrace database with the current schema.

    Raises :class:`ForeignDatabase` for another program's file and
    :class:`DatabaseLocked` when a lock is held longer than ``timeout``
    (by default :func:`busy_timeout`).
    SQLite creates its ``-wal`` and ``-shm`` files with the database file's
    mode, so they are private too.  A PostgreSQL URL opens that database.
    """
    target = parse_target(path) if isinstance(path, str) else path
    if isinstance(target, PostgresTarget):
        from phitrace.store.server import open_postgres

        return open_postgres(target)
    path = Path(target)
    if timeout is None:
        timeout = busy_timeout()
    if not path.exists():
        _create_private(path)
    import sqlite_utils  # imported by the first open: commands without a database never pay

    db = sqlite_utils.Database(connect(path, timeout), execute_plugins=False)
    try:
        claim(db, path)
        tighten(path)
        db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")
        migrate(db)
    except sqlite3.OperationalError as exc:
        db.close()
        if is_locked(exc):
            raise locked(path, timeout) from exc
        raise
    except BaseException:
        db.close()
        raise
    return db


class OutdatedDatabase(Exception):
    """A database opened read-only lacks schema steps; it must be opened writable once."""


def _connect_readonly(path: Path, timeout: float, immutable: bool) -> sqlite_utils.Database:
    from urllib.parse import quote

    import sqlite_utils

    uri = f"file:{quote(str(path.resolve()))}?mode=ro" + ("&immutable=1" if immutable else "")
    conn = sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
    db = sqlite_utils.Database(conn, execute_plugins=False)
    db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    return db


def missing_steps(db: Store) -> list[str]:
    """The names of the schema steps the database has not had, in the order they apply."""
    from phitrace.store.migrations import MIGRATIONS, applied_migrations

    done = set(applied_migrations(db))
    return [m.name for m in MIGRATIONS if m.name not in done]


def refuse_outdated(name: str, missing: Sequence[str], remedy: str) -> None:
    """Raise :class:`OutdatedDatabase` when a read-only open found ``missing`` schema steps.

    One message for both engines: ``name`` is the database as the user knows
    it (a file, or a server URL without its password), and ``remedy`` is how
    to open it once so that the steps are applied there.
    """
    if missing:
        raise OutdatedDatabase(
            f"{name} needs a schema upgrade ({', '.join(missing)}) — {remedy}, then retry"
        )


def open_database_readonly(path: str | Path | Target, timeout: float = 30.0) -> Store:
    """Open an existing phitrace database for reading only: never create, lock or migrate it.

    Reports, checks and exports use this, so they work on a read-only file or
    directory (an archived recording, a CI artefact).  A WAL database in a
    directory where SQLite cannot create its ``-shm`` index is read as
    immutable, but only when no ``-wal`` log exists (nothing uncommitted is
    missed).  A database that lacks schema steps raises :class:`OutdatedDatabase`:
    upgrading it needs a writable open.  A PostgreSQL connection is opened
    with read-only transactions.
    """
    target = parse_target(path) if isinstance(path, str) else path
    if isinstance(target, PostgresTarget):
        from phitrace.store.server import open_postgres_readonly

        return open_postgres_readonly(target)
    path = Path(target)
    immutable = False
    while True:
        db = _connect_readonly(path, timeout, immutable)
        try:
            missing = missing_steps(db)
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
    try:
        _refuse_foreign(db, path)
        refuse_outdated(
            str(path),
            missing,
            "open it writable once (for example with 'phitrace report' on a writable copy)",
        )
    except BaseException:
        db.close()
        raise
    return db


@contextmanager
def read_snapshot(db: Store) -> Iterator[Store]:
    """Read inside one transaction, so every query sees the database as it was at the first.

    A streamed export reads the findings more than once (totals, then rows)
    while a recorder may still be writing: without one snapshot the summary
    could count findings the rows do not list.
    """
    if is_postgres(db):
        with postgres(db).snapshot():
            yield db
        return
    conn = sqlite(db).conn
    conn.execute("begin")
    try:
        yield db
    finally:
        if conn.in_transaction:
            conn.execute("rollback")
