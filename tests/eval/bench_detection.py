"""Benchmark: detection throughput over the corpus's tracker requests (not a test).

Run: python tests/eval/bench_detection.py

Prints, in CPU seconds of this process on one core: the vocabulary's first
use (reading the imported dictionaries and building the phrase matcher), then
requests per second for each stage (match, decode, health, identifiers,
canaries) and for the whole pipeline, once with cold memo tables (every
value seen for the first time) and once warm (a second pass).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.shared_corpus import record_request, request_records  # noqa: E402

from phitrace.analyzer import Analyzer  # noqa: E402
from phitrace.catalogue.loader import load_catalogue  # noqa: E402
from phitrace.decode.request import decode_request  # noqa: E402
from phitrace.detect.canaries import NO_CANARIES, Canaries, find_canaries, parse_canaries  # noqa: E402
from phitrace.detect.health import detect_health, detect_identifiers  # noqa: E402
from phitrace.detect.vocabulary import Vocabulary, load_vocabulary  # noqa: E402
from phitrace.model import Request  # noqa: E402

PERSONA = {"email": "jane.canary@example.org", "phone": "+1 555 555 0123", "name": "Jane Canary"}


def cpu(action: Callable[[], object]) -> float:
    start = time.process_time()
    action()
    return time.process_time() - start


def forget(vocab: Vocabulary) -> None:
    """Empty the vocabulary's memo tables, as in a fresh process."""
    for value in list(vocab._state.values()):
        if isinstance(value, dict):
            value.clear()


def per_second(count: int, seconds: float) -> str:
    return f"{count / seconds:>9,.0f}/s ({seconds / count * 1e6:6.1f} us each)"


def main() -> None:
    start = time.process_time()
    vocab = load_vocabulary()
    loaded = time.process_time() - start
    built = cpu(vocab.prepare)
    print(
        f"vocabulary: files {loaded:.2f} s, dictionaries and matcher {built:.2f} s CPU, "
        f"{vocab.size:,} phrases"
    )
    canaries = parse_canaries({"canaries": PERSONA})
    print(f"canaries: {len(canaries.needles):,} needles in {cpu(canaries.automata):.3f} s CPU")

    catalogue = load_catalogue()
    requests = [record_request(r) for r in request_records()]
    trackers = [r for r in requests if catalogue.match(r) is not None]
    print(f"corpus: {len(requests):,} requests, {len(trackers):,} to trackers")
    decoded = []
    for request in trackers:
        match = catalogue.match(request)
        decoded.append((request, match.signature if match else None, decode_request(request)))

    stages: list[tuple[str, Callable[[], object]]] = [
        ("match", lambda: [catalogue.match(r) for r in trackers]),
        ("decode", lambda: [decode_request(r) for r in trackers]),
        ("health", lambda: [detect_health(d.fields, s, vocab) for _, s, d in decoded]),
        ("identifiers", lambda: [detect_identifiers(d.fields, s) for _, s, d in decoded]),
        ("canaries", lambda: [find_canaries(r, d.fields, canaries) for r, _, d in decoded]),
    ]
    for name, stage in stages:
        forget(vocab)
        cold = cpu(stage)
        warm = cpu(stage)
        print(
            f"  {name:<12} cold {per_second(len(trackers), cold)}   "
            f"warm {per_second(len(trackers), warm)}"
        )

    for label, persona in (("no canaries", NO_CANARIES), ("3 canaries", canaries)):
        pipeline(label, catalogue, vocab, persona, trackers)


def pipeline(
    label: str, catalogue: object, vocab: Vocabulary, persona: Canaries, trackers: list[Request]
) -> None:
    forget(vocab)
    analyzer = Analyzer(catalogue, vocab, persona)  # type: ignore[arg-type]
    cold = cpu(lambda: [analyzer.analyse(r) for r in trackers])
    warm = cpu(lambda: [analyzer.analyse(r) for r in trackers])
    print(
        f"pipeline, {label:<11} cold {per_second(len(trackers), cold)}   "
        f"warm {per_second(len(trackers), warm)}"
    )


if __name__ == "__main__":
    main()
