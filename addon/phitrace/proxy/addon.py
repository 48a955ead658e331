"""The mitmproxy addon: a thin adapter from flows to the analysis pipeline.

Hooks turn a flow into a :class:`~phitrace.model.Request`, ask the
:class:`~phitrace.analyzer.Analyzer`, put the verdict on the flow
(``flow.metadata["phitrace"]``, a mark per severity and a comment), enforce
the chosen mode (sinkhole, block, redact; passive by default touches nothing),
and hand the record to the storage thread.  Any exception inside phitrace is
caught here, once per hook, so a bug never breaks traffic.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mitmproxy import command, ctx, exceptions, http
from mitmproxy.log import ALERT
from mitmproxy.utils import vt_codes

from phitrace import urls
from phitrace.act.enforce import MODES, redact, should_block
from phitrace.act.sinkhole import answer
from phitrace.analyzer import Analyzer
from phitrace.capture.flows import message_request, to_request
from phitrace.catalogue.lists import load_blocklist
from phitrace.catalogue.signatures import SignatureError, load_catalogue
from phitrace.decode.budget import DEFAULT_LIMITS, Limits
from phitrace.detect.canaries import NO_CANARIES, CanaryError, load_canaries
from phitrace.detect.vocabulary import load_vocabulary
from phitrace.model import SEVERITIES, Analysis, Request, severity_rank
from phitrace.session import Session
from phitrace.store.database import open_database
from phitrace.store.rows import STORAGE_MODES, Record
from phitrace.store.sessions import end_session, start_session
from phitrace.store.writer import Writer

log = logging.getLogger(__name__)

MARKS = {"high": ":red_circle:", "medium": ":orange_circle:", "low": ":large_blue_circle:"}
COLOURS = {"high": "\x1b[1;31m", "medium": "\x1b[33m", "low": "\x1b[36m", "info": ""}
CONSENT = ("", "none", "accepted", "rejected")


@dataclass(frozen=True)
class LimitOption:
    """A mitmproxy option that sets one field of the decode :class:`Limits`.

    mitmproxy's ``--set`` parses only text, whole numbers and booleans, so a
    limit that takes a fraction (``whole=False``) is a text option, parsed here.
    """

    name: str
    field: str
    help: str
    whole: bool = True

    @property
    def default(self) -> int | str:
        """The option's default: the field's default in :data:`DEFAULT_LIMITS`."""
        value = getattr(DEFAULT_LIMITS, self.field)
        return int(value) if self.whole else f"{value:g}"

    def parse(self, raw: int | str) -> int | float:
        """The limit an option value sets; an OptionsError saying why when it is unusable."""
        if self.whole:
            if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
                raise exceptions.OptionsError(
                    f"{self.name} must be a whole number above 0 (default {self.default}), "
                    f"not {raw!r}"
                )
            return raw
        try:
            value = float(str(raw).strip())
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise exceptions.OptionsError(
                f"{self.name} must be a number above 0 such as {self.default}, not {raw!r}"
            )
        return value


LIMIT_OPTIONS: tuple[LimitOption, ...] = (
    LimitOption(
        "phitrace_max_body_bytes",
        "max_body_bytes",
        "Bytes of a request body or WebSocket message that are decoded (also caps the URL "
        "and Cookie text); the rest is not analysed.",
    ),
    LimitOption(
        "phitrace_max_decompressed_bytes",
        "max_decompressed_bytes",
        "Bytes that all decompressions (gzip, brotli, zstd...) of one request may produce "
        "together.",
    ),
    LimitOption(
        "phitrace_max_ratio",
        "max_ratio",
        "Most bytes one decompression may produce per compressed byte (stops "
        "compression bombs early). A number, e.g. 250 or 62.5.",
        whole=False,
    ),
    LimitOption(
        "phitrace_max_depth",
        "max_depth",
        "Most decoders stacked on one value (e.g. base64 inside JSON inside a form).",
    ),
    LimitOption("phitrace_max_fields", "max_fields", "Most fields decoded from one request."),
    LimitOption(
        "phitrace_decode_seconds",
        "max_seconds",
        "Wall-clock seconds spent decoding one request. Decoding runs on the proxy's event "
        "loop, so a larger value lets one hostile request hold up all traffic that long.",
        whole=False,
    ),
)
LIMIT_NAMES = frozenset(option.name for option in LIMIT_OPTIONS)
CHOICES: dict[str, tuple[str, ...]] = {
    "phitrace_mode": MODES,
    "phitrace_block_severity": SEVERITIES[:3],
    "phitrace_consent": CONSENT,
    "phitrace_storage": STORAGE_MODES,
}


def _check_choices(updated: set[str]) -> None:
    """Refuse a value outside an option's choices.

    mitmproxy checks choices only for options that have their own command-line
    flag; ``--set`` and the option editors accept any text.
    """
    for name in sorted(updated & CHOICES.keys()):
        value = getattr(ctx.options, name)
        if value not in CHOICES[name]:
            allowed = ", ".join(c for c in CHOICES[name] if c)
            raise exceptions.OptionsError(f"{name} must be one of {allowed}, not {value!r}")


def printable(text: str, limit: int = 500) -> str:
    """Make payload-derived text safe for a terminal or a UI: no control characters."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:limit]


