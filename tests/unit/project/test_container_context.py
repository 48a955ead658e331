"""The image's build context holds every file the Dockerfile copies.

``.dockerignore`` admits folders one by one; a folder the Dockerfile copies
but the ignore file leaves out fails only at image build time, in the
container test, long after the change that added it.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def ignore_rules() -> list[tuple[bool, str]]:
    """``(admits, pattern)`` pairs of .dockerignore, in order (the last match decides)."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            admits = line.startswith("!")
            rules.append((admits, line.lstrip("!").rstrip("/")))
    return rules


def in_context(source: str) -> bool:
    """Whether the build context holds ``source`` (a path relative to the repository)."""
    parts = source.rstrip("/").split("/")
    admitted = True
    for admits, pattern in ignore_rules():
        # A pattern that names a folder covers what is inside it.
        if any(fnmatch.fnmatch("/".join(parts[:n]), pattern) for n in range(1, len(parts) + 1)):
            admitted = admits
    return admitted


def copied_sources() -> list[str]:
    """The sources of the Dockerfile's COPY lines that read the build context."""
    sources = []
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def test_the_dockerfile_copies_from_the_context() -> None:
    assert "addon/" in copied_sources()


@pytest.mark.parametrize("source", copied_sources())
def test_every_copied_path_is_in_the_build_context(source: str) -> None:
    assert (ROOT / source).exists(), source
    assert in_context(source), f"{source} is left out by .dockerignore"


def test_a_folder_left_out_is_noticed() -> None:
    assert not in_context("tests/")
