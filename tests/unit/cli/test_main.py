"""The command group: version, addon path, and every command registered."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

from click.testing import CliRunner

from phitrace import __version__
from phitrace.cli.main import ADDON_SCRIPT, main


def test_version_and_addon_path() -> None:
    runner = CliRunner()
    assert __version__ in runner.invoke(main, ["--version"]).output
    result = runner.invoke(main, ["addon-path"])
    assert result.exit_code == 0 and Path(result.output.strip()) == ADDON_SCRIPT
    assert ADDON_SCRIPT.is_file()


def test_every_command_is_on_the_group() -> None:
    assert sorted(main.commands) == [
        "addon-path",
        "baseline",
        "check",
        "datasette-metadata",
        "diff",
        "entities",
        "export",
        "policy",
        "proxy",
        "purge",
        "report",
        "scan",
        "signatures",
    ]


def test_python_dash_m_runs_the_same_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "phitrace", "addon-path"], capture_output=True, text=True, check=True
    )
    assert Path(result.stdout.strip()) == ADDON_SCRIPT


def test_the_console_script_entry_point_is_the_group() -> None:
    pyproject = tomllib.loads((Path(__file__).resolve().parents[3] / "pyproject.toml").read_text())
    module, _, name = pyproject["project"]["scripts"]["phitrace"].partition(":")
    assert getattr(importlib.import_module(module), name) is main
