"""Shared fixtures: the corpus location and small builders for requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared_corpus import corpus_dir


@pytest.fixture(scope="session")
def corpus() -> Path:
    path = corpus_dir()
    if not path.is_dir():
        pytest.skip(f"shared corpus not found at {path}; set PHITRACE_CORPUS")
    return path
