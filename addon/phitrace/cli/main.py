"""The ``phitrace`` command group: version, ``addon-path``, and every command by stage."""

from __future__ import annotations

import click

from phitrace import __version__
from phitrace.cli import capture, catalogue, gate, reports, store
from phitrace.cli.options import ADDON_SCRIPT

__all__ = ["ADDON_SCRIPT", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    store.purge,
):
    main.add_command(_command)
