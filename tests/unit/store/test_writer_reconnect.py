"""The writer and a PostgreSQL server that goes away: a bounded queue, a reconnection, no loss."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from phitrace.model import Analysis, Request
from phitrace.store.database import open_database
from phitrace.store.rows import Record
from phitrace.store.sessions import start_session
from phitrace.store.target import PostgresTarget
from phitrace.store.writer import Writer
from tests.support.postgres import Server
from tests.support.restart import pg_ctl, restartable_server  # noqa: F401 - fixture


def _record(session: int, n: int) -> Record:
    request = Request("GET", f"https://www.facebook.com/tr/?id=1&ev=PageView&rid=w{n}", (), b"")
    return Record(session, Analysis(request, "meta-pixel"))


def _target_on(server: Server) -> tuple[PostgresTarget, int]:
    """A new database on the server (password from PGPASSWORD) and a session in it."""
    target = server.target()
    target = PostgresTarget(server.url(target.url.rsplit("/", 1)[1], password=False), "team")
    db = open_database(target)
    try:
        return target, start_session(db, source="proxy")
    finally:
        db.close()


def _rids(target: PostgresTarget) -> list[str]:
    db = open_database(target)
    try:
        return sorted(row[0].rsplit("=", 1)[1] for row in db.execute("select url from flows"))
    finally:
        db.close()


def test_records_wait_for_a_server_that_is_down_and_are_written_once_it_is_back(
    restartable_server: Server,  # noqa: F811
) -> None:
    target, session = _target_on(restartable_server)
    writer = Writer(target, session_id=session, interval=0.05, max_queue=5)
    assert writer.flush()
    pg_ctl(restartable_server, "stop")
    started = time.monotonic()
    for n in range(8):
        writer.submit(_record(session, n))
    assert time.monotonic() - started < 0.5  # submit never waits for the server
    assert (writer.dropped, writer.failed) == (3, 3)  # over the bound: counted at once
    time.sleep(0.5)  # the writer tries, and fails, to reach the server meanwhile
    pg_ctl(restartable_server, "start")
    assert writer.flush(timeout=30)
    writer.close()
    assert _rids(target) == [f"w{n}" for n in range(5)]
    assert (writer.written, writer.failed) == (5, 3)


def test_a_restart_between_batches_loses_and_doubles_nothing(
    restartable_server: Server,  # noqa: F811
) -> None:
    target, session = _target_on(restartable_server)
    writer = Writer(target, session_id=session, interval=0.01)
    for n in range(50):
        writer.submit(_record(session, n))
    assert writer.flush()
    pg_ctl(restartable_server, "restart")
    for n in range(50, 100):
        writer.submit(_record(session, n))
    assert writer.flush(timeout=30)
    writer.close()
    assert _rids(target) == sorted(f"w{n}" for n in range(100))
    assert (writer.written, writer.failed) == (100, 0)


def test_closing_while_the_server_is_down_counts_what_was_not_written(
    restartable_server: Server,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    target, session = _target_on(restartable_server)
    writer = Writer(target, session_id=session, interval=0.01)
    assert writer.flush()
    pg_ctl(restartable_server, "stop")
    for n in range(10):
        writer.submit(_record(session, n))
    started = time.monotonic()
    writer.close(timeout=3)
    assert time.monotonic() - started < 4
    assert (writer.written, writer.failed) == (0, 10)
    assert "unreachable" in caplog.text
    assert restartable_server.password not in caplog.text


def test_connections_killed_again_and_again_mid_write_lose_and_double_nothing(
    postgres_server: Server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    target, session = _target_on(postgres_server)
    name = target.url.rsplit("/", 1)[1]
    writer = Writer(target, session_id=session, interval=0.005, max_batch=20)
    kills: list[int] = []
    writing = threading.Event()

    def kill() -> None:  # the writer's own connection, wherever it is in its work
        with psycopg.connect(postgres_server.url(name), autocommit=True) as killer:
            while writing.is_set():
                found = killer.execute(
                    b"select pg_terminate_backend(pid) from pg_stat_activity "
                    b"where datname = %s and application_name = 'phitrace' "
                    b"and pid <> pg_backend_pid()",
                    [name],
                ).fetchall()
                kills.append(len(found))
                time.sleep(0.15)

    writing.set()
    killer = threading.Thread(target=kill)
    killer.start()
    for n in range(1000):
        writer.submit(_record(session, n))
        time.sleep(0.002)
    writing.clear()
    killer.join(10)
    assert writer.flush(timeout=60)
    writer.close()
    assert sum(kills) >= 5
    assert _rids(target) == sorted(f"w{n}" for n in range(1000))
    assert (writer.written, writer.failed) == (1000, 0)
