"""Every bundled signature's own test vectors pass, as `phitrace signatures test` checks."""

from __future__ import annotations

import pytest

from phitrace.analyzer import Analyzer
from phitrace.catalogue.loader import load_catalogue
from phitrace.catalogue.vectors import VectorResult, run_vectors
from phitrace.detect.vocabulary import load_vocabulary

CATALOGUE = load_catalogue()


@pytest.fixture(scope="module")
def results() -> dict[str, list[VectorResult]]:
    by_signature: dict[str, list[VectorResult]] = {}
    for result in run_vectors(Analyzer(CATALOGUE, load_vocabulary())):
        by_signature.setdefault(result.signature, []).append(result)
    return by_signature


@pytest.mark.parametrize("signature_id", [s.id for s in CATALOGUE.signatures])
def test_signature_vectors_pass(results: dict[str, list[VectorResult]], signature_id: str) -> None:
    ran = results.get(signature_id, [])
    failures = [f"{r.name}: {'; '.join(r.problems)}" for r in ran if not r.ok]
    assert ran, f"{signature_id} has no test vectors"
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("signature", CATALOGUE.signatures, ids=lambda s: s.id)
def test_every_signature_has_a_positive_vector(signature) -> None:  # type: ignore[no-untyped-def]
    expected = [(t.get("expect") or {}).get("vendor") for t in signature.tests]
    assert signature.id in expected


def test_the_catalogue_covers_the_lawsuit_vendors_and_fifty_more() -> None:
    lawsuit = {
        "google-analytics", "google-ads", "meta-pixel", "microsoft-uet", "adobe-analytics",
        "microsoft-clarity", "microsoft-app-insights", "adobe-websdk", "adobe-audience-manager",
        "adobe-target", "adobe-launch", "quantum-metric", "qualtrics", "twitter",
    }  # fmt: skip
    ids = {s.id for s in CATALOGUE.signatures}
    assert lawsuit <= ids
    assert len(ids - lawsuit) >= 50
