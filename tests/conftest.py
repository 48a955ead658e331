"""Shared fixtures and the suite's tiers: the corpus location, markers by directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.ci import in_ci
from tests.shared_corpus import corpus_dir, corpus_unavailable

pytest_plugins = ["tests.support.postgres"]
"""A real PostgreSQL server for the tests of the second store (``pg_target``, ``db_target``)."""

TESTS = Path(__file__).resolve().parent
DIRECTORY_MARKS = {"e2e": "e2e", "reliability": "reliability", "corpus": "corpus"}
"""Every test under tests/<directory> gets the marker, so `-m "not e2e"` needs no file edits."""


def _needs_corpus(item: pytest.Item) -> bool:
    return "corpus" in getattr(item, "fixturenames", ()) or bool(item.get_closest_marker("corpus"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by directory; in CI, stop before any test runs when the corpus is missing."""
    for item in items:
        parts = item.path.resolve().relative_to(TESTS).parts
        if parts and parts[0] in DIRECTORY_MARKS:
            item.add_marker(DIRECTORY_MARKS[parts[0]])
        if "corpus" in getattr(item, "fixturenames", ()):
            item.add_marker("corpus")
    needing = sum(_needs_corpus(item) for item in items)
    if in_ci() and needing and not corpus_dir().is_dir():
        pytest.exit(
            f"CI: the shared corpus is missing at {corpus_dir()} (set PHITRACE_CORPUS); "
            f"{needing} selected tests need it",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


@pytest.fixture(scope="session")
def corpus() -> Path:
    path = corpus_dir()
    if not path.is_dir():
        corpus_unavailable(f"shared corpus not found at {path}; set PHITRACE_CORPUS")
    return path


_CACHE_DIR = pytest.StashKey[tuple[Path, str | None]]()


def pytest_configure(config: pytest.Config) -> None:
    """Point phitrace's cache at a fresh directory of this run, never the real home cache.

    Set here, before any test module is imported (some load the vocabulary at
    import), and inherited by the ``phitrace`` processes tests start: the
    vocabulary is built once per run, then read back.
    """
    path = Path(tempfile.mkdtemp(prefix="phitrace-cache-"))
    config.stash[_CACHE_DIR] = (path, os.environ.get("PHITRACE_CACHE_DIR"))
    os.environ["PHITRACE_CACHE_DIR"] = str(path)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the run's cache directory and give back the caller's setting."""
    if _CACHE_DIR not in config.stash:
        return
    path, before = config.stash[_CACHE_DIR]
    shutil.rmtree(path, ignore_errors=True)
    if before is None:
        os.environ.pop("PHITRACE_CACHE_DIR", None)
    else:
        os.environ["PHITRACE_CACHE_DIR"] = before
