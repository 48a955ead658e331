"""The PostgreSQL store: the part of sqlite-utils' ``Database`` phitrace uses, on psycopg 3.

Store SQL is written once, in a portable subset of SQL with ``?``
placeholders and ``[name]`` quoting; :func:`translate` turns a statement into
PostgreSQL's form once (cached).  Tables get the SQLite contract's columns
with PostgreSQL types (``bigint``, ``text`` with byte-wise ``"C"`` collation
so text sorts as in SQLite, ``bytea`` for raw bodies); ids are identity
columns, so the database hands them out (:meth:`PgDatabase.reserve_ids`).
Foreign keys are checked when a transaction commits, so a batch may write a
finding before its flow.

The connection runs in autocommit mode: a statement outside :meth:`atomic`
is its own transaction, as sqlite-utils' writes are.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.numeric import NumericLoader

from phitrace.store.target import PostgresTarget

engine = "postgresql"

CONNECT_TIMEOUT = 10
"""Seconds to wait for the server to answer, unless the URL or ``PGCONNECT_TIMEOUT`` says."""

_TYPES: dict[type, str] = {int: "bigint", str: 'text collate "C"', bytes: "bytea", float: "float8"}
_PYTHON: dict[str, type] = {
    "bigint": int,
    "integer": int,
    "smallint": int,
    "text": str,
    "bytea": bytes,
    "double precision": float,
}

_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\[([^\]]*)\]|\?|%")


@functools.lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """A portable statement in PostgreSQL's form: ``?`` → ``%s``, ``[x]`` → ``"x"``, ``%`` escaped.

    Quoted strings and identifiers keep their ``?`` and ``[``; their ``%`` is
    escaped too, since the driver reads placeholders even inside quotes.
    """

    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if match.group(1) is not None:
            return '"' + match.group(1).replace('"', '""').replace("%", "%%") + '"'
        return token.replace("%", "%%")

    return _TOKENS.sub(one, sql)


def storable(value: Any) -> Any:
    """A value PostgreSQL can hold: text cannot contain NUL, so it is written as ``\\x00``.

    The same backslash escape phitrace writes for bytes that are not UTF-8;
    SQLite keeps the NUL itself.
    """
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\\x00")
    return value


def quote(name: str) -> str:
    """An identifier quoted for PostgreSQL."""
    return '"' + name.replace('"', '""') + '"'


def _first(cursor: psycopg.Cursor[Any]) -> Any:
    """The first column of a statement's one row."""
    row = cursor.fetchone()
    assert row is not None, "the statement returned no row"
    return row[0]


class _WholeNumeric(NumericLoader):
    """``numeric`` results (``sum`` of integers) as ``int`` when whole, as SQLite returns them."""

    def load(self, data: Any) -> Any:
        value = super().load(data)
        if isinstance(value, Decimal) and value == value.to_integral_value():
            return int(value)
        return float(value)


def connect(target: PostgresTarget, *, readonly: bool = False) -> psycopg.Connection[Any]:
    """A connection in autocommit mode; read-only when asked, so a reader can never write."""
    timeout: dict[str, Any] = {}
    if "connect_timeout" not in target.url and not os.environ.get("PGCONNECT_TIMEOUT"):
        timeout["connect_timeout"] = CONNECT_TIMEOUT
    conn = psycopg.connect(target.url, autocommit=True, application_name="phitrace", **timeout)
    conn.adapters.register_loader("numeric", _WholeNumeric)
    if readonly:  # set here, not as connection options, so options in the URL still apply
        conn.execute(b"set default_transaction_read_only = on")
    return conn


class PgTable:
    """One table, with the methods of ``sqlite_utils.Table`` that the store uses."""

    def __init__(self, db: PgDatabase, name: str) -> None:
        self.db = db
        self.name = name
        self.last_pk: Any | None = None

    def exists(self) -> bool:
        """Whether the table exists in the connection's schema."""
        return self.name in self.db.table_names()

    @property
    def columns_dict(self) -> dict[str, type]:
        """Column name → Python type, in the table's order."""
        sql = (
            "select column_name, data_type from information_schema.columns "
            "where table_schema = current_schema() and table_name = ? order by ordinal_position"
        )
        return {name: _PYTHON.get(kind, str) for name, kind in self.db.execute(sql, [self.name])}

    def count_where(self, where: str | None = None, where_args: Sequence[Any] = ()) -> int:
        """``select count(*)`` of the rows matching ``where``."""
        sql = f"select count(*) from {quote(self.name)}" + (f" where {where}" if where else "")
        return int(_first(self.db.execute(sql, list(where_args))))

    def create(
        self,
        columns: dict[str, type],
        pk: str = "id",
        foreign_keys: Iterable[tuple[str, str, str]] = (),
    ) -> PgTable:
        """Create the table; an integer ``id`` key is an identity column the database fills."""
        references = {column: (table, other) for column, table, other in foreign_keys}
        parts = []
        for column, kind in columns.items():
            text = f"{quote(column)} {_TYPES[kind]}"
            if column == pk:
                text += " generated by default as identity" if kind is int and pk == "id" else ""
                text += " primary key"
            if column in references:
                table, other = references[column]
                text += f" references {quote(table)} ({quote(other)}) deferrable initially deferred"
            parts.append(text)
        self.db.execute(f"create table {quote(self.name)} ({', '.join(parts)})")
        return self

    def add_column(self, col_name: str, col_type: type = str) -> PgTable:
        """Add a nullable column."""
        column = f"{quote(col_name)} {_TYPES[col_type]}"
        self.db.execute(f"alter table {quote(self.name)} add column {column}")
        return self

    def create_index(
        self, columns: Sequence[str], *, unique: bool = False, if_not_exists: bool = False
    ) -> PgTable:
        """An index named as sqlite-utils names it (``idx_<table>_<columns>``)."""
        name = quote(f"idx_{self.name}_{'_'.join(columns)}")
        sql = (
            f"create {'unique ' if unique else ''}index {'if not exists ' if if_not_exists else ''}"
            f"{name} on {quote(self.name)} ({', '.join(quote(c) for c in columns)})"
        )
        self.db.execute(sql)
        return self

    @property
    def rows(self) -> Iterator[dict[str, Any]]:
        """Every row, as a dict, in primary key order."""
        key = quote(self.db.primary_key(self.name))
        return self.db.query(f"select * from {quote(self.name)} order by {key}")

    def get(self, pk_values: Any) -> dict[str, Any]:
        """The row whose primary key is ``pk_values``; ``KeyError`` when there is none."""
        key = quote(self.db.primary_key(self.name))
        rows = list(self.db.query(f"select * from {quote(self.name)} where {key} = ?", [pk_values]))
        if not rows:
            raise KeyError(pk_values)
        return rows[0]

    def update(self, pk_values: Any, updates: dict[str, Any] | None = None) -> PgTable:
        """Change columns of the row whose primary key is ``pk_values``."""
        updates = updates or {}
        if not updates:
            return self
        sets = ", ".join(f"{quote(column)} = ?" for column in updates)
        key = quote(self.db.primary_key(self.name))
        sql = f"update {quote(self.name)} set {sets} where {key} = ?"
        self.db.execute(sql, [*updates.values(), pk_values])
        return self

    def insert(self, record: dict[str, Any]) -> PgTable:
        """Insert one row; :attr:`last_pk` is its primary key (given or generated)."""
        pk = self.db.primary_key(self.name)
        names = ", ".join(quote(c) for c in record)
        marks = ", ".join(["%s"] * len(record))
        sql = f"insert into {quote(self.name)} ({names}) values ({marks}) returning {quote(pk)}"
        values = [storable(value) for value in record.values()]
        self.last_pk = _first(self.db.conn.execute(sql.encode(), values))
        return self


class PgDatabase:
    """A PostgreSQL database with the ``sqlite_utils.Database`` methods the store calls."""

    engine = engine

    def __init__(self, conn: psycopg.Connection[Any], target: PostgresTarget) -> None:
        self.conn = conn
        self.target = target
        self._keys: dict[str, str] = {}
        self._cursors = 0

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> psycopg.Cursor[Any]:
        """Run one portable statement (see :func:`translate`); returns its cursor."""
        return self.conn.execute(translate(sql).encode(), [storable(v) for v in parameters or ()])

    def query(self, sql: str, params: Sequence[Any] | None = None) -> Iterator[dict[str, Any]]:
        """Run a portable query; its rows as dicts."""
        cursor = self.conn.cursor(row_factory=dict_row)
        cursor.execute(translate(sql).encode(), [storable(v) for v in params or ()])
        return iter(cursor.fetchall())

    def batch_cursor(self, sql: str, params: Sequence[Any]) -> psycopg.Cursor[Any]:
        """A cursor to read many rows a batch at a time.

        Inside a transaction (a read snapshot) it is a server-side cursor: the
        server sends each ``fetchmany`` batch as it is asked for, instead of
        every row at once.  Outside one, a server-side cursor cannot live, and
        the rows come whole.
        """
        if not self.in_transaction:
            return self.execute(sql, params)
        self._cursors += 1
        cursor = self.conn.cursor(name=f"phitrace_batches_{self._cursors}")
        cursor.execute(translate(sql).encode(), [storable(v) for v in params])
        return cursor

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Insert rows with ``COPY``: one statement, however many rows (PostgreSQL's bulk path)."""
        names = ", ".join(quote(c) for c in columns)
        with self.conn.cursor() as cursor:
            with cursor.copy(f"copy {quote(table)} ({names}) from stdin".encode()) as copy:
                for row in rows:
                    copy.write_row([storable(value) for value in row])

    def table(self, table_name: str) -> PgTable:
        """The table called ``table_name`` (which need not exist yet)."""
        return PgTable(self, table_name)

    def __getitem__(self, name: str) -> PgTable:
        return self.table(name)

    def table_names(self) -> list[str]:
        """The tables of the connection's schema, by name."""
        sql = (
            "select table_name from information_schema.tables "
            "where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1"
        )
        return [row[0] for row in self.execute(sql)]

    def primary_key(self, table: str) -> str:
        """A table's (single-column) primary key, read from the catalogue once."""
        if table not in self._keys:
            sql = (
                "select a.attname from pg_index i join pg_attribute a "
                "on a.attrelid = i.indrelid and a.attnum = any(i.indkey) "
                "where i.indrelid = to_regclass(?) and i.indisprimary"
            )
            self._keys[table] = str(_first(self.execute(sql, [quote(table)])))
        return self._keys[table]

    def reserve_ids(self, table: str, count: int) -> list[int]:
        """``count`` new ids from the table's identity sequence, for rows written later."""
        if count <= 0:
            return []
        sql = "select nextval(pg_get_serial_sequence(?, 'id')) from generate_series(1, ?)"
        return [int(row[0]) for row in self.execute(sql, [quote(table), count])]

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on the connection."""
        return self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    @contextmanager
    def atomic(self) -> Iterator[PgDatabase]:
        """A transaction, or a savepoint inside the open one; rolled back on any error."""
        with self.conn.transaction():
            yield self

    @contextmanager
    def snapshot(self) -> Iterator[PgDatabase]:
        """A read-only ``repeatable read`` transaction: every query sees the same moment."""
        with self.conn.transaction(force_rollback=True):
            self.conn.execute(b"set transaction isolation level repeatable read, read only")
            yield self

    @contextmanager
    def locked(self, key: int) -> Iterator[PgDatabase]:
        """A transaction holding an advisory lock on ``key`` (released when it ends)."""
        with self.conn.transaction():
            self.conn.execute(b"select pg_advisory_xact_lock(%s)", [key])
            yield self

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> PgDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
