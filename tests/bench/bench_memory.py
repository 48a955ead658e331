"""5. Memory: the resident set of mitmdump + phitrace after 10k and after 100k flows.

The proxy-overhead load (corpus requests, 30 % trackers, sinkhole on, every
tracker flow recorded) is sent through one mitmdump + phitrace; its resident
set is read after warm-up, after 10,000 flows and after 100,000.  Growth
between the two would show an unbounded cache or a leak.  The run has a time
budget; on a slow machine it stops early and says how far it got.
"""

from __future__ import annotations

import time

import psutil
from tests.bench.bench_proxy_overhead import load
from tests.bench.figures import Figure, at_most, info
from tests.bench.harness import Context
from tests.bench.loopback import Mitmdump, Planned, Upstream, drive

from phitrace.cli import ADDON_SCRIPT

TITLE = "5 memory"
GROWTH_MB = 50.0
CHUNK = 5000
BUDGET_SECONDS = 300.0


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def send(
    context: Context, proxy: Mitmdump, planned: list[Planned], total: int, deadline: float
) -> int:
    """Send ``total`` requests (the plan, cycled) in chunks; stop early at ``deadline``."""
    sent = 0
    while sent < total and time.monotonic() < deadline:
        size = min(CHUNK, total - sent)
        chunk = [planned[(sent + i) % len(planned)] for i in range(size)]
        outcome = drive(proxy.port, chunk, 50)
        sent += size
        if outcome.errors:
            context.log(f"  {outcome.errors} client errors: {outcome.first_error}")
    return sent


def run(context: Context) -> list[Figure]:
    workdir = context.scratch("memory")
    first, total = context.size(10_000, 1_000), context.size(100_000, 5_000)
    budget = BUDGET_SECONDS if not context.quick else 60.0
    with Upstream() as upstream:
        planned = load(upstream.port, CHUNK)
        proxy = Mitmdump(
            workdir, [ADDON_SCRIPT], ["phitrace_sinkhole=true", f"phitrace_db={workdir / 'p.db'}"]
        )
        try:
            drive(proxy.port, planned[:300], 10)
            idle = rss_mb(proxy.pid)
            deadline = time.monotonic() + budget
            started = time.monotonic()
            sent = send(context, proxy, planned, first, deadline)
            time.sleep(1.0)  # let the writer commit what is queued
            at_first = rss_mb(proxy.pid)
            context.log(f"  {sent:,} flows: RSS {at_first:.0f} MB")
            sent += send(context, proxy, planned, total - first, deadline)
            seconds = time.monotonic() - started
            time.sleep(1.0)
            at_total = rss_mb(proxy.pid)
            context.log(f"  {sent:,} flows: RSS {at_total:.0f} MB")
        finally:
            proxy.stop()
    out = [
        info(TITLE, "RSS after warm-up", idle, "MB"),
        info(TITLE, f"RSS after {first:,} flows", at_first, "MB"),
        info(
            TITLE, f"RSS after {sent:,} flows", at_total, "MB", note=f"{sent / seconds:.0f} flows/s"
        ),
        at_most(
            TITLE,
            f"growth {first // 1000}k → {sent // 1000}k flows",
            at_total - at_first,
            GROWTH_MB,
            "MB",
        ),
    ]
    if sent < total:
        out.append(info(TITLE, "stopped early (time budget)", sent, note=f"of {total:,} flows"))
    return out
