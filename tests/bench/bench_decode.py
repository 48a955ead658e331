"""Payload decoding: requests decoded per CPU second, per shape and over the corpus.

``python -m tests.bench.bench_decode [--quick]`` prints one table.  Rates are
per second of CPU time of this one thread, pinned to one core.  The corpus
figure decodes every tracker request of
``combined-har-requests/requests.jsonl.gz`` (the requests the proxy decodes);
the shapes are single requests in the formats real SDKs send; the bomb
figure is one gzip-in-gzip body of 64 MiB of zeros, stopped at the default
limits.
The module also has ``TITLE`` and ``run(context)`` for the benchmark harness.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import quote

from phitrace.decode import lzstring
from phitrace.decode.request import decode_request
from phitrace.model import Request
from tests.bench import corpus
from tests.bench.bench_pipeline import analyzer, one_core
from tests.bench.figures import Figure, at_least, info, machine, table
from tests.bench.harness import Context

TITLE = "decode"
TRACKER_TARGET = 10_000
"""The whole pipeline must handle this many tracker requests per second; decoding is a part."""


def rate(decode: Callable[[Request], object], requests: Sequence[Request], seconds: float) -> float:
    """Requests decoded per CPU second, replaying ``requests`` for at least ``seconds``."""
    done = 0
    started = time.process_time()
    while True:
        for request in requests:
            decode(request)
        done += len(requests)
        spent = time.process_time() - started
        if spent >= seconds:
            return done / spent


def shapes() -> dict[str, Request]:
    """One request per common payload shape."""
    page = "https://www.example.org/conditions/diabetes/type-2"
    event = {"event": "$pageview", "properties": {"$current_url": page, "token": "phc_x"}}
    clarity = {"e": ["0.7", 1, 0, 9, "p", "u", "s", 1, 0, 0, 0, page], "a": [[1, 1, 1, [page]]]}
    bomb = gzip.compress(gzip.compress(bytes(64 << 20), 1), 9)
    return {
        "GA4 query hit": Request(
            "GET",
            "https://region1.google-analytics.com/g/collect?v=2&tid=G-ABC&gtm=45je54n0v91&_p=17"
            f"&cid=1.2&ul=en-us&sr=375x812&dl={quote(page, safe='')}&dt=Type%202%20diabetes"
            "&en=page_view&_fv=1&_s=1&sid=1745853750&sct=1&seg=0&tfd=2081",
        ),
        "Meta form post": Request(
            "POST",
            "https://www.facebook.com/tr/",
            (),
            (
                f"id=1&ev=Lead&dl={quote(page, safe='')}&cd[buttonText]=Book"
                "&cd[buttonFeatures]=%7B%22innerText%22%3A%22Book%22%7D&fbp=fb.1.1.2"
            ).encode(),
        ),
        "JSON event (text/plain)": Request(
            "POST", "https://us.i.posthog.com/e/", (), json.dumps([event]).encode()
        ),
        "gzip JSON (Clarity)": Request(
            "POST", "https://k.clarity.ms/collect", (), gzip.compress(json.dumps(clarity).encode())
        ),
        "base64 JSON form (Mixpanel)": Request(
            "POST",
            "https://mp.example.org/track/",
            (),
            b"data=" + quote(base64.b64encode(json.dumps(event).encode())).encode(),
        ),
        "lz-string form (PostHog lz64)": Request(
            "POST",
            "https://app.posthog.com/e/",
            (),
            f"data={quote(lzstring.compress_to_base64(json.dumps([event])))}".encode(),
        ),
        "zlib NDJSON (Datadog)": Request(
            "POST",
            "https://browser-intake-datadoghq.com/api/v2/rum",
            (),
            zlib.compress(
                "\n".join(json.dumps({"view": {"url": page}}) for _ in range(5)).encode()
            ),
        ),
        "gzip-in-gzip bomb of 64 MiB": Request("POST", "https://t.example/c", (), bomb),
    }


def run(context: Context) -> list[Figure]:
    pipeline = analyzer()
    requests = corpus.rows()
    trackers = [r for r in requests if pipeline.catalogue.match(r) is not None]
    seconds = 0.5 if context.quick else 3.0
    figures = [info(TITLE, "tracker requests in corpus", len(trackers))]
    with one_core():
        rate(decode_request, trackers, 0.2)
        figures.append(
            info(
                TITLE,
                "corpus tracker requests decoded/s",
                rate(decode_request, trackers, seconds),
                "/s",
            )
        )
        for name, request in shapes().items():
            per_second = rate(decode_request, [request], seconds / 4)
            figures.append(info(TITLE, f"{name} decoded/s", per_second, "/s"))
        rate(pipeline.analyse, trackers, 0.2)  # warm caches and memos, as a running proxy has them
        analysed = rate(pipeline.analyse, trackers, seconds)
    figures.append(
        at_least(TITLE, "tracker flows analysed/s (1 core)", analysed, TRACKER_TARGET, "/s")
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_decode", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs: a smoke test only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="phitrace-bench-") as workdir:
        figures = run(Context(Path(workdir), quick=args.quick))
    print(table(figures, machine()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
