"""5. Memory: the resident set of mitmdump + phitrace after 10k and after 100k flows.

The proxy-overhead load (corpus requests, 30 % trackers, sinkhole on, every
tracker flow recorded) is sent through one mitmdump + phitrace; its resident
set is read after warm-up, after 10,000 flows and after 100,000.  Growth
between the two would show an unbounded cache or a leak.  Every flow gets a
query parameter of its own (``_pt=<n>``), so a cache keyed by URL sees
100,000 different keys rather than the corpus's few thousand over again.  The run has a time
budget (the whole suite must fit in 15 minutes); on a slow or busy machine it
stops early, says how far it got, and judges the growth it saw scaled up
linearly to 100k flows, which overstates a cache that levels off and never
understates a leak that grows with every flow.
"""

from __future__ import annotations

import time
from dataclasses import replace

import psutil

from phitrace.cli.main import ADDON_SCRIPT
from tests.bench.bench_proxy_overhead import load
from tests.bench.figures import Figure, at_most, info
from tests.bench.harness import Context
from tests.bench.loopback import Mitmdump, Planned, Upstream, drive

TITLE = "5 memory"
GROWTH_MB = 50.0
CHUNK = 5000
BUDGET_SECONDS = 330.0


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def numbered(item: Planned, n: int) -> Planned:
    """The same request with a query parameter of its own, so that no two URLs repeat."""
    line, rest = item.wire.split(b" HTTP/1.1\r\n", 1)
    joiner = b"&" if b"?" in line else b"?"
    return replace(item, wire=b"%s%s_pt=%d HTTP/1.1\r\n%s" % (line, joiner, n, rest))


def send(
    context: Context,
    proxy: Mitmdump,
    planned: list[Planned],
    span: tuple[int, int],
    deadline: float,
) -> int:
    """Send flows number ``start`` to ``total`` (the plan, cycled) in chunks; stop at ``deadline``.

    Returns how many were sent.
    """
    start, total = span
    sent = start
    while sent < total and time.monotonic() < deadline:
        size = min(CHUNK, total - sent)
        chunk = [numbered(planned[(sent + i) % len(planned)], sent + i) for i in range(size)]
        outcome = drive(proxy.port, chunk, 50)
        sent += size
        if outcome.errors:
            context.log(f"  {outcome.errors} client errors: {outcome.first_error}")
    return sent - start


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
            sent = send(context, proxy, planned, (0, first), deadline)
            time.sleep(1.0)  # let the writer commit what is queued
            at_first = rss_mb(proxy.pid)
            context.log(f"  {sent:,} flows: RSS {at_first:.0f} MB")
            sent += send(context, proxy, planned, (sent, total), deadline)
            seconds = time.monotonic() - started
            time.sleep(1.0)
            at_total = rss_mb(proxy.pid)
            context.log(f"  {sent:,} flows: RSS {at_total:.0f} MB")
        finally:
            proxy.stop()
    return figures(first, total, sent, seconds, (idle, at_first, at_total))


def figures(
    first: int, total: int, sent: int, seconds: float, rss: tuple[float, float, float]
) -> list[Figure]:
    """RSS at each point and the growth from ``first`` flows to ``total`` (scaled if short)."""
    idle, at_first, at_total = rss
    growth = at_total - at_first
    out = [
        info(TITLE, "RSS after warm-up", idle, "MB"),
        info(TITLE, f"RSS after {first:,} flows", at_first, "MB"),
        info(
            TITLE, f"RSS after {sent:,} flows", at_total, "MB", note=f"{sent / seconds:.0f} flows/s"
        ),
    ]
    if sent >= total or sent <= first:
        out.append(
            at_most(
                TITLE, f"growth {first // 1000}k → {sent // 1000}k flows", growth, GROWTH_MB, "MB"
            )
        )
        return out
    scaled = growth * (total - first) / (sent - first)
    figure = at_most(
        TITLE, f"growth {first // 1000}k → {total // 1000}k flows, scaled", scaled, GROWTH_MB, "MB"
    )
    out.append(
        replace(figure, note=f"measured {growth:.1f} MB over {sent - first:,} flows; time budget")
    )
    return out
