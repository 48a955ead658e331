"""Start-up without the cycle collector: what a start loads lives as long as the process.

A start imports a few hundred modules and loads the derived tables (some
200k objects, the vocabulary's terms among them).  Every 700 new container
objects trigger a collection that walks the younger ones, a full one then
walks them all again, and so does the collection at interpreter exit;
none of them is garbage.  So imports and table loads run with the
collector paused and what they made is then frozen (``gc.freeze``): kept
out of every later collection, those of a long scan and the last one at
exit included.  Together these passes were a fifth of the wall time of a
``phitrace scan`` of one request.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived() -> Iterator[None]:
    """Run the block with the collector paused, then freeze everything alive.

    The collector is restored as it was.  When the block raises, nothing is
    frozen: what it left behind may be garbage.  Cyclic garbage made inside
    a block that succeeds is frozen with the rest: a start makes little.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        if enabled:
            gc.enable()
