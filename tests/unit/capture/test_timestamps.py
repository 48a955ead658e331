"""Capture timestamps: any claimed time either fits a UTC date or is unknown (0.0)."""

from __future__ import annotations

import pytest

from phitrace.capture.timestamps import from_iso, storable


@pytest.mark.parametrize(
    "claimed", [1e300, -1e300, float("inf"), float("nan"), True, "1767225600", None]
)
def test_times_no_date_can_hold_are_unknown(claimed: object) -> None:
    assert storable(claimed) == 0.0


def test_ordinary_times_are_kept() -> None:
    assert storable(1767225600) == 1767225600.0
    assert from_iso("2026-01-01T00:00:00.000Z") == 1767225600.0


@pytest.mark.parametrize(
    "text", ["", "yesterday", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", 5]
)
def test_unreadable_or_unstorable_iso_times_are_unknown(text: object) -> None:
    assert from_iso(text) == 0.0
