"""The signatures commands, through click's runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from phitrace.cli.main import main


@pytest.mark.slow
def test_signature_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    listing = runner.invoke(main, ["signatures", "list"])
    assert listing.exit_code == 0 and "meta-pixel" in listing.output
    assert runner.invoke(main, ["signatures", "lint"]).exit_code == 0
    tested = runner.invoke(main, ["signatures", "test"])
    assert tested.exit_code == 0, tested.output
    assert " 0 failed" in tested.output
