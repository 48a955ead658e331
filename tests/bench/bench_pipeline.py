"""2. Core pipeline: match + decode + detect + assess over every corpus request, no proxy.

Every request of ``combined-har-requests/requests.jsonl.gz`` is analysed by
:meth:`phitrace.pipeline.Analyzer.analyse` with the bundled catalogue and
vocabulary, replayed until each class has run for a few seconds.  Rates are
per second of CPU time of this one thread, pinned to one core, so a busy
neighbour on the machine slows the wall clock but not the figure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from tests.bench import corpus
from tests.bench.figures import Figure, at_least, info
from tests.bench.harness import Context

from phitrace.model import Request
from phitrace.pipeline import Analyzer
from phitrace.signatures import load_catalogue
from phitrace.vocabulary import load_vocabulary

ORDER = 2
TITLE = "2 core pipeline"
NON_TRACKER_TARGET = 100_000
TRACKER_TARGET = 5_000


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


def rate(analyzer: Analyzer, requests: Sequence[Request], seconds: float) -> float:
    """Requests analysed per CPU second, replaying ``requests`` for at least ``seconds``."""
    done = 0
    started = time.process_time()
    while True:
        for request in requests:
            analyzer.analyse(request)
        done += len(requests)
        spent = time.process_time() - started
        if spent >= seconds:
            return done / spent


def analyzer() -> Analyzer:
    """The analyzer as the proxy builds it: bundled catalogue and vocabulary, no canaries."""
    return Analyzer(load_catalogue(), load_vocabulary())


def split(analyzer: Analyzer, requests: Sequence[Request]) -> tuple[list[Request], list[Request]]:
    """(tracker, non-tracker) requests, by phitrace's own verdict."""
    trackers, others = [], []
    for request in requests:
        (trackers if analyzer.analyse(request).vendor else others).append(request)
    return trackers, others


def run(context: Context) -> list[Figure]:
    requests = [row.request() for row in corpus.rows()]
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
        at_least(TITLE, "non-tracker flows/s (1 core)", non_tracker, NON_TRACKER_TARGET, "/s"),
        at_least(TITLE, "tracker flows/s (1 core)", tracker, TRACKER_TARGET, "/s"),
        info(TITLE, "corpus mix flows/s (1 core)", mixed, "/s"),
    ]
