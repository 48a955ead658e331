"""Flow-centric evidence: one card per flagged flow, with its findings and decoded payload.

A flow with six findings is one request: its URL, page, time and raw request
belong on it once, and its findings are listed inside.  The payload is
decoded again from the stored request, within tighter limits than the
proxy's, into a tree of fields grouped by where they were sent (query, body,
cookie, header); the fields a finding names are the tree's hits, with the
matched text marked as offsets (never as markup), and the rest is the part a
reader may open.  Everything here is plain data: ``report.js`` draws it with
text nodes only.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from phitrace.decode.budget import Limits
from phitrace.decode.request import decode_request
from phitrace.model import Field, Request, severity_rank
from phitrace.report.decoded import raw_text
from phitrace.report.views import clip
from phitrace.store.flowfacts import FlowFact
from phitrace.store.reader import Findings, Leak, RawRequest, url_parts, without_query

CARD_PAGE_SIZE = 200
"""Cards shown per page of the evidence list."""

VALUE_LIMIT = 1000
"""Characters of a finding's value kept on its card (exports keep all)."""

TREE_VALUE_LIMIT = 300
"""Characters of a payload field's value kept in the tree."""

SHORT_URL = 72
"""Characters of a request URL shown before the full URL is opened."""

IDENTIFIER_KINDS = ("identifier", "canary")
"""Finding kinds a card lists among the identifiers it carried."""

TREE_LIMITS = Limits(
    max_body_bytes=256 * 1024,
    max_decompressed_bytes=1024 * 1024,
    max_fields=200,
    max_seconds=0.05,
)
"""Decoding bounds for the report's trees: a report of many flows must stay quick to build."""


@functools.lru_cache(maxsize=4096)
def _term_pattern(term: str) -> re.Pattern[str]:
    # A multi-word term also matches when its spaces were sent as _, + or %20.
    return re.compile(re.escape(term).replace(r"\ ", r"(?:[\s_+-]|%20)+"), re.IGNORECASE)


def match_spans(text: str, term: str) -> list[tuple[int, int]]:
    """Where ``term`` occurs in ``text`` (case-insensitively), as (start, end) pairs."""
    if not term:
        return []
    return [hit.span() for hit in _term_pattern(term).finditer(text) if hit.end() > hit.start()]


def marks_for(value: str, kind: str, matched: str) -> tuple[int, ...]:
    """Offsets to mark in a value: the matched term of health data, the whole of an identifier.

    An identifier or a test-persona value matched as a whole (often hashed),
    so the whole value is what the reader must see marked.
    """
    if kind == "health":
        return tuple(i for span in match_spans(value, matched) for i in span)
    return (0, len(value)) if value else ()


@dataclass(frozen=True)
class FindingLine:
    """One finding as listed inside its flow's card."""

    severity: str
    kind: str
    category: str
    path: str
    trail: str
    value: str
    matched: str
    marks: tuple[int, ...]
    reason: str
    rule: str
    policy: str


@dataclass(frozen=True)
class TreeNode:
    """One decoded field of the payload: where, how decoded, the value, what to mark."""

    path: str
    trail: str
    value: str
    marks: tuple[int, ...]
    hit: bool


@dataclass(frozen=True)
class TreeGroup:
    """The decoded fields sent in one part of the request (``query``, ``body``, ``cookie``…)."""

    name: str
    nodes: tuple[TreeNode, ...]


@dataclass(frozen=True)
class FlowCard:
    """One flagged flow with everything its card shows and its filters read."""

    flow_id: int
    vendor: str
    vendor_label: str
    page_url: str
    page_key: str
    timestamp: str
    method: str
    url: str
    short_url: str
    status: int | None
    sha256: str
    severity: str
    reasons: tuple[str, ...]
    findings: tuple[FindingLine, ...]
    identifiers: tuple[tuple[str, str], ...]
    """(category, value) of every identifier and test-persona value the flow carried."""
    tree: tuple[TreeGroup, ...]
    truncated: str
    """Why decoding the tree stopped early, or empty when it was complete."""
    raw: str | None
    authenticated: str

    @property
    def categories(self) -> list[str]:
        """The data categories of its findings, each once, in finding order."""
        return list(dict.fromkeys(f.category for f in self.findings))


def short_url(url: str, limit: int = SHORT_URL) -> str:
    """Host and path of a URL, with ``?…`` for a query, cut to ``limit`` characters."""
    parts = url_parts(url)
    text = without_query(parts).split("://", 1)[-1] + ("?…" if parts.query else "")
    return clip(text, limit)


def _line(leak: Leak) -> FindingLine:
    value = clip(leak.value, VALUE_LIMIT)
    return FindingLine(
        leak.severity,
        leak.kind,
        leak.category,
        leak.path,
        leak.trail_text,
        value,
        leak.matched,
        marks_for(value, leak.kind, leak.matched),
        leak.reason,
        leak.rule,
        leak.policy or "",
    )


def _section(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0] or "other"


