"""The phitrace mitmproxy addon: small addons, one per job, composed under one name.

mitmproxy runs each hook on an addon and then on the addons in its ``addons``
attribute, in order, so one flow goes through them as a pipeline:
:class:`~phitrace.proxy.options.Options` keeps the analyzer and scope in step
with the options; :class:`~phitrace.proxy.analyse.Analyse` flags the flows
worth recording; :class:`~phitrace.proxy.enforcement.Enforcement` sinkholes,
blocks or redacts them; :class:`~phitrace.proxy.view.View` marks, comments and
logs them; :class:`~phitrace.proxy.recorder.Recorder` records them once
answered.  They share one :class:`~phitrace.proxy.state.ProxyState`.

With ``workers`` (as the mitmproxy entry point loads it), a passive session
leaves the event loop only capturing: :class:`~phitrace.proxy.workers.Workers`
runs the analysis, session memory and storage in a worker process and the view
shows each verdict when it comes back (:mod:`phitrace.proxy.offloop`).
"""

from __future__ import annotations

from phitrace.analyzer import Analyzer
from phitrace.proxy.analyse import Analyse
from phitrace.proxy.enforcement import Enforcement
from phitrace.proxy.limits import LIMIT_OPTIONS, LimitOption
from phitrace.proxy.options import Options
from phitrace.proxy.recorder import Recorder
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
        self.addons = [self.options, self.analyse, self.enforcement, self.view, self.recorder]

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
