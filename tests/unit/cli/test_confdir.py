"""``phitrace proxy`` makes mitmproxy's directory private before mitmproxy writes its CA key."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from phitrace.cli.main import main


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: privacy must not depend on the user's setting."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Stand in for mitmdump: record its arguments instead of starting a proxy."""
    from mitmproxy.tools import main as mitm

    calls: list[list[str]] = []
    monkeypatch.setattr(mitm, "mitmdump", lambda args: calls.append(args) or 0)
    return calls


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def proxy(tmp_path: Path, confdir: Path) -> None:
    args = ["proxy", "--db", str(tmp_path / "p.db"), "--confdir", str(confdir)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output


def test_a_new_confdir_is_created_private_under_umask_000(
    tmp_path: Path, open_umask: None, started: list[list[str]]
) -> None:
    confdir = tmp_path / "home" / ".mitmproxy"
    proxy(tmp_path, confdir)
    assert started, "mitmproxy was not started"
    assert mode(confdir) == 0o700
    assert mode(confdir.parent) == 0o700


def test_the_ca_key_of_an_existing_confdir_is_tightened(
    tmp_path: Path, open_umask: None, started: list[list[str]]
) -> None:
    confdir = tmp_path / "conf"
    confdir.mkdir(mode=0o777)
    key, cert = confdir / "mitmproxy-ca.pem", confdir / "mitmproxy-ca-cert.pem"
    for path in (key, cert):
        path.write_text("pem")
        os.chmod(path, 0o666)
    proxy(tmp_path, confdir)
    # An existing directory keeps its mode (a container stack shares the certificate).
    assert mode(confdir) == 0o777
    assert mode(key) == 0o600
    assert mode(cert) == 0o666  # the certificate is public; only the key is secret
