"""The CI gate: stable finding fingerprints, baselines, checks and diffs.

A fingerprint names a leak independently of when it was captured: the
vendor, the data category, the field path (decode trail and array positions
left out), the value normalised, and the path of the page it came from.
The same leak on the next run, in another flow or another batch position,
gets the same fingerprint; a leak of something new does not.

A baseline file lists accepted fingerprints.  :func:`check` fails on
findings at or above a severity that the baseline does not accept;
:func:`diff` compares two selections of findings.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from phitrace import __version__
from phitrace.model import severity_rank
from phitrace.store.private import write_private
from phitrace.store.reader import Leak, SessionView
from phitrace.store.schema import now_iso

FAIL_LEVELS: tuple[str, ...] = ("high", "medium", "low")
"""Severities ``check --fail-on`` accepts."""

BASELINE_FORMAT = "phitrace-baseline"
BASELINE_VERSION = 1

_INDEX = re.compile(r"\[\d+\]")
_LONG_NUMBER = re.compile(r"\d{6,}")
_SPACE = re.compile(r"\s+")


class BaselineError(ValueError):
    """A baseline file that cannot be read, with the reason."""


def field_path(path: str) -> str:
    """A field path without array positions: ``body.line[3].ep`` → ``body.line[].ep``."""
    return _INDEX.sub("[]", path)


def normalise(value: str) -> str:
    """A value as compared across runs.

    Percent-decoded, case-folded, whitespace collapsed, and runs of six or
    more digits (time stamps, cache busters, random ids) replaced by ``#``.
    """
    text = unquote_plus(value) if "%" in value or "+" in value else value
    text = _SPACE.sub(" ", text.casefold()).strip()
    return _LONG_NUMBER.sub("#", text)


def fingerprint(leak: Leak) -> str:
    """The stable fingerprint of a finding (32 hex digits)."""
    parts = (
        leak.vendor,
        leak.category,
        field_path(leak.path),
        normalise(leak.value),
        normalise(leak.page_path),
    )
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass
class Group:
    """All findings that share one fingerprint."""

    fingerprint: str
    first: Leak
    count: int = 0
    severity: str = "info"

    def add(self, leak: Leak) -> None:
        """Count a finding; the group takes the worst severity among them."""
        self.count += 1
        if self.count == 1 or severity_rank(leak.severity) < severity_rank(self.severity):
            self.severity = leak.severity


def group(leaks: Iterable[Leak]) -> list[Group]:
    """Findings grouped by fingerprint, most severe first, in first-seen order otherwise."""
    groups: dict[str, Group] = {}
    for leak in leaks:
        key = fingerprint(leak)
        if key not in groups:
            groups[key] = Group(key, leak)
        groups[key].add(leak)
    return sorted(groups.values(), key=lambda g: severity_rank(g.severity))


def baseline_entry(item: Group) -> dict[str, Any]:
    """What a baseline keeps about an accepted leak: no captured value, only its term."""
    leak = item.first
    return {
        "fingerprint": item.fingerprint,
        "severity": item.severity,
        "vendor": leak.vendor,
        "category": leak.category,
        "field": field_path(leak.path),
        "matched": leak.matched,
        "page": leak.page_path,
    }


def baseline_document(leaks: Iterable[Leak]) -> dict[str, Any]:
    """A baseline accepting every given finding."""
    entries = sorted((baseline_entry(g) for g in group(leaks)), key=lambda e: e["fingerprint"])
    return {
        "format": BASELINE_FORMAT,
        "version": BASELINE_VERSION,
        "phitrace_version": __version__,
        "created_at": now_iso(),
        "accepted": entries,
    }


def write_baseline(path: Path, leaks: Iterable[Leak], databases: Iterable[Path] = ()) -> int:
    """Write a baseline of the findings (atomically, never over ``databases``).

    Returns how many fingerprints it accepts.
    """
    document = baseline_document(leaks)
    write_private(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n", databases)
    return len(document["accepted"])


def read_baseline(path: Path) -> frozenset[str]:
    """The fingerprints a baseline file accepts."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != BASELINE_FORMAT:
        raise BaselineError(f"{path} is not a phitrace baseline (no format: {BASELINE_FORMAT})")
    if document.get("version") != BASELINE_VERSION:
        raise BaselineError(f"{path}: baseline version {document.get('version')!r} unsupported")
    entries = document.get("accepted")
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("fingerprint"), str) for e in entries
    ):
        raise BaselineError(f"{path}: 'accepted' must be a list of entries with a fingerprint")
    return frozenset(e["fingerprint"] for e in entries)


