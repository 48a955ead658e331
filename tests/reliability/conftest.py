"""Fixtures for the reliability tests: the end-to-end proxy fixtures and a loopback upstream."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
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
