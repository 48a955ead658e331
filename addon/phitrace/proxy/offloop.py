"""The proxy's side of the analysis worker: capture on the event loop, everything else away.

:class:`OffLoop` forks the worker (:mod:`phitrace.proxy.worker`), queues the
events the hooks capture and writes them in batches to a pipe the event loop
watches, so the loop never waits on the pipe and no thread of phitrace's
competes with it for the interpreter lock; what comes back is read the same
way, when the loop finds it readable.  Until the worker says a flow is settled
(its record committed, or nothing to record), the flow's events stay in
``pending``: if the worker dies, they are analysed and recorded again in the
proxy, in order (see :meth:`OffLoop.orphans`), so a dead worker costs the
session's memory of what came before, never a record.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import select
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from phitrace.analyzer import Analyzer
from phitrace.proxy.analyst import Answered, Captured, Finished, Verdict, packed
from phitrace.proxy.channel import READ_SIZE, BlockingEnd, Frames, frame
from phitrace.proxy.worker import Command, Logged, Reply, Settled, serve

log = logging.getLogger(__name__)

STOP_WAIT = 300.0
"""Seconds the proxy waits for the worker to record its backlog when a session closes."""

BATCH_DELAY = 0.02
"""Seconds events wait on the loop to be handed over together."""

BATCH_MAX = 256
"""Events handed over at once at most."""

SHOW_DELAY = 0.02
"""Seconds verdicts wait on the loop to be shown together: one view update for them all."""

NOT_FINISHED = object()
"""The status of a pending flow whose answer has not come yet."""

DIED = object()
"""What the read side hands on when the worker's pipe closes."""


class WorkerGone(Exception):
    """The worker died before it answered."""


@dataclass
class Pending:
    """A flow handed to the worker and not yet settled."""

    event: Captured
    ref: weakref.ref[Any]
    """The flow, for its verdict to be shown on, as long as anything else holds it.

    A flow that mitmproxy and every view have let go needs no mark; holding it
    here would keep each answered flow alive until the worker's next commit,
    long enough for the collector to move it to its oldest generation.
    """
    status: Any = NOT_FINISHED
    """Its status once finished (None for an error), else :data:`NOT_FINISHED`."""
    action: str = "passive"
    """What the event loop did to it: passive, or sinkhole."""

    @property
    def flow(self) -> Any | None:
        """The flow, or None once nothing else holds it."""
        return self.ref()


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
        self._unsent = bytearray()
        """Framed batches the pipe has not taken yet (the worker is behind)."""
        self._incoming: list[object] = []
        self._replies: dict[int, Any] = {}
        self._frames = Frames()
        self._drain_due = False
        self._tokens = itertools.count(1)
        self.alive = True
        self.stopping = False
        self._closed = False
        inbox, self._to_worker = os.pipe()
        self._from_worker, out = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the worker
            os.close(self._to_worker)
            os.close(self._from_worker)
            code = 0
            try:
                serve(analyzer, BlockingEnd(inbox, out), label)
            except BaseException:  # noqa: BLE001 - report and leave; the proxy takes over
                log.exception("phitrace: the analysis worker failed")
                code = 1
            os._exit(code)
        os.close(inbox)
        os.close(out)
        os.set_blocking(self._to_worker, False)
        os.set_blocking(self._from_worker, False)
        self.loop.add_reader(self._from_worker, self._readable)

    # On the event loop ----------------------------------------------------------

    def capture(self, event: Captured, flow: Any) -> None:
        """Queue a captured request; it stays pending until the worker settles it."""
        self.pending[event.key] = Pending(event, weakref.ref(flow))
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
        deadline = time.monotonic() + timeout
        while token not in self._replies and self.alive:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            poller = select.poll()
            poller.register(self._from_worker, select.POLLIN)
            if self._unsent:
                poller.register(self._to_worker, select.POLLOUT)
            for fd, _ in poller.poll(left * 1000):
                if fd == self._to_worker:
                    self._write_unsent()
                else:
                    self._read()
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
            self._close()
            self._reap()

    def orphans(self) -> list[Pending]:
        """The pending flows, in order, once the worker is gone: to be analysed in the proxy."""
        orphans = list(self.pending.values())
        self.pending.clear()
        return orphans

    def drain(self) -> None:
        """Apply what the worker sent: verdicts, settled keys, log lines; notice its death."""
        items, self._incoming = self._incoming, []
        shown = []
        for item in items:
            if isinstance(item, Verdict):
                entry = self.pending.get(item.key)
                if entry is not None:
                    self.on_verdict(item, entry)
                    flow = entry.flow
                    if flow is not None:
                        shown.append(flow)
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
        # One write per few milliseconds, not per event: fewer, larger pickles and syscalls.
        if not self._batch:
            self.loop.call_later(BATCH_DELAY, self._flush)
        self._batch.append(item)
        if len(self._batch) >= BATCH_MAX:
            self._flush()

    def _flush(self) -> None:
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        if not self.alive:
            return  # the worker is gone: its pending flows are taken over, not sent
        waiting = bool(self._unsent)
        self._unsent += frame([packed(item) for item in batch])
        if not waiting:
            self._write_unsent()
            if self._unsent:
                self.loop.add_writer(self._to_worker, self._writable)

    # The pipe's two ends ---------------------------------------------------------

    def _write_unsent(self) -> None:
        """Write as much of what waits as the pipe takes now; a broken pipe drops it all.

        The worker is then dead, and the read side is told so (its end closes):
        the flows it was never sent are still pending, and are taken over.
        """
        try:
            written = os.write(self._to_worker, self._unsent)
        except BlockingIOError:
            return
        except OSError:
            self._unsent.clear()
            return
        del self._unsent[:written]

    def _writable(self) -> None:
        self._write_unsent()
        if not self._unsent:
            self.loop.remove_writer(self._to_worker)

    def _readable(self) -> None:
        self._read()
        if self._incoming and not self._drain_due:
            self._drain_due = True
            self.loop.call_later(SHOW_DELAY, self._drain_now)

    def _drain_now(self) -> None:
        self._drain_due = False
        self.drain()

    def _read(self) -> None:
        """Read what the worker wrote; keep replies apart, the rest in order for drain()."""
        try:
            data = os.read(self._from_worker, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        try:
            batches = self._frames.feed(data) if data else [[DIED]]
        except Exception:  # noqa: BLE001 - an unreadable stream is a dead worker
            log.exception("phitrace: unreadable answer from the analysis worker")
            batches = [[DIED]]
        for items in batches:
            for item in items:
                if isinstance(item, Reply):
                    self._replies[item.token] = item.payload
                else:
                    self._incoming.append(item)
                if item is DIED:
                    self._dead()
                    return

    def _dead(self) -> None:
        """The worker's end closed: stop watching the pipe; drain() tells the workers."""
        self.alive = False
        self._unsent.clear()
        try:
            self.loop.remove_reader(self._from_worker)
            self.loop.remove_writer(self._to_worker)
        except (RuntimeError, AttributeError, ValueError):  # the loop is closed already
            pass

    def _close(self) -> None:
        """Close the proxy's ends of the pipes (the worker then sees the end of its input)."""
        if self._closed:
            return  # once only: a closed number may already belong to another file
        self._closed = True
        if self.alive:
            self._dead()
        os.close(self._to_worker)
        os.close(self._from_worker)

    def _reap(self) -> None:
        """Collect the worker's exit status, so it never lingers as a zombie."""
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
