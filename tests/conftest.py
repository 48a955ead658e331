"""Shared fixtures and the suite's tiers: the corpus location, markers by directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ci import in_ci
from tests.shared_corpus import corpus_dir, corpus_unavailable

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


@pytest.fixture(scope="session", autouse=True)
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep the derived-vocabulary cache out of the real home, shared by the whole run.

    One directory per run (inherited by the ``phitrace`` processes tests start)
    means the vocabulary is built once per run, then read back.
    """
    path = tmp_path_factory.mktemp("phitrace-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PHITRACE_CACHE_DIR", str(path))
        yield path
