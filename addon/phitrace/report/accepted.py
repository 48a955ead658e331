"""Findings the organisation's policy accepts, summarised apart from the rest.

A covered vendor or an allowed page does not make a finding disappear: every
report lists the accepted findings in a section of their own, by rule and
vendor, so a reader sees both what the policy let through and what is left.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from phitrace.model import severity_rank
from phitrace.store.reader import Leak


@dataclass(frozen=True)
class AcceptedView:
    """The findings one policy rule accepted for one vendor."""

    rule: str
    """``covered`` or ``allowed:<n>``."""
    vendor: str
    findings: int
    worst: str
    categories: tuple[str, ...]


def rule_order(rule: str) -> tuple[int, int, str]:
    """``covered`` first, then ``allowed:1``, ``allowed:2``… in entry order (not as text)."""
    kind, _, number = rule.partition(":")
    return (0 if kind == "covered" else 1, int(number) if number.isdigit() else 0, rule)


def split_accepted(leaks: Iterable[Leak]) -> tuple[list[Leak], list[Leak]]:
    """The findings no policy rule accepts, and those one does, each in their order."""
    left: list[Leak] = []
    accepted: list[Leak] = []
    for leak in leaks:
        (accepted if leak.policy else left).append(leak)
    return left, accepted


def policy_counts(leaks: Iterable[Leak]) -> dict[str, int]:
    """Accepted findings per rule, in rule order (empty when the policy accepted none)."""
    counts: dict[str, int] = {}
    for leak in leaks:
        if leak.policy:
            counts[leak.policy] = counts.get(leak.policy, 0) + 1
    return {rule: counts[rule] for rule in sorted(counts, key=rule_order)}


class AcceptedTally:
    """The accepted findings counted by rule and vendor as they go by."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str], tuple[int, str, dict[str, None]]] = {}
        self.findings = 0
        """How many findings a rule accepted."""

    def add(self, leak: Leak) -> None:
        """Count one finding if a rule accepted it."""
        if not leak.policy:
            return
        self.findings += 1
        key = (leak.policy, leak.vendor_label)
        count, worst, categories = self._groups.get(key, (0, leak.severity, {}))
        categories.setdefault(leak.category)
        worst = min(worst, leak.severity, key=severity_rank)
        self._groups[key] = (count + 1, worst, categories)

    def counts(self) -> dict[str, int]:
        """Accepted findings per rule, in rule order (as :func:`policy_counts` gives them)."""
        counts: dict[str, int] = {}
        for (rule, _vendor), (n, _, _) in self._groups.items():
            counts[rule] = counts.get(rule, 0) + n
        return {rule: counts[rule] for rule in sorted(counts, key=rule_order)}

    def views(self) -> list[AcceptedView]:
        """One row per rule and vendor, rules in order and the most findings first within a rule."""
        views = [
            AcceptedView(rule, vendor, n, worst, tuple(categories))
            for (rule, vendor), (n, worst, categories) in self._groups.items()
        ]
        return sorted(views, key=lambda v: (rule_order(v.rule), -v.findings, v.vendor))


def accepted_views(leaks: Sequence[Leak]) -> list[AcceptedView]:
    """One row per rule and vendor, rules in order and the most findings first within a rule."""
    tally = AcceptedTally()
    for leak in leaks:
        tally.add(leak)
    return tally.views()
