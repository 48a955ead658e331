"""Whose file it is: other programs' databases refused untouched, phitrace's own kept private."""

from __future__ import annotations

import os
import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from phitrace.cli.main import main
from phitrace.store.database import APPLICATION_ID, ForeignDatabase, open_database
from phitrace.store.migrations import MIGRATIONS_TABLE


def application_id(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn, conn:
        return int(conn.execute("PRAGMA application_id").fetchone()[0])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def old_phitrace(path: Path) -> Path:
    """A database as phitrace wrote it before it marked its files: no mark, no migrations."""
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "create table sessions (id integer primary key, started_at text, ended_at text,"
            " label text, source text, phitrace_version text, signatures_digest text)"
        )
        conn.execute(
            "create table flows (id integer primary key, session_id integer, timestamp text,"
            " url text, vendor text, request_sha256 text)"
        )
        conn.execute(
            "insert into sessions (started_at, label, source, phitrace_version, signatures_digest)"
            " values ('2025-01-01T00:00:00Z', 'before', 'har', '0.1.0', 'abc')"
        )
    return path


def notes(path: Path) -> Path:
    """Another program's SQLite database."""
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("create table notes (id integer primary key, text text)")
        conn.execute("insert into notes (text) values ('my notes')")
    return path


def marked_by_another(path: Path) -> Path:
    """An SQLite file another program marked as its own, and otherwise empty."""
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("PRAGMA application_id = 1234")
    return path


def not_sqlite(path: Path) -> Path:
    path.write_text("name,diagnosis\njane,diabetes\n" * 200)
    return path


def test_a_new_database_is_marked_as_phitrace(tmp_path: Path) -> None:
    open_database(tmp_path / "new.db").close()
    assert application_id(tmp_path / "new.db") == APPLICATION_ID


def test_an_empty_file_is_taken_and_marked(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    open_database(path).close()
    assert application_id(path) == APPLICATION_ID


def test_an_older_unmarked_phitrace_database_is_kept_and_marked(tmp_path: Path) -> None:
    path = old_phitrace(tmp_path / "old.db")
    db = open_database(path)
    assert [row["label"] for row in db.table("sessions").rows] == ["before"]
    assert db.table(MIGRATIONS_TABLE).exists()
    db.close()
    assert application_id(path) == APPLICATION_ID
    open_database(path).close()  # and it opens again, now by its mark


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (notes, "belongs to another program (not a phitrace database)"),
        (marked_by_another, "belongs to another program (not a phitrace database)"),
        (not_sqlite, "is not an SQLite database"),
    ],
)
def test_another_programs_file_is_refused_in_one_line_and_left_untouched(
    tmp_path: Path, make: object, message: str
) -> None:
    assert callable(make)
    path = make(tmp_path / "theirs.db")
    before = path.read_bytes()
    with pytest.raises(ForeignDatabase) as refused:
        open_database(path)
    text = str(refused.value)
    assert text == f"{path} {message}; choose another --db"
    assert "\n" not in text
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()


def test_the_cli_refuses_another_programs_database_with_one_line(tmp_path: Path) -> None:
    path = notes(tmp_path / "notes.db")
    before = path.read_bytes()
    har = tmp_path / "empty.har"
    har.write_text('{"log": {"entries": []}}')
    for args in (["scan", str(har), "--db", str(path)], ["report", "--db", str(path)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, result.output
        assert result.stderr == (
            f"Error: {path} belongs to another program (not a phitrace database); "
            "choose another --db\n"
        )
    assert path.read_bytes() == before


def test_an_existing_database_readable_by_others_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    db = open_database(path)
    db.execute("insert into sessions (started_at) values ('2026')")
    db.conn.commit()
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    held = sqlite3.connect(path)  # keeps -wal and -shm in place after the close below
    held.execute("select count(*) from sessions").fetchone()
    db.close()
    for file in (path, wal, shm):
        os.chmod(file, 0o644)
    reopened = open_database(path)
    assert [mode(file) for file in (path, wal, shm)] == [0o600, 0o600, 0o600]
    reopened.close()
    held.close()


def test_a_loose_mode_that_cannot_be_changed_is_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "shared.db"
    open_database(path).close()
    os.chmod(path, 0o644)
    real_chmod = os.chmod

    def not_owner(target: object, wanted: int) -> None:
        if Path(str(target)) == path:
            raise PermissionError(1, "Operation not permitted")
        real_chmod(target, wanted)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "chmod", not_owner)
    open_database(path).close()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        f"phitrace: {path} is readable by other users (mode 644) and cannot be made private "
        "(Operation not permitted); run chmod 600 on it"
    ]
    assert mode(path) == 0o644
