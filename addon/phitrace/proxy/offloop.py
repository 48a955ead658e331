"""The proxy's side of the analysis worker: capture on the event loop, everything else away.

:class:`OffLoop` forks the worker (:mod:`phitrace.proxy.worker`), queues the
events the hooks capture and sends them in batches from a thread, so the event
loop never waits on a pipe; another thread reads what comes back and hands it to
the loop.  Until the worker says a flow is settled (its record committed, or
nothing to record), the flow's events stay in ``pending``: if the worker dies,
they are analysed and recorded again in the proxy, in order (see
:meth:`OffLoop.orphans`), so a dead worker costs the session's memory of what
came before, never a record.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Pipe
from typing import Any

from phitrace.analyzer import Analyzer
from phitrace.proxy.analyst import Answered, Captured, Finished, Verdict
from phitrace.proxy.worker import Command, Logged, Reply, Settled, serve

log = logging.getLogger(__name__)

STOP_WAIT = 300.0
"""Seconds the proxy waits for the worker to record its backlog when a session closes."""

BATCH_DELAY = 0.005
"""Seconds events wait on the loop to be handed over together."""

BATCH_MAX = 256
"""Events handed over at once at most."""

NOT_FINISHED = object()
"""The status of a pending flow whose answer has not come yet."""

DIED = object()
"""Handed to the loop by the reader thread when the worker's pipe closes."""


class WorkerGone(Exception):
    """The worker died before it answered."""


@dataclass
class Pending:
    """A flow handed to the worker and not yet settled."""

    event: Captured
    flow: Any
    status: Any = NOT_FINISHED
    """Its status once finished (None for an error), else :data:`NOT_FINISHED`."""
    action: str = "passive"
    """What the event loop did to it: passive, or sinkhole."""


