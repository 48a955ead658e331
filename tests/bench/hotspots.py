"""``python -m tests.bench.hotspots``: where the time goes, in the core pipeline and the proxy.

* Core pipeline: pyinstrument over the corpus's tracker and non-tracker
  requests (as in benchmark 2), printed flat (own time per function) and
  saved as call trees.
* Proxy path: py-spy samples mitmdump + phitrace while the proxy-overhead
  load runs through it; printed as the share of the event-loop thread spent
  inside phitrace's hooks, phitrace's heaviest functions (inclusive), and
  the writer thread's share.

Full outputs go to ``build/bench/`` (``--out`` to change).  py-spy needs
ptrace permission on the proxy process; without it that part is skipped.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.bench.figures import REPO

SAMPLE_RATE = 200


def profile_pipeline(out: Path, seconds: float) -> None:
    from pyinstrument import Profiler
    from pyinstrument.renderers import ConsoleRenderer

    from tests.bench import corpus
    from tests.bench.bench_pipeline import analyzer, split

    pipeline = analyzer()
    requests = corpus.rows()
    trackers, others = split(pipeline, requests)
    for name, chosen in (("non-tracker", others), ("tracker", trackers)):
        profiler = Profiler(interval=0.0005)
        profiler.start()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for request in chosen:
                pipeline.analyse(request)
        profiler.stop()
        session = profiler.last_session
        assert session is not None
        tree = ConsoleRenderer(show_all=False, time="percent_of_total").render(session)
        flat = ConsoleRenderer(flat=True, time="percent_of_total").render(session)
        (out / f"pipeline-{name}.txt").write_text(tree + "\n" + flat)
        print(f"\n== core pipeline, {name} requests: own time by function (top 15) ==")
        print("\n".join(flat.splitlines()[:22]))


_LINE = re.compile(r":\d+\)$")


def _frames(line: str) -> tuple[list[str], int]:
    """A raw py-spy line: its frames (line numbers dropped, so a function is one key), count."""
    stack, _, count = line.rstrip().rpartition(" ")
    return [_LINE.sub(")", f) for f in stack.split(";")], int(count)


def summarise_spy(raw: Path) -> str:
    """Shares of samples: phitrace's hooks on the loop thread, its functions, the writer."""
    loop: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total_loop = total = 0
    for line in raw.read_text().splitlines():
        frames, count = _frames(line)
        total += count
        writer = any("Writer._run" in f for f in frames)
        threads[
            "phitrace-writer" if writer else "event loop" if "mitmdump" in frames[0] else "other"
        ] += count
        leaf[frames[-1]] += count
        if writer or "mitmdump" not in frames[0]:
            continue
        total_loop += count
        for frame in set(frames):
            if "phitrace/" in frame or "PhiTrace." in frame:
                loop[frame] += count
    # The proxy's hooks are spread over its composed addons (Analyse.request, ...).
    hooks = sum(
        n
        for f, n in loop.items()
        if "(phitrace/proxy/" in f
        and f.split(" ")[0].rpartition(".")[2] in ("request", "response", "error")
    )
    lines = [
        f"samples: {total} ({', '.join(f'{k} {v}' for k, v in threads.items())})",
        f"event loop in phitrace hooks: {100 * hooks / max(1, total_loop):.1f} % of its samples",
        "",
        "phitrace functions on the event loop (inclusive % of loop samples):",
    ]
    lines += [f"  {100 * n / max(1, total_loop):5.1f} %  {f}" for f, n in loop.most_common(25)]
    lines += ["", "own time, whole process (% of all samples):"]
    lines += [f"  {100 * n / max(1, total):5.1f} %  {f}" for f, n in leaf.most_common(20)]
    return "\n".join(lines)


def profile_proxy(out: Path, count: int) -> None:
    from phitrace.cli.main import ADDON_SCRIPT
    from tests.bench.bench_proxy_overhead import load
    from tests.bench.loopback import Mitmdump, Upstream, drive

    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    work = Path(tempfile.mkdtemp(prefix="phitrace-hotspots-"))
    raw = out / "proxy-py-spy.txt"
    try:
        with Upstream() as upstream:
            planned = load(upstream.port, count)
            proxy = Mitmdump(
                work, [ADDON_SCRIPT], ["phitrace_sinkhole=true", f"phitrace_db={work / 'p.db'}"]
            )
            try:
                drive(proxy.port, planned[:300], 10)
                sampler = subprocess.Popen(
                    [
                        spy,
                        "record",
                        "-p",
                        str(proxy.pid),
                        "-r",
                        str(SAMPLE_RATE),
                        "-f",
                        "raw",
                        "-o",
                        str(raw),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                time.sleep(1.0)
                drive(proxy.port, planned, 50)
                sampler.send_signal(signal.SIGINT)
                _, err = sampler.communicate(timeout=60)
            finally:
                proxy.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not raw.exists():
        print(f"\npy-spy could not sample the proxy: {err.decode(errors='replace').strip()}")
        return
    summary = summarise_spy(raw)
    (out / "proxy-summary.txt").write_text(summary + "\n")
    print(f"\n== proxy path: mitmdump + phitrace, {count} requests, 50 at once ==")
    print(summary)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.hotspots", description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench")
    parser.add_argument("--seconds", type=float, default=4.0, help="pipeline time per class")
    parser.add_argument("--requests", type=int, default=5000, help="proxy load size")
    parser.add_argument("--skip-proxy", action="store_true")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    profile_pipeline(args.out, args.seconds)
    if not args.skip_proxy:
        profile_proxy(args.out, args.requests)
    print(f"\nfull profiles in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
