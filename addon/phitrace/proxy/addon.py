"""The phitrace mitmproxy addon: small parts, one per job, run as one pipeline under one name.

Each hook runs the parts that handle it, in pipeline order:
:class:`~phitrace.proxy.options.Options` keeps the analyzer and scope in step
with the options; :class:`~phitrace.proxy.analyse.Analyse` flags the flows
worth recording; :class:`~phitrace.proxy.enforcement.Enforcement` sinkholes,
blocks or redacts them; :class:`~phitrace.proxy.view.View` marks, comments and
logs them; :class:`~phitrace.proxy.recorder.Recorder` records them once
answered.  They share one :class:`~phitrace.proxy.state.ProxyState`.  The
parts are not mitmproxy addons of their own: mitmproxy visits every addon
(and every addon's ``addons``) for every event of every flow, hook or no hook,
so one addon that calls its parts costs the proxy a fraction of five.

With ``workers`` (as the mitmproxy entry point loads it), a passive session
leaves the event loop only capturing: :class:`~phitrace.proxy.workers.Workers`
runs the analysis, session memory and storage in a worker process and the view
shows each verdict when it comes back (:mod:`phitrace.proxy.offloop`).
"""

from __future__ import annotations

from typing import Any

from mitmproxy import command, http, types

from phitrace.analyzer import Analyzer
from phitrace.proxy.analyse import Analyse
from phitrace.proxy.enforcement import Enforcement
from phitrace.proxy.limits import LIMIT_OPTIONS, LimitOption
from phitrace.proxy.options import Options
from phitrace.proxy.recorder import NO_PATH, Recorder
from phitrace.proxy.state import ProxyState
from phitrace.proxy.view import View, console_line, printable, summary
from phitrace.proxy.workers import Workers
from phitrace.session import Session
from phitrace.store.writer import Writer

__all__ = ["LIMIT_OPTIONS", "LimitOption", "PhiTrace", "console_line", "printable", "summary"]


class PhiTrace:
    """Flag, record and optionally sinkhole, block or redact requests that leak to trackers."""

    def __init__(self, workers: bool = False) -> None:
        """``workers``: analyse and record passive sessions in a worker process, off the loop.

        Off by default, where the hooks are driven one by one (tests, tools) and a
        verdict is expected on the flow when its hook returns; the mitmproxy entry
        point turns it on, and marks and comments then come a moment later.
        """
        self.state = ProxyState()
        self.options = Options(self.state)
        self.analyse = Analyse(self.state)
        self.enforcement = Enforcement(self.state)
        self.view = View(self.state)
        self.workers = Workers(self.state, self.view)
        self.workers.enabled = workers
        self.recorder = Recorder(self.state, self.workers)

    # Hooks: each part that handles one, in pipeline order --------------------------

    def load(self, loader: Any) -> None:
        self.options.load(loader)

    def configure(self, updated: set[str]) -> None:
        self.options.configure(updated)
        self.recorder.configure(updated)

    def running(self) -> None:
        self.recorder.running()

    def done(self) -> None:
        self.recorder.done()

    def request(self, flow: http.HTTPFlow) -> None:
        self.analyse.request(flow)
        self.enforcement.request(flow)
        self.view.request(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        self.analyse.response(flow)
        self.recorder.response(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self.recorder.error(flow)

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        self.analyse.websocket_message(flow)
        self.enforcement.websocket_message(flow)
        self.view.websocket_message(flow)
        self.recorder.websocket_message(flow)

    # Commands: the recorder's -----------------------------------------------------

    @command.command("phitrace.summary")
    def summary_command(self) -> str:
        """Counts of flagged flows so far in this session, by severity and vendor."""
        return self.recorder.summary_command()

    @command.command("phitrace.session")
    def session_command(self, name: str) -> None:
        """Finish the current session and start a new one labelled NAME."""
        self.recorder.session_command(name)

    @command.command("phitrace.report")
    def report_command(self, path: types.Path = NO_PATH) -> None:
        """Write the HTML report of everything recorded so far (in the background)."""
        self.recorder.report_command(path)

    @property
    def analyzer(self) -> Analyzer | None:
        """The analyzer the options built (None before the first configure)."""
        return self.state.analyzer

    @property
    def session(self) -> Session:
        """The memory and counters of the current recording session."""
        return self.state.session

    @property
    def session_id(self) -> int | None:
        """The database id of the current recording session."""
        return self.state.session_id

    @property
    def writer(self) -> Writer | None:
        """The storage thread of the current recording session."""
        return self.state.writer
