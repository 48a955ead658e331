"""The labelled evaluation set: load it, run phitrace over it, score it per category."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tests.shared_corpus import record_request

from phitrace.analyzer import Analyzer
from phitrace.model import Analysis, Request

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Case:
    """One labelled request: what it is and what a careful reader finds in it."""

    name: str
    request: Request
    health: frozenset[str]
    identifiers: frozenset[str]


def _request(spec: dict[str, Any]) -> Request:
    headers = spec.get("headers") or {}
    body = spec.get("body") or ""
    return Request(
        method=str(spec.get("method", "GET")),
        url=str(spec["url"]),
        headers=tuple((str(k), str(v)) for k, v in headers.items()),
        body=body.encode(),
        page_url=spec.get("page_url"),
    )


def _case(name: str, request: Request, entry: dict[str, Any]) -> Case:
    return Case(
        name,
        request,
        frozenset(entry.get("health") or []),
        frozenset(entry.get("identifiers") or []),
    )


def reconstructed() -> list[Case]:
    """The hand-written requests for every seed data type."""
    data = yaml.safe_load((HERE / "reconstructed.yaml").read_text(encoding="utf-8"))
    return [_case(e["name"], _request(e["request"]), e) for e in data["requests"]]


def corpus_cases(records: list[dict[str, Any]]) -> list[Case]:
    """The hand-labelled corpus requests."""
    data = yaml.safe_load((HERE / "corpus-labels.yaml").read_text(encoding="utf-8"))
    cases = []
    for entry in data["requests"]:
        record = records[entry["line"] - 1]
        name = f"corpus line {entry['line']} ({record['file']}): {entry.get('note', '')}"
        cases.append(_case(name, record_request(record), entry))
    return cases


@dataclass
class Tally:
    """True positives, false positives and false negatives of one category."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass
class Score:
    """Per-category tallies and the disagreements behind them."""

    health: dict[str, Tally] = field(default_factory=dict)
    identifiers: dict[str, Tally] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)

    def total(self, kind: str) -> Tally:
        tallies = self.health if kind == "health" else self.identifiers
        return Tally(
            sum(t.tp for t in tallies.values()),
            sum(t.fp for t in tallies.values()),
            sum(t.fn for t in tallies.values()),
        )

    def table(self) -> str:
        lines = [f"{'category':<16} {'tp':>4} {'fp':>4} {'fn':>4} {'precision':>9} {'recall':>7}"]
        for kind, tallies in (("health", self.health), ("identifier", self.identifiers)):
            rows = [(c, tallies[c]) for c in sorted(tallies)] + [(f"ALL {kind}", self.total(kind))]
            for name, t in rows:
                counts = f"{t.tp:>4} {t.fp:>4} {t.fn:>4}"
                lines.append(f"{name:<16} {counts} {t.precision:>9.2f} {t.recall:>7.2f}")
        return "\n".join(lines)


def _count(
    tallies: dict[str, Tally], predicted: set[str], labelled: frozenset[str]
) -> Iterator[str]:
    for item in predicted | labelled:
        category = item.split(":", 1)[0]
        tally = tallies.setdefault(category, Tally())
        if item in predicted and item in labelled:
            tally.tp += 1
        elif item in predicted:
            tally.fp += 1
            yield f"extra {item}"
        else:
            tally.fn += 1
            yield f"missed {item}"


def predicted(analysis: Analysis) -> tuple[set[str], set[str]]:
    """What phitrace found, in the labels' terms."""
    health = {f"{f.category}:{f.matched}" for f in analysis.findings if f.kind == "health"}
    identifiers = {f.category for f in analysis.findings if f.kind == "identifier"}
    return health, identifiers


def score(analyzer: Analyzer, cases: Iterable[Case]) -> Score:
    """Run every case through a fresh analysis and tally agreement with its labels."""
    result = Score()
    for case in cases:
        health, identifiers = predicted(analyzer.analyse(case.request))
        problems = list(_count(result.health, health, case.health))
        problems += list(_count(result.identifiers, identifiers, case.identifiers))
        result.misses.extend(f"{case.name}: {p}" for p in problems)
    return result
