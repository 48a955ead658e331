"""Fuzzing the whole pure pipeline: hostile requests never raise and never overrun a limit.

Requests go through :class:`~phitrace.analyzer.Analyzer` with the real
catalogue, vocabulary and a set of canaries (so non-tracker requests are
decoded too), then into the store in both storage modes.  Each target runs
``PHITRACE_FUZZ_EXAMPLES`` examples (10,000 in CI, 1,000 by default elsewhere;
``make fuzz`` runs more, and the atheris harness in ``tests/fuzz`` runs coverage-guided).
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import zlib
from collections.abc import Callable
from urllib.parse import quote, urlencode

import brotli
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.ci import fuzz_examples
from tests.fuzz import fuzz_pipeline as harness

from phitrace.model import Request
from phitrace.store.rows import STORAGE_MODES

EXAMPLES = fuzz_examples()
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


HEALTH = ("diabetes", "hiv test", "Metformin", "chemotherapy", "pregnancy", "depression")
KEYS = (
    "dl",
    "dt",
    "dr",
    "ep.search_term",
    "cd[search_string]",
    "ev",
    "q",
    "p",
    "pageName",
    "en",
    "uid",
    "cid",
    "em",
    "ph",
    "data",
    "events",
    "",
)
INVALID_UTF8 = (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xa5")
PIECES = (*INVALID_UTF8, b"a", b"=", b"&", b"{", b"}", b"\x00", b"\n", b"%", b"diabetes")
URLISH = (
    "https://www.example.org/conditions/diabetes",
    "https://www.example.org/search?q=hiv+test",
    "https://[::1]/x",
    "https://[bad/x",
    "http://x.org:99999/",
    "/conditions/diabetes",
    "//",
)
CODECS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": lambda data: brotli.compress(data, quality=4),
    "zstd": zstandard.compress,
}

HOSTILE_CHARS = "\x00\x1b\x9b\x7f[]{}=&;%+\r\n\t\\\"'/:?#@\u202e\u2028\ufeff\udc80"


class Hostile:
    """Seeded builders for bulky hostile content.

    Hypothesis draws the shape of each request (which body, codec, cut,
    sizes); the bulk comes from a drawn seed, which keeps 10,000 examples
    cheap and every failure reproducible.
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def text(self) -> str:
        rng = self.rng
        kind = rng.randrange(5)
        if kind == 0:
            return rng.choice(HEALTH + URLISH)
        if kind == 1:  # undecodable bytes, as mitmproxy hands them over
            return rng.randbytes(rng.randrange(40)).decode("utf-8", "surrogateescape")
        if kind == 2:
            return "".join(rng.choices(HOSTILE_CHARS, k=rng.randrange(24)))
        if kind == 3:
            return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(16)))
        return repr(rng.random() * 10 ** rng.randrange(-5, 30))

    def key(self) -> str:
        return self.rng.choice(KEYS) if self.rng.random() < 0.6 else self.text()

    def value(self, depth: int = 0) -> object:
        rng = self.rng
        kind = rng.randrange(8 if depth < 4 else 5)
        if kind < 3:
            return self.text()
        if kind == 3:
            return rng.choice((None, True, False, 0, -1, 2**70, 1e308, 0.5))
        if kind == 4:  # a JSON document inside a string, as trackers nest them
            return json.dumps(self.value(depth + 1))
        if kind == 5:
            return [self.value(depth + 1) for _ in range(rng.randrange(4))]
        return {self.key(): self.value(depth + 1) for _ in range(rng.randrange(5))}

    def pairs(self) -> list[tuple[str, str]]:
        return [(self.key(), self.text()) for _ in range(self.rng.randrange(8))]


def _deep(opening: str, closing: str, inner: str) -> Callable[[int], bytes]:
    return lambda depth: (opening * depth + inner + closing * depth).encode()


def _random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _pieces(size: int, seed: int) -> bytes:
    return b"".join(random.Random(seed).choices(PIECES, k=size))


def _compressed(body: bytes, codec: str, keep: float | None) -> bytes:
    data = CODECS[codec](body)
    return data if keep is None else data[: int(len(data) * keep)]


def _json(value: object) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


def _form(pairs: list[tuple[str, str]]) -> bytes:
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass").encode()


