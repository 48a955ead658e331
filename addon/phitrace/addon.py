"""The mitmproxy addon: a thin adapter from flows to the analysis pipeline.

Hooks turn a flow into a :class:`~phitrace.model.Request`, ask the
:class:`~phitrace.pipeline.Analyzer`, put the verdict on the flow
(``flow.metadata["phitrace"]``, a mark and a comment), answer locally in
sinkhole mode, and hand the record to the storage thread.  Any exception in
phitrace is caught here, once per hook, so a bug never breaks traffic.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mitmproxy import ctx, exceptions, http

from phitrace.canaries import NO_CANARIES, CanaryError, load_canaries
from phitrace.model import Analysis, Request, severity_rank
from phitrace.pipeline import Analyzer
from phitrace.signatures import SignatureError, load_catalogue
from phitrace.sinkhole import answer
from phitrace.store import Record, Writer, end_session, open_database, start_session
from phitrace.vocabulary import load_vocabulary

log = logging.getLogger(__name__)

MARKS = {"high": ":red_circle:", "medium": ":orange_book:", "low": ":large_blue_circle:"}
MAX_DOCUMENTS = 512


def to_request(flow: http.HTTPFlow, page_url: str | None = None) -> Request:
    """Copy what phitrace needs out of a mitmproxy flow."""
    req = flow.request
    return Request(
        method=req.method,
        url=req.pretty_url,
        headers=tuple((k, v) for k, v in req.headers.items(multi=True)),
        body=req.get_content(strict=False) or b"",
        timestamp=req.timestamp_start,
        page_url=page_url,
    )


def summary(analysis: Analysis) -> str:
    """One line for mitmweb's comment column and the console."""
    parts = [
        f"{f.category} '{f.matched}' in {f.field.split(' ')[0]}"
        for f in analysis.findings
        if f.kind != "identifier"
    ]
    parts += [
        f"{f.category} in {f.field.split(' ')[0]}"
        for f in analysis.findings
        if f.kind == "identifier"
    ]
    text = "; ".join(dict.fromkeys(parts)) or "tracker contacted"
    line = f"{analysis.vendor or 'third party'} [{analysis.severity}]: {text}"
    return "".join(ch if ch.isprintable() else "?" for ch in line)[:500]


