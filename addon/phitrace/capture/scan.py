"""Offline analysis: run captures (HAR or mitmproxy flow files) into a session each.

Scanning reuses the live pipeline and the same page tracking as the proxy,
so the same traffic yields the same findings whether captured live or read
from a file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

from phitrace.analyzer import Analyzer
from phitrace.capture.har import HarError, Responses, read_har
from phitrace.capture.pages import PageTracker
from phitrace.capture.skipped import SkipLog
from phitrace.capture.timestamps import storable
from phitrace.model import Analysis, Request, Response
from phitrace.session import Session
from phitrace.store.database import write_transaction
from phitrace.store.engine import Store
from phitrace.store.rows import MAX_STORED_BODY, Record, party_rows
from phitrace.store.sessions import end_session, start_session, touch_sessions
from phitrace.store.writer import write_inventory, write_record

if TYPE_CHECKING:
    from mitmproxy import http

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ScanResult:
    """What one scanned file produced."""

    path: Path
    session_id: int
    requests: int
    flows: int
    findings: int
    skipped: int = 0
    warnings: tuple[str, ...] = ()
    """One line per skipped entry or flow (the first few), each naming the file."""
    unanalysed: int = 0
    """Requests whose analysis raised: recorded as sent, with ``flows.analysis_error``."""

    def summary(self) -> str:
        """The line the CLI prints for this file."""
        line = (
            f"{self.path}: session {self.session_id}: {self.requests} requests, "
            f"{self.flows} tracker flows, {self.findings} findings"
        )
        return f"{line}, {self.skipped} skipped" if self.skipped else line

    def unanalysed_note(self) -> str | None:
        """The warning the CLI prints when some requests could not be analysed, else None."""
        if not self.unanalysed:
            return None
        noun = "request" if self.unanalysed == 1 else "requests"
        return f"{self.path}: {self.unanalysed} {noun} could not be analysed (recorded as sent)"


def is_flow_file(path: Path) -> bool:
    """True for a ``mitmdump -w`` capture (tnetstring), False for JSON/gzip HAR."""
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise HarError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    return bool(head[:1].isdigit() and b":" in head)


def _flow_request(
    flow: http.HTTPFlow, pages: PageTracker, what: str, skipped: SkipLog
) -> Request | None:
    """The flow's request with its page; without a page if that fails; None (skipped) if all fails.

    Fail open per flow: a flow file holds whatever a client sent, and one
    hostile request must cost at most its own page, never the rest of the scan.
    """
    from phitrace.capture.flows import to_request

    try:
        request = to_request(flow, pages)
    except Exception:  # noqa: BLE001 - retried below without the page
        try:
            request = to_request(flow)
        except Exception as exc:  # noqa: BLE001 - reported as a skipped flow
            skipped.add(what, f"{type(exc).__name__}: {exc}")
            return None
    return replace(request, timestamp=storable(request.timestamp))


def _flow_file_requests(
    path: Path,
    progress: Progress | None,
    pages: PageTracker,
    skipped: SkipLog,
    responses: Responses | None = None,
) -> Iterator[tuple[Request, int | None]]:
    from phitrace.capture.flows import message_request, read_flow_file, response_of

    try:
        for index, (flow, offset) in enumerate(read_flow_file(path)):
            request = _flow_request(flow, pages, f"flow {index}", skipped)
            if request is None:
                continue
            status = flow.response.status_code if flow.response else None
            if responses is not None and flow.response is not None:
                responses(request, response_of(flow))
            yield request, status
            if flow.websocket is not None:
                for message in flow.websocket.messages:
                    if message.from_client:
                        sent = storable(message.timestamp)
                        yield message_request(request, message.content, sent), 101
            if progress is not None and index % 200 == 0:
                progress(offset)
    except (ValueError, OSError) as exc:
        raise HarError(f"{path}: {exc}") from exc


def _analyse(analyzer: Analyzer, request: Request, session: Session) -> tuple[Analysis, str | None]:
    """The request's analysis, or (if analysing raises) the request as sent and why not.

    Fail open per request, as the proxy does: one request phitrace cannot
    analyse costs only its own analysis, never the session.  Only the
    exception's type is kept: its message may quote the payload.
    """
    try:
        return analyzer.analyse(request, session), None
    except Exception as exc:  # noqa: BLE001 - recorded unanalysed, counted in the session
        session.errors += 1
        return Analysis.unanalysed(request), f"scan: {type(exc).__name__}"


def requests_in(
    path: Path,
    progress: Progress | None = None,
    pages: PageTracker | None = None,
    skipped: SkipLog | None = None,
    responses: Responses | None = None,
) -> tuple[str, Iterator[tuple[Request, int | None]]]:
    """The session source and a stream of (request, status) for a capture file.

    ``pages`` resolves the page of each flow-file request (a new tracker when
    not given); entries or flows that cannot be read are added to ``skipped``;
    ``responses`` is called with each request and its response before the
    request is yielded.  Raises :class:`HarError` for a file that cannot be
    read at all.
    """
    skipped = skipped if skipped is not None else SkipLog()
    if is_flow_file(path):
        stream = _flow_file_requests(path, progress, pages or PageTracker(), skipped, responses)
        first = next(stream, None)  # a file that is no flow file fails here, not mid-session
        return "flows", chain([first] if first else [], stream)
    return "har", read_har(path, progress, skipped, responses)


def scan_file(
    path: Path,
    analyzer: Analyzer,
    db: Store,
    *,
    label: str = "",
    store_bodies: bool = True,
    storage: str = "full",
    batch: int = 500,
    progress: Progress | None = None,
    max_body: int = MAX_STORED_BODY,
    session_turn: Callable[[], AbstractContextManager[object]] | None = None,
) -> ScanResult:
    """Analyse every request of a capture into a new session of ``db``.

    Each file is its own :class:`~phitrace.session.Session`: ids seen in one capture
    never link requests of another.  A file that cannot be read raises
    :class:`HarError` before any session is recorded; one that breaks off
    part way keeps what was read in a session marked ``failed`` with the
    reason, and then raises.  A request whose analysis raises is recorded as
    sent, with ``analysis_error`` set, and counted in the session's errors;
    the scan goes on.  Raw bodies are stored cut to ``max_body`` bytes.
    The session is started inside ``session_turn()`` when given (how parallel
    scans keep session ids in file order).
    """
    session = Session(label=label or path.name)
    skipped = SkipLog()

    def responses(request: Request, response: Response) -> None:
        try:
            analyzer.observe_response(request, response, session)
        except Exception:  # noqa: BLE001 - fail open: the requests are still analysed
            session.errors += 1

    source, stream = requests_in(path, progress, session.pages, skipped, responses)
    with session_turn() if session_turn else nullcontext():
        session_id = start_session(
            db,
            source=source,
            label=label or path.name,
            input=str(path),
            signatures_digest=analyzer.catalogue.digest,
        )
    requests = flows = findings = unanalysed = 0
    pending: list[Record] = []
    failure: str | None = None

    def flush() -> None:
        with write_transaction(db):
            for record in pending:
                write_record(db, record, store_bodies, storage, max_body)
            touch_sessions(db, [session_id])
        pending.clear()

    try:
        for request, status in stream:
            requests += 1
            analysis, error = _analyse(analyzer, request, session)
            if error is not None:
                unanalysed += 1
            elif not analysis.recorded:
                continue
            flows += 1
            findings += len(analysis.findings)
            pending.append(Record(session_id, analysis, status, error=error))
            if len(pending) >= batch:
                flush()
    except HarError as exc:
        failure = f"{exc}; session {session_id} keeps the {requests} requests before"
        raise HarError(failure) from exc
    except BaseException as exc:
        failure = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        try:
            flush()
            write_inventory(db, session_id, party_rows(session_id, session.parties))
        finally:
            end_session(db, session_id, session.errors, failure=failure)
    warnings = tuple(f"{path}: {line}" for line in skipped.lines())
    counts = (requests, flows, findings, skipped.count)
    return ScanResult(path, session_id, *counts, warnings, unanalysed)


scan_har = scan_file
