"""Shared fixtures: the corpus location and small builders for requests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def corpus_dir() -> Path:
    """The shared real-world corpus (PHITRACE_CORPUS, else ../shared/corpus)."""
    return Path(os.environ.get("PHITRACE_CORPUS", REPO.parent / "shared" / "corpus"))


@pytest.fixture(scope="session")
def corpus() -> Path:
    path = corpus_dir()
    if not path.is_dir():
        pytest.skip(f"shared corpus not found at {path}; set PHITRACE_CORPUS")
    return path
