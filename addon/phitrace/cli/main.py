"""The ``phitrace`` command group: version, ``addon-path``, and every command by stage."""

from __future__ import annotations

import sqlite3
from typing import Any

import click

from phitrace import __version__
from phitrace.cli import capture, catalogue, gate, policy, reports, store
from phitrace.cli.options import ADDON_SCRIPT, DB_META, busy
from phitrace.store.database import is_locked

__all__ = ["ADDON_SCRIPT", "main"]


class _OneLineErrors(click.Group):
    """The last line of defence: a file-system or SQLite error is one line, never a traceback.

    Commands turn the errors they expect into messages that say what to do;
    this catches the rest (a disk that fills mid-scan, a database that turns
    out corrupt) so the user still sees one line and exit code 1; a database
    another program locked part-way through is exit code 2, naming the file.
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, reducing unexpected OSError and sqlite3.Error to one line."""
        try:
            return super().invoke(ctx)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from exc
        except sqlite3.Error as exc:
            if is_locked(exc):
                raise busy(ctx.meta.get(DB_META, "the database")) from exc
            raise click.ClickException(f"database error: {exc}") from exc


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="phitrace")
def main() -> None:
    """Catch health data leaking to third-party trackers.

    Run a proxy to browse through (proxy), analyse captures (scan), and
    review what leaked (report).
    """


@main.command("addon-path")
def addon_path() -> None:
    """Print the addon script path, for: mitmdump -s "$(phitrace addon-path)"."""
    click.echo(str(ADDON_SCRIPT))


for _command in (
    capture.proxy,
    capture.scan,
    reports.report,
    reports.export,
    reports.datasette_metadata,
    catalogue.signatures,
    catalogue.entities,
    gate.check_command,
    gate.baseline_command,
    gate.diff_command,
    policy.policy,
    store.purge,
):
    main.add_command(_command)
