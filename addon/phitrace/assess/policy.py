"""An organisation's own policy: which findings it has accepted, and why.

A hospital with a business associate agreement (BAA) with one vendor, or one
that lets its analytics vendor see ids on its public careers pages, still
wants those findings recorded, but not counted as violations.  The policy
file says so (see the README's "Policy file"; its schema is
``policies/schema.json``):

- ``covered_vendors``: findings sent to these vendors are ``covered``;
- ``allow``: entry *n* lets a vendor receive some kinds of finding on some
  pages; a finding that fits it is ``allowed:<n>`` (1-based);
- ``severity``: per-category overrides, applied to health and identifier
  findings, each changed finding's reason saying that the policy changed it.

Covered wins over allowed, and the first allow entry that fits wins.  The
matching is pure functions over plain values, so the analyser (at capture
time) and the report and gate (over stored findings) decide alike.  Page
globs are the catalogue's linear-time globs, with ``*`` spanning anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol, TypeVar

from phitrace.catalogue.model import Glob, Problem, compile_glob
from phitrace.model import Analysis, Finding, severity_rank

COVERED = "covered"
ALLOWED = "allowed"
OVERRIDDEN_KINDS = frozenset({"health", "identifier"})
"""Kinds whose severity a category override changes (a canary's category is its own name)."""


class PolicyError(ValueError):
    """A policy file that cannot be used: each line of the message is ``file:line: problem``.

    The problems are kept as values, so the linter need not read the message back.
    """

    def __init__(self, *problems: Problem) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class AllowRule:
    """One ``allow`` entry: a vendor, the pages (globs) and the kinds it may receive."""

    vendor: str
    pages: tuple[Glob, ...] = ()
    """Empty: every page; else the page URL must fit one glob."""
    kinds: frozenset[str] = frozenset()
    """Empty: every kind of finding."""
    reason: str = ""

    def fits(self, vendor: str | None, page_url: str | None, kind: str) -> bool:
        """True when a finding of ``kind`` sent to ``vendor`` from ``page_url`` is allowed.

        A finding whose page is unknown never fits a rule that names pages.
        """
        if vendor != self.vendor or (self.kinds and kind not in self.kinds):
            return False
        if not self.pages:
            return True
        return bool(page_url) and any(glob.match(page_url or "") for glob in self.pages)


@dataclass(frozen=True)
class Policy:
    """A parsed policy file."""

    covered_vendors: frozenset[str] = frozenset()
    allow: tuple[AllowRule, ...] = ()
    severity: Mapping[str, str] = field(default_factory=dict)
    """Category → severity."""
    source: str = ""
    """Where the policy was read from, for messages."""


def parse_policy(data: Any, source: str = "<policy>") -> Policy:
    """Build a :class:`Policy` from a document that the schema has accepted.

    The checks here are the ones the rest of the code relies on; the schema
    (and ``phitrace policy lint``) gives the detailed messages.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(Problem(source, 1, "a policy is a mapping"))
    allow = tuple(_allow_rule(entry, source, n) for n, entry in enumerate(data.get("allow") or []))
    severity = data.get("severity") or {}
    if not isinstance(severity, dict) or not all(isinstance(v, str) for v in severity.values()):
        raise PolicyError(Problem(source, 1, "severity maps a category to a severity"))
    return Policy(
        covered_vendors=frozenset(_strings(data.get("covered_vendors"), source, "covered_vendors")),
        allow=allow,
        severity=dict(severity),
        source=source,
    )


def _strings(value: Any, source: str, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PolicyError(Problem(source, 1, f"{where} must be a list of strings"))
    return value


def _allow_rule(entry: Any, source: str, index: int) -> AllowRule:
    where = f"allow[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("vendor"), str):
        raise PolicyError(Problem(source, 1, f"{where} needs a vendor"))
    pages = _strings(entry.get("pages"), source, f"{where}.pages")
    return AllowRule(
        vendor=entry["vendor"],
        pages=tuple(compile_glob(page) for page in pages),
        kinds=frozenset(_strings(entry.get("kinds"), source, f"{where}.kinds")),
        reason=str(entry.get("reason") or ""),
    )


def policy_rule(policy: Policy, vendor: str | None, page_url: str | None, kind: str) -> str | None:
    """``covered``, ``allowed:<n>`` or None: the rule that accepts one finding, if any."""
    if vendor is not None and vendor in policy.covered_vendors:
        return COVERED
    for number, rule in enumerate(policy.allow, start=1):
        if rule.fits(vendor, page_url, kind):
            return f"{ALLOWED}:{number}"
    return None


def overridden_severity(policy: Policy, kind: str, category: str) -> str | None:
    """The severity the policy sets for a finding's category, or None to keep its own."""
    if kind not in OVERRIDDEN_KINDS:
        return None
    return policy.severity.get(category)


def override_note(category: str, was: str, now: str) -> str:
    """The words added to a finding's reason when the policy changed its severity."""
    return f"severity {now} (was {was}) set by the policy for {category}"


class Judgeable(Protocol):
    """A finding as the policy reads it: :class:`~phitrace.model.Finding` or a stored ``Leak``."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def kind(self) -> str: ...

    @property
    def category(self) -> str: ...

    @property
    def severity(self) -> str: ...

    @property
    def reason(self) -> str: ...


Judged = TypeVar("Judged", bound=Judgeable)


def judge(policy: Policy, item: Judged, vendor: str | None, page_url: str | None) -> Judged:
    """A finding with its ``policy`` rule and its severity override applied.

    Applying the same policy twice changes nothing, so the report and the gate
    may apply a policy to findings the capture already judged.
    """
    changes: dict[str, Any] = {"policy": policy_rule(policy, vendor, page_url, item.kind)}
    severity = overridden_severity(policy, item.kind, item.category)
    if severity is not None and severity != item.severity:
        note = override_note(item.category, item.severity, severity)
        changes["severity"] = severity
        changes["reason"] = f"{item.reason}; {note}"
    return replace(item, **changes)


def most_severe(severities: Iterable[str]) -> str | None:
    """The most severe of some severities (None when there are none)."""
    return min(severities, key=severity_rank, default=None)


def apply_policy(policy: Policy | None, analysis: Analysis) -> Analysis:
    """An analysis with the policy applied to each finding.

    When an override changed a finding's severity, the request's severity
    becomes the most severe of its findings', and its reason says so.
    """
    if policy is None or not analysis.findings:
        return analysis
    judged: Sequence[Finding] = [
        judge(policy, f, analysis.vendor, analysis.page_url) for f in analysis.findings
    ]
    if all(a.severity == b.severity for a, b in zip(judged, analysis.findings, strict=True)):
        return replace(analysis, findings=tuple(judged))
    severity = most_severe(f.severity for f in judged) or analysis.severity
    reason = analysis.severity_reason
    if severity != analysis.severity:
        reason = f"{reason}; severity {severity} (was {analysis.severity}) after the policy"
    return replace(analysis, findings=tuple(judged), severity=severity, severity_reason=reason)
