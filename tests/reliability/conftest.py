"""Fixtures for the reliability tests: proxy fixtures, a loopback upstream, and figures.

The issue's acceptance asks for figures (fuzz examples run, load requests sent
and recorded, what a SIGKILL lost) in the output of ``make test``, which does
not run pytest with ``-s``: tests hand them to the ``figures`` fixture, and
they are printed in a section of the terminal summary.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from loopback import Upstream

E2E_CONFTEST = Path(__file__).resolve().parent.parent / "e2e" / "conftest.py"


def _e2e_fixtures() -> ModuleType:
    """The end-to-end fixtures (mitmdump with phitrace, Chromium), shared rather than copied."""
    spec = importlib.util.spec_from_file_location("phitrace_e2e_fixtures", E2E_CONFTEST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_e2e = _e2e_fixtures()
start_proxy = _e2e.start_proxy
site = _e2e.site
browser_for = _e2e.browser_for


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """A plain-HTTP server on 127.0.0.1 that answers every request with a fixed body."""
    server = Upstream()
    yield server
    server.close()


FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record a figure for the terminal summary (and print it, for ``pytest -s``)."""
    lines = request.config.stash.setdefault(FIGURES, [])

    def add(text: str) -> None:
        print(f"\n{text}")
        lines.append(text)

    return add


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("phitrace reliability figures")
        for line in lines:
            terminalreporter.write_line(line)
