"""The command group: version, addon path, and every command registered."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import click
from click.testing import CliRunner

from phitrace import __version__
from phitrace.cli.main import ADDON_SCRIPT, main
from tests.support.har import write_har


def test_version_and_addon_path() -> None:
    runner = CliRunner()
    assert __version__ in runner.invoke(main, ["--version"]).output
    result = runner.invoke(main, ["addon-path"])
    assert result.exit_code == 0 and Path(result.output.strip()) == ADDON_SCRIPT
    assert ADDON_SCRIPT.is_file()


def test_every_command_is_on_the_group() -> None:
    assert main.list_commands(click.Context(main)) == [
        "addon-path",
        "baseline",
        "check",
        "compare",
        "datasette-metadata",
        "diff",
        "entities",
        "export",
        "policy",
        "proxy",
        "purge",
        "push",
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


UNNEEDED_BY_CAPTURE = ("jinja2", "phitrace.report", "phitrace.gate", "phitrace.cli.reports")

MODULES_AFTER = """
import json, sys
from phitrace.cli.main import main
main({args!r}, standalone_mode=False)
print(json.dumps(sorted(sys.modules)))
"""


def modules_after(args: list[str], cwd: Path) -> set[str]:
    """The modules a fresh interpreter has loaded once ``phitrace ARGS`` has run."""
    code = MODULES_AFTER.format(args=args)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=cwd
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_scan_loads_no_report_or_gate_module(tmp_path: Path) -> None:
    har = write_har(tmp_path / "one.har")
    loaded = modules_after(["scan", str(har), "--db", str(tmp_path / "a.db")], tmp_path)
    assert "phitrace.capture.scan" in loaded
    assert not {m for m in loaded if m.startswith(UNNEEDED_BY_CAPTURE)}


def test_the_proxy_command_and_its_addon_load_no_report_or_gate_module(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "from phitrace.cli.main import main\n"
        "import click\n"
        "main.get_command(click.Context(main), 'proxy')\n"
        "import phitrace.proxy.addon\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert "phitrace.cli.capture" in loaded and "phitrace.proxy.addon" in loaded
    assert not {m for m in loaded if m.startswith(UNNEEDED_BY_CAPTURE)}


def test_version_loads_no_command_module() -> None:
    code = (
        "import json, sys\n"
        "from phitrace.cli.main import main\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('phitrace'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout))
    assert "phitrace.cli.main" in loaded
    assert not loaded & {"phitrace.cli.capture", "phitrace.analyzer", "phitrace.cli.reports"}
