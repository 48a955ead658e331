"""3. Tracker matching against Brave's engine: URL → tracker, same URLs, same process.

The 20k URLs of adblock-rust's top-500 site list are classified by
phitrace's catalogue (:meth:`phitrace.catalogue.matcher.Catalogue.match`) and by
adblock-rust (the ``adblock`` package, Python bindings to Brave's engine)
loaded with EasyPrivacy.  The list has no page context, but it is grouped by
site, each group opening with the site's root URL; that URL is the page
(source URL) of the requests after it.  Rates are per CPU second; both
sides get pre-built inputs, so only the lookup is timed.

The two answer different questions: EasyPrivacy flags any tracking
resource (scripts included), phitrace's catalogue names the collection
endpoints of the vendors it has field maps for.  Agreement shows the
overlap, not who is right.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from phitrace.catalogue.lists import resource_type
from phitrace.catalogue.loader import load_catalogue
from phitrace.model import Request
from tests.bench import corpus
from tests.bench.figures import Figure, at_least, info
from tests.bench.harness import Context

ORDER = 3
TITLE = "3 matching vs Brave"


def request_type(url: str) -> str:
    """adblock-rust's resource type for a bare URL (lists give none), as phitrace guesses it."""
    return resource_type(Request("GET", url, (), b"", 0.0))


def with_pages(urls: Sequence[str]) -> list[tuple[str, str]]:
    """(url, page) pairs: each site's root URL is the page of the requests after it."""
    pairs = []
    page = urls[0] if urls else ""
    for url in urls:
        parts = urlsplit(url)
        if parts.path in ("", "/") and not parts.query:
            page = url
        pairs.append((url, page))
    return pairs


def per_cpu_second(check: Callable[[], int], items: int, seconds: float) -> float:
    """Items checked per CPU second, repeating ``check`` (one pass) for at least ``seconds``."""
    done = 0
    started = time.process_time()
    while True:
        check()
        done += items
        spent = time.process_time() - started
        if spent >= seconds:
            return done / spent


def brave_engine(rules: str) -> object:
    """adblock-rust with one filter list, optimised as Brave loads it."""
    import adblock

    filters = adblock.FilterSet()
    filters.add_filter_list(rules, format="standard")
    return adblock.Engine(filters, optimize=True)


def run(context: Context) -> list[Figure]:
    pairs = with_pages(corpus.sitelist())
    rules = corpus.easyprivacy()
    started = time.process_time()
    catalogue = load_catalogue()
    catalogue_load = time.process_time() - started
    started = time.process_time()
    engine = brave_engine(rules)
    engine_load = time.process_time() - started

    requests = [Request("GET", url, (("Referer", page),)) for url, page in pairs]
    typed = [(url, page, request_type(url)) for url, page in pairs]
    check_brave = engine.check_network_urls  # type: ignore[attr-defined]

    def phitrace_pass() -> int:
        return sum(1 for r in requests if catalogue.match(r) is not None)

    def brave_pass() -> int:
        return sum(1 for u, p, t in typed if check_brave(u, p, t).matched)

    ours = [catalogue.match(r) is not None for r in requests]
    theirs = [check_brave(u, p, t).matched for u, p, t in typed]
    seconds = 0.5 if context.quick else 4.0
    phitrace_rate = per_cpu_second(phitrace_pass, len(requests), seconds)
    brave_rate = per_cpu_second(brave_pass, len(typed), seconds)

    both = sum(1 for a, b in zip(ours, theirs, strict=True) if a and b)
    only_ours = sum(1 for a, b in zip(ours, theirs, strict=True) if a and not b)
    only_theirs = sum(1 for a, b in zip(ours, theirs, strict=True) if b and not a)
    agree = sum(1 for a, b in zip(ours, theirs, strict=True) if a == b)
    return [
        info(TITLE, "URLs", len(pairs)),
        info(TITLE, "phitrace catalogue lookups/s", phitrace_rate, "/s"),
        info(TITLE, "adblock-rust + EasyPrivacy checks/s", brave_rate, "/s"),
        at_least(TITLE, "phitrace ÷ adblock-rust speed", phitrace_rate / brave_rate, 1.0, "×"),
        info(TITLE, "catalogue load", catalogue_load * 1000, "ms"),
        info(TITLE, "EasyPrivacy engine build", engine_load * 1000, "ms"),
        info(TITLE, "agreement (same verdict)", 100 * agree / len(pairs), "%"),
        info(TITLE, "flagged by both", both),
        info(TITLE, "flagged by phitrace only", only_ours),
        info(TITLE, "flagged by EasyPrivacy only", only_theirs),
        info(
            TITLE,
            "phitrace matches EasyPrivacy also flags",
            100 * both / max(1, both + only_ours),
            "%",
        ),
    ]
