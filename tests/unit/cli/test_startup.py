"""Start-up pauses the cycle collector and freezes what it loaded, and always restores it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from phitrace.cli.startup import long_lived


@pytest.fixture
def collector() -> Iterator[None]:
    """Leave the collector as the test found it, whatever the test does to it."""
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_the_block_runs_without_the_collector_which_comes_back_on(collector: None) -> None:
    gc.enable()
    with long_lived():
        assert not gc.isenabled()
    assert gc.isenabled()


def collected(thing: object) -> bool:
    """Whether later collections still walk ``thing`` (a frozen object is out of their sight)."""
    return any(other is thing for other in gc.get_objects())


def test_what_a_block_loads_is_frozen_out_of_later_collections(collector: None) -> None:
    with long_lived():
        loaded = [{"term": n} for n in range(10)]
    assert not collected(loaded) and not collected(loaded[0])
    made_after = [{"term": 1}]
    assert collected(made_after)


def test_a_collector_switched_off_before_stays_off(collector: None) -> None:
    gc.disable()
    with long_lived():
        pass
    assert not gc.isenabled()


def test_a_block_that_raises_freezes_nothing_and_restores_the_collector(collector: None) -> None:
    gc.enable()
    left: list[list[int]] = []
    with pytest.raises(ValueError, match="bad file"), long_lived():
        left.append([1])
        raise ValueError("bad file")
    assert gc.isenabled()
    assert collected(left) and collected(left[0])
