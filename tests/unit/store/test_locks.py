"""Waiting for another program's lock: every write takes it first; a long hold is one line."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from phitrace.analyzer import Analyzer
from phitrace.cli import capture as capture_cli
from phitrace.cli.main import main
from phitrace.cli.options import build_analyzer
from phitrace.model import Analysis, Request
from phitrace.store.database import BUSY_TIMEOUT, BUSY_TIMEOUT_ENV, busy_timeout, open_database
from phitrace.store.rows import Record
from phitrace.store.writer import Writer
from tests.support.database import new_session

PIXEL = "https://www.facebook.com/tr/?id=1&ev=PageView&dl=https%3A%2F%2Fclinic.example%2Fdiabetes"


def capture(path: Path) -> Path:
    entry = {
        "startedDateTime": "2026-01-01T00:00:00.000Z",
        "request": {"method": "GET", "url": PIXEL, "headers": []},
        "response": {"status": 200},
    }
    path.write_text(json.dumps({"log": {"entries": [entry]}}))
    return path


@contextmanager
def held_lock(path: Path, seconds: float, *, write: bool = False) -> Iterator[None]:
    """Another connection holds the write lock (``BEGIN IMMEDIATE``) for ``seconds``.

    The hold ends early when the block is left.  With ``write`` it also
    changes the database before it commits, so a connection that read
    before the commit cannot simply carry on.
    """
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        if write:
            conn.execute("insert into sessions (started_at, label) values ('2026', 'other')")
        taken.set()
        release.wait(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert taken.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join()


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    """The scan's analyzer, its lazily built matchers warmed up by one request."""
    built = build_analyzer(lists=True)
    built.analyse(Request("GET", PIXEL, (), b""))
    return built


@pytest.fixture(autouse=True)
def ready_analyzer(analyzer: Analyzer, monkeypatch: pytest.MonkeyPatch) -> None:
    """``scan`` gets a built analyzer, so it reaches the database while the lock is held."""
    monkeypatch.setattr(capture_cli, "build_analyzer", lambda *args, **kwargs: analyzer)


def analysis(n: int) -> Analysis:
    return Analysis(Request("GET", f"{PIXEL}&n={n}", (), b""), "meta-pixel")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "p.db"
    open_database(path).close()
    return path


def scan(har: Path, db: Path) -> tuple[int, str, str, float]:
    start = time.monotonic()
    result = CliRunner().invoke(main, ["scan", str(har), "--db", str(db)])
    return result.exit_code, result.stdout, result.stderr, time.monotonic() - start


def labels(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as conn, conn:
        return [row[0] for row in conn.execute("select label from sessions order by id")]


def test_scan_waits_for_a_lock_held_by_another_program(tmp_path: Path, db_path: Path) -> None:
    har = capture(tmp_path / "clinic.har")
    with held_lock(db_path, 1.0, write=True):
        code, out, err, took = scan(har, db_path)
    assert code == 0, err
    assert took >= 0.5
    assert "1 tracker flows" in out
    assert labels(db_path) == ["other", "clinic.har"]


def test_a_lock_held_past_the_timeout_fails_in_one_line(
    tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BUSY_TIMEOUT_ENV, "0.2")
    har = capture(tmp_path / "clinic.har")
    with held_lock(db_path, 30.0):
        code, out, err, took = scan(har, db_path)
    assert code == 2
    assert took < 10
    assert err == (
        f"Error: {db_path} is locked by another program (waited 0.2 s); "
        "stop the program writing to it, or choose another --db\n"
    )
    assert out == ""
    assert labels(db_path) == []


def test_a_proxy_writer_waits_for_the_lock_and_keeps_every_record(db_path: Path) -> None:
    session = new_session(db_path, source="proxy")
    writer = Writer(db_path, interval=0.01, session_id=session)
    with held_lock(db_path, 1.0, write=True):
        for n in range(5):
            writer.submit(Record(session, analysis(n)))
        time.sleep(1.0)
        assert writer.written == 0
    writer.close()
    assert (writer.written, writer.failed) == (5, 0)


@pytest.mark.parametrize(
    ("setting", "seconds"), [("", BUSY_TIMEOUT), ("2.5", 2.5), ("0", 0.0), ("soon", BUSY_TIMEOUT)]
)
def test_the_lock_wait_can_be_set_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, setting: str, seconds: float
) -> None:
    monkeypatch.setenv(BUSY_TIMEOUT_ENV, setting)
    assert busy_timeout() == seconds
    assert ("ignoring" in caplog.text) == (setting == "soon")
