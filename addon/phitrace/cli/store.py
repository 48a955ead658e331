"""Store commands: ``purge`` (delete sessions and everything recorded with them), ``push``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from phitrace.cli.options import DATABASE, db_option, existing_db, writable_db
from phitrace.store.target import Target


@click.command()
@db_option
@click.option("--session", "sessions", type=int, multiple=True, help="Session id (repeatable).")
@click.option("--before", type=click.DateTime(), help="Sessions started before this time (UTC).")
@click.option("--all", "everything", is_flag=True, help="Every session.")
@click.option("--yes", is_flag=True, help="Delete without asking for confirmation.")
@click.option("--force", is_flag=True, help="Delete sessions that are still being recorded.")
def purge(
    db_path: Target,
    sessions: tuple[int, ...],
    before: datetime | None,
    everything: bool,
    yes: bool,
    force: bool,
) -> None:
    """Delete sessions with their flows, findings and raw requests (overwritten on disk).

    A session still being recorded (a proxy or scan writing to it now) is only
    deleted with --force; its recorder then continues in a new session.
    """
    from phitrace.store.sessions import (
        count_sessions,
        live_sessions,
        purge_sessions,
        select_sessions,
    )

    if sum((bool(sessions), before is not None, everything)) != 1:
        raise click.UsageError("choose one of --session ID, --before DATE or --all")
    db = existing_db(db_path)
    try:
        ids = select_sessions(db, ids=sessions, before=before, everything=everything)
        missing = sorted(set(sessions) - set(ids))
        if missing:
            raise click.ClickException(f"no session {missing[0]} in {db_path} — nothing deleted")
        live = live_sessions(db, ids)
        if live and not force:
            raise click.ClickException(
                f"session {live[0]} in {db_path} is being recorded right now — stop the proxy "
                "or scan writing to it, or pass --force; nothing deleted"
            )
        if ids and not yes:
            counts = count_sessions(db, ids)
            click.confirm(
                f"Delete {counts.sessions} session(s), {counts.flows} flows and "
                f"{counts.findings} findings from {db_path}?",
                abort=True,
            )
        purged = purge_sessions(db, ids)
    finally:
        db.close()
    click.echo(
        f"deleted {purged.sessions} session(s): {purged.flows} flows, {purged.findings} findings"
    )
    if not purged.wiped:
        click.echo(
            f"warning: another program has {db_path} open, so its write-ahead log may still "
            "hold deleted content; purge again once it has stopped",
            err=True,
        )


@click.command()
@click.option(
    "--from",
    "source_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The SQLite database to copy sessions from.",
)
@click.option(
    "--to",
    "target",
    required=True,
    type=DATABASE,
    help="The database to copy them into: postgresql://user@host:port/dbname, or a SQLite file.",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="Flows read and written per batch.",
)
def push(source_path: Path, target: Target, batch: int) -> None:
    """Copy sessions from a local database into a team database; pushing twice adds nothing.

    Each session goes whole, in one transaction, under ids the target hands
    out; one the target already holds (the same uid) is skipped, and so is
    one still being recorded into the source (push it once it has ended).
    """
    from phitrace.store.push import push as push_sessions

    if isinstance(target, Path) and target.resolve() == source_path.resolve():
        raise click.UsageError("--from and --to name the same database")
    source = existing_db(source_path)
    try:
        into = writable_db(target)
        try:
            pushed = push_sessions(source, into, batch=batch)
        finally:
            into.close()
    finally:
        source.close()
    click.echo(pushed.line())
