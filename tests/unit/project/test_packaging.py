"""`pip install .` must give a phitrace whose signatures, policy schema and templates are found."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("phitrace-*.whl")
    return found


@pytest.mark.slow
def test_wheel_ships_signatures_and_report_templates(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "phitrace/signatures/trackers/meta-pixel.yaml" in names
    assert "phitrace/signatures/health/conditions.yaml" in names
    assert "phitrace/reports/report.html.j2" in names
    assert "phitrace/policies/schema.json" in names
    assert "phitrace/mitmproxy_addon.py" in names
    assert not any(n.startswith(("tests/", "phitrace/tests/")) for n in names)


@pytest.mark.slow
def test_installed_wheel_finds_its_data(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    code = (
        "import phitrace.resources as r, phitrace.catalogue.loader as s;"
        "print(r.data_dir('signatures')); print(len(s.load_catalogue()));"
        "from phitrace.report.html import environment;"
        "environment().get_template('report.html.j2');"
        "from phitrace.assess.policy_file import policy_schema; policy_schema()"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    data_dir, count = result.stdout.split()
    assert Path(data_dir).is_relative_to(target)
    assert int(count) >= 5
