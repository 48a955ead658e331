"""Acceptance: precision and recall of health and identifier detection on the labelled set.

Run with ``pytest tests/eval -s`` to see the per-category table.  The suite
fails below precision 0.95 or recall 0.90 (health and identifiers each).
"""

from __future__ import annotations

import pytest
from labelled import Score, corpus_cases, reconstructed, score
from tests.shared_corpus import request_records

from phitrace.analyzer import Analyzer
from phitrace.catalogue.loader import load_catalogue
from phitrace.detect.vocabulary import load_vocabulary
from phitrace.model import HEALTH_CATEGORIES

MIN_PRECISION = 0.95
MIN_RECALL = 0.90


def analyzer() -> Analyzer:
    # No session: each labelled request is judged on its own.
    return Analyzer(load_catalogue(), load_vocabulary())


def report(title: str, result: Score) -> None:
    print(f"\n{title}\n{result.table()}")
    for miss in result.misses:
        print(f"  {miss}")


def check(result: Score) -> None:
    for kind in ("health", "identifier"):
        total = result.total(kind)
        assert total.tp > 0, f"no {kind} labels were matched at all"
        assert total.precision >= MIN_PRECISION, f"{kind} precision {total.precision:.2f}"
        assert total.recall >= MIN_RECALL, f"{kind} recall {total.recall:.2f}"


def test_reconstructed_payloads_for_every_seed_data_type() -> None:
    cases = reconstructed()
    labelled = {label.split(":")[0] for case in cases for label in case.health}
    assert labelled >= set(HEALTH_CATEGORIES)
    result = score(analyzer(), cases)
    report("reconstructed payloads", result)
    check(result)


@pytest.mark.corpus
def test_hand_labelled_corpus_requests(corpus) -> None:  # type: ignore[no-untyped-def]
    result = score(analyzer(), corpus_cases(request_records()))
    report("hand-labelled corpus requests", result)
    check(result)


@pytest.mark.corpus
def test_both_sets_together(corpus) -> None:  # type: ignore[no-untyped-def]
    result = score(analyzer(), reconstructed() + corpus_cases(request_records()))
    report("all labelled requests", result)
    check(result)
