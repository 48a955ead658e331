"""Opening a phitrace database on a PostgreSQL server: connect, recognise, bring up to date.

The server's counterpart of :func:`phitrace.store.database.open_database`:
a database that holds other tables but not phitrace's is refused, the schema
steps it lacks are applied (under an advisory lock, so two processes opening
it at once do not both apply them), and a read-only open refuses a database
that lacks steps.  A refused connection is one line that names the server
without its password.
"""

from __future__ import annotations

import psycopg

from phitrace.store.database import (
    DatabaseError,
    ForeignDatabase,
    is_phitrace_shape,
    missing_steps,
    refuse_outdated,
)
from phitrace.store.migrations import migrate
from phitrace.store.postgres import PgDatabase, connect
from phitrace.store.target import PostgresTarget


def _connect_postgres(target: PostgresTarget, readonly: bool) -> PgDatabase:
    """A connection to the server; a refusal is a :class:`DatabaseError` naming it safely."""
    try:
        return PgDatabase(connect(target, readonly=readonly), target)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        password = target.password
        if password:
            reason = reason.replace(password, "***")
        raise DatabaseError(f"cannot connect to {target}: {reason}") from None


def _refuse_foreign_postgres(db: PgDatabase) -> None:
    """Refuse a database that holds other tables but neither phitrace's nor its steps."""
    tables = set(db.table_names())
    if tables and not is_phitrace_shape(db, tables):
        raise ForeignDatabase(
            f"{db.target} holds another program's tables (not a phitrace database); "
            "choose another --db"
        )


def open_postgres(target: PostgresTarget) -> PgDatabase:
    """Open a phitrace database on a server, applying the schema steps it lacks."""
    db = _connect_postgres(target, readonly=False)
    try:
        _refuse_foreign_postgres(db)
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db


def open_postgres_readonly(target: PostgresTarget) -> PgDatabase:
    """Open a phitrace database on a server for reading only; it must be up to date."""
    db = _connect_postgres(target, readonly=True)
    try:
        _refuse_foreign_postgres(db)
        refuse_outdated(
            str(target),
            missing_steps(db),
            "open it once as a user that may change its tables "
            "(for example with 'phitrace report')",
        )
    except BaseException:
        db.close()
        raise
    return db
