"""Every YAML file phitrace ships reads the same with and without libyaml.

phitrace uses libyaml's C loader when PyYAML was built with it and the
pure-Python loader otherwise; a file only one of them accepts would stop
phitrace at start on the other kind of installation.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted(
    p
    for folder in ("signatures", "policies", "examples", "reports")
    for p in (ROOT / folder).rglob("*.y*ml")
)


def test_the_data_folders_hold_yaml() -> None:
    assert len(SHIPPED) > 250


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_both_loaders_read_the_same_document(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    pure = yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506 - SafeLoader is the safe one
    c_loader = getattr(yaml, "CSafeLoader", None)
    if c_loader is not None:
        assert yaml.load(text, Loader=c_loader) == pure  # noqa: S506
