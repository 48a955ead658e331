"""Locate phitrace's data: what ships with it (signatures, templates) and what the user imports."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the directory of bundled data called ``name`` (``signatures``, ``reports``).

    An installed wheel carries the data inside the package; a source checkout
    (editable install) keeps it at the top of the repository.
    """
    inside = _PACKAGE / name
    if inside.is_dir():
        return inside
    checkout = _PACKAGE.parent.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"phitrace's {name}/ directory is missing from {_PACKAGE}; reinstall phitrace"
    )


def user_data_dir(name: str, env: str) -> Path:
    """Where imported data called ``name`` lives: ``$<env>``, else the user's data directory.

    Imported lists and entity maps share this rule, so both honour
    ``$XDG_DATA_HOME`` (else ``~/.local/share``) the same way.
    """
    explicit = os.environ.get(env)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(base) / "phitrace" / name
