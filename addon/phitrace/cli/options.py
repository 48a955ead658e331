"""Options shared by several commands, and turning them into an Analyzer or a database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from phitrace.store.engine import store_errors
from phitrace.store.target import DB_ENV, PostgresTarget, Target, files, parse_target

if TYPE_CHECKING:
    from phitrace.analyzer import Analyzer
    from phitrace.store.engine import Store

T = TypeVar("T")

ADDON_SCRIPT = Path(__file__).resolve().parent.parent / "mitmproxy_addon.py"
DEFAULT_DB = "phitrace.db"

DB_META = "phitrace.db_path"
"""Where ``--db`` is kept in ``click.Context.meta``, for errors raised outside the command."""


class DatabaseTarget(click.ParamType):
    """A ``--db`` value: a SQLite file path, or a ``postgresql://`` URL (parsed once)."""

    name = "FILE|URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The value as a :data:`~phitrace.store.target.Target`; a bad URL is a usage error."""
        if isinstance(value, Path | PostgresTarget):
            return value
        try:
            target = parse_target(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if isinstance(target, Path) and target.is_dir():
            self.fail(f"{target} is a directory, not a database file", param, ctx)
        return target


DATABASE = DatabaseTarget()


def _remember_db(ctx: click.Context, _param: click.Parameter, value: Target) -> Target:
    ctx.meta[DB_META] = value
    return value


db_option = click.option(
    "--db",
    "db_path",
    type=DATABASE,
    default=DEFAULT_DB,
    show_default=True,
    envvar=DB_ENV,
    show_envvar=True,
    help="SQLite database file, or postgresql://user@host:port/dbname.",
    callback=_remember_db,
)


class DatabaseBusy(click.ClickException):
    """Another program held the database's lock past the busy timeout.

    Exit code 2, as ``check`` uses for "could not check": nothing is wrong
    with the database or the command, it just could not be had.
    """

    exit_code = 2


def busy(path: Target | str) -> DatabaseBusy:
    """The one-line error for a lock held longer than the busy timeout, naming the database."""
    from phitrace.store.database import busy_timeout, locked

    return DatabaseBusy(str(locked(path, busy_timeout())))


storage_option = click.option(
    "--storage",
    type=click.Choice(["full", "redact"]),
    default="full",
    show_default=True,
    help="redact: keep only hashes and matched terms (URLs cut to their origin, no raw requests).",
)
signatures_option = click.option(
    "--signatures",
    "extra_signatures",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Extra signature file or directory (repeatable), on top of the bundled catalogue.",
)
canaries_option = click.option(
    "--canaries",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML file of test-persona values to search for (canaries: {name: value}).",
)

session_option = click.option(
    "--session", type=int, help="Only this session id (default: all sessions)."
)


def build_analyzer(
    extra: tuple[Path, ...] = (), canaries: Path | None = None, *, lists: bool = False
) -> Analyzer:
    """The Analyzer for these inputs; a bad signature, canary or list file is a one-line error."""
    from phitrace.analyzer import Analyzer
    from phitrace.catalogue.entities import load_entities
    from phitrace.catalogue.lists import BlockListError, load_blocklist
    from phitrace.catalogue.loader import load_catalogue
    from phitrace.catalogue.model import SignatureError
    from phitrace.cli.startup import long_lived
    from phitrace.detect.canaries import NO_CANARIES, CanaryError, load_canaries
    from phitrace.detect.vocabulary import load_vocabulary

    with long_lived():
        try:
            catalogue = load_catalogue(extra)
            needles = load_canaries(canaries) if canaries else NO_CANARIES
            blocklist = load_blocklist() if lists else None
        except (SignatureError, CanaryError, BlockListError) as exc:
            raise click.ClickException(str(exc)) from exc
        analyzer = Analyzer(
            catalogue,
            load_vocabulary(),
            needles,
            blocklist=blocklist,
            entities=load_entities(catalogue.signatures),
        )
    return analyzer


def sqlite_file_or_fail(path: Target) -> None:
    """Refuse, in one line, a ``--db`` that exists but is not a SQLite database."""
    from phitrace.store.private import is_sqlite_file

    if (
        isinstance(path, Path)
        and path.is_file()
        and path.stat().st_size
        and not is_sqlite_file(path)
    ):
        raise click.ClickException(
            f"{path} is not a SQLite database — pass a phitrace database with --db"
        )


def _database_error(path: Target, exc: Exception) -> click.ClickException:
    """A database that SQLite or the file system refused, or another program locked: one line."""
    from phitrace.store.database import DatabaseLocked, is_locked

    if isinstance(exc, DatabaseLocked):
        return DatabaseBusy(str(exc))
    if is_locked(exc):
        return busy(path)
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return click.ClickException(f"cannot open database {path}: {reason}")


def _missing_db(path: Target) -> None:
    if isinstance(path, PostgresTarget):
        return
    if not path.exists():
        raise click.ClickException(
            f"no database at {path} — record one with 'phitrace proxy' or 'phitrace scan', "
            "or pass --db"
        )
    sqlite_file_or_fail(path)


def existing_db(path: Target) -> Store:
    """Open a recorded database to change it; never create an empty one for a mistyped ``--db``."""
    _missing_db(path)
    return writable_db(path)


def readable_db(path: Target) -> Store:
    """Open a recorded database for a read-only command, without writing to it.

    A database that lacks schema steps is upgraded when the file is writable
    (as every command did before); a read-only one says it must be upgraded.
    """
    from phitrace.store.database import (
        DatabaseError,
        DatabaseLocked,
        OutdatedDatabase,
        busy_timeout,
        open_database_readonly,
    )

    _missing_db(path)
    try:
        try:
            return open_database_readonly(path, timeout=busy_timeout())
        except OutdatedDatabase as exc:
            try:
                existing_db(path).close()
            except click.ClickException:
                raise click.ClickException(str(exc)) from exc
        return open_database_readonly(path, timeout=busy_timeout())
    except DatabaseLocked as exc:
        raise DatabaseBusy(str(exc)) from exc
    except (OutdatedDatabase, DatabaseError) as exc:
        raise click.ClickException(str(exc)) from exc
    except store_errors() + (OSError,) as exc:
        raise _database_error(path, exc) from exc


def writable_db(path: Target) -> Store:
    """Open (creating if needed) a phitrace database; refusal or a held lock is one line."""
    from phitrace.store.database import DatabaseError, DatabaseLocked, open_database

    sqlite_file_or_fail(path)
    try:
        return open_database(path)
    except DatabaseLocked as exc:
        raise DatabaseBusy(str(exc)) from exc
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from exc
    except store_errors() + (OSError,) as exc:
        raise _database_error(path, exc) from exc


def session_db(db_path: Target, session: int | None) -> Store:
    """The database at ``db_path`` opened read-only, checked to hold ``session`` (if named)."""
    db = readable_db(db_path)
    try:
        known = session is None or db.table("sessions").count_where("id = ?", [session])
    except store_errors() as exc:
        db.close()
        raise _database_error(db_path, exc) from exc
    if not known:
        db.close()
        raise click.ClickException(
            f"no session {session} in {db_path} — list sessions with "
            + ("psql" if isinstance(db_path, PostgresTarget) else "datasette or sqlite3")
        )
    return db


def read_or_fail(db_path: Target, read: Callable[[], T]) -> T:
    """Run a read of the database; SQLite's refusal (locked, corrupt) becomes one line."""
    try:
        return read()
    except store_errors() + (OSError,) as exc:
        raise _database_error(db_path, exc) from exc


def check_output(target: Path, databases: tuple[Target, ...]) -> None:
    """Refuse an output onto a database up front, before any work is done."""
    from phitrace.store.private import OutputError, refuse_database_target

    try:
        refuse_database_target(target, files(databases))
    except OutputError as exc:
        raise click.ClickException(str(exc)) from exc


def output_or_fail(target: Path, data: str | bytes, databases: tuple[Target, ...]) -> None:
    """Write an output atomically and privately; a refusal or a failed write is one line."""
    from phitrace.store.private import OutputError, write_private

    try:
        write_private(target, data, files(databases))
    except OutputError as exc:
        raise click.ClickException(str(exc)) from exc
