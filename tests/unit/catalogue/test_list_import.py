"""Importing refuses what is not an Adblock Plus list, and stores lists privately."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from phitrace.catalogue.lists import LISTS_ENV, BlockListError, import_list
from phitrace.cli.main import main

HEADERLESS = "||tracker-one.example^\n||tracker-two.example^$third-party\n/pixel.gif?$image\n"


@pytest.fixture
def lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "lists"
    monkeypatch.setenv(LISTS_ENV, str(folder))
    return folder


def random_binary(path: Path, size: int = 64 * 1024) -> Path:
    path.write_bytes(random.Random(20).randbytes(size))
    return path


def test_the_import_command_refuses_random_binary_in_one_line(lists: Path, tmp_path: Path) -> None:
    source = random_binary(tmp_path / "noise.bin")
    result = CliRunner().invoke(main, ["signatures", "import", str(source)])
    assert result.exit_code == 1, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "not an Adblock Plus list" in result.output or "not UTF-8" in result.output
    assert not lists.exists() or not any(lists.iterdir())


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"[Adblock Plus 2.0]\n||a.example^\n\x00\x01\x02\n", "NUL bytes"),
        (b"[Adblock Plus 2.0]\n||a.example^\n\xff\xfe\xfa\n", "not UTF-8"),
        (
            b"Dear reader,\nthis is a letter and not a filter list at all.\n"
            b"It has several lines of prose.\n||one.example^\n",
            "lines are not filter rules",
        ),
    ],
    ids=["nul", "latin-1", "prose"],
)
def test_import_refuses_text_that_is_not_a_list(
    lists: Path, tmp_path: Path, content: bytes, reason: str
) -> None:
    source = tmp_path / "suspect.txt"
    source.write_bytes(content)
    with pytest.raises(BlockListError, match=reason):
        import_list(source)


def test_a_list_without_a_header_is_accepted_when_its_lines_are_rules(
    lists: Path, tmp_path: Path
) -> None:
    source = tmp_path / "plain.txt"
    source.write_text(HEADERLESS)
    imported = import_list(source)
    assert imported.rules == 3
    assert (imported.path.stat().st_mode & 0o777) == 0o600
