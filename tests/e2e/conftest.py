"""Real processes on loopback: a fixture web site, mitmdump with phitrace, headless Chromium.

The fixtures live in :mod:`tests.support.e2e`, shared with the reliability tests.
"""

from __future__ import annotations

import pytest
from tests.support.e2e import (  # noqa: F401 - fixtures, found by name
    browser_for,
    chromium,
    offline_browser,
    recorder,
    serve,
    site,
    start_proxy,
)
from tests.support.figures import figures_section

figures, pytest_terminal_summary = figures_section("phitrace end-to-end figures")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: takes tens of seconds (builds a bundle, runs a browser)"
    )
