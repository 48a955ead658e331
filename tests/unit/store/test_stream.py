"""Streamed readers give what the whole-session reader gives, a batch at a time.

The seeded databases are made on SQLite and on PostgreSQL in turn.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from phitrace.model import severity_rank
from phitrace.store.database import open_database
from phitrace.store.flowfacts import load_flow_facts
from phitrace.store.raw import load_raw
from phitrace.store.reader import load_findings, load_leaks
from phitrace.store.stream import (
    count_flagged_flows,
    flagged_login_states,
    iter_flow_facts,
    iter_flow_leaks,
    load_overview,
    load_raw_for,
)
from phitrace.store.target import Target
from tests.support.postgres import ENGINES, Server
from tests.support.seeded_db import clinic, logged_in_portal, many


def _target(request: pytest.FixtureRequest, factory: pytest.TempPathFactory, name: str) -> Target:
    """A new database on the engine the fixture is parametrised with."""
    if request.param == "sqlite":
        return factory.mktemp("stream") / name
    server: Server = request.getfixturevalue("postgres_server")
    return server.target()


@pytest.fixture(scope="module", params=ENGINES)
def many_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Target:
    return many(_target(request, tmp_path_factory, "many.db"), 300)


@pytest.fixture(scope="module", params=ENGINES)
def portal_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Target:
    return logged_in_portal(_target(request, tmp_path_factory, "portal.db"))


@pytest.mark.parametrize("session", [None, 2])
def test_flows_are_grouped_worst_first_then_by_time(many_db: Target, session: int | None) -> None:
    db = open_database(many_db)
    try:
        groups = list(iter_flow_leaks(db, session, batch=7))
        leaks = load_leaks(db, session)
    finally:
        db.close()
    assert sorted(leak.id for group in groups for leak in group) == sorted(x.id for x in leaks)
    assert all(len({leak.flow_id for leak in group}) == 1 for group in groups)
    for group in groups:  # each group in the reader's order: most severe first, then by id
        assert group == [leak for leak in leaks if leak.flow_id == group[0].flow_id]
    keys = [(severity_rank(g[0].severity), g[0].timestamp, g[0].flow_id) for g in groups]
    assert keys == sorted(keys) and len({k[0] for k in keys}) > 1


def test_without_worst_first_flows_come_in_journey_order(many_db: Target) -> None:
    db = open_database(many_db)
    try:
        groups = list(iter_flow_leaks(db, worst_first=False, batch=5))
    finally:
        db.close()
    keys = [(g[0].timestamp, g[0].flow_id) for g in groups]
    assert keys == sorted(keys) and len(keys) == len({k[1] for k in keys})


@pytest.mark.parametrize("session", [None, 1])
def test_flow_facts_stream_in_the_loaded_order(portal_db: Target, session: int | None) -> None:
    db = open_database(portal_db)
    try:
        assert list(iter_flow_facts(db, session, batch=2)) == list(
            load_flow_facts(db, session).values()
        )
    finally:
        db.close()


def test_counts_and_login_states_are_those_of_the_loaded_findings(portal_db: Target) -> None:
    db = open_database(portal_db)
    try:
        findings = load_findings(db)
        flagged = findings.flagged_flow_ids
        assert count_flagged_flows(db) == len(flagged) > 0
        states = {findings.facts[f].authenticated for f in flagged}
        assert flagged_login_states(db) == states and "yes" in states
    finally:
        db.close()


def test_raw_requests_are_read_for_the_flows_asked_for(tmp_path: Path) -> None:
    db = open_database(clinic(tmp_path / "clinic.db"))
    try:
        everything = load_raw(db)
        wanted = sorted(everything)[:2]
        assert load_raw_for(db, wanted) == {f: everything[f] for f in wanted}
        assert load_raw_for(db, []) == {}
    finally:
        db.close()


def test_the_overview_is_the_loaded_findings_without_findings_or_flows(many_db: Target) -> None:
    db = open_database(many_db)
    try:
        overview, full = load_overview(db), load_findings(db, leaks=False)
    finally:
        db.close()
    assert overview.leaks == [] and overview.facts == {} and overview.raw == {}
    for name in ("sessions", "endpoints", "session_endpoints", "vendor_info", "total_flows"):
        assert getattr(overview, name) == getattr(full, name), name
    assert overview.parties == full.parties and overview.logged_in_pages == full.logged_in_pages


def test_only_the_flows_asked_for_are_read(many_db: Target) -> None:
    db = open_database(many_db)
    try:
        every = list(iter_flow_leaks(db, worst_first=False))
        wanted = {group[0].flow_id for group in every[::7]}
        picked = list(iter_flow_leaks(db, worst_first=False, only=wanted, batch=3))
    finally:
        db.close()
    assert picked == [group for group in every if group[0].flow_id in wanted]
