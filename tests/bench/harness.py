"""Find the benchmark modules, run them in order, and gather their figures.

A benchmark is a module named in :data:`BENCHMARKS` with a ``TITLE`` and a
function ``run(context) -> list[Figure]``.  A benchmark that fails (or
whose corpus is missing) becomes one figure saying why; the others still
run.  Other ``bench_*.py`` files here are stand-alone scripts with their own
command line.
"""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from tests.bench.figures import Figure, failed
from tests.shared_corpus import CorpusMissing


@dataclass(frozen=True)
class Context:
    """What every benchmark gets: a scratch folder and whether to run at reduced size."""

    workdir: Path
    quick: bool = False
    log: Callable[[str], None] = print

    def size(self, full: int, quick: int) -> int:
        """The full-size count, or the reduced one for ``--quick`` smoke runs."""
        return quick if self.quick else full

    def scratch(self, name: str) -> Path:
        """A fresh sub-folder of the work folder."""
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


BENCHMARKS: tuple[str, ...] = (
    "bench_proxy_overhead",
    "bench_pipeline",
    "bench_matching_vs_brave",
    "bench_storage",
    "bench_memory",
    "bench_scan",
    "bench_report_cli",
    "bench_startup",
)
"""The benchmarks ``make bench`` runs, in order."""


def modules(names: tuple[str, ...] = BENCHMARKS) -> list[ModuleType]:
    """The benchmark modules, in order (imported only when chosen)."""
    return [importlib.import_module(f"tests.bench.{name}") for name in names]


def run_one(module: ModuleType, context: Context) -> list[Figure]:
    """Run one benchmark; a failure becomes a figure instead of stopping the suite."""
    started = time.monotonic()
    context.log(f"[bench] {module.TITLE} ...")
    try:
        figures: list[Figure] = module.run(context)
    except CorpusMissing as exc:
        figures = [failed(module.TITLE, f"skipped: {exc}")]
    except ImportError as exc:  # e.g. adblock, which only the bench extra installs
        figures = [failed(module.TITLE, f"skipped: {exc}; run `make install-bench`")]
    except Exception as exc:  # noqa: BLE001 - report and carry on with the other benchmarks
        context.log(traceback.format_exc())
        figures = [failed(module.TITLE, f"error: {type(exc).__name__}: {exc}")]
    context.log(f"[bench] {module.TITLE}: {time.monotonic() - started:.0f} s")
    return figures
