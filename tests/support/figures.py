"""Figures a test suite prints in its own section of pytest's terminal summary.

``make test`` does not run pytest with ``-s``, so tests hand the figures the
acceptance asks for (examples run, requests sent, what a kill lost) to a
``figures`` fixture, and a conftest prints them at the end.  A conftest gets
both from :func:`figures_section`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def figures_section(
    title: str,
) -> tuple[Any, Callable[[pytest.TerminalReporter, pytest.Config], None]]:
    """The ``figures`` fixture and the ``pytest_terminal_summary`` hook for one section."""
    key = pytest.StashKey[list[str]]()

    @pytest.fixture
    def figures(request: pytest.FixtureRequest) -> Callable[[str], None]:
        """Record a figure for the terminal summary (and print it, for ``pytest -s``)."""
        lines = request.config.stash.setdefault(key, [])

        def add(text: str) -> None:
            print(f"\n{text}")
            lines.append(text)

        return add

    def pytest_terminal_summary(
        terminalreporter: pytest.TerminalReporter, config: pytest.Config
    ) -> None:
        lines = config.stash.get(key, [])
        if lines:
            terminalreporter.section(title)
            for line in lines:
                terminalreporter.write_line(line)

    return figures, pytest_terminal_summary
