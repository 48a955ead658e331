"""Run the test vectors that each signature file carries.

A vector is a request plus what phitrace must conclude from it: the vendor
(or none), values that fields of a given role must carry, and optionally the
findings (``category:matched``).  ``phitrace signatures test`` and the test
suite both run them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from phitrace.analyzer import Analyzer
from phitrace.decode.request import field_key
from phitrace.model import Request


@dataclass(frozen=True)
class VectorResult:
    """The outcome of one vector: which signature, which vector, what failed."""

    signature: str
    name: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def vector_request(spec: Mapping[str, Any]) -> Request:
    """Build a request from a vector's ``request`` mapping."""
    headers = spec.get("headers") or {}
    body = spec.get("body") or ""
    return Request(
        method=str(spec.get("method", "GET")),
        url=str(spec["url"]),
        headers=tuple((str(k), str(v)) for k, v in headers.items()),
        body=body.encode() if isinstance(body, str) else bytes(body),
        page_url=spec.get("page_url"),
    )


def _check(analyzer: Analyzer, vector: Mapping[str, Any]) -> list[str]:
    request = vector_request(vector["request"])
    expect = vector.get("expect") or {}
    analysis = analyzer.analyse(request)
    problems = []
    if "vendor" in expect and analysis.vendor != expect["vendor"]:
        problems.append(f"vendor is {analysis.vendor!r}, expected {expect['vendor']!r}")
    signature = analyzer.catalogue.get(analysis.vendor) if analysis.vendor else None
    for role, wanted in (expect.get("fields") or {}).items():
        values = [
            f.value
            for f in analysis.fields
            if signature and signature.role_of(field_key(f.path)) == role
        ]
        if str(wanted) not in values:
            problems.append(f"no {role} field equal to {wanted!r} (got {values[:3]!r})")
    found = {f"{f.category}:{f.matched}" for f in analysis.findings}
    for wanted in expect.get("findings") or []:
        if wanted not in found:
            problems.append(f"missing finding {wanted!r} (got {sorted(found)!r})")
    return problems


def run_vectors(analyzer: Analyzer) -> list[VectorResult]:
    """Run every vector of every signature in the analyzer's catalogue."""
    results = []
    for signature in analyzer.catalogue.signatures:
        for index, vector in enumerate(signature.tests):
            name = f"{signature.id}[{index}] {vector.get('name', '')}".strip()
            try:
                problems = _check(analyzer, vector)
            except (KeyError, TypeError, ValueError) as exc:
                problems = [f"malformed vector in {signature.file}: {exc!r}"]
            results.append(VectorResult(signature.id, name, tuple(problems)))
    return results
