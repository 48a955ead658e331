"""Where the shared real-world corpus is, and its combined request index as phitrace requests.

Tests, the detection evaluation and the benchmarks all read the same index
(``combined-har-requests/requests.jsonl.gz``); this module is the one place
that knows where it lives and how a record becomes the request a browser sent.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any, NoReturn

import pytest

from phitrace.model import Request
from tests.ci import in_ci

REPO = Path(__file__).resolve().parent.parent
REQUESTS = "combined-har-requests/requests.jsonl.gz"


class CorpusMissing(FileNotFoundError):
    """The shared corpus (or one of its files) is not where PHITRACE_CORPUS points."""


def corpus_dir() -> Path:
    """The shared real-world corpus (PHITRACE_CORPUS, else ../shared/corpus)."""
    return Path(os.environ.get("PHITRACE_CORPUS", REPO.parent / "shared" / "corpus"))


def corpus_unavailable(reason: str) -> NoReturn:
    """End a test that needs the corpus: a failure in CI, a skip with the reason elsewhere."""
    if in_ci():
        pytest.fail(f"CI: {reason}", pytrace=False)
    pytest.skip(reason)


def corpus_file(relative: str) -> Path:
    """A file of the corpus; :class:`CorpusMissing` when it is absent."""
    path = corpus_dir() / relative
    if not path.exists():
        raise CorpusMissing(f"{path} not found; set PHITRACE_CORPUS")
    return path


def request_records() -> list[dict[str, Any]]:
    """Every record of the combined request index, in file order."""
    with gzip.open(corpus_file(REQUESTS), "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def record_request(record: dict[str, Any]) -> Request:
    """An index record as the request a browser sent (Referer and Content-Type kept)."""
    headers: list[tuple[str, str]] = []
    if record.get("referer"):
        headers.append(("Referer", record["referer"]))
    if record.get("request_content_type"):
        headers.append(("Content-Type", record["request_content_type"]))
    body = (record.get("post_data") or "").encode("utf-8", "surrogateescape")
    return Request(
        record["method"], record["url"], tuple(headers), body, 0.0, record.get("page_url")
    )
