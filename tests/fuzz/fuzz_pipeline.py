"""Coverage-guided fuzzing of the whole analysis pipeline, from match to store.

Run it with ``make fuzz`` (``FUZZ_SECONDS=600 make fuzz`` for longer), or
directly: ``python tests/fuzz/fuzz_pipeline.py -max_total_time=60 [corpus dir]``.
It needs atheris (``pip install -e ".[fuzz]"``).

Each input is read as the recipe for one request: a method, a tracker
endpoint or a made-up URL, a query, headers, a body and a wrapping for the
body (compressed, truncated, base64).  :func:`one_input` is plain Python, so
the test suite also drives it with Hypothesis without atheris installed.
A failure is an exception escaping the pipeline or the store, or an
:class:`~phitrace.model.Analysis` that breaks a limit (see :func:`check`).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import sys
import zlib
from collections.abc import Callable
from functools import cache

import brotli
import sqlite_utils
import zstandard

from phitrace.analyzer import Analyzer
from phitrace.catalogue.loader import load_catalogue
from phitrace.decode.request import Limits
from phitrace.detect.canaries import parse_canaries
from phitrace.detect.vocabulary import load_vocabulary
from phitrace.model import (
    HEALTH_CATEGORIES,
    IDENTIFIER_CATEGORIES,
    KINDS,
    SEVERITIES,
    Analysis,
    Request,
)
from phitrace.store.migrations import migrate
from phitrace.store.rows import STORAGE_MODES, Record
from phitrace.store.sessions import start_session
from phitrace.store.writer import write_record, write_records

CANARIES = {"email": "jane.canary@example.org", "drug": "Metformin", "phone": "+1 555 555 0123"}
METHODS = ("GET", "POST", "OPTIONS", "PUT", "HEAD", "get", "", "P\x00ST")
HEADER_NAMES = (
    "Content-Type",
    "Content-Encoding",
    "Cookie",
    "Referer",
    "Origin",
    "User-Agent",
    "Sec-Fetch-Dest",
    "X-Anything",
    "",
)
OTHER_URLS = (
    "https://www.example.org/",
    "http://127.0.0.1:8080/collect",
    "https://[::1]:443/g/collect",
    "https://xn--bcher-kva.example/tr/",
    "http://a:b@host.example:99999/x",
    "https://[not-an-ip/",
    "//no-scheme/path",
    "",
)


class Reader:
    """Takes typed values off the front of a fuzzer input; runs dry gracefully."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def choice(self, options: tuple[str, ...]) -> str:
        return options[self.byte() % len(options)]

    def raw(self, limit: int) -> bytes:
        size = min(self.byte() * 4, limit)
        piece = self.data[self.pos : self.pos + size]
        self.pos += len(piece)
        return piece

    def text(self, limit: int) -> str:
        """Text as mitmproxy hands it over: undecodable bytes become lone surrogates."""
        return self.raw(limit).decode("utf-8", "surrogateescape")

    def rest(self) -> bytes:
        piece = self.data[self.pos :]
        self.pos = len(self.data)
        return piece


def _truncate(data: bytes, keep: int) -> bytes:
    return data[: len(data) * keep // 256]


WRAPPINGS: tuple[tuple[str, Callable[[bytes], bytes]], ...] = (
    ("identity", lambda b: b),
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("br", brotli.compress),
    ("zstd", zstandard.compress),
    ("base64", base64.b64encode),
)


@cache
def tracker_urls() -> tuple[str, ...]:
    """Endpoint URLs (without query) from the catalogue's own test vectors."""
    urls = set()
    for signature in load_catalogue().signatures:
        for vector in signature.tests:
            url = str(vector.get("request", {}).get("url", ""))
            if url:
                urls.add(url.split("?", 1)[0])
    return tuple(sorted(urls))


@cache
def analyzer() -> Analyzer:
    """The real catalogue and vocabulary, with canaries so every request is decoded."""
    return Analyzer(load_catalogue(), load_vocabulary(), parse_canaries({"canaries": CANARIES}))


def request_from(data: bytes) -> Request:
    """Build one request from a fuzzer input."""
    reader = Reader(data)
    method = reader.choice(METHODS)
    pick = reader.byte()
    urls = tracker_urls()
    base = urls[pick % len(urls)] if pick < 224 else OTHER_URLS[pick % len(OTHER_URLS)]
    url = f"{base}?{reader.text(600)}" if reader.byte() % 4 else base + reader.text(600)
    headers = tuple(
        (reader.choice(HEADER_NAMES), reader.text(200)) for _ in range(reader.byte() % 5)
    )
    name, wrap = WRAPPINGS[reader.byte() % len(WRAPPINGS)]
    keep = reader.byte()
    body = reader.rest()
    if name != "identity":
        body = wrap(body)
        if keep < 128:
            body = _truncate(body, keep * 2)
        headers += (("Content-Encoding", name),)
    return Request(method, url, headers, body, 1_700_000_000.0)


def check(analysis: Analysis, request: Request, limits: Limits) -> None:
    """Raise AssertionError when an analysis breaks a limit or the data contract."""
    assert analysis.request is request
    assert len(analysis.fields) <= limits.max_fields, len(analysis.fields)
    for field in analysis.fields:
        assert len(field.value) <= limits.max_value_chars, (field.path, len(field.value))
        assert len(field.path) <= limits.max_path_chars, field.path[:80]
        assert len(field.trail) <= limits.max_depth, (field.path[:80], field.trail)
    assert analysis.severity is None or analysis.severity in SEVERITIES
    assert analysis.truncated is None or isinstance(analysis.truncated, str)
    categories = {*HEALTH_CATEGORIES, *IDENTIFIER_CATEGORIES, *CANARIES}
    for finding in analysis.findings:
        assert finding.kind in KINDS, finding
        assert finding.category in categories, finding
        assert finding.severity in SEVERITIES, finding


class _Rollback(Exception):
    pass


@cache
def _database() -> tuple[sqlite_utils.Database, int]:
    db = sqlite_utils.Database(memory=True)
    migrate(db)
    return db, start_session(db, source="fuzz")


def store(analysis: Analysis, storage: str) -> None:
    """Write the analysis in a storage mode, then undo it.

    ``full`` goes through :func:`write_record` (as a capture scan does),
    ``redact`` through the writer thread's batched :func:`write_records`.
    """
    db, session = _database()
    record = Record(session, analysis, 200, False, ("query.dl",))
    with contextlib.suppress(_Rollback), db.atomic():
        if storage == "full":
            write_record(db, record, True, storage)
        else:
            write_records(db, [record, record], True, storage)
        raise _Rollback


def one_input(data: bytes) -> None:
    """The fuzz target: analyse and store one request built from ``data``."""
    request = request_from(data)
    analysis = analyzer().analyse(request)
    check(analysis, request, analyzer().limits)
    if analysis.recorded:
        store(analysis, STORAGE_MODES[len(data) % len(STORAGE_MODES)])


def main() -> None:
    import atheris

    analyzer()
    # phitrace is already imported above: instrument what is loaded for coverage feedback.
    atheris.instrument_all()
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
