"""7. Report: ``phitrace report`` on databases of 1k, 10k and 100k findings.

Each database holds one session of real analyses: the corpus's tracker
requests that carry findings, analysed by the pipeline and written with
:func:`phitrace.store.writer.write_record` (raw requests included), repeated until
the session holds the wanted number of findings.  The report command runs as
a child process, once per format (HTML, then the streamed JSON and CSV
exports); its wall time, peak resident set and output size are shown.  Every
format is written while the database is read, and each one's peak resident
set at 100k findings has a target.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from phitrace.model import Analysis
from phitrace.store.database import open_database
from phitrace.store.rows import Record
from phitrace.store.sessions import end_session, start_session
from phitrace.store.writer import write_record
from tests.bench import corpus
from tests.bench.bench_pipeline import analyzer
from tests.bench.child import Measured, measure, phitrace_command
from tests.bench.figures import Figure, at_most, failed, info
from tests.bench.harness import Context

TITLE = "7 report"
TIMEOUT = 300.0
FORMATS = ("html", "json", "csv")
RSS_TARGET_MB = 250.0
"""Peak resident set of ``report --format html|json|csv`` at 100k findings."""
TARGET_FINDINGS = 100_000


def analyses() -> list[Analysis]:
    """Pipeline results for every corpus request that has findings."""
    pipeline = analyzer()
    found = [pipeline.analyse(request) for request in corpus.rows()]
    return [a for a in found if a.findings and a.recorded]


def seed(path: Path, findings: int, source: list[Analysis]) -> int:
    """A database with one session of at least ``findings`` findings; returns the flow count."""
    db = open_database(path)
    session = start_session(db, source="bench", label=f"{findings} findings")
    written = flows = 0
    with db.atomic():
        while written < findings:
            analysis = source[flows % len(source)]
            write_record(db, Record(session, analysis, 200), store_bodies=True)
            written += len(analysis.findings)
            flows += 1
    end_session(db, session)
    db.close()
    return flows


def report(db: Path, out: Path, fmt: str = "html") -> Measured:
    """Run ``phitrace report`` as a child process."""
    command = phitrace_command("report", "--db", str(db), "--format", fmt, "-o", str(out))
    result = measure(command, timeout=TIMEOUT)
    if result.returncode != 0:
        raise RuntimeError(f"phitrace report failed: {result.output[-2000:]}")
    return result


def peak(label: str, fmt: str, size: int, result: Measured) -> Figure:
    """Peak RSS; at 100k findings beside its target."""
    name = f"{label}: {fmt} peak RSS"
    if size == TARGET_FINDINGS:
        return at_most(TITLE, name, result.peak_mb, RSS_TARGET_MB, "MB")
    return info(TITLE, name, result.peak_mb, "MB")


def run(context: Context) -> list[Figure]:
    workdir = context.scratch("report")
    sizes = (1_000, 10_000, TARGET_FINDINGS) if not context.quick else (1_000, 10_000)
    source = analyses()
    figures = []
    for size in sizes:
        db = workdir / f"{size}.db"
        flows = seed(db, size, source)
        label = f"{size // 1000}k findings"
        for fmt in FORMATS:
            out = workdir / f"{size}.{fmt}"
            try:
                result = report(db, out, fmt)
            except subprocess.TimeoutExpired:
                figures.append(failed(TITLE, f"{label}: {fmt} took over {TIMEOUT:.0f} s"))
                continue
            figures += [
                info(TITLE, f"{label}: {fmt} time", result.seconds, "s", note=f"{flows:,} flows"),
                info(TITLE, f"{label}: {fmt} size", out.stat().st_size / 2**20, "MB"),
                peak(label, fmt, size, result),
            ]
            os.remove(out)
        os.remove(db)
    return figures
