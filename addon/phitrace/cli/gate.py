"""Gate commands for CI: ``check``, ``baseline`` and ``diff``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from phitrace.cli.options import (
    DATABASE,
    check_output,
    db_option,
    read_or_fail,
    session_db,
    session_option,
)
from phitrace.cli.policy import judge_leaks, policy_option, read_policy
from phitrace.gate.baseline import FAIL_LEVELS
from phitrace.store.reader import Leak
from phitrace.store.target import Target, files


class CannotCheck(click.ClickException):
    """The gate could not run at all: exit code 2, never mistaken for "leaks found"."""

    exit_code = 2


def _leaks(db_path: Target, session: int | None) -> list[Leak]:
    """Only the findings of one session (or all): what the gate compares, without the flows."""
    from phitrace.store.reader import load_leaks

    db = session_db(db_path, session)
    try:
        return read_or_fail(db_path, lambda: load_leaks(db, session))
    finally:
        db.close()


@click.command("check")
@db_option
@session_option
@click.option(
    "--fail-on",
    type=click.Choice(list(FAIL_LEVELS)),
    default="medium",
    show_default=True,
    help="Fail on findings at or above this severity.",
)
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Baseline file (from phitrace baseline) of accepted findings.",
)
@policy_option
@click.option(
    "--strict",
    is_flag=True,
    help="Count findings the policy accepts (covered vendors, allowed pages) too.",
)
def check_command(
    db_path: Target,
    session: int | None,
    fail_on: str,
    baseline: Path | None,
    policy_path: Path | None,
    strict: bool,
) -> None:
    """Fail when findings at or above --fail-on exist that neither baseline nor policy accepts.

    Exit codes: 0 passed; 1 new findings at or above the level (listed);
    2 could not check (no database, not a SQLite database, a locked or unreadable one,
    unknown session, unreadable baseline or policy, bad option, or a session in scope
    failed part way, unless there are new findings anyway).
    """
    from phitrace.gate.baseline import (
        BaselineError,
        check,
        describe,
        failed_sessions,
        read_baseline,
    )
    from phitrace.store.reader import load_sessions

    try:
        accepted = read_baseline(baseline) if baseline else frozenset()
        policy = read_policy(policy_path)
    except BaselineError as exc:
        raise CannotCheck(str(exc)) from exc
    except click.ClickException as exc:
        raise CannotCheck(exc.message) from exc
    try:
        leaks = _leaks(db_path, session)
        db = session_db(db_path, session)
        try:
            incomplete = failed_sessions(load_sessions(db, session))
        finally:
            db.close()
    except click.ClickException as exc:
        raise CannotCheck(exc.message) from exc
    for line in incomplete:
        click.echo(line, err=True)
    result = check(judge_leaks(policy, leaks), fail_on, accepted, strict=strict)
    for item in result.failing:
        click.echo(describe(item))
    verdict = "FAILED" if result.failing else "passed"
    click.echo(
        f"phitrace check {verdict}: {len(result.failing)} new leak(s) at or above {fail_on}, "
        f"{result.accepted} finding(s) accepted by the baseline, "
        + (f"{result.by_policy} accepted by the policy, " if result.by_policy else "")
        + f"{result.below} below the level"
    )
    if result.failing:
        sys.exit(1)
    if incomplete:
        raise CannotCheck(f"{len(incomplete)} session(s) in scope failed part way; rescan them")


@click.command("baseline")
@db_option
@session_option
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Baseline file to write (JSON; commit it next to your CI configuration).",
)
def baseline_command(db_path: Target, session: int | None, output: Path) -> None:
    """Accept the current findings: write their fingerprints for check --baseline."""
    from phitrace.gate.baseline import write_baseline
    from phitrace.store.private import OutputError

    check_output(output, (db_path,))
    leaks = _leaks(db_path, session)
    try:
        count = write_baseline(output, leaks, files([db_path]))
    except OutputError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {output}: {count} accepted leak(s) from {len(leaks)} finding(s)")


@click.command("diff")
@click.argument("databases", nargs=-1, type=DATABASE)
@db_option
@click.option("--old-session", type=int, help="Session of the old run (in OLD.db or --db).")
@click.option("--new-session", type=int, help="Session of the new run (in NEW.db or --db).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for a terminal, json for scripts.",
)
def diff_command(
    databases: tuple[Target, ...],
    db_path: Target,
    old_session: int | None,
    new_session: int | None,
    fmt: str,
) -> None:
    """List leaks new, fixed and unchanged: phitrace diff OLD.db NEW.db, or two sessions of --db."""
    from phitrace.gate.baseline import diff, diff_json, diff_text

    if len(databases) not in (0, 2):
        raise click.UsageError("give two databases (OLD.db NEW.db), or none and two sessions")
    if not databases and (old_session is None or new_session is None):
        raise click.UsageError("without OLD.db NEW.db, give --old-session and --new-session")
    old_db, new_db = databases or (db_path, db_path)
    result = diff(_leaks(old_db, old_session), _leaks(new_db, new_session))
    click.echo(diff_text(result) if fmt == "text" else diff_json(result), nl=fmt == "text")
