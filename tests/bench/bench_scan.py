"""6. Offline scan: ``phitrace scan`` on a HAR of 100k+ entries built from the corpus HARs.

The corpus's HAR captures are repeated (page ids renamed per copy) into one
uncompressed HAR file of at least 100,000 entries, and a smaller one of a
fifth of that.  ``phitrace scan`` runs on each as a separate process (no
imported lists, raw requests stored, as by default); its wall time and peak
resident set (from the kernel's accounting for that child) are reported.
If the reader streams, peak memory does not grow with the file.  Last, four
HARs of 6,000 entries are scanned with ``--jobs 1`` and ``--jobs 2``: the
speed-up of two worker processes on a two-core machine.
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.bench import corpus
from tests.bench.child import Measured, measure, phitrace_command
from tests.bench.figures import Figure, at_least, at_most, info
from tests.bench.harness import Context

TITLE = "6 offline scan"
GROWTH_MB = 50.0
JOBS_SPEEDUP = 1.7


def _entry(copy: int, ref: str | None, rest: str) -> str:
    """An entry's JSON with its page reference renamed for this copy."""
    if not ref:
        return "{" + rest
    return '{"pageref": ' + json.dumps(f"c{copy}-{ref}") + ", " + rest


def build_har(path: Path, entries: int) -> int:
    """Write a HAR of ``entries`` or more entries by repeating the corpus HARs; return the count.

    Page ids are renamed per capture file and per copy (``c3-f2-page_1``), so
    every page stays distinct; each entry is serialised once and reused.
    """
    pages: list[dict[str, Any]] = []
    items: list[tuple[str | None, str]] = []  # (renamed pageref, entry JSON after its "{")
    for index, file in enumerate(corpus.har_files()):
        with gzip.open(file, "rt", encoding="utf-8") as handle:
            log = json.load(handle)["log"]
        pages += [{**p, "id": f"f{index}-{p.get('id')}"} for p in log.get("pages") or []]
        for entry in log.get("entries") or []:
            ref = entry.pop("pageref", None)
            items.append((f"f{index}-{ref}" if ref else None, json.dumps(entry)[1:]))
    copies = -(-entries // len(items))
    renamed = (json.dumps({**p, "id": f"c{c}-{p['id']}"}) for c in range(copies) for p in pages)
    with path.open("w", encoding="utf-8") as out:
        out.write(
            '{"log": {"version": "1.2", "creator": {"name": "phitrace-bench", "version": "1"}'
        )
        out.write(', "pages": [' + ",".join(renamed) + '], "entries": [\n')
        for copy in range(copies):
            out.write(",\n" if copy else "")
            out.write(",\n".join(_entry(copy, ref, rest) for ref, rest in items))
        out.write("]}}\n")
    return copies * len(items)


def scan(har: Path, db: Path, lists: Path) -> Measured:
    """Run ``phitrace scan`` as a child process with no imported lists."""
    env = {**os.environ, "PHITRACE_LISTS": str(lists)}
    result = measure(phitrace_command("scan", str(har), "--db", str(db)), env)
    if result.returncode != 0:
        raise RuntimeError(f"phitrace scan failed: {result.output[-2000:]}")
    return result


def jobs_speedup(context: Context, lists: Path) -> list[Figure]:
    """``phitrace scan`` of 4 HARs with ``--jobs 2`` against ``--jobs 1`` (medians, alternating)."""
    workdir = context.scratch("scan/jobs")
    entries = context.size(6_000, 1_000)
    hars = [workdir / f"part-{index}.har" for index in range(4)]
    for har in hars:
        build_har(har, entries)
    env = {**os.environ, "PHITRACE_LISTS": str(lists)}
    seconds: dict[int, list[float]] = {1: [], 2: []}
    for run in range(context.size(3, 1)):
        for jobs in (1, 2):
            db = workdir / f"jobs{jobs}-{run}.db"
            command = phitrace_command("scan", *map(str, hars), "--db", str(db))
            result = measure([*command, "--jobs", str(jobs)], env)
            if result.returncode != 0:
                raise RuntimeError(f"phitrace scan --jobs {jobs} failed: {result.output[-2000:]}")
            seconds[jobs].append(result.seconds)
    one, two = (statistics.median(seconds[jobs]) for jobs in (1, 2))
    note = f"{one:.1f} s with one job, {two:.1f} s with two; {os.cpu_count()} cores"
    figure = at_least(TITLE, "4 HARs on 2 cores speed-up (--jobs 2)", one / two, JOBS_SPEEDUP, "×")
    return [replace(figure, note=note)]


def run(context: Context) -> list[Figure]:
    workdir = context.scratch("scan")
    lists = context.scratch("scan/no-lists")
    large_count = context.size(100_000, 10_000)
    small, large = workdir / "small.har", workdir / "large.har"
    started = time.monotonic()
    small_entries = build_har(small, large_count // 5)
    large_entries = build_har(large, large_count)
    context.log(f"  built {large_entries:,}-entry HAR in {time.monotonic() - started:.0f} s")
    size_mb = large.stat().st_size / 2**20
    few = scan(small, workdir / "small.db", lists)
    many = scan(large, workdir / "large.db", lists)
    context.log(f"  {many.output}")
    return [
        info(TITLE, "HAR entries", large_entries, note=f"{size_mb:,.0f} MB uncompressed"),
        info(
            TITLE,
            "entries/s",
            large_entries / many.seconds,
            "/s",
            note=f"{many.seconds:.0f} s wall, {size_mb / many.seconds:.1f} MB/s",
        ),
        info(TITLE, f"peak RSS, {small_entries // 1000}k entries", few.peak_mb, "MB"),
        info(TITLE, f"peak RSS, {large_entries // 1000}k entries", many.peak_mb, "MB"),
        at_most(
            TITLE, "peak RSS growth with 5× the file", many.peak_mb - few.peak_mb, GROWTH_MB, "MB"
        ),
        *jobs_speedup(context, lists),
    ]
