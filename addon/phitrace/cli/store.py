"""Store commands: ``purge`` (delete sessions and everything recorded with them)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from phitrace.cli.options import db_option, existing_db


@click.command()
@db_option
@click.option("--session", "sessions", type=int, multiple=True, help="Session id (repeatable).")
@click.option("--before", type=click.DateTime(), help="Sessions started before this time (UTC).")
@click.option("--all", "everything", is_flag=True, help="Every session.")
@click.option("--yes", is_flag=True, help="Delete without asking for confirmation.")
def purge(
    db_path: Path, sessions: tuple[int, ...], before: datetime | None, everything: bool, yes: bool
) -> None:
    """Delete sessions with their flows, findings and raw requests (overwritten on disk)."""
    from phitrace.store.sessions import count_sessions, purge_sessions, select_sessions

    if sum((bool(sessions), before is not None, everything)) != 1:
        raise click.UsageError("choose one of --session ID, --before DATE or --all")
    db = existing_db(db_path)
    try:
        ids = select_sessions(db, ids=sessions, before=before, everything=everything)
        missing = sorted(set(sessions) - set(ids))
        if missing:
            raise click.ClickException(f"no session {missing[0]} in {db_path} — nothing deleted")
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
