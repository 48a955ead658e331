"""A database another program locks after a command opened it: one line and exit code 2.

Each command opens the database as usual; then, before its first write or
read, another connection takes the lock and holds it past ``PHITRACE_BUSY_TIMEOUT``:
``BEGIN IMMEDIATE`` against writers, or ``BEGIN EXCLUSIVE`` against readers.  A
WAL database never blocks an open reader, so the read-only commands are run on a
rollback-journal database (one copied or rebuilt by another tool), where another
program's exclusive transaction does keep readers out.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from phitrace.cli import capture as capture_cli
from phitrace.cli import options as options_cli
from phitrace.cli import reports as reports_cli
from phitrace.cli import store as store_cli
from phitrace.cli.main import main
from phitrace.store.database import BUSY_TIMEOUT_ENV
from tests.support.seeded_db import clinic

PIXEL = "https://www.facebook.com/tr/?id=1&ev=PageView&dl=https%3A%2F%2Fclinic.example%2Fdiabetes"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(BUSY_TIMEOUT_ENV, "0.1")
    return clinic(tmp_path / "clinic.db")


@pytest.fixture
def lockers() -> Iterator[list[sqlite3.Connection]]:
    """Connections of "another program"; each releases its lock when the test ends."""
    held: list[sqlite3.Connection] = []
    yield held
    for conn in held:
        conn.rollback()
        conn.close()


def locking_after_open(
    monkeypatch: pytest.MonkeyPatch,
    module: object,
    name: str,
    held: list[sqlite3.Connection],
    exclusive: bool,
) -> None:
    """Make ``module.name`` (a database opener) return, then another program lock the file."""
    opener: Callable[..., sqlite_utils.Database] = getattr(module, name)

    def open_then_lock(path: Path, *args: object, **kwargs: object) -> sqlite_utils.Database:
        opened = opener(path, *args, **kwargs)
        conn = sqlite3.connect(path, isolation_level=None, timeout=5)
        held.append(conn)
        try:
            conn.execute("BEGIN EXCLUSIVE" if exclusive else "BEGIN IMMEDIATE")
            conn.execute("update sessions set label = label")
        except sqlite3.Error:  # the lock must land after the open, or the test proves nothing
            opened.close()
            raise AssertionError(f"the locker could not lock {path} after the open") from None
        return opened

    monkeypatch.setattr(module, name, open_then_lock)


def run(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_lock_error(code: int, err: str, db: Path) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"Error: {db} is locked by another program (waited 0.1 s)"), err


def test_purge_on_a_database_locked_after_opening(
    db: Path, monkeypatch: pytest.MonkeyPatch, lockers: list[sqlite3.Connection]
) -> None:
    locking_after_open(monkeypatch, store_cli, "existing_db", lockers, exclusive=False)
    code, _out, err = run(["purge", "--db", str(db), "--all", "--yes"])
    assert_one_line_lock_error(code, err, db)


def test_scan_into_a_database_locked_after_opening(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lockers: list[sqlite3.Connection]
) -> None:
    har = tmp_path / "clinic.har"
    entry = {
        "startedDateTime": "2026-01-01T00:00:00.000Z",
        "request": {"method": "GET", "url": PIXEL, "headers": []},
        "response": {"status": 200},
    }
    har.write_text(json.dumps({"log": {"entries": [entry]}}))
    locking_after_open(monkeypatch, capture_cli, "writable_db", lockers, exclusive=False)
    code, _out, err = run(["scan", str(har), "--db", str(db)])
    assert_one_line_lock_error(code, err, db)


@pytest.mark.parametrize(
    "command",
    [
        ["report"],
        ["export", "evidence"],
        ["check"],
        ["diff", "--old-session", "1", "--new-session", "2"],
    ],
)
def test_read_only_commands_on_a_database_locked_after_opening(
    db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lockers: list[sqlite3.Connection],
    command: list[str],
) -> None:
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
    for module in (options_cli, reports_cli):
        if hasattr(module, "readable_db"):
            locking_after_open(monkeypatch, module, "readable_db", lockers, exclusive=True)
    monkeypatch.chdir(tmp_path)
    code, _out, err = run([*command, "--db", str(db)])
    assert_one_line_lock_error(code, err, db)
