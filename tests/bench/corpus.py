"""Real requests from the shared corpus, as phitrace requests and as loopback load."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench.figures import REPO

from phitrace.model import Request

REQUESTS = "combined-har-requests/requests.jsonl.gz"
SITELIST = "adblock-rust-test-data/top500-sitelist.txt.gz"
EASYPRIVACY = "adblock-rust-test-data/easyprivacy.txt.gz"
HAR_FOLDERS = (
    "markup-healthcare-exchanges-2025/hars",
    "markup-nonprofit-health-sites-2021/hars",
    "pixel-inspector-home-health-tests-2023/hars",
)


class CorpusMissing(RuntimeError):
    """The shared corpus (or one of its files) is not where PHITRACE_CORPUS points."""


def corpus_dir() -> Path:
    """The shared real-world corpus (PHITRACE_CORPUS, else ../shared/corpus)."""
    return Path(os.environ.get("PHITRACE_CORPUS", REPO.parent / "shared" / "corpus"))


def corpus_file(relative: str) -> Path:
    """A file of the corpus; :class:`CorpusMissing` when it is absent."""
    path = corpus_dir() / relative
    if not path.exists():
        raise CorpusMissing(f"{path} not found; set PHITRACE_CORPUS")
    return path


@dataclass(frozen=True)
class Row:
    """One request of the combined HAR index, with what a browser would have sent."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    page_url: str | None

    def request(self) -> Request:
        return Request(self.method, self.url, self.headers, self.body, 0.0, self.page_url)


def _row(record: dict[str, Any]) -> Row:
    headers: list[tuple[str, str]] = []
    if record.get("referer"):
        headers.append(("Referer", record["referer"]))
    if record.get("request_content_type"):
        headers.append(("Content-Type", record["request_content_type"]))
    body = (record.get("post_data") or "").encode("utf-8", "surrogateescape")
    return Row(record["method"], record["url"], tuple(headers), body, record.get("page_url"))


def rows() -> list[Row]:
    """Every request of ``combined-har-requests/requests.jsonl.gz``, in file order."""
    with gzip.open(corpus_file(REQUESTS), "rt", encoding="utf-8") as handle:
        return [_row(json.loads(line)) for line in handle if line.strip()]


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
