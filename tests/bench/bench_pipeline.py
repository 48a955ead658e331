"""2. Core pipeline: match + decode + detect + assess over every corpus request, no proxy.

Every request of ``combined-har-requests/requests.jsonl.gz`` is analysed by
:meth:`phitrace.analyzer.Analyzer.analyse` with the bundled catalogue and
vocabulary, replayed until each class has run for a few seconds.  Rates are
per second of CPU time of this one thread, pinned to one core, so a busy
neighbour on the machine slows the wall clock but not the figure.  A busy
neighbour still costs CPU time (shared caches, a hypervisor taking the core),
so each pass over the requests is timed on its own and the figure is the
median pass, with the best pass beside it: interference only ever adds time.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from phitrace.analyzer import Analyzer
from phitrace.catalogue.loader import load_catalogue
from phitrace.detect.vocabulary import load_vocabulary
from phitrace.model import Request
from tests.bench import corpus
from tests.bench.figures import Figure, at_least, info
from tests.bench.harness import Context

ORDER = 2
TITLE = "2 core pipeline"
NON_TRACKER_TARGET = 150_000
TRACKER_TARGET = 10_000


@contextmanager
def one_core() -> Iterator[None]:
    """Pin this process to a single CPU for the duration."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@dataclass(frozen=True)
class Rate:
    """Requests per CPU second: the median pass and the best pass."""

    median: float
    best: float


def rate(analyzer: Analyzer, requests: Sequence[Request], seconds: float) -> Rate:
    """Requests analysed per CPU second, replaying ``requests`` for at least ``seconds``."""
    passes: list[float] = []
    started = time.process_time()
    while not passes or time.process_time() - started < seconds:
        before = time.process_time()
        for request in requests:
            analyzer.analyse(request)
        passes.append(max(time.process_time() - before, 1e-9))
    return Rate(len(requests) / statistics.median(passes), len(requests) / min(passes))


def analyzer() -> Analyzer:
    """The analyzer as the proxy builds it: bundled catalogue and vocabulary, no canaries."""
    return Analyzer(load_catalogue(), load_vocabulary())


def split(analyzer: Analyzer, requests: Sequence[Request]) -> tuple[list[Request], list[Request]]:
    """(tracker, non-tracker) requests, by phitrace's own verdict."""
    trackers: list[Request] = []
    others: list[Request] = []
    for request in requests:
        (trackers if analyzer.analyse(request).vendor else others).append(request)
    return trackers, others


def rated(bench: str, name: str, measured: Rate, bound: float) -> Figure:
    """The median rate against its target, the best pass as a note."""
    figure = at_least(bench, name, measured.median, bound, "/s")
    return replace(figure, note=f"best pass {measured.best:,.0f}/s")


def run(context: Context) -> list[Figure]:
    requests = corpus.rows()
    started = time.process_time()
    pipeline = analyzer()
    load_seconds = time.process_time() - started
    trackers, others = split(pipeline, requests)
    findings = sum(len(pipeline.analyse(r).findings) for r in trackers)
    seconds = 0.5 if context.quick else 3.0
    with one_core():
        rate(pipeline, requests, 0.2)  # warm caches and memos, as a running proxy has them
        non_tracker = rate(pipeline, others, seconds)
        tracker = rate(pipeline, trackers, seconds)
        mixed = rate(pipeline, requests, seconds)
    return [
        info(TITLE, "tracker requests in corpus", len(trackers)),
        info(TITLE, "other requests in corpus", len(others)),
        info(TITLE, "findings per tracker request", findings / max(1, len(trackers))),
        info(TITLE, "load catalogue + vocabulary", load_seconds * 1000, "ms"),
        rated(TITLE, "non-tracker flows/s (1 core)", non_tracker, NON_TRACKER_TARGET),
        rated(TITLE, "tracker flows/s (1 core)", tracker, TRACKER_TARGET),
        info(TITLE, "corpus mix flows/s (1 core)", mixed.median, "/s"),
    ]
