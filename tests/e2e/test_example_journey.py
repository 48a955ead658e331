"""The example audit journey (examples/journey.py) through phitrace, as a QA team runs it."""

from __future__ import annotations

import runpy
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_scripted_portal_journey_records_every_leak(serve, start_proxy, chromium) -> None:  # type: ignore[no-untyped-def]
    portal = serve(EXAMPLES / "portal")
    proxy = start_proxy(
        "phitrace_sinkhole=true", f"phitrace_canaries={EXAMPLES / 'portal' / 'canaries.yaml'}"
    )
    journey = runpy.run_path(str(EXAMPLES / "journey.py"))
    assert journey["main"](["--proxy", proxy.url, "--portal", portal, "--chromium", chromium]) == 0
    output = proxy.stop()
    with closing(sqlite3.connect(proxy.db)) as conn:
        vendors = {v for (v,) in conn.execute("select distinct vendor from flows")}
        found = set(conn.execute("select kind, category from findings"))
        chains = {
            m
            for (m,) in conn.execute(
                "select matched from findings where kind = 'canary' and category = 'email'"
            )
        }
        pages = {p for (p,) in conn.execute("select page_url from flows")}
    assert vendors == {"google-analytics", "meta-pixel"}, output
    # The signed-in e-mail reaches Meta hashed for advanced matching; the typed drug too.
    assert ("canary", "email") in found and any("sha256" in c for c in chains), chains
    assert ("canary", "drug") in found
    assert {
        ("health", "medication"),
        ("health", "health_search"),
        ("health", "provider"),
        ("identifier", "hashed_email"),
    } <= found
    assert {f"{portal}/search.html?q=metformin+side+effects", f"{portal}/pharmacy.html"} <= pages
