"""Options shared by several commands, and turning them into an Analyzer or a database."""

from __future__ import annotations

from pathlib import Path

import click
import sqlite_utils

from phitrace.analyzer import Analyzer
from phitrace.catalogue.loader import load_catalogue
from phitrace.catalogue.model import SignatureError
from phitrace.detect.canaries import NO_CANARIES, CanaryError, load_canaries
from phitrace.detect.vocabulary import load_vocabulary

ADDON_SCRIPT = Path(__file__).resolve().parent.parent / "mitmproxy_addon.py"
DEFAULT_DB = "phitrace.db"

db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_DB,
    show_default=True,
    help="SQLite database file.",
)

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
    from phitrace.catalogue.lists import BlockListError, load_blocklist

    try:
        catalogue = load_catalogue(extra)
        needles = load_canaries(canaries) if canaries else NO_CANARIES
        blocklist = load_blocklist() if lists else None
    except (SignatureError, CanaryError, BlockListError) as exc:
        raise click.ClickException(str(exc)) from exc
    return Analyzer(catalogue, load_vocabulary(), needles, blocklist=blocklist)


def existing_db(path: Path) -> sqlite_utils.Database:
    """Open a recorded database; never create an empty one for a mistyped ``--db``."""

    if not path.exists():
        raise click.ClickException(
            f"no database at {path} — record one with 'phitrace proxy' or 'phitrace scan', "
            "or pass --db"
        )
    return writable_db(path)


def writable_db(path: Path) -> sqlite_utils.Database:
    """Open (creating if needed) a phitrace database; refusal or a held lock is one line."""
    from phitrace.store.database import DatabaseError, open_database

    try:
        return open_database(path)
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from exc


def session_db(db_path: Path, session: int | None) -> sqlite_utils.Database:
    """The database at ``db_path``, checked to hold ``session`` (when one is named)."""
    db = existing_db(db_path)
    if session is not None and not db.table("sessions").count_where("id = ?", [session]):
        db.close()
        raise click.ClickException(
            f"no session {session} in {db_path} — list sessions with datasette or sqlite3"
        )
    return db