sizes = st.integers(0, 4096)
seeds = st.integers(0, 2**32)
hostile = seeds.map(Hostile)
plain_bodies = st.one_of(
    st.binary(max_size=512),
    st.builds(_random_bytes, sizes, seeds),
    hostile.map(lambda h: _json(h.value())),
    hostile.map(lambda h: _form(h.pairs())),
    hostile.map(lambda h: b"\n".join(_json(h.value()) for _ in range(2 + h.rng.randrange(4)))),
    hostile.map(lambda h: b"\r\n".join(_form(h.pairs()) for _ in range(2 + h.rng.randrange(4)))),
    st.builds(_pieces, sizes, seeds),
)
bodies = st.one_of(
    plain_bodies,
    st.builds(
        _compressed, plain_bodies, st.sampled_from(sorted(CODECS)), st.none() | st.floats(0, 1)
    ),
    st.integers(1, 60_000).map(_deep("[", "]", "")),
    st.integers(1, 60_000).map(_deep('{"a":', "}", '"diabetes"')),
    st.integers(1, 3_000).map(_deep('{"x":"', '"}', "1")),
    st.builds(
        lambda size, seed: base64.b64encode(_random_bytes(size, seed)),
        st.integers(0, 300_000),
        seeds,
    ),
    hostile.map(lambda h: _json({"e": base64.b64encode(_json(h.value())).decode()})),
)


def _url(base: str, h: Hostile, raw: bool) -> str:
    if raw:
        query = h.text() + quote(h.text(), safe="=&;%", errors="surrogatepass")
    else:
        query = _form(h.pairs()).decode()
    fragment = h.text() if h.rng.random() < 0.2 else ""
    return f"{base}?{query}" + (f"#{fragment}" if fragment else "")


urls = st.builds(
    _url,
    st.sampled_from(harness.tracker_urls()) | st.sampled_from(harness.OTHER_URLS),
    hostile,
    st.booleans(),
)
HEADER_NAMES = (*harness.HEADER_NAMES, "Content-Encoding", "Cookie", "Referer")


@st.composite
def requests(draw: st.DrawFn) -> Request:
    body = draw(bodies)
    h = draw(hostile)
    headers = tuple(
        (h.rng.choice(HEADER_NAMES) if h.rng.random() < 0.8 else h.text(), h.text())
        for _ in range(h.rng.randrange(5))
    )
    encoding = draw(st.sampled_from(("", "gzip", "br", "zstd", "deflate", "gzip, br", "x")))
    extra = (("Content-Encoding", encoding),) if encoding else ()
    method = draw(st.sampled_from(harness.METHODS))
    return Request(method, draw(urls), headers + extra, body, 1_700_000_000.0)


def run_target(
    name: str,
    target: Callable[..., None],
    strategy: st.SearchStrategy,
    figures: Callable[[str], None],
) -> None:
    """Run one fuzz target for EXAMPLES examples and report how many ran."""
    ran = 0

    @FUZZ
    @given(strategy)
    def fuzz(example: object) -> None:
        nonlocal ran
        ran += 1
        target(example)

    fuzz()
    figures(f"fuzz {name}: {ran} examples, no escaped exception, no limit overrun")
    assert ran >= EXAMPLES


def analyse_and_store(request: Request, storage: str = "full") -> None:
    analysis = harness.analyzer().analyse(request)
    harness.check(analysis, request, harness.analyzer().limits)
    if analysis.recorded:
        harness.store(analysis, storage)


@pytest.mark.slow
def test_hostile_requests_never_escape_the_pipeline_or_overrun_its_limits(
    figures: Callable[[str], None],
) -> None:
    cases = st.tuples(requests(), st.sampled_from(STORAGE_MODES))
    run_target("pipeline requests", lambda case: analyse_and_store(*case), cases, figures)


@pytest.mark.slow
def test_the_atheris_harness_target_holds_on_random_inputs(
    figures: Callable[[str], None],
) -> None:
    run_target("harness bytes", harness.one_input, st.binary(max_size=4096), figures)


OVERSIZED: dict[str, Callable[[], bytes]] = {
    "3MB-base64": lambda: base64.b64encode(_random_bytes(3 * 1024 * 1024, 1)),
    "500k-deep-array": lambda: _deep("[", "]", "")(500_000),
    "100k-deep-object": lambda: _deep('{"a":', "}", '"diabetes"')(100_000),
    "50k-fields": lambda: b"&".join(b"k%d=diabetes" % n for n in range(50_000)),
    "1M-char-value": lambda: json.dumps({"v": "x" * 1_000_000}).encode(),
    "truncated-50MB-gzip-bomb": lambda: gzip.compress(b"\x00" * 50_000_000, 1)[:-8],
    "40MB-zstd-bomb": lambda: zstandard.compress(b"a=1&" * 10_000_000),
    "20MB-brotli-bomb": lambda: brotli.compress(b"{" * 20_000_000, quality=1),
    "invalid-utf8-and-nul": lambda: b"\xff\xfe\x00" * 400_000,
}


@pytest.mark.parametrize("name", sorted(OVERSIZED))
def test_oversized_bodies_stay_within_the_limits(name: str) -> None:
    body = OVERSIZED[name]()
    for encoding in ("", "gzip", "zstd", "br"):
        request = Request(
            "POST",
            "https://region1.google-analytics.com/g/collect?v=2&tid=G-1",
            (("Content-Encoding", encoding),) if encoding else (),
            body,
        )
        for storage in STORAGE_MODES:
            analyse_and_store(request, storage)
