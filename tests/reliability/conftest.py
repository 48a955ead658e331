"""Fixtures for the reliability tests: proxy fixtures, a loopback upstream, and figures.

The issue's acceptance asks for figures (fuzz examples run, load requests sent
and recorded, what a SIGKILL lost) in the output of ``make test``, which does
not run pytest with ``-s``: tests hand them to the ``figures`` fixture, and
they are printed in a section of the terminal summary.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.e2e import browser_for, serve, site, start_proxy  # noqa: F401 - fixtures
from tests.support.figures import figures_section
from tests.support.loopback import Upstream

figures, pytest_terminal_summary = figures_section("phitrace reliability figures")


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """A plain-HTTP server on 127.0.0.1 that answers every request with a fixed body."""
    server = Upstream()
    yield server
    server.close()
