"""Offline analysis: run captures (HAR or mitmproxy flow files) into a session each.

Scanning reuses the live pipeline and the same page tracking as the proxy,
so the same traffic yields the same findings whether captured live or read
from a file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from phitrace.analyzer import Analyzer
from phitrace.capture.har import HarError, read_har
from phitrace.capture.pages import PageTracker
from phitrace.model import Request
from phitrace.session import Session
from phitrace.store.rows import Record
from phitrace.store.sessions import end_session, start_session
from phitrace.store.writer import write_record

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ScanResult:
    """What one scanned file produced."""

    path: Path
    session_id: int
    requests: int
    flows: int
    findings: int


def is_flow_file(path: Path) -> bool:
    """True for a ``mitmdump -w`` capture (tnetstring), False for JSON/gzip HAR."""
    with path.open("rb") as handle:
        head = handle.read(16)
    return bool(head[:1].isdigit() and b":" in head)


def _flow_file_requests(
    path: Path, progress: Progress | None, pages: PageTracker
) -> Iterator[tuple[Request, int | None]]:
    from phitrace.capture.flows import message_request, read_flow_file, to_request

    try:
        for index, (flow, offset) in enumerate(read_flow_file(path)):
            request = to_request(flow, pages)
            status = flow.response.status_code if flow.response else None
            yield request, status
            if flow.websocket is not None:
                for message in flow.websocket.messages:
                    if message.from_client:
                        yield message_request(request, message.content, message.timestamp), 101
            if progress is not None and index % 200 == 0:
                progress(offset)
    except (ValueError, KeyError, OSError) as exc:
        raise HarError(f"{path}: not a readable mitmproxy flow file ({exc})") from exc


def requests_in(
    path: Path, progress: Progress | None = None, pages: PageTracker | None = None
) -> tuple[str, Iterator[tuple[Request, int | None]]]:
    """The session source and a stream of (request, status) for a capture file.

    ``pages`` resolves the page of each flow-file request (a new tracker when not given).
    """
    if is_flow_file(path):
        return "flows", _flow_file_requests(path, progress, pages or PageTracker())
    return "har", read_har(path, progress)


def scan_file(
    path: Path,
    analyzer: Analyzer,
    db: sqlite_utils.Database,
    *,
    label: str = "",
    store_bodies: bool = True,
    storage: str = "full",
    batch: int = 500,
    progress: Progress | None = None,
) -> ScanResult:
    """Analyse every request of a capture into a new session of ``db``.

    Each file is its own :class:`~phitrace.session.Session`: ids seen in one capture
    never link requests of another.
    """
    session = Session(label=label or path.name)
    source, stream = requests_in(path, progress, session.pages)
    session_id = start_session(
        db,
        source=source,
        label=label or path.name,
        input=str(path),
        signatures_digest=analyzer.catalogue.digest,
    )
    requests = flows = findings = 0
    pending: list[Record] = []

    def flush() -> None:
        with db.atomic():
            for record in pending:
                write_record(db, record, store_bodies, storage)
        pending.clear()

    for request, status in stream:
        requests += 1
        analysis = analyzer.analyse(request, session)
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


scan_har = scan_file