def payload_tree(
    leak: Leak, raw: RawRequest | None, lines: Sequence[FindingLine]
) -> tuple[tuple[TreeGroup, ...], str]:
    """The flow's decoded fields grouped by section, hits marked; and why decoding stopped.

    A finding whose field the bounded decoding did not reach is still a hit:
    its stored path, trail and value stand in for it.
    """
    headers, body = (raw.headers, raw.body) if raw else ((), b"")
    decoded = decode_request(Request(leak.method, leak.url, headers, body), TREE_LIMITS)
    hits = {(line.path, line.trail): line for line in lines}
    nodes: dict[tuple[str, str], TreeNode] = {}
    for item in decoded.fields:
        nodes.setdefault(_tree_key(item), _node(item, hits))
    for key, line in hits.items():
        if key not in nodes:
            nodes[key] = TreeNode(line.path, line.trail, line.value, line.marks, True)
    groups: dict[str, list[TreeNode]] = {}
    for node in nodes.values():
        groups.setdefault(_section(node.path), []).append(node)
    tree = tuple(TreeGroup(name, tuple(items)) for name, items in groups.items())
    return tree, decoded.truncated or ""


def _tree_key(item: Field) -> tuple[str, str]:
    return item.path, ">".join(item.trail)


def _node(item: Field, hits: Mapping[tuple[str, str], FindingLine]) -> TreeNode:
    line = hits.get(_tree_key(item))
    value = clip(item.value, VALUE_LIMIT if line else TREE_VALUE_LIMIT)
    marks = marks_for(value, line.kind, line.matched) if line else ()
    return TreeNode(item.path, ">".join(item.trail), value, marks, line is not None)


def card_for(leaks: Sequence[Leak], raw: RawRequest | None, authenticated: str) -> FlowCard:
    """The card of one flow from its findings (the first in report order first) and raw request."""
    first = leaks[0]
    ordered = sorted(leaks, key=lambda leak: (severity_rank(leak.severity), leak.id))
    lines = tuple(_line(leak) for leak in ordered)
    tree, truncated = payload_tree(first, raw, lines)
    return FlowCard(
        flow_id=first.flow_id,
        vendor=first.vendor,
        vendor_label=first.vendor_label,
        page_url=first.page_url,
        page_key=first.page_key,
        timestamp=first.timestamp,
        method=first.method,
        url=clip(first.url, 4 * VALUE_LIMIT),
        short_url=short_url(first.url),
        status=first.status_code,
        sha256=first.request_sha256,
        severity=ordered[0].severity,
        reasons=tuple(dict.fromkeys(leak.reason for leak in ordered if leak.reason)),
        findings=lines,
        identifiers=tuple(
            dict.fromkeys((f.category, f.value) for f in lines if f.kind in IDENTIFIER_KINDS)
        ),
        tree=tree,
        truncated=truncated,
        raw=raw_text(first.method, first.url, raw) if raw else None,
        authenticated=authenticated,
    )


def _login(fact: FlowFact | None) -> str:
    return fact.authenticated if fact else ""


def flow_cards(findings: Findings) -> list[FlowCard]:
    """One card per flow with findings: the most severe first, then in journey order."""
    by_flow: dict[int, list[Leak]] = {}
    for leak in findings.leaks:
        by_flow.setdefault(leak.flow_id, []).append(leak)
    cards = [
        card_for(leaks, findings.raw.get(flow), _login(findings.facts.get(flow)))
        for flow, leaks in by_flow.items()
    ]
    return sorted(cards, key=lambda c: (severity_rank(c.severity), c.timestamp, c.flow_id))


CARD_COLUMNS = (
    "vendor",
    "vendor_label",
    "page",
    "page_key",
    "time",
    "method",
    "url",
    "short_url",
    "status",
    "sha256",
    "severity",
    "reasons",
    "findings",
    "identifiers",
    "tree",
    "truncated",
    "raw",
    "authenticated",
)
"""The fields of a card in ``report.js``'s data, in order (findings and tree nest)."""


def _row(card: FlowCard) -> list[Any]:
    return [
        card.vendor,
        card.vendor_label,
        card.page_url,
        card.page_key,
        card.timestamp,
        card.method,
        card.url,
        card.short_url,
        card.status,
        card.sha256,
        card.severity,
        list(card.reasons),
        [list(line.__dict__.values()) for line in card.findings],
        [list(pair) for pair in card.identifiers],
        [[g.name, [list(n.__dict__.values()) for n in g.nodes]] for g in card.tree],
        card.truncated,
        card.raw,
        card.authenticated,
    ]


def card_data(cards: Iterable[FlowCard], *, lazy: bool = False) -> dict[str, Any]:
    """The cards as ``report.js`` reads them: column names once, then one row per card.

    With ``lazy`` the rows are a generator, drawn from ``cards`` only as the
    report is written (see :func:`phitrace.report.html.json_pieces`).
    """
    columns = {
        "card": CARD_COLUMNS,
        "finding": tuple(FindingLine.__dataclass_fields__),
        "node": tuple(TreeNode.__dataclass_fields__),
    }
    rows = (_row(c) for c in cards)
    return {"columns": columns, "page_size": CARD_PAGE_SIZE, "cards": rows if lazy else list(rows)}
