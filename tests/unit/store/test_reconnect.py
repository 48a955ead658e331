"""The writer's connection: backoff between attempts, what counts as a lost connection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from phitrace.store.database import open_database
from phitrace.store.engine import Store
from phitrace.store.reconnect import Backoff, Link, is_disconnect, landed
from phitrace.store.sessions import start_session
from phitrace.store.target import Target
from tests.support.seeded_db import DIABETES_PAGE, pixel_flow


def test_backoff_doubles_up_to_its_longest_and_starts_again_once_connected() -> None:
    backoff = Backoff(first=0.1, longest=0.5)
    assert [backoff.next() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    backoff.reset()
    assert backoff.next() == 0.1


def test_a_sqlite_error_is_never_a_lost_connection(tmp_path: Path) -> None:
    db = open_database(tmp_path / "p.db")
    try:
        assert not is_disconnect(db, sqlite3.OperationalError("disk I/O error"))
    finally:
        db.close()


def test_a_broken_postgresql_connection_is_lost_and_a_refused_value_is_not(
    pg_target: Target,
) -> None:
    import psycopg

    db = open_database(pg_target)
    try:
        assert not is_disconnect(db, psycopg.errors.UniqueViolation("duplicate key"))
        assert is_disconnect(db, psycopg.OperationalError("server closed the connection"))
        db.close()
        assert is_disconnect(db, psycopg.InterfaceError("the connection is closed"))
    finally:
        db.close()


def test_landed_tells_a_committed_batch_from_one_that_never_arrived(db_target: Target) -> None:
    db = open_database(db_target)
    try:
        flow = pixel_flow(db, start_session(db, source="proxy"), DIABETES_PAGE, 1)
        assert landed(db, [flow, flow + 1])
        assert not landed(db, [flow + 1])
    finally:
        db.close()


def test_a_database_that_cannot_be_opened_is_tried_again_on_the_next_use(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    opened: list[Store] = []
    link = Link(tmp_path / "missing" / "folder" / "p.db", opened.append)
    (tmp_path / "missing").write_text("a file where a folder should be")
    assert link.get() is None and link.get() is None
    assert caplog.text.count("cannot open") == 1  # once per outage, not once per attempt
    (tmp_path / "missing").unlink()
    (tmp_path / "missing" / "folder").mkdir(parents=True)
    db = link.get()
    assert db is not None and opened == [db]
    assert link.get() is db
    link.close()
