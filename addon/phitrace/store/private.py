"""Files only their owner can read: databases, reports and bundles carry health data."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, also when the file already existed.

    The file is created with the private mode rather than chmod-ed afterwards,
    so there is no moment when another user could open it.
    """
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "backslashreplace")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(raw)
    os.chmod(path, 0o600)
