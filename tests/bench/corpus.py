"""Real requests from the shared corpus, as phitrace requests and as loopback load."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from phitrace.model import Request
from tests.shared_corpus import (
    CorpusMissing,
    corpus_dir,
    corpus_file,
    record_request,
    request_records,
)

SITELIST = "adblock-rust-test-data/top500-sitelist.txt.gz"
EASYPRIVACY = "adblock-rust-test-data/easyprivacy.txt.gz"
HAR_FOLDERS = (
    "markup-healthcare-exchanges-2025/hars",
    "markup-nonprofit-health-sites-2021/hars",
    "pixel-inspector-home-health-tests-2023/hars",
)


def rows() -> list[Request]:
    """Every request of the combined request index, in file order."""
    return [record_request(record) for record in request_records()]


def sitelist() -> list[str]:
    """The top-500 site list: request URLs grouped by site, one per line."""
    with gzip.open(corpus_file(SITELIST), "rt", encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip()]


def easyprivacy() -> str:
    """The EasyPrivacy filter list text."""
    with gzip.open(corpus_file(EASYPRIVACY), "rt", encoding="utf-8") as handle:
        return handle.read()


def har_files() -> list[Path]:
    """Every corpus HAR capture (gzip-compressed)."""
    files = [f for folder in HAR_FOLDERS for f in sorted(corpus_file(folder).glob("*.har.gz"))]
    if not files:
        raise CorpusMissing(f"no HAR captures under {corpus_dir()}")
    return files


def har_entries(path: Path) -> Iterator[dict[str, Any]]:
    """The entries of one corpus HAR capture."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        yield from json.load(handle)["log"]["entries"]
