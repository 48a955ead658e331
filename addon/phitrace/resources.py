"""Locate the data shipped with phitrace: signatures and report templates."""

from __future__ import annotations

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
