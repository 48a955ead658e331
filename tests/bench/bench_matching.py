"""Matching speed: phitrace's catalogue against Adblock Plus engines on 20k real URLs.

Stand-alone (not collected by pytest, not part of ``make bench``)::

    python -m tests.bench.bench_matching [--seconds 3]

Reads adblock-rust's top-500 site list (20,603 request URLs) and EasyPrivacy from
the shared corpus (``PHITRACE_CORPUS``, default ``../shared/corpus``) and prints
URLs per CPU second for: the catalogue (``Catalogue.match``, a dict lookup per
host suffix), the imported-list matcher phitrace uses (``blocklist.BlockList``,
the ``adblock`` bindings to Brave's adblock-rust) and, when it is installed,
``braveblock`` (other bindings to the same engine), each loaded with EasyPrivacy.
Each side gets pre-built inputs, so only the lookups are timed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from phitrace.catalogue.lists import BlockList, network_rules
from phitrace.catalogue.loader import load_catalogue
from phitrace.model import Request
from tests.bench import corpus


def _rate(check: Callable[[], int], items: int, seconds: float) -> tuple[float, int]:
    """URLs per CPU second over repeated passes, and how many one pass flagged."""
    flagged = check()
    done, started = 0, time.process_time()
    while (spent := time.process_time() - started) < seconds:
        check()
        done += items
    return done / max(spent, 1e-9), flagged


def _timed(build: Callable[[], object]) -> tuple[object, float]:
    started = time.process_time()
    built = build()
    return built, (time.process_time() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per matcher")
    args = parser.parse_args()
    urls = corpus.sitelist()
    rules = network_rules(corpus.easyprivacy())
    requests = [Request("GET", url) for url in urls]
    source = "https://www.example.org/"
    rows: list[tuple[str, float, float, int]] = []

    started = time.process_time()
    catalogue = load_catalogue()
    ms = (time.process_time() - started) * 1000
    rate, hits = _rate(
        lambda: sum(catalogue.match(r) is not None for r in requests), len(urls), args.seconds
    )
    rows.append((f"phitrace catalogue ({len(catalogue)} signatures)", ms, rate, hits))

    started = time.process_time()
    blocklist = BlockList([("easyprivacy", rules)])
    ms = (time.process_time() - started) * 1000
    typed = [(u, "other") for u in urls]
    rate, hits = _rate(
        lambda: sum(blocklist.check(u, source, t) is not None for u, t in typed),
        len(urls),
        args.seconds,
    )
    rows.append(("adblock (phitrace imported lists) + EasyPrivacy", ms, rate, hits))

    try:
        import braveblock
    except ImportError:
        rows.append(("braveblock + EasyPrivacy: not installed (pip install braveblock)", 0, 0, 0))
    else:
        engine, ms = _timed(
            lambda: braveblock.Adblocker(
                rules=rules, include_easylist=False, include_easyprivacy=False
            )
        )
        check = engine.check_network_urls  # type: ignore[attr-defined]  # untyped package
        rate, hits = _rate(
            lambda: sum(bool(check(u, source, t)) for u, t in typed), len(urls), args.seconds
        )
        rows.append(("braveblock + EasyPrivacy", ms, rate, hits))

    print(f"{len(urls)} URLs from top500-sitelist, {len(rules)} EasyPrivacy network rules")
    print(f"{'matcher':<66} {'load ms':>8} {'URLs/s':>10} {'flagged':>8}")
    for name, load_ms, per_second, flagged in rows:
        print(f"{name:<66} {load_ms:>8.0f} {per_second:>10,.0f} {flagged:>8}")


if __name__ == "__main__":
    main()
