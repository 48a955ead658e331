"""The ``phitrace`` command group: version, ``addon-path``, and every command by stage.

Each command's module is imported only when that command runs (or help lists
them all), so ``phitrace scan`` never loads the report templates and
``phitrace proxy`` never loads the gate: start-up pays only for what it uses.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from phitrace import __version__
from phitrace.cli.options import ADDON_SCRIPT, DB_META, busy
from phitrace.cli.startup import long_lived
from phitrace.store.engine import store_errors

__all__ = ["ADDON_SCRIPT", "COMMANDS", "main"]

COMMANDS: dict[str, tuple[str, str]] = {
    "proxy": ("capture", "proxy"),
    "scan": ("capture", "scan"),
    "report": ("reports", "report"),
    "compare": ("reports", "compare"),
    "export": ("reports", "export"),
    "datasette-metadata": ("reports", "datasette_metadata"),
    "signatures": ("catalogue", "signatures"),
    "entities": ("catalogue", "entities"),
    "check": ("gate", "check_command"),
    "baseline": ("gate", "baseline_command"),
    "diff": ("gate", "diff_command"),
    "policy": ("policy", "policy"),
    "purge": ("store", "purge"),
    "push": ("store", "push"),
}
"""Each command of the group: the ``phitrace.cli`` module that defines it, and its name there."""


class _Commands(click.Group):
    """A group whose commands are imported from their modules on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, the lazy ones included, sorted as click shows them."""
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, importing its module the first time it is asked for."""
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in COMMANDS:
            module, name = COMMANDS[cmd_name]
            with long_lived():
                command = getattr(importlib.import_module(f"phitrace.cli.{module}"), name)
            if not isinstance(command, click.Command):
                raise TypeError(f"phitrace.cli.{module}.{name} is not a click command")
            self.add_command(command, cmd_name)
        return command


class _OneLineErrors(_Commands):
    """The last line of defence: a file-system or SQLite error is one line, never a traceback.

    Commands turn the errors they expect into messages that say what to do;
    this catches the rest (a disk that fills mid-scan, a database that turns
    out corrupt) so the user still sees one line and exit code 1; a database
    another program locked part-way through is exit code 2, naming the file.
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, reducing unexpected OSError and database errors to one line."""
        try:
            return super().invoke(ctx)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from exc
        except store_errors() as exc:
            from phitrace.store.database import is_locked

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
