"""Locate and read phitrace's data: what ships with it, what the user imports, what it caches."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

_PACKAGE = Path(__file__).resolve().parent

YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML was built with it (several times faster), else PyYAML's."""


def load_yaml(text: str) -> Any:
    """Parse one YAML document with :data:`YAML_LOADER` (safe: plain data only)."""
    return yaml.load(text, Loader=YAML_LOADER)  # noqa: S506 - a safe loader, C or Python


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


def user_cache_dir() -> Path:
    """Where phitrace keeps tables it derives and can rebuild at any time.

    ``$PHITRACE_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/phitrace``, else
    ``~/.cache/phitrace``.  Nothing in it is precious: deleting it only costs
    the next start the time to rebuild.
    """
    explicit = os.environ.get("PHITRACE_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(base) / "phitrace"
