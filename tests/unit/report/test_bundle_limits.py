"""Verifying a bundle reads bounded bytes and memory, whatever the zip claims to hold."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from phitrace.report import evidence
from phitrace.report.evidence import MANIFEST_NAME, SUMS_NAME, verify_bundle

BOMB_BYTES = 50 * 1024 * 1024


def zeros_member(bundle: zipfile.ZipFile, name: str, size: int) -> None:
    """Add ``size`` zero bytes as one deflated member, streamed (it compresses ~1000:1)."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with bundle.open(info, "w", force_zip64=True) as member:
        chunk = bytes(1 << 20)
        for _ in range(size // len(chunk)):
            member.write(chunk)


def bomb(path: Path, member: str) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        if member != MANIFEST_NAME:
            files = {member: {"sha256": "0" * 64, "bytes": BOMB_BYTES}}
            bundle.writestr(
                MANIFEST_NAME, json.dumps({"format": "phitrace-evidence", "files": files})
            )
            bundle.writestr(SUMS_NAME, "")
        zeros_member(bundle, member, BOMB_BYTES)
    return path


def test_a_bomb_manifest_is_refused_in_one_line(tmp_path: Path) -> None:
    path = bomb(tmp_path / "bomb.zip", MANIFEST_NAME)
    assert path.stat().st_size < BOMB_BYTES // 100
    result = verify_bundle(path)
    assert not result.ok
    assert len(result.problems) == 1 and "refusing to verify" in result.problems[0]


def test_a_bomb_member_past_the_total_cap_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evidence, "MAX_TOTAL_BYTES", 10 * 1024 * 1024)
    result = verify_bundle(bomb(tmp_path / "bomb.zip", "flows.har"))
    assert len(result.problems) == 1 and "refusing to verify" in result.problems[0]


def test_too_many_members_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as bundle:
        for index in range(evidence.MAX_MEMBERS + 1):
            bundle.writestr(f"f{index}", "")
    result = verify_bundle(path)
    assert len(result.problems) == 1 and "files, more than" in result.problems[0]


def test_verify_of_a_bomb_stays_small_in_memory(tmp_path: Path) -> None:
    """In its own process, so the peak resident size is this verification's alone (KiB)."""
    paths = [
        bomb(tmp_path / "manifest.zip", MANIFEST_NAME),
        bomb(tmp_path / "har.zip", "flows.har"),
    ]
    script = textwrap.dedent(
        """
        import resource, sys
        from click.testing import CliRunner
        from phitrace.cli.main import main
        for path in sys.argv[1:]:
            result = CliRunner().invoke(main, ["export", "verify", path])
            assert result.exit_code == 1, result.output
            print(" / ".join(result.output.strip().splitlines()))
        # VmHWM is this process's own peak; ru_maxrss would include the parent's at fork.
        try:
            status = open("/proc/self/status").read().split("VmHWM:")[1]
            print(int(status.split()[0]))
        except (OSError, IndexError):
            print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    *messages, peak_kib = done.stdout.strip().splitlines()
    print(f"peak RSS verifying two 50 MB zip bombs: {int(peak_kib) / 1024:.0f} MB")
    assert "refusing to verify" in messages[0] and " / " not in messages[0]
    assert "does not verify" in messages[1]
    assert int(peak_kib) < 200 * 1024
