"""A PostgreSQL server a test may stop, start and restart with ``pg_ctl``, as an operator does.

The run's shared server (``postgres_server``) must stay up for every other
test, so a test that takes the database away gets a server of its own:
``restartable_server``.  ``pg_ctl`` runs as the cluster's owner (the
unprivileged ``nobody`` when the tests run as root, as the server does) and
keeps the server's command line (``postmaster.opts``), so a restarted server
listens where it did.  The fixture stops it and removes its directory at the end.
"""

from __future__ import annotations

import os
import pwd
import shlex
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.ci import in_ci
from tests.support.postgres import RUN_AS, Server, find_binaries


def _as_owner() -> dict[str, Any]:
    """``subprocess`` arguments that run a server binary as the cluster's owner."""
    if os.geteuid() != 0:
        return {}
    account = pwd.getpwnam(RUN_AS)
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _options(server: Server) -> str:
    """The options the server was first started with, from its ``postmaster.opts``."""
    words = shlex.split((server.data / "postmaster.opts").read_text())[1:]
    at = words.index("-D")
    return shlex.join(words[:at] + words[at + 2 :])


def pg_ctl(server: Server, action: str) -> None:
    """``pg_ctl stop``, ``start`` or ``restart`` (fast shutdown), waiting until it is done.

    ``start`` gets the options of the first start (``restart`` reads them itself).
    """
    command = [str(server.binaries / "pg_ctl"), action, "-D", str(server.data), "-m", "fast"]
    command += ["-w", "-t", "60", "-l", str(server.root / "pg_ctl.log")]
    if action == "start":
        command += ["-o", _options(server)]
    subprocess.run(
        command,
        cwd=server.root,
        env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"},
        capture_output=True,
        timeout=90,
        check=action != "stop",
        **_as_owner(),
    )


@pytest.fixture
def restartable_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """A server of the test's own; its password in ``PGPASSWORD`` for every child process."""
    binaries = find_binaries()
    if binaries is None:
        reason = "PostgreSQL binaries not found (install the postgresql package)"
        pytest.fail(reason) if in_ci() else pytest.skip(reason)
    assert binaries is not None
    server = Server(binaries).start()
    monkeypatch.setenv("PGPASSWORD", server.password)
    yield server
    pg_ctl(server, "stop")  # a server pg_ctl started is not the fixture's own process
    server.stop()