def summary(analysis: Analysis) -> str:
    """One line for mitmweb's comment column: vendor, severity, what went where."""
    parts = [
        f"{f.category} '{f.matched}' in {f.path}"
        for f in analysis.findings
        if f.kind != "identifier"
    ]
    parts += [f"{f.category} in {f.path}" for f in analysis.findings if f.kind == "identifier"]
    text = "; ".join(dict.fromkeys(parts)) or "tracker contacted"
    return printable(f"{analysis.vendor or 'third party'} [{analysis.severity}]: {text}")


def console_line(analysis: Analysis, action: str, colour: bool, text: str | None = None) -> str:
    """The concise console line for a flagged flow, coloured by severity on a terminal.

    ``text`` is the flow's :func:`summary` when the caller has already made it.
    """
    severity = analysis.severity or "info"
    tag = f"{severity.upper():<6}"
    if colour and COLOURS.get(severity):
        tag = f"{COLOURS[severity]}{tag}\x1b[0m"
    url = printable(analysis.request.url, 120)
    suffix = f" ({action})" if action != "passive" else ""
    text = summary(analysis) if text is None else text
    return f"phitrace {tag} {text} <- {url}{suffix}"


def in_scope(page: str | None, scope: Sequence[str]) -> bool:
    """True when no scope is set, the page is unknown, or its host is within the scope."""
    if not scope or not page:
        return True
    host = urls.host_of(page)
    return any(urls.within(host, d) for d in scope)


@dataclass(frozen=True)
class Saved:
    """A flow's request and response as they were before phitrace acted on it."""

    request: Any
    """The request's state, or None when the mode never changes the request."""
    response: http.Response | None
    had_metadata: bool

    def restore(self, flow: http.HTTPFlow) -> None:
        """Put the request and response back, and drop phitrace's half-written verdict."""
        if self.request is not None:
            flow.request.set_state(self.request)
        flow.response = self.response
        if not self.had_metadata:
            flow.metadata.pop("phitrace", None)


