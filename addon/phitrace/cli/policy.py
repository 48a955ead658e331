"""Policy commands: ``policy lint``, and the ``--policy`` option the other commands share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from phitrace.cli.options import build_analyzer, signatures_option

if TYPE_CHECKING:
    from phitrace.assess.policy import Policy
    from phitrace.report.documents import LeakSource
    from phitrace.store.reader import Leak

policy_option = click.option(
    "--policy",
    "policy_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Policy file (YAML): vendors under a BAA, allowed vendors and pages, severity "
    "overrides. Check one with phitrace policy lint.",
)


def read_policy(path: Path | None, known_vendors: frozenset[str] | None = None) -> Policy | None:
    """The parsed policy file, or None without one; a bad file is an error listing each problem."""
    if path is None:
        return None
    from phitrace.assess.policy import PolicyError
    from phitrace.assess.policy_file import load_policy

    try:
        return load_policy(path, known_vendors)
    except PolicyError as exc:
        raise click.ClickException(f"cannot use the policy file:\n{exc}") from exc


def judge_leaks(policy: Policy | None, leaks: list[Leak]) -> list[Leak]:
    """Stored findings with a policy applied anew; as recorded when no policy is given.

    An override can change a severity, so the findings are put back in severity order
    (stable: the reader's order within a severity stays).
    """
    if policy is None:
        return leaks
    from phitrace.assess.policy import judge
    from phitrace.model import severity_rank

    judged = [judge(policy, leak, leak.vendor or None, leak.page_url or None) for leak in leaks]
    return sorted(judged, key=lambda leak: severity_rank(leak.severity))


def leak_judge(policy: Policy | None) -> Callable[[Leak], Leak] | None:
    """The policy applied anew to one stored finding; None without a policy."""
    if policy is None:
        return None
    from phitrace.assess.policy import judge

    rules: Policy = policy
    return lambda leak: judge(rules, leak, leak.vendor or None, leak.page_url or None)


def judged_source(policy: Policy | None, source: LeakSource) -> LeakSource:
    """:func:`judge_leaks` for findings read as a stream, in the same order.

    Sorting would hold every finding, so each read of the result goes over
    ``source`` once per severity and yields the findings judged to have it:
    the stable severity order again, with only one finding in hand.
    """
    if policy is None:
        return source
    from phitrace.assess.policy import judge
    from phitrace.model import SEVERITIES, severity_rank

    rules: Policy = policy

    def judged() -> Iterator[Leak]:
        for rank in range(len(SEVERITIES)):
            for leak in source():
                verdict = judge(rules, leak, leak.vendor or None, leak.page_url or None)
                if severity_rank(verdict.severity) == rank:
                    yield verdict

    return judged


@click.group()
def policy() -> None:
    """Check the organisation's policy file."""


@policy.command("lint")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@signatures_option
def policy_lint(file: Path, extra_signatures: tuple[Path, ...]) -> None:
    """Check a policy file against policies/schema.json and the catalogue; report every problem."""
    from phitrace.assess.policy_file import policy_problems

    catalogue = build_analyzer(extra_signatures).catalogue
    problems = policy_problems(file, frozenset(sig.id for sig in catalogue.signatures))
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) in {file}")
    click.echo(f"{file}: policy OK")
