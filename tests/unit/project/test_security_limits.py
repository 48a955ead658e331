"""SECURITY.md's table of limits states the values the code enforces, and where to set them."""

from __future__ import annotations

import importlib
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from phitrace.cli.capture import scan
from phitrace.proxy.limits import LIMIT_OPTIONS
from phitrace.store.database import BUSY_TIMEOUT_ENV

SECURITY = (Path(__file__).resolve().parents[3] / "SECURITY.md").read_text()
UNITS = {"": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "s": 1, "×": 1}
_VALUE = re.compile(r"^(\d+(?:\.\d+)?) ?(KiB|MiB|GiB|s|×)?$")


def limit_rows() -> list[tuple[str, str, str, str]]:
    """The (limit, value, set with, defined in) rows of the Limits section's table."""
    section = SECURITY.split("\n## Limits\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    cells = [tuple(c.strip() for c in line.strip("|").split("|")) for line in lines[1:]]
    assert all(len(row) == 4 for row in cells), cells
    return [(a, b, c, d) for a, b, c, d in cells]


def resolve(reference: str) -> Any:
    """The object a dotted ``module.NAME.attribute`` reference names."""
    parts = reference.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for name in parts[split:]:
            target = getattr(target, name)
        return target
    raise AssertionError(f"{reference} names no module")


def number(value: str) -> float:
    """A table value (``2 MiB``, ``250×``, ``0.25 s``, ``4000``) as a number."""
    match = _VALUE.match(value)
    assert match, f"cannot read the value {value!r}"
    return float(match.group(1)) * UNITS[match.group(2) or ""]


ROWS = limit_rows()


def test_the_table_lists_the_limits_the_hardening_relies_on() -> None:
    defined = {row[3].strip("`") for row in ROWS}
    for field in ("max_body_bytes", "max_decompressed_bytes", "max_ratio", "max_seconds"):
        assert f"phitrace.decode.budget.Limits.{field}" in defined
    for name in (
        "store.rows.MAX_STORED_BODY",
        "capture.json_stream.MAX_DEPTH",
        "decode.document.MAX_DOCUMENT_BYTES",
        "decode.document.DOCUMENT_SECONDS",
    ):
        assert f"phitrace.{name}" in defined
    assert len(ROWS) >= 25


@pytest.mark.parametrize(("limit", "value", "where", "reference"), ROWS, ids=[r[0] for r in ROWS])
def test_each_stated_value_is_the_codes_constant(
    limit: str, value: str, where: str, reference: str
) -> None:
    actual = resolve(reference.strip("`"))
    if isinstance(actual, timedelta):
        actual = actual.total_seconds()
    assert number(value) == pytest.approx(float(actual)), f"{limit}: {reference} is {actual}"


def test_each_named_option_sets_the_limit_it_stands_beside() -> None:
    by_name = {option.name: option.field for option in LIMIT_OPTIONS}
    scan_flags = {opt for param in scan.params for opt in param.opts}
    stated = set()
    for limit, _value, where, reference in ROWS:
        for option in re.findall(r"`(phitrace_\w+)`", where):
            stated.add(option)
            if option in by_name:
                assert reference.strip("`").endswith(f".Limits.{by_name[option]}"), limit
        for flag in re.findall(r"`scan (--[\w-]+)`", where):
            assert flag in scan_flags, flag
    assert set(by_name) <= stated
    assert "phitrace_max_stored_body_bytes" in stated
    assert any(BUSY_TIMEOUT_ENV in where for _, _, where, _ in ROWS)