class PhiTrace:
    """Flag, record and optionally sinkhole, block or redact requests that leak to trackers."""

    def __init__(self) -> None:
        self.analyzer: Analyzer | None = None
        self.writer: Writer | None = None
        self.session_id: int | None = None
        self.session = Session()
        self.scope: tuple[str, ...] = ()
        self._pending: dict[str, tuple[Analysis, str, tuple[str, ...]]] = {}
        self._colour = vt_codes.ensure_supported(sys.stdout)

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
            "Answer every tracker request locally (CORS preflights, pixels, beacons) instead "
            "of forwarding it. Sets connection_strategy=lazy so nothing is dialled first.",
        )
        loader.add_option(
            "phitrace_mode",
            str,
            "passive",
            "What to do with tracker requests that carry findings: passive (forward them "
            "untouched), block (answer them locally), redact (forward them with sensitive "
            "values removed).",
            choices=CHOICES["phitrace_mode"],
        )
        loader.add_option(
            "phitrace_block_severity",
            str,
            "medium",
            "In block and redact modes, act on requests at or above this severity.",
            choices=CHOICES["phitrace_block_severity"],
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
            "phitrace_consent",
            str,
            "",
            "What the tester answered the site's consent banner: none, accepted or rejected "
            "(stored on the session).",
            choices=CHOICES["phitrace_consent"],
        )
        loader.add_option(
            "phitrace_scope",
            str,
            "",
            "Only analyse requests made from pages of these domains (comma-separated; "
            "subdomains included). Empty: every page.",
        )
        loader.add_option(
            "phitrace_store_bodies",
            bool,
            True,
            "Store raw request headers and bodies as evidence (disable to keep only findings).",
        )
        loader.add_option(
            "phitrace_storage",
            str,
            "full",
            "What is kept of a flagged flow: full (URLs, values found and, with "
            "phitrace_store_bodies, the raw request) or redact (URLs cut to their origin, "
            "values replaced by SHA-256 digests, no raw request).",
            choices=CHOICES["phitrace_storage"],
        )
        loader.add_option(
            "phitrace_report",
            str,
            "phitrace-report.html",
            "File the phitrace.report.html command writes.",
        )
        for limit in LIMIT_OPTIONS:
            kind = int if limit.whole else str
            loader.add_option(limit.name, kind, limit.default, limit.help)

    def configure(self, updated: set[str]) -> None:
        # Values are checked first: a bad one must be refused before anything changes.
        _check_choices(updated)
        if updated & {"phitrace_signatures", "phitrace_canaries"} or self.analyzer is None:
            self.analyzer = self._build_analyzer(self._limits())
        elif updated & LIMIT_NAMES:
            self.analyzer.limits = self._limits()
        if self.writer is not None and updated & {"phitrace_storage", "phitrace_store_bodies"}:
            # The writer reads these per batch: a switch to keeping less covers every
            # record not yet committed, without waiting for the next session.
            self.writer.storage = ctx.options.phitrace_storage
            self.writer.store_bodies = ctx.options.phitrace_store_bodies
        if "phitrace_scope" in updated:
            self.scope = tuple(
                d.strip().lower().lstrip(".")
                for d in ctx.options.phitrace_scope.split(",")
                if d.strip()
            )
        answering = ctx.options.phitrace_sinkhole or ctx.options.phitrace_mode == "block"
        if updated & {"phitrace_sinkhole", "phitrace_mode"} and answering:
            # Nothing may be dialled before phitrace answers: a blocked tracker must not
            # even see a connection, and offline an eager dial fails the whole flow.
            if "connection_strategy" in ctx.options and ctx.options.connection_strategy != "lazy":
                ctx.options.update(connection_strategy="lazy")
        if "phitrace_db" in updated and self.writer is not None:
            self._close_session()
            self._open_session(ctx.options.phitrace_label)

    @staticmethod
    def _limits() -> Limits:
        """The decode limits the options set, each checked with its option's name."""
        values: dict[str, Any] = {
            limit.field: limit.parse(getattr(ctx.options, limit.name)) for limit in LIMIT_OPTIONS
        }
        return replace(DEFAULT_LIMITS, **values)

    def _build_analyzer(self, limits: Limits) -> Analyzer:
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
        # Requests no signature claims are still flagged when an imported list
        # (`phitrace signatures import`) blocks them, as vendor 'list:<name>'.
        # Build the matcher now, before the proxy listens: built lazily, the first
        # tracker request would stall the event loop for seconds.
        vocabulary = load_vocabulary().prepare()
        return Analyzer(catalogue, vocabulary, canaries, limits=limits, blocklist=load_blocklist())

    # Sessions -----------------------------------------------------------------

    def running(self) -> None:
        if self.writer is None:
            self._open_session(ctx.options.phitrace_label)

    def _db_path(self) -> Path:
        return Path(ctx.options.phitrace_db).expanduser()

    def _open_session(self, label: str) -> None:
        assert self.analyzer is not None
        path = self._db_path()
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
            label=label,
            signatures_digest=self.analyzer.catalogue.digest,
            consent=ctx.options.phitrace_consent,
            scope=",".join(self.scope),
        )
        db.close()
        self.session = Session(label=label)
        self.writer = Writer(
            path,
            store_bodies=ctx.options.phitrace_store_bodies,
            storage=ctx.options.phitrace_storage,
        )
        log.info(
            "phitrace: recording session %s to %s (%d tracker signatures, mode %s%s)",
            self.session_id,
            path,
            len(self.analyzer.catalogue),
            ctx.options.phitrace_mode,
            ", sinkhole on" if ctx.options.phitrace_sinkhole else "",
        )

    def _close_session(self) -> None:
        for flow_id in list(self._pending):
            self._store(flow_id, None)
        if self.writer is not None:
            self.writer.close()
            self.session.errors += self.writer.failed
            self.writer = None
        if self.session_id is not None:
            db = open_database(self._db_path())
            end_session(db, self.session_id, self.session.errors)
            db.close()
            self.session_id = None

    def done(self) -> None:
        self._close_session()

    # Hooks --------------------------------------------------------------------

    def request(self, flow: http.HTTPFlow) -> None:
        saved: Saved | None = None
        try:
            analysis = self._analyse(to_request(flow, self.session.pages))
            if analysis is not None:
                saved = self._save(flow)
                self._flag(flow, analysis)
        except Exception:  # noqa: BLE001 - fail open: phitrace must never break a flow
            self._failed(flow, "request", saved)

    @staticmethod
    def _save(flow: http.HTTPFlow) -> Saved | None:
        """What phitrace may change of a flow, kept in the modes where it can change it.

        A failure half-way through enforcing (a redacted URL set, the body not yet)
        must not leave a half-changed request: :meth:`_failed` puts this back.
        Nothing is changed before a flow is flagged, so only flagged flows are
        copied, and passive mode never touches the request or the response at all.
        """
        mode = ctx.options.phitrace_mode
        if mode == "passive" and not ctx.options.phitrace_sinkhole:
            return None
        # Sinkhole and block only set a response; redact alone rewrites the request.
        request = flow.request.get_state() if mode == "redact" else None
        return Saved(request, flow.response, "phitrace" in flow.metadata)

    def _analyse(self, request: Request) -> Analysis | None:
        if self.analyzer is None or not in_scope(request.page_url, self.scope):
            return None
        analysis = self.analyzer.analyse(request, self.session)
        return analysis if analysis.recorded else None

    def _flag(self, flow: http.HTTPFlow, analysis: Analysis) -> None:
        """Act on a flagged flow as the mode says, mark it, and keep it for storage."""
        action = self._enforce(flow, analysis)
        removed = tuple(flow.metadata.get("phitrace", {}).get("redacted", ()))
        self._pending[flow.id] = (analysis, action, removed)
        self._show(flow, analysis, action)

    def _enforce(self, flow: http.HTTPFlow, analysis: Analysis) -> str:
        """Apply the configured mode to a flagged flow; return what was done."""
        mode = ctx.options.phitrace_mode
        if analysis.vendor and ctx.options.phitrace_sinkhole:
            self._answer(flow, analysis)
            return "sinkhole"
        if mode == "block" and should_block(analysis, ctx.options.phitrace_block_severity):
            self._answer(flow, analysis)
            return "blocked"
        if mode == "redact" and should_block(analysis, ctx.options.phitrace_block_severity):
            result = redact(analysis.request, analysis.findings, analysis.fields)
            if result.changed:
                flow.request.url = result.url
                if "header.referer" in result.removed:
                    flow.request.headers["referer"] = dict(
                        (k.lower(), v) for k, v in result.headers
                    )["referer"]
                if result.body != analysis.request.body:
                    flow.request.content = result.body
                flow.metadata.setdefault("phitrace", {})["redacted"] = list(result.removed)
                return "redacted"
        return "passive"

    def _answer(self, flow: http.HTTPFlow, analysis: Analysis) -> None:
        local = answer(analysis.request)
        headers = [(k.encode(), v.encode()) for k, v in local.headers]
        flow.response = http.Response.make(local.status, local.body, headers)

    def _show(self, flow: http.HTTPFlow, analysis: Analysis, action: str) -> None:
        flow.metadata.setdefault("phitrace", {}).update(
            {
                "vendor": analysis.vendor,
                "severity": analysis.severity,
                "action": action,
                "findings": [[f.kind, f.category, f.matched, f.field] for f in analysis.findings],
            }
        )
        severity = analysis.severity or "info"
        self.session.severities[severity] += 1
        self.session.vendors[analysis.vendor or "third party"] += 1
        if severity_rank(severity) <= severity_rank("low"):
            flow.marked = MARKS[severity]
            flow.comment = text = summary(analysis)
            if log.isEnabledFor(ALERT):
                log.log(ALERT, console_line(analysis, action, self._colour, text))

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

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        try:
            self._websocket_message(flow)
        except Exception:  # noqa: BLE001 - fail open
            self._failed(flow, "websocket_message")

    def _websocket_message(self, flow: http.HTTPFlow) -> None:
        assert flow.websocket is not None
        message = flow.websocket.messages[-1]
        if not message.from_client:
            return
        handshake = to_request(flow, self.session.pages)
        analysis = self._analyse(message_request(handshake, message.content, message.timestamp))
        if analysis is None:
            return
        block = ctx.options.phitrace_mode == "block" and should_block(
            analysis, ctx.options.phitrace_block_severity
        )
        action = "blocked" if block else "passive"
        self._show(flow, analysis, action)
        if block:  # last, so that a failure before it leaves the message alone
            message.drop()
        self._submit(analysis, 101, action)

    def _store(self, flow_id: str, status: int | None) -> None:
        analysis, action, removed = self._pending.pop(flow_id)
        self._submit(analysis, status, action, removed)

    def _submit(
        self, analysis: Analysis, status: int | None, action: str, removed: tuple[str, ...] = ()
    ) -> None:
        if self.writer is None or self.session_id is None:
            return
        blocked = action in ("sinkhole", "blocked")
        self.writer.submit(Record(self.session_id, analysis, status, blocked, removed))

    def _failed(self, flow: http.HTTPFlow, hook: str, saved: Saved | None = None) -> None:
        """Count and log an internal error once, with the flow id; undo any change to the flow."""
        self.session.errors += 1
        self._pending.pop(flow.id, None)
        log.exception(
            "phitrace: internal error in %s hook for flow %s; flow left untouched", hook, flow.id
        )
        if saved is not None:
            try:
                saved.restore(flow)
            except Exception:  # noqa: BLE001 - already failing: log, never raise into mitmproxy
                log.exception("phitrace: could not restore flow %s", flow.id)

    # Commands -----------------------------------------------------------------

    @command.command("phitrace.summary")
    def summary_command(self) -> str:
        """Counts of flagged flows so far in this session, by severity and vendor."""
        counts, vendors = self.session.severities, self.session.vendors
        by_severity = ", ".join(f"{s} {counts[s]}" for s in SEVERITIES)
        top = ", ".join(f"{v} {n}" for v, n in vendors.most_common(10)) or "none"
        text = (
            f"session {self.session_id}: {sum(counts.values())} tracker flows "
            f"({by_severity}); vendors: {top}; internal errors: {self.session.errors}"
        )
        log.info(text)
        return text

    @command.command("phitrace.session")
    def session_command(self, name: str) -> None:
        """Finish the current session and start a new one labelled NAME."""
        self._close_session()
        self._open_session(name)

    @command.command("phitrace.report.html")
    def report_command(self, path: str = "") -> None:
        """Write the HTML report of everything recorded so far (in the background)."""
        target = Path(path or ctx.options.phitrace_report).expanduser()
        if self.writer is not None:
            self.writer.flush()
        db_path = self._db_path()
        thread = threading.Thread(
            target=_write_report, args=(db_path, target), name="phitrace-report", daemon=True
        )
        thread.start()


def _write_report(db_path: Path, target: Path) -> None:
    from phitrace.report.html import build_context, render_html
    from phitrace.store.private import write_private

    try:
        db = open_database(db_path)
        context = build_context(db)
        db.close()
        write_private(target, render_html(context))
        log.info(
            "phitrace: wrote report %s (%d flows, %d findings)",
            target,
            context.total_flows,
            context.total_findings,
        )
    except Exception:  # noqa: BLE001 - a report failure must not affect the proxy
        log.exception("phitrace: could not write the report to %s", target)
