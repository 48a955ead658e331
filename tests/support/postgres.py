"""A real PostgreSQL server for the tests: Debian's binaries, a throw-away cluster on loopback.

:class:`Server` runs ``initdb`` into a temporary directory and starts
``postgres`` listening on 127.0.0.1 on a free port (and on a Unix socket in
that directory), with SCRAM password authentication.  When the tests run as
root, the cluster is owned and run by the existing unprivileged ``nobody``
account (PostgreSQL refuses to run as root); no user is ever created.  It is
stopped and removed at the end of the run.

Fixtures: ``postgres_server`` (one per run), ``pg_target`` (a fresh database
per test, as a :class:`~phitrace.store.target.PostgresTarget`) and
``db_target``, parametrised over both engines, for the store contract tests.
Missing binaries skip the tests locally with the reason, and fail them in CI.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phitrace.store.target import PostgresTarget, Target, parse_target
from tests.ci import in_ci
from tests.ports import free_port

SUPERUSER = "phitrace"
"""The cluster's superuser, which the tests connect as."""

RUN_AS = "nobody"
"""The existing unprivileged account that owns and runs the cluster when the tests run as root."""


def find_binaries() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``: on PATH, else Debian's newest version."""
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        return None
    newest = max(found, key=lambda p: int(Path(p).parent.parent.name.split(".")[0]))
    return Path(newest).parent


class Server:
    """A running throw-away cluster (see the module's docstring)."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.password = secrets.token_urlsafe(18)
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="phitrace-pg-"))
        self.data = self.root / "data"
        self._account = pwd.getpwnam(RUN_AS) if os.geteuid() == 0 else None
        self._process: subprocess.Popen[bytes] | None = None
        self._databases = 0

    # Running ------------------------------------------------------------------

    def _run_as(self) -> dict[str, Any]:
        """``subprocess`` arguments that run a server binary as its owner, in its directory."""
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.root), "LC_ALL": "C"}
        extra: dict[str, Any] = {"cwd": self.root, "env": env}
        if self._account is not None:
            extra.update(user=self._account.pw_uid, group=self._account.pw_gid, extra_groups=[])
        return extra

    def start(self) -> Server:
        """Create the cluster and start the server; raises with its log when it does not come up."""
        if self._account is not None:
            os.chown(self.root, self._account.pw_uid, self._account.pw_gid)
        os.chmod(self.root, 0o700)
        secret = self.root / "password"
        secret.write_text(self.password)
        if self._account is not None:
            os.chown(secret, self._account.pw_uid, self._account.pw_gid)
        initdb = [
            str(self.binaries / "initdb"),
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            f"--pwfile={secret}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        subprocess.run(initdb, check=True, capture_output=True, **self._run_as())
        secret.unlink()
        log = open(self.root / "server.log", "wb")  # noqa: SIM115 - closed by the server's exit
        self._process = subprocess.Popen(
            [
                str(self.binaries / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.root),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            **self._run_as(),
        )
        log.close()
        self._wait()
        return self

    def _wait(self, timeout: float = 60.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log()}")
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def log(self) -> str:
        """The server's log so far (for a failure message)."""
        try:
            return (self.root / "server.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server (a fast shutdown) and remove its directory."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)

    # Databases ----------------------------------------------------------------

    def url(self, database: str, *, password: bool = True) -> str:
        """The URL of one of the server's databases, with the password unless told otherwise."""
        secret = f":{self.password}" if password else ""
        return f"postgresql://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database; returns its name."""
        import psycopg

        self._databases += 1
        name = f"phitrace_test_{self._databases}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'create database "{name}"'.encode())
        return name

    def target(self, database: str | None = None) -> PostgresTarget:
        """A target naming a database (a new one unless given), password in the URL."""
        target = parse_target(self.url(database or self.create_database()))
        assert isinstance(target, PostgresTarget)
        return target


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason} (PostgreSQL is required in CI)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    """One PostgreSQL server for the whole run."""
    binaries = find_binaries()
    if binaries is None:
        _unavailable("PostgreSQL binaries not found (install the postgresql package)")
    assert binaries is not None
    server = Server(binaries)
    try:
        server.start()
    except (OSError, subprocess.CalledProcessError, RuntimeError) as exc:
        server.stop()
        _unavailable(f"could not start PostgreSQL: {exc}")
    yield server
    server.stop()


@pytest.fixture
def pg_target(postgres_server: Server) -> PostgresTarget:
    """A fresh, empty PostgreSQL database for one test."""
    return postgres_server.target()


def db_arg(target: Target) -> str:
    """The ``--db`` argument naming a target (a PostgreSQL URL with its password)."""
    return target.url if isinstance(target, PostgresTarget) else str(target)


def rows(target: Target, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Rows of a portable query, read with a connection of its own (as another program would)."""
    from phitrace.store.database import open_database

    with open_database(target) as db:
        return [tuple(row) for row in db.execute(sql, params or [])]


ENGINES = ("sqlite", "postgresql")


@pytest.fixture(params=ENGINES)
def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    """A fresh database on each engine in turn: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "phitrace.db"
    server: Server = request.getfixturevalue("postgres_server")
    return server.target()
