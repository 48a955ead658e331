"""mitmproxy's configuration directory, made private before mitmproxy writes its CA key there.

mitmproxy creates the directory with the user's umask, so under ``umask 000``
the directory holding the CA's private key would be world-writable and its
files readable by anyone.  ``phitrace proxy`` creates it 0700 first, and
tightens a directory (and key files) of the user's own that are more open.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from phitrace.store.private import make_private_dirs

SECRET_FILES = ("mitmproxy-ca.pem", "mitmproxy-ca.p12", "mitmproxy-dhparam.pem")
"""The files in the directory that hold the CA's private key (or its parameters)."""


class ConfdirError(OSError):
    """The configuration directory cannot be made private; one line saying why."""


def _tighten(path: Path, mode: int) -> None:
    """Drop group and other permissions from a file or directory the user owns."""
    info = path.stat()
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, stat.S_IMODE(info.st_mode) & mode)


def prepare_confdir(confdir: Path) -> None:
    """Create ``confdir`` 0700, or tighten the CA key files of an existing one to the owner.

    An existing directory keeps its mode: a container stack shares it (read-only)
    so that browsers can import the public CA certificate from it.
    """
    try:
        if not confdir.exists():
            make_private_dirs(confdir)
            return
        if not confdir.is_dir():
            raise ConfdirError(f"--confdir {confdir} is not a directory — pass a directory")
        for name in SECRET_FILES:
            if (confdir / name).is_file():
                _tighten(confdir / name, 0o600)
    except ConfdirError:
        raise
    except OSError as exc:
        raise ConfdirError(
            f"cannot make mitmproxy's directory {confdir} private: {exc.strerror or exc}"
        ) from exc
