"""Scanning several captures at once: a worker process per file, sessions still in file order.

Reading and analysing a capture is most of a scan's time and needs nothing
from the other files, so each file is scanned by a worker process of its
own, which writes its own session into the shared database (SQLite lets one
writer in at a time; each batch takes the write lock with ``BEGIN
IMMEDIATE`` and the others wait their turn).  Session ids are handed out in
file order: a worker starts its session only once the worker of the file
before it has started its own (or given up on its file), so ``--jobs N``
numbers sessions exactly as one job does, and every session holds the same
flows and findings, since each file is its own :class:`~phitrace.session.Session`.

Workers are forked, so they share the parent's parsed catalogue and
vocabulary instead of loading them again.  Where fork is unavailable, or
unsafe because the parent runs threads, :func:`available` says so and the
caller scans one file after another.
"""

from __future__ import annotations

import gc
import multiprocessing
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phitrace.capture.scan import ScanResult, scan_file

if TYPE_CHECKING:
    from phitrace.analyzer import Analyzer
    from phitrace.store.engine import Store
    from phitrace.store.target import Target

OpenDatabase = Callable[["Target"], "Store"]


def available() -> bool:
    """Whether files can be scanned in forked workers here.

    Forking a process that runs other threads can deadlock the child (a lock
    held by a thread that does not exist there), so then the answer is no.
    """
    methods = multiprocessing.get_all_start_methods()
    return "fork" in methods and threading.active_count() == 1


@dataclass
class _Job:
    """What every worker needs, inherited through fork (never pickled)."""

    paths: list[Path]
    analyzer: Analyzer
    open_db: OpenDatabase
    db_path: Target
    options: dict[str, Any]
    turn: Any = None
    """A Condition guarding ``next_session``."""
    next_session: Any = None
    """Index of the file whose worker may start its session next (a shared int)."""


_JOB: _Job | None = None


def _wait_turn(job: _Job, index: int) -> None:
    with job.turn:
        job.turn.wait_for(lambda: job.next_session.value >= index)


def _pass_turn(job: _Job, index: int) -> None:
    with job.turn:
        job.next_session.value = max(job.next_session.value, index + 1)
        job.turn.notify_all()


def _scan_in_worker(index: int) -> ScanResult:
    """Scan file ``index`` of the job into its own session (in a worker process)."""
    job = _JOB
    assert job is not None, "workers are forked from scan_files"
    taken = False

    @contextmanager
    def session_turn() -> Iterator[None]:
        nonlocal taken
        _wait_turn(job, index)
        try:
            yield
        finally:
            taken = True
            _pass_turn(job, index)

    db = None
    try:
        db = job.open_db(job.db_path)
        return scan_file(
            job.paths[index], job.analyzer, db, session_turn=session_turn, **job.options
        )
    finally:
        if not taken:  # the file failed before its session: let the next one go
            _wait_turn(job, index)
            _pass_turn(job, index)
        if db is not None:
            db.close()


def scan_files(
    paths: list[Path],
    analyzer: Analyzer,
    db_path: Target,
    open_db: OpenDatabase,
    jobs: int,
    **options: Any,
) -> list[ScanResult | Exception]:
    """Scan ``paths`` with up to ``jobs`` workers; each file's result or error, in file order.

    Every file is scanned even when another fails (each failure is as one job
    reports it: the file's error, and a session marked failed if it had one).
    ``open_db`` opens the database in a worker; ``options`` go to
    :func:`~phitrace.capture.scan.scan_file`.  Call only when :func:`available`.
    """
    global _JOB
    context = multiprocessing.get_context("fork")
    turn = context.Condition()
    _JOB = _Job(list(paths), analyzer, open_db, db_path, options, turn, context.Value("i", 0))
    results: list[ScanResult | Exception] = []
    # The parent's objects (catalogue, vocabulary) are shared with the workers page by
    # page until written; a collection in a worker would write to every one of them.
    gc.freeze()
    try:
        with context.Pool(processes=max(1, min(jobs, len(paths)))) as pool:
            outcomes = pool.imap(_scan_in_worker, range(len(paths)), chunksize=1)
            for _ in paths:
                try:
                    results.append(next(outcomes))
                except Exception as exc:  # noqa: BLE001 - one file's error, reported in order
                    results.append(exc)
            pool.close()
            pool.join()
    finally:
        _JOB = None
        gc.unfreeze()
    return results
