"""Store commands: ``purge`` (delete sessions and everything recorded with them)."""

from __future__ import annotations

from datetime import datetime

import click

from phitrace.cli.options import db_option, existing_db
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
