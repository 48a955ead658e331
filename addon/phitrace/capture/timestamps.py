"""Capture timestamps the store can write: a time outside the years 1 to 9999 (UTC) is unknown."""

from __future__ import annotations

from datetime import UTC, datetime


def storable(seconds: object) -> float:
    """``seconds`` since the epoch, or 0.0 (unknown) when no UTC date can hold it.

    Captures are hostile input: a file may claim any number, and the store
    writes each time back as a UTC date.
    """
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return 0.0
    try:
        datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        return 0.0
    return float(seconds)


def from_iso(text: object) -> float:
    """An ISO 8601 time (HAR's ``startedDateTime``) in seconds, 0.0 when unknown or unusable."""
    if not isinstance(text, str) or not text:
        return 0.0
    try:
        return storable(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except (ValueError, OverflowError):
        return 0.0