class PhiTrace:
    """Flag, record and optionally sinkhole requests that leak data to trackers."""

    def __init__(self) -> None:
        self.analyzer: Analyzer | None = None
        self.writer: Writer | None = None
        self.session_id: int | None = None
        self.errors = 0
        self._pending: dict[str, tuple[Analysis, bool]] = {}
        self._documents: OrderedDict[str, str] = OrderedDict()

    def load(self, loader: Any) -> None:
        loader.add_option(
            "phitrace_db",
            str,
            "phitrace.db",
            "SQLite database that phitrace records flagged flows and findings in.",
        )
        loader.add_option(
            "phitrace_sinkhole",
            bool,
            False,
            "Answer tracker requests locally (CORS preflights, pixels, beacons) instead of "
            "forwarding them. Sets connection_strategy=lazy so nothing is dialled first.",
        )
        loader.add_option(
            "phitrace_signatures",
            str,
            "",
            "Extra tracker signature files or directories, separated by commas, loaded "
            "after the bundled catalogue.",
        )
        loader.add_option(
            "phitrace_canaries",
            str,
            "",
            "YAML file of test-persona values ('canaries: {email: ...}') to search every "
            "request for, plain, encoded or hashed.",
        )
        loader.add_option("phitrace_label", str, "", "Label stored on the recording session.")
        loader.add_option(
            "phitrace_store_bodies",
            bool,
            True,
            "Store raw request headers and bodies as evidence (disable to keep only findings).",
        )

    def configure(self, updated: set[str]) -> None:
        if updated & {"phitrace_signatures", "phitrace_canaries"} or self.analyzer is None:
            self.analyzer = self._build_analyzer()
        if "phitrace_sinkhole" in updated and ctx.options.phitrace_sinkhole:
            # Nothing may be dialled before phitrace answers: offline, eager dials fail.
            if "connection_strategy" in ctx.options and ctx.options.connection_strategy != "lazy":
                ctx.options.update(connection_strategy="lazy")
        if "phitrace_db" in updated and self.writer is not None:
            self._close_session()
            self._open_session()

    def _build_analyzer(self) -> Analyzer:
        extra = [Path(p.strip()) for p in ctx.options.phitrace_signatures.split(",") if p.strip()]
        try:
            catalogue = load_catalogue(extra)
        except SignatureError as exc:
            raise exceptions.OptionsError(f"Cannot load phitrace_signatures: {exc}") from exc
        canaries = NO_CANARIES
        if ctx.options.phitrace_canaries:
            try:
                canaries = load_canaries(Path(ctx.options.phitrace_canaries))
            except CanaryError as exc:
                raise exceptions.OptionsError(f"Cannot load phitrace_canaries: {exc}") from exc
        return Analyzer(catalogue, load_vocabulary(), canaries)

    def running(self) -> None:
        if self.writer is None:
            self._open_session()

    def _open_session(self) -> None:
        assert self.analyzer is not None
        path = Path(ctx.options.phitrace_db).expanduser()
        try:
            db = open_database(path)
        except Exception as exc:  # noqa: BLE001 - any failure here must be explained
            raise exceptions.OptionsError(
                f"Cannot open phitrace_db {path}: {exc}. Choose a writable path."
            ) from exc
        source = "flows" if getattr(ctx.options, "rfile", None) else "proxy"
        self.session_id = start_session(
            db,
            source=source,
            label=ctx.options.phitrace_label,
            signatures_digest=self.analyzer.catalogue.digest,
        )
        db.close()
        self.writer = Writer(path, store_bodies=ctx.options.phitrace_store_bodies)
        log.info(
            "phitrace: recording session %s to %s (%d tracker signatures%s)",
            self.session_id,
            path,
            len(self.analyzer.catalogue),
            ", sinkhole on" if ctx.options.phitrace_sinkhole else "",
        )

    def _close_session(self) -> None:
        for flow_id in list(self._pending):
            self._store(flow_id, None)
        if self.writer is not None:
            self.writer.close()
            self.errors += self.writer.failed
            self.writer = None
        if self.session_id is not None:
            db = open_database(Path(ctx.options.phitrace_db).expanduser())
            end_session(db, self.session_id, self.errors)
            db.close()
            self.session_id = None

    def done(self) -> None:
        self._close_session()

    def _page_for(self, flow: http.HTTPFlow) -> str | None:
        """Resolve the page a request came from, using documents seen earlier.

        Cross-site requests often carry only the page's origin in Referer;
        the last document loaded from that origin is the page.
        """
        headers = flow.request.headers
        if headers.get("sec-fetch-dest") in ("document", "iframe"):
            url = flow.request.pretty_url
            origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
            self._documents[origin] = url
            self._documents.move_to_end(origin)
            while len(self._documents) > MAX_DOCUMENTS:
                self._documents.popitem(last=False)
            return None
        referer = headers.get("referer")
        if not referer:
            return None
        parts = urlsplit(referer)
        if parts.path in ("", "/") and not parts.query:
            return self._documents.get(f"{parts.scheme}://{parts.netloc}", referer)
        return referer

    def request(self, flow: http.HTTPFlow) -> None:
        try:
            self._request(flow)
        except Exception:  # noqa: BLE001 - fail open: phitrace must never break a flow
            self._failed(flow, "request")

    def _request(self, flow: http.HTTPFlow) -> None:
        if self.analyzer is None:
            return
        page = self._page_for(flow)
        analysis = self.analyzer.analyse(to_request(flow, page))
        if not analysis.recorded:
            return
        sinkhole = bool(ctx.options.phitrace_sinkhole and analysis.vendor)
        self._pending[flow.id] = (analysis, sinkhole)
        flow.metadata["phitrace"] = {
            "vendor": analysis.vendor,
            "severity": analysis.severity,
            "findings": [[f.kind, f.category, f.matched, f.field] for f in analysis.findings],
        }
        if analysis.severity and severity_rank(analysis.severity) <= severity_rank("low"):
            flow.marked = MARKS[analysis.severity]
            flow.comment = summary(analysis)
            log.warning("phitrace: %s %s", summary(analysis), flow.request.pretty_url[:200])
        if sinkhole:
            local = answer(analysis.request)
            headers = [(k.encode(), v.encode()) for k, v in local.headers]
            flow.response = http.Response.make(local.status, local.body, headers)
            flow.metadata["phitrace"]["sinkholed"] = True

    def response(self, flow: http.HTTPFlow) -> None:
        try:
            if flow.id in self._pending:
                self._store(flow.id, flow.response.status_code if flow.response else None)
        except Exception:  # noqa: BLE001 - fail open
            self._failed(flow, "response")

    def error(self, flow: http.HTTPFlow) -> None:
        try:
            if flow.id in self._pending:
                self._store(flow.id, None)
        except Exception:  # noqa: BLE001 - fail open
            self._failed(flow, "error")

    def _store(self, flow_id: str, status: int | None) -> None:
        analysis, sinkholed = self._pending.pop(flow_id)
        if self.writer is None or self.session_id is None:
            return
        self.writer.submit(Record(self.session_id, analysis, status, sinkholed))

    def _failed(self, flow: http.HTTPFlow, hook: str) -> None:
        self.errors += 1
        self._pending.pop(flow.id, None)
        log.exception(
            "phitrace: internal error in %s hook for flow %s; flow left untouched", hook, flow.id
        )
