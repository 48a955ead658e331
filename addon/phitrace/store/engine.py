"""The one store interface, and what differs between its two engines.

Every store function takes a :class:`Store`: the few methods of
``sqlite_utils.Database`` it calls (SQL with ``?`` placeholders, dict rows,
a table's insert and columns, transactions).  ``sqlite_utils.Database`` is
the SQLite store as it is; :class:`phitrace.store.postgres.PgDatabase` is
the PostgreSQL store.  The handful of operations that are not plain SQL (a
batch insert, new ids, the engine's error types) are the functions below,
each with one branch per engine.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    import sqlite_utils

    from phitrace.store.postgres import PgDatabase

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


class Cursor(Protocol):
    """What a statement returns: rows as tuples."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ...) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def close(self) -> None: ...


class Table(Protocol):
    """One table: whether it exists, its columns and rows, and the changes migrations make."""

    last_pk: Any

    def exists(self) -> bool: ...

    @property
    def columns_dict(self) -> dict[str, Any]: ...

    @property
    def rows(self) -> Any: ...

    def count_where(self, where: str | None = ..., where_args: Any = ...) -> int: ...

    def get(self, pk_values: Any) -> dict[str, Any]: ...

    def insert(self, record: dict[str, Any]) -> Any: ...

    def update(self, pk_values: Any, updates: Any = ...) -> Any: ...

    def create(self, columns: dict[str, Any], pk: Any = ..., foreign_keys: Any = ...) -> Any: ...

    def add_column(self, col_name: str, col_type: Any = ...) -> Any: ...

    def create_index(
        self, columns: Any, *, unique: bool = ..., if_not_exists: bool = ...
    ) -> Any: ...


class Store(Protocol):
    """A phitrace database on either engine (see the module's docstring)."""

    def execute(self, sql: str, parameters: Any = ...) -> Any: ...

    def query(self, sql: str, params: Any = ...) -> Iterator[dict[str, Any]]: ...

    def table(self, table_name: str) -> Table: ...

    def atomic(self) -> AbstractContextManager[Any]: ...

    def table_names(self) -> list[str]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: Any) -> Any: ...


def engine_of(db: Store) -> str:
    """``sqlite`` or ``postgresql``."""
    return str(getattr(db, "engine", SQLITE))


def is_postgres(db: Store) -> bool:
    """True for the PostgreSQL store."""
    return engine_of(db) == POSTGRESQL


def postgres(db: Store) -> PgDatabase:
    """The store as the PostgreSQL store (the caller checked :func:`is_postgres`)."""
    return cast("PgDatabase", db)


def sqlite(db: Store) -> sqlite_utils.Database:
    """The store as the SQLite store (the caller checked it is not PostgreSQL)."""
    return cast("sqlite_utils.Database", db)


def insert_rows(db: Store, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows (all with the same keys) in as few statements as the engine allows.

    Few statements matter on SQLite: the sqlite3 module releases the GIL
    around each one, and under load a writer thread waits for it again every
    time.  PostgreSQL gets them all in one ``COPY``.
    """
    if not rows:
        return
    columns = list(rows[0])
    if is_postgres(db):
        postgres(db).copy_rows(table, columns, ([row[c] for c in columns] for row in rows))
        return
    names = ", ".join(f"[{c}]" for c in columns)
    one = "(" + ", ".join("?" * len(columns)) + ")"
    conn = sqlite(db).conn
    per_statement = max(1, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(columns))
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        sql = f"insert into [{table}] ({names}) values " + ", ".join([one] * len(chunk))
        conn.execute(sql, [row[c] for row in chunk for c in columns])


def new_ids(db: Store, table: str, count: int) -> list[int]:
    """``count`` ids for new rows of ``table``, which the caller writes with them.

    PostgreSQL hands them out from the table's sequence, so concurrent
    writers never collide.  SQLite continues after the largest id, which is
    only safe under the write lock (``BEGIN IMMEDIATE``) the caller holds
    until the rows are written.
    """
    if is_postgres(db):
        return postgres(db).reserve_ids(table, count)
    first = int(db.execute(f"select coalesce(max(id), 0) + 1 from [{table}]").fetchone()[0])
    return list(range(first, first + count))


def batch_cursor(db: Store, sql: str, params: Sequence[Any]) -> Cursor:
    """A cursor for reading a long result a batch at a time (``fetchmany``).

    SQLite steps through the result as it is fetched; PostgreSQL does so with
    a server-side cursor inside a read snapshot, so a streamed export holds
    one batch of rows on either engine.
    """
    if is_postgres(db):
        return postgres(db).batch_cursor(sql, params)
    return cast(Cursor, db.execute(sql, params))


def store_errors() -> tuple[type[Exception], ...]:
    """The exception types either engine raises for a database problem.

    Evaluated only while an exception is being matched, so psycopg is only
    looked at when it was loaded (a PostgreSQL store was opened).
    """
    psycopg = sys.modules.get("psycopg")
    return (sqlite3.Error, psycopg.Error) if psycopg is not None else (sqlite3.Error,)


def data_errors() -> tuple[type[Exception], ...]:
    """The exception types for a value the engine refuses to store (a body too big, say)."""
    psycopg = sys.modules.get("psycopg")
    extra = (psycopg.DataError, psycopg.errors.ProgramLimitExceeded) if psycopg else ()
    return (sqlite3.DataError, *extra)
