"""``python -m tests.bench [NAME ...]``: run the benchmarks and print one table of figures."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from tests.bench.figures import machine, table
from tests.bench.harness import BENCHMARKS, Context, modules, run_one


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="run only benchmarks whose module name has this")
    parser.add_argument("--quick", action="store_true", help="reduced sizes: a smoke test only")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    names = tuple(b for b in BENCHMARKS if not args.names or any(n in b for n in args.names))
    if args.list or not names:
        print("\n".join(BENCHMARKS))
        return 0 if names else 2
    described = machine()
    workdir = Path(tempfile.mkdtemp(prefix="phitrace-bench-"))
    os.environ.setdefault("PHITRACE_CACHE_DIR", str(workdir / "cache"))  # not the user's cache
    context = Context(workdir, quick=args.quick, log=_log)
    started = time.monotonic()
    figures = []
    try:
        for module in modules(names):
            figures += run_one(module, context)
    finally:
        if args.keep:
            _log(f"[bench] scratch folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    described.append(("wall time", f"{time.monotonic() - started:.0f} s"))
    if args.quick:
        described.append(("sizes", "--quick: reduced, figures not comparable with targets"))
    print(table(figures, described))
    if args.json:
        payload = {"machine": dict(described), "figures": [asdict(f) for f in figures]}
        args.json.write_text(json.dumps(payload, indent=2))
    return 1 if any(f.value is None and f.name == "did not run" for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
