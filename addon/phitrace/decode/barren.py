"""Values already seen to decode to nothing, so that the next copy is not sniffed again.

Most values a tracker sends are ids, timestamps, URLs and flags that no
decoder opens, and the same ones come back in every hit of a page view.
Expanding such a value adds no field, notes no limit and spends no
decompression budget; what it did is fixed by the text, how deep its decode
trail already is, how deep it sits in nested documents and the limits, so a
value that did nothing once does nothing again under the same four.
"""

from __future__ import annotations

from phitrace.decode.budget import Budget, Limits

MEMO_SIZE = 4096
"""Values remembered; the memo is emptied when full, so it holds recent values only."""

Key = tuple[str, int, int]
"""(text, length of its decode trail, document nesting)."""

_barren: dict[Key, Limits] = {}


def known(key: Key, limits: Limits) -> bool:
    """True when this value, at this depth and nesting, was seen to decode to nothing."""
    return _barren.get(key) is limits


def spent(budget: Budget) -> tuple[int, int, int]:
    """What a budget has given out so far: fields, noted limits, decompressed bytes."""
    return len(budget.fields), len(budget.reasons), budget.decompressed


def remember(key: Key, limits: Limits) -> None:
    """Record that expanding this value under ``limits`` produced and spent nothing."""
    if len(_barren) >= MEMO_SIZE:
        _barren.clear()
    _barren[key] = limits
