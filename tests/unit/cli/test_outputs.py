"""Outputs never destroy data, and the commands' errors are one line with the right exit code."""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from phitrace.cli.main import main
from phitrace.store.database import BUSY_TIMEOUT_ENV, open_database
from tests.support.seeded_db import clinic
from tests.unit.cli.permissions import file_modes_enforced

OUTPUT_COMMANDS = {
    "report html": ["report"],
    "report json": ["report", "--format", "json"],
    "export evidence": ["export", "evidence"],
    "baseline": ["baseline"],
    "datasette-metadata": ["datasette-metadata"],
}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return clinic(tmp_path / "clinic.db")


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result: Result, code: int = 1) -> None:
    """Exit ``code``, no traceback: click's own exit, with a single line of output."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert len(result.output.strip().splitlines()) == 1, result.output


@pytest.mark.parametrize("command", OUTPUT_COMMANDS.values(), ids=OUTPUT_COMMANDS.keys())
@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_no_output_overwrites_the_database_or_its_log(
    db: Path, command: list[str], suffix: str
) -> None:
    target = Path(f"{db}{suffix}")
    before = db.read_bytes()
    result = run(*command, "--db", db, "-o", target)
    assert_one_line_error(result)
    assert "refusing to write" in result.output
    assert db.read_bytes() == before


@pytest.mark.parametrize("command", OUTPUT_COMMANDS.values(), ids=OUTPUT_COMMANDS.keys())
def test_no_output_overwrites_another_sqlite_file(
    db: Path, tmp_path: Path, command: list[str]
) -> None:
    other = tmp_path / "other.db"
    open_database(other).close()
    before = other.read_bytes()
    result = run(*command, "--db", db, "-o", other)
    assert_one_line_error(result)
    assert "SQLite database" in result.output
    assert other.read_bytes() == before


class _FullDisk:
    """A file that accepts ``room`` bytes, then fails as a full disk does."""

    def __init__(self, real: Any, room: int) -> None:
        self.real, self.room = real, room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            self.real.write(bytes(data[: self.room]))
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return int(self.real.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.real.close()


@pytest.mark.parametrize(
    "command",
    [["report"], ["export", "evidence"], ["baseline"]],
    ids=["report", "export evidence", "baseline"],
)
def test_a_full_disk_leaves_the_previous_output_intact(
    db: Path, tmp_path: Path, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "output"
    assert run(*command, "--db", db, "-o", target).exit_code == 0
    good = target.read_bytes()
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _FullDisk(real_fdopen(fd, *a, **k), 100))
    result = run(*command, "--db", db, "-o", target)
    monkeypatch.undo()
    assert_one_line_error(result)
    assert "No space left on device" in result.output
    assert target.read_bytes() == good
    assert sorted(p.name for p in out_dir.iterdir()) == ["output"]


def test_a_replaced_output_is_private_and_complete(db: Path, tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    target.write_text("old")
    os.chmod(target, 0o644)
    assert run("report", "--db", db, "-o", target).exit_code == 0
    assert (target.stat().st_mode & 0o777) == 0o600
    assert target.read_text().rstrip().endswith("</html>")


def test_a_missing_output_directory_is_one_line(db: Path, tmp_path: Path) -> None:
    result = run("report", "--db", db, "-o", tmp_path / "missing" / "r.html")
    assert_one_line_error(result)
    assert "cannot write" in result.output


def test_a_read_only_output_directory_is_one_line(db: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o555)
    try:
        with file_modes_enforced():
            result = run("export", "evidence", "--db", db, "-o", locked / "e.zip")
    finally:
        os.chmod(locked, 0o755)
    assert_one_line_error(result)
    assert "Permission denied" in result.output


@pytest.fixture
def not_sqlite(tmp_path: Path) -> Path:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n")
    return path


@pytest.mark.parametrize(
    "command",
    [["report"], ["export", "evidence"], ["baseline", "-o", "b.json"], ["purge", "--all"]],
    ids=["report", "export evidence", "baseline", "purge"],
)
def test_a_non_sqlite_database_is_one_line(
    not_sqlite: Path, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(not_sqlite.parent)
    before = not_sqlite.read_bytes()
    result = run(*command, "--db", not_sqlite)
    assert_one_line_error(result)
    assert "not a SQLite database" in result.output
    assert not_sqlite.read_bytes() == before


def test_diff_of_a_non_sqlite_database_is_one_line(db: Path, not_sqlite: Path) -> None:
    assert_one_line_error(run("diff", db, not_sqlite))


def test_scan_into_a_non_sqlite_database_is_one_line(not_sqlite: Path, tmp_path: Path) -> None:
    har = tmp_path / "c.har"
    har.write_text('{"log": {"entries": []}}')
    assert_one_line_error(run("scan", har, "--db", not_sqlite))


def test_proxy_refuses_a_non_sqlite_database_before_starting_mitmproxy(
    not_sqlite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mitmproxy.tools import main as mitm

    def never(*args: object) -> int:
        raise AssertionError("mitmproxy started")

    monkeypatch.setattr(mitm, "mitmdump", never)
    result = run("proxy", "--db", not_sqlite, "--confdir", tmp_path / "conf")
    assert_one_line_error(result)
    assert "not a SQLite database" in result.output


def test_check_cannot_check_a_non_sqlite_database(not_sqlite: Path) -> None:
    result = run("check", "--db", not_sqlite)
    assert_one_line_error(result, code=2)


def test_check_cannot_check_a_locked_database(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUSY_TIMEOUT_ENV, "0.2")
    holder = sqlite3.connect(db)
    try:
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        result = run("check", "--db", db)
    finally:
        holder.close()
    assert_one_line_error(result, code=2)
    assert "locked" in result.output


@pytest.fixture
def read_only_db(db: Path) -> Iterator[Path]:
    """The clinic database, its file 0444 and its directory 0555 (no -wal, no -shm)."""
    os.chmod(db, 0o444)
    os.chmod(db.parent, 0o555)
    try:
        with file_modes_enforced():
            yield db
    finally:
        os.chmod(db.parent, 0o755)
        os.chmod(db, 0o600)


@pytest.fixture
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("outputs")


@pytest.mark.parametrize(
    "command",
    [
        ["report", "-o", "{out}/r.html"],
        ["report", "--format", "csv", "-o", "{out}/r.csv"],
        ["export", "evidence", "-o", "{out}/e.zip"],
        ["baseline", "-o", "{out}/b.json"],
        ["diff", "--old-session", "1", "--new-session", "1"],
    ],
    ids=["report", "csv", "export evidence", "baseline", "diff"],
)
def test_read_only_commands_work_on_a_read_only_database(
    read_only_db: Path, out_dir: Path, command: list[str]
) -> None:
    before = read_only_db.read_bytes()
    args = [part.format(out=out_dir) for part in command]
    result = run(*args, "--db", read_only_db)
    assert result.exit_code == 0, result.output
    assert read_only_db.read_bytes() == before
    assert sorted(p.name for p in read_only_db.parent.iterdir()) == [read_only_db.name]


def test_check_works_on_a_read_only_database(read_only_db: Path) -> None:
    result = run("check", "--db", read_only_db)
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output


def _forget_last_migration(db: Path) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("delete from _phitrace_migrations where name = '0002_structured_findings'")
    conn.close()


def test_an_outdated_read_only_database_says_it_must_be_upgraded(db: Path) -> None:
    _forget_last_migration(db)
    os.chmod(db, 0o444)
    os.chmod(db.parent, 0o555)
    try:
        with file_modes_enforced():
            result = run("check", "--db", db)
    finally:
        os.chmod(db.parent, 0o755)
        os.chmod(db, 0o600)
    assert_one_line_error(result, code=2)
    assert "needs a schema upgrade" in result.output and "writable" in result.output


def test_an_outdated_writable_database_is_upgraded_and_read(db: Path, tmp_path: Path) -> None:
    _forget_last_migration(db)
    result = run("report", "--db", db, "-o", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