class OffLoop:
    """One analysis worker process and the hand-off to and from it."""

    def __init__(
        self,
        analyzer: Analyzer,
        label: str,
        on_verdict: Callable[[Verdict, Pending], None],
        on_death: Callable[[OffLoop], None],
        on_shown: Callable[[list[Any]], None] = lambda _: None,
    ) -> None:
        self.on_verdict = on_verdict
        self.on_shown = on_shown
        """Called once per batch with the flows whose verdicts were just shown."""
        self.on_death = on_death
        self.pending: dict[str, Pending] = {}
        self.errors = 0
        """Internal errors the worker counted so far."""
        self.loop = asyncio.get_running_loop()
        self._batch: list[object] = []
        self._outgoing: queue.SimpleQueue[list[object] | None] = queue.SimpleQueue()
        self._incoming: list[object] = []
        self._lock = threading.Lock()
        self._scheduled = False
        self._replies: dict[int, Any] = {}
        self._answered = threading.Condition(self._lock)
        self._tokens = itertools.count(1)
        self.alive = True
        self.stopping = False
        inbox, self._inbox = Pipe(duplex=False)
        self._outbox, out = Pipe(duplex=False)
        self.pid = os.fork()
        if self.pid == 0:  # the worker
            self._inbox.close()
            self._outbox.close()
            code = 0
            try:
                serve(analyzer, inbox, out, label)
            except BaseException:  # noqa: BLE001 - report and leave; the proxy takes over
                log.exception("phitrace: the analysis worker failed")
                code = 1
            os._exit(code)
        inbox.close()
        out.close()
        self._sender = threading.Thread(target=self._send_all, name="phitrace-handoff", daemon=True)
        self._reader = threading.Thread(target=self._read_all, name="phitrace-results", daemon=True)
        self._sender.start()
        self._reader.start()

    # On the event loop ----------------------------------------------------------

    def capture(self, event: Captured, flow: Any) -> None:
        """Queue a captured request; it stays pending until the worker settles it."""
        self.pending[event.key] = Pending(event, flow)
        self._queue(event)

    def captured(self, key: str) -> Captured | None:
        """The captured request of a flow not yet settled, if any."""
        entry = self.pending.get(key)
        return entry.event if entry is not None else None

    def acted(self, key: str, action: str) -> None:
        """Note what the loop did to a captured flow (it is recorded with it)."""
        entry = self.pending.get(key)
        if entry is not None:
            entry.action = action

    def answered(self, event: Answered) -> None:
        """Queue a response for the session to learn from."""
        self._queue(event)

    def finish(self, key: str, status: int | None) -> None:
        """Queue the end of a flow: its record, if flagged, is written now."""
        entry = self.pending.get(key)
        blocked = False
        if entry is not None:
            entry.status = status
            blocked = entry.action == "sinkhole"
        self._queue(Finished(key, status, blocked))

    def command(self, name: str, *args: Any) -> None:
        """Queue a command that needs no answer, in order with the events."""
        self._queue(Command(name, args))

    def ask(self, name: str, *args: Any, timeout: float = 10.0) -> Any:
        """Send a command and wait (blocking the loop) for its reply; WorkerGone if it died."""
        token = next(self._tokens)
        self._queue(Command(name, args, token))
        self._flush()
        with self._lock:
            self._answered.wait_for(lambda: token in self._replies or not self.alive, timeout)
            reply = self._replies.pop(token, DIED)
        self.drain()  # what the worker said before its reply comes first
        if reply is DIED:
            raise WorkerGone(name)
        return reply

    def stop(self, record_pending: bool) -> dict[str, Any]:
        """Let the worker record (or hand back) what it holds, close its writer, and exit."""
        self.stopping = True
        try:
            return dict(self.ask("stop", record_pending, timeout=STOP_WAIT))
        finally:
            self._outgoing.put(None)
            self._reap()

    def orphans(self) -> list[Pending]:
        """The pending flows, in order, once the worker is gone: to be analysed in the proxy."""
        orphans = list(self.pending.values())
        self.pending.clear()
        return orphans

    def drain(self) -> None:
        """Apply what the worker sent: verdicts, settled keys, log lines; notice its death."""
        with self._lock:
            items, self._incoming = self._incoming, []
            self._scheduled = False
        shown = []
        for item in items:
            if isinstance(item, Verdict):
                entry = self.pending.get(item.key)
                if entry is not None:
                    self.on_verdict(item, entry)
                    shown.append(entry.flow)
            elif isinstance(item, Settled):
                self.errors = item.errors
                for key in item.keys:
                    self.pending.pop(key, None)
            elif isinstance(item, Logged):
                logging.getLogger(item.name).log(item.level, "%s", item.text)
            elif item is DIED and not self.stopping:
                self._reap()
                self.on_death(self)
        if shown:
            self.on_shown(shown)

    def _queue(self, item: object) -> None:
        # One hand-off per few milliseconds, not per event: each wakes the sender thread,
        # which then holds the GIL the event loop needs.
        if not self._batch:
            self.loop.call_later(BATCH_DELAY, self._flush)
        self._batch.append(item)
        if len(self._batch) >= BATCH_MAX:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self._outgoing.put(batch)

    # On the hand-off threads ------------------------------------------------------

    def _send_all(self) -> None:
        """Pickle and write batches to the worker; a closed pipe means it died (the reader sees)."""
        while (batch := self._outgoing.get()) is not None:
            try:
                self._inbox.send(batch)
            except (OSError, ValueError):
                break
        self._inbox.close()

    def _read_all(self) -> None:
        """Read the worker's batches and hand them to the event loop."""
        while True:
            try:
                items = self._outbox.recv()
            except (EOFError, OSError):
                items = [DIED]
            self._deliver(items)
            if items and items[-1] is DIED:
                self._outbox.close()
                return

    def _deliver(self, items: list[object]) -> None:
        with self._lock:
            for item in items:
                if isinstance(item, Reply):
                    self._replies[item.token] = item.payload
                else:
                    self._incoming.append(item)
            if items and items[-1] is DIED:
                self.alive = False
            self._answered.notify_all()
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self.loop.call_soon_threadsafe(self.drain)
        except RuntimeError:  # the loop is closed: the proxy is shutting down
            pass

    def _reap(self) -> None:
        """Collect the worker's exit status, so it never lingers as a zombie."""
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
