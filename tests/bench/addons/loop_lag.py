"""Measures the proxy's event-loop lag and when phitrace's storage thread commits.

Loaded next to phitrace in the soak benchmark.  A task on mitmproxy's event
loop asks to sleep 5 ms and records how late it wakes up: any stretch in
which the loop cannot run (a blocking call on it, or a thread holding the
GIL) shows as lag.  ``Writer._commit`` is wrapped to record the start and
end of every SQLite transaction, so the harness can compare the lag while a
commit runs with the lag otherwise.  With ``bench_store=false`` the commits
are skipped (nothing is written), for a baseline of the same load without
storage.  A request to ``http://bench-stats.invalid/`` is answered locally
with the samples so far (as JSON) and starts a new window.
"""

from __future__ import annotations

import asyncio
import json
import time
from array import array
from typing import Any

from mitmproxy import ctx, http

from phitrace.store import writer as store

STATS_HOST = "bench-stats.invalid"
TICK = 0.005


class LoopLag:
    def __init__(self) -> None:
        self.ticks = array("d")  # (started, lag) pairs, flattened
        self.commits = array("d")  # (started, ended) pairs, flattened
        self._task: asyncio.Task[None] | None = None

    def load(self, loader: Any) -> None:
        loader.add_option(
            "bench_store", bool, True, "Let phitrace commit; false drops every batch unwritten."
        )
        original = store.Writer._commit
        commits = self.commits

        def timed(writer: store.Writer, db: Any, batch: Any, *args: Any) -> None:
            if not ctx.options.bench_store:
                return
            started = time.perf_counter()
            try:
                original(writer, db, batch, *args)
            finally:
                commits.extend((started, time.perf_counter()))

        store.Writer._commit = timed  # type: ignore[method-assign,assignment]

    def running(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(TICK)
            self.ticks.extend((started, time.perf_counter() - started - TICK))

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.request.pretty_host != STATS_HOST:
            return
        body = json.dumps({"ticks": list(self.ticks), "commits": list(self.commits)})
        del self.ticks[:]
        del self.commits[:]
        flow.response = http.Response.make(200, body, {"Content-Type": "application/json"})

    def done(self) -> None:
        if self._task is not None:
            self._task.cancel()


addons = [LoopLag()]
