"""Offline analysis: run captures through the pipeline into a new session each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from phitrace.har import read_har
from phitrace.pipeline import Analyzer
from phitrace.store import Record, end_session, start_session, write_record


@dataclass(frozen=True)
class ScanResult:
    """What one scanned file produced."""

    path: Path
    session_id: int
    requests: int
    flows: int
    findings: int


def scan_har(
    path: Path,
    analyzer: Analyzer,
    db: sqlite_utils.Database,
    *,
    label: str = "",
    store_bodies: bool = True,
    batch: int = 500,
) -> ScanResult:
    """Analyse every request of a HAR file into a new session of ``db``."""
    session_id = start_session(
        db,
        source="har",
        label=label or path.name,
        input=str(path),
        signatures_digest=analyzer.catalogue.digest,
    )
    requests = flows = findings = 0
    pending: list[Record] = []

    def flush() -> None:
        with db.atomic():
            for record in pending:
                write_record(db, record, store_bodies)
        pending.clear()

    for request, status in read_har(path):
        requests += 1
        analysis = analyzer.analyse(request)
        if not analysis.recorded:
            continue
        flows += 1
        findings += len(analysis.findings)
        pending.append(Record(session_id, analysis, status))
        if len(pending) >= batch:
            flush()
    flush()
    end_session(db, session_id)
    return ScanResult(path, session_id, requests, flows, findings)
