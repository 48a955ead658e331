"""``phitrace report`` for the formats written while the findings are read (JSON, CSV, SARIF, HTML).

The findings go from SQLite, a batch at a time, through the format's writer
to the private temporary file (or standard output), so a session of 100,000
findings is never held whole.  The bytes are those the in-memory functions
give; the guarantees of every output stay: mode 0600, replaced atomically
only once complete, never written over a database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from phitrace.cli.options import read_or_fail, session_db
from phitrace.cli.policy import judged_source, leak_judge
from phitrace.store.target import Target

if TYPE_CHECKING:
    from phitrace.assess.policy import Policy
    from phitrace.report.documents import Write
    from phitrace.store.engine import Store

CHUNK = 1 << 16
"""Characters gathered before one write: a system call per 64 KB, not per row."""


def chunked(sink: Write, size: int = CHUNK) -> tuple[Write, Callable[[], None]]:
    """A ``write`` that hands ``sink`` whole pieces, about ``size`` characters at a time.

    Pieces are never split, so standard output (which click cleans of
    terminal codes piece by piece) gets what it got as one string.  The
    second function hands over what is left.
    """
    pending: list[str] = []
    held = 0

    def write(text: str) -> None:
        nonlocal held
        pending.append(text)
        held += len(text)
        if held >= size:
            flush()

    def flush() -> None:
        nonlocal held
        if pending:
            sink("".join(pending))
            pending.clear()
            held = 0

    return write, flush


def _write_to(export: Callable[[Write], None], target: Path | None, db: Target) -> None:
    """Run ``export`` into the target file, or standard output when there is none."""
    from phitrace.store.private import private_output

    if target is None:
        write, flush = chunked(lambda text: click.echo(text, nl=False))
        export(write)
        flush()
        return
    with private_output(target, (db,)) as handle:
        write, flush = chunked(lambda text: handle.write(text.encode("utf-8", "backslashreplace")))
        export(write)
        flush()


Export = Callable[["Write"], None]
"""Writes a whole output, piece by piece, to the ``write`` it is given."""
Totals = Callable[[], tuple[int, int]]
"""The flows and findings the written output covered, for the closing line."""


def _stream(
    db_path: Target,
    session: int | None,
    target: Path | None,
    prepare: Callable[[Store], tuple[Export, Totals]],
) -> None:
    """Open the database, write what ``prepare`` sets up in one snapshot, then close it.

    ``prepare`` reads what the output needs first and returns the export and
    how to count what it covered; all three run inside the same snapshot.
    A file written is reported in one line with those counts.
    """
    from phitrace.store.database import read_snapshot
    from phitrace.store.private import OutputError

    db = session_db(db_path, session)

    def run() -> tuple[int, int]:
        with read_snapshot(db):
            export, totals = prepare(db)
            try:
                _write_to(export, target, db_path)
            except OutputError as exc:
                raise click.ClickException(str(exc)) from exc
            return totals()

    try:
        flows, found = read_or_fail(db_path, run)
    finally:
        db.close()
    if target is not None:
        click.echo(f"wrote {target}: {flows} flows, {found} findings")


def stream_report(
    db_path: Target, session: int | None, fmt: str, policy: Policy | None, target: Path | None
) -> None:
    """Write the report in ``fmt`` (a :data:`~phitrace.report.formats.STREAMED` format).

    Every read happens in one snapshot of the database, so the summary's
    totals and the rows agree even while a recorder writes.
    """
    from phitrace.report.formats import STREAMED
    from phitrace.store.reader import count_leaks, iter_leaks, load_findings

    writer = STREAMED[fmt]

    def prepare(db: Store) -> tuple[Export, Totals]:
        overview = load_findings(db, session, leaks=False)
        source = judged_source(policy, lambda: iter_leaks(db, session))
        return (
            lambda write: writer(overview, source, write),
            lambda: (overview.total_flows, count_leaks(db, session)),
        )

    _stream(db_path, session, target, prepare)


def stream_html_report(
    db_path: Target, session: int | None, policy: Policy | None, target: Path | None
) -> None:
    """Write the HTML report while the database is read (:mod:`phitrace.report.streamed_html`).

    The summaries are counted first, then the template is written out piece by
    piece, the evidence cards read a page at a time; all in one snapshot.
    """
    from phitrace.report.html import stream_html
    from phitrace.report.streamed_html import streamed_context
    from phitrace.store.reader import iter_leaks

    def prepare(db: Store) -> tuple[Export, Totals]:
        source = judged_source(policy, lambda: iter_leaks(db, session))
        context = streamed_context(db, session, source, leak_judge(policy))
        return (
            lambda write: _each(stream_html(context), write),
            lambda: (context.total_flows, context.total_findings),
        )

    _stream(db_path, session, target, prepare)


def _each(pieces: Iterable[str], write: Write) -> None:
    for piece in pieces:
        write(piece)
