"""The analysis worker process: an :class:`~phitrace.proxy.analyst.Analyst` fed through a pipe.

The proxy forks it once its analyzer is built (forking keeps the parsed
catalogue and vocabulary without building them again), and sends it batches
of captured events and a few commands.  It answers with batches of its own:
verdicts for the live view, the keys whose records are committed (so the
proxy can forget them), its log lines, and replies to commands.  It ignores
SIGINT and SIGTERM, which are the proxy's to handle: the proxy then asks it
to stop, and it records everything it was given before it exits.  When the
proxy disappears (its end of the pipe closes) it does the same on its own.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any, NamedTuple

from phitrace.analyzer import Analyzer
from phitrace.proxy.analyst import Analyst, unpacked
from phitrace.proxy.channel import BlockingEnd
from phitrace.session import Session

NICENESS = 10
"""How much lower the worker's scheduling priority is than the proxy's."""

SETTLE_EVERY = 0.25
"""Seconds between commits the worker waits for, to tell the proxy what is safely stored."""


class Command(NamedTuple):
    """A command to the worker: open, limits, writer, domains, flush or stop."""

    name: str
    args: tuple[Any, ...] = ()
    token: int = 0
    """Non-zero when the proxy waits for a :class:`Reply` with the same token."""


class Reply(NamedTuple):
    """The worker's answer to a command the proxy waits for."""

    token: int
    payload: Any


class Settled(NamedTuple):
    """Keys whose records are committed (or that had nothing to record), and errors so far."""

    keys: list[str]
    errors: int


class Logged(NamedTuple):
    """A log line of the worker, to be logged by the proxy (whose handlers reach the user)."""

    name: str
    level: int
    text: str


class Outbox:
    """Gathers what the worker sends back and sends it in one message per batch."""

    def __init__(self, end: BlockingEnd) -> None:
        self.end = end
        self.items: list[object] = []

    def put(self, item: object) -> None:
        self.items.append(item)

    def send(self) -> None:
        if self.items:
            items, self.items = self.items, []
            self.end.send(items)


class Forward(logging.Handler):
    """Hands each log record to the proxy as text, traceback included."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__()
        self.outbox = outbox
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.outbox.put(Logged(record.name, record.levelno, self.format(record)))
        except Exception:  # noqa: BLE001 - a log line must never stop the worker
            self.handleError(record)


def forward_logs(outbox: Outbox) -> None:
    """Replace the inherited handlers (the proxy's, bound to its event loop) with forwarding."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(Forward(outbox))


def run_command(analyst: Analyst, command: Command, outbox: Outbox) -> bool:
    """Carry out a command; False once the worker is to stop."""
    name, args = command.name, command.args
    payload: Any = None
    if name == "open":
        analyst.open(*args)
    elif name == "limits":
        analyst.limits(*args)
    elif name == "writer":
        analyst.configure_writer(*args)
    elif name == "domains":
        analyst.domains = args[0]
    elif name == "flush":
        analyst.settle()
        payload = analyst.session.parties
    elif name == "stop":
        payload = analyst.close(*args)
    if command.token:
        outbox.put(Reply(command.token, payload))
    return name != "stop"


def serve(analyzer: Analyzer, end: BlockingEnd, label: str) -> None:
    """The worker's main loop: events in order, commands between them, settled keys back."""
    # The proxy's event loop wakes on a byte per signal: a signal here must not reach it.
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Traffic first: on a busy machine the proxy gets the CPU, and the worker catches up
    # when it is free (what it holds is recorded all the same, however late).
    os.nice(NICENESS)
    outbox = Outbox(end)
    forward_logs(outbox)
    analyst = Analyst(analyzer, outbox.put, session=Session(label=label))
    settled_at = time.monotonic()
    running = True
    while running:
        if not end.poll(SETTLE_EVERY if analyst.recorded else None):
            settled_at = settle(analyst, outbox)
            continue
        try:
            batch = end.recv()
        except EOFError:  # the proxy is gone: store what it sent, then stop
            analyst.close(True)
            break
        for item in map(unpacked, batch):
            if isinstance(item, Command):
                running = run_command(analyst, item, outbox) and running
            else:
                analyst.handle(item)
        if time.monotonic() - settled_at >= SETTLE_EVERY:
            settled_at = settle(analyst, outbox)
        outbox.send()
    outbox.send()


def settle(analyst: Analyst, outbox: Outbox) -> float:
    """Tell the proxy which keys are committed; when that was."""
    outbox.put(Settled(analyst.settle(), analyst.session.errors))
    outbox.send()
    return time.monotonic()