@dataclass
class CheckResult:
    """What :func:`check` found."""

    failing: list[Group] = field(default_factory=list)
    """Groups at or above the level that the baseline does not accept."""
    accepted: int = 0
    """Findings at or above the level that the baseline accepts."""
    below: int = 0
    """Findings under the level (never failing)."""
    by_policy: int = 0
    """Findings at or above the level that the policy accepts (``covered``, ``allowed:<n>``)."""

    @property
    def passed(self) -> bool:
        """True when nothing at or above the level is new."""
        return not self.failing


def check(
    leaks: Sequence[Leak],
    fail_on: str = "medium",
    baseline: frozenset[str] = frozenset(),
    *,
    strict: bool = False,
) -> CheckResult:
    """Find the findings at or above ``fail_on`` that neither baseline nor policy accepts.

    A finding the organisation's policy accepts (``leak.policy`` set) is counted
    apart and does not fail the gate, unless ``strict``.
    """
    if fail_on not in FAIL_LEVELS:
        raise ValueError(f"unknown level {fail_on!r}; expected one of {FAIL_LEVELS}")
    limit = severity_rank(fail_on)
    result = CheckResult()
    serious = [leak for leak in leaks if severity_rank(leak.severity) <= limit]
    result.below = len(leaks) - len(serious)
    if not strict:
        result.by_policy = sum(1 for leak in serious if leak.policy)
        serious = [leak for leak in serious if not leak.policy]
    for item in group(serious):
        if item.fingerprint in baseline:
            result.accepted += item.count
        else:
            result.failing.append(item)
    return result


def failed_sessions(sessions: Iterable[SessionView]) -> list[str]:
    """One warning line per failed session: a gate over partial data must say so."""
    return [
        f"warning: session {s.id} ({s.label or s.input or s.source}) failed: "
        f"{s.error or 'no reason recorded'}; its findings are incomplete"
        for s in sessions
        if s.failed
    ]


@dataclass
class Diff:
    """Leaks new in the second selection, fixed since the first, and unchanged."""

    new: list[Group]
    fixed: list[Group]
    unchanged: list[Group]


def diff(old: Iterable[Leak], new: Iterable[Leak]) -> Diff:
    """Compare two selections of findings by fingerprint."""
    before = {g.fingerprint: g for g in group(old)}
    after = group(new)
    seen = {g.fingerprint for g in after}
    return Diff(
        new=[g for g in after if g.fingerprint not in before],
        fixed=[g for g in before.values() if g.fingerprint not in seen],
        unchanged=[g for g in after if g.fingerprint in before],
    )


def describe(item: Group) -> str:
    """One line for a terminal: severity, vendor, what, where, and how often."""
    leak = item.first
    times = f" ×{item.count}" if item.count > 1 else ""
    what = f"{leak.category} {leak.matched!r}" if leak.matched else leak.category
    return (
        f"{item.severity:<6} {leak.vendor or leak.host}: {what} in {field_path(leak.path)} "
        f"on {leak.page_path}{times}  [{item.fingerprint[:12]}]"
    )


def diff_text(result: Diff) -> str:
    """The diff for a terminal: a count line, then one line per leak by state."""
    lines = [f"{len(result.new)} new, {len(result.fixed)} fixed, {len(result.unchanged)} unchanged"]
    states = (("new", result.new), ("fixed", result.fixed), ("unchanged", result.unchanged))
    for state, items in states:
        lines += [f"{state:<9} {describe(g)}" for g in items]
    return "\n".join(lines)


def diff_json(result: Diff) -> str:
    """The diff as JSON: for each state, the leaks as baseline entries with counts."""

    def entries(items: Sequence[Group]) -> list[dict[str, Any]]:
        return [{**baseline_entry(g), "count": g.count} for g in items]

    document = {
        "new": entries(result.new),
        "fixed": entries(result.fixed),
        "unchanged": entries(result.unchanged),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
