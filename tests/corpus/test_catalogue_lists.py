"""The imported-list matcher against adblock-rust's own expected matches.

``matching-test-requests`` pairs each request with the filters that must
match it (as adblock-rust's tests do: one engine per filter).  Exception
filters are checked by their pattern: with the ``@@`` removed they must block.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from phitrace.catalogue.lists import BlockList

pytestmark = pytest.mark.corpus


def test_the_list_matcher_agrees_with_adblock_rusts_expected_matches(corpus: Path) -> None:
    path = corpus / "adblock-rust-test-data" / "matching-test-requests.json.gz"
    requests = json.loads(gzip.decompress(path.read_bytes()))
    checked = 0
    wrong = []
    for request in requests:
        if request["url"] in ("http://", "https://"):
            continue
        for rule in request["filters"]:
            pattern = rule[2:] if rule.startswith("@@") else rule
            hit = BlockList([("t", [pattern])]).check(
                request["url"], request["sourceUrl"], request["type"]
            )
            checked += 1
            if hit is None:
                wrong.append((rule, request["url"], request["type"]))
    assert checked > 9000
    assert wrong == [], wrong[:10]
