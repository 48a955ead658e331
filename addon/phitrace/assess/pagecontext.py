"""Read a tracker request in the light of its page: was the page logged in, was it about health?

The session's :class:`~phitrace.capture.pagerecords.PageRecords` say what was
learnt of each page from its document and from other trackers' payloads;
these functions combine that with what the request itself says.  Without
records (no session) only the request is read, so the answer is the same
every time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from phitrace.capture.pagerecords import PageRecord, PageRecords
from phitrace.decode.document import PageText
from phitrace.detect.authenticated import UNKNOWN, YES, AuthState, payload_state, portal_hint
from phitrace.detect.health import field_hits
from phitrace.detect.vocabulary import Vocabulary
from phitrace.model import Field, Finding

PAGE_RULE = "health_page"
"""The rule of a finding that comes from the page's content, not from the request's fields."""


def page_authentication(
    records: PageRecords | None,
    page_url: str | None,
    fields: Sequence[Field],
    vendor: str | None,
) -> AuthState:
    """Whether the request's page was viewed logged in, and why.

    A payload field reporting a login wins (and is remembered for the page);
    then what the page's document request showed; a portal-like path alone
    leaves the state ``unknown``, its reason saying why it may be logged in.
    """
    said = payload_state(fields, vendor)
    record = records.get(page_url) if records is not None else None
    if said is not None:
        if records is not None and page_url:
            base = record or PageRecord(page_url)
            records.put(replace(base, authenticated=YES, authenticated_reason=said.reason))
        return said
    if record is not None and record.authenticated != UNKNOWN:
        return AuthState(record.authenticated, record.authenticated_reason)
    return AuthState(UNKNOWN, portal_hint(page_url))


PAGE_TEXT_ROLE = "page_title"
"""How a document's own title, description and headings are read: as a page title is."""


def page_health(text: PageText, vocab: Vocabulary) -> tuple[Finding, ...]:
    """The health content of a document's title, meta description and headings."""
    parts = [("page.title", text.title), ("page.description", text.description)]
    parts += [(f"page.heading[{i}]", heading) for i, heading in enumerate(text.headings)]
    found: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for path, value in parts:
        if not value:
            continue
        leaf = path.split(".", 1)[1].split("[", 1)[0]
        for category, matched, rule, reason in field_hits(value, PAGE_TEXT_ROLE, leaf, vocab):
            if (category, matched) not in seen:
                seen.add((category, matched))
                where = path.replace("page.", "the page's ", 1).split("[", 1)[0]
                found.append(
                    Finding(
                        "health", category, path, value, matched, rule, reason=f"{reason} ({where})"
                    )
                )
    return tuple(found)


def _describes_the_page(finding: Finding) -> bool:
    """A tracker's finding about the page itself: its title or description, not an event's data."""
    key = finding.path.lower()
    return finding.kind == "health" and (
        finding.rule.startswith(f"{PAGE_TEXT_ROLE}:") or "title" in key or "description" in key
    )


def learn_page_health(
    records: PageRecords,
    page_url: str | None,
    findings: Sequence[Finding],
    source: str | Callable[[], str],
) -> None:
    """Remember health content a tracker's payload showed about its page, unless known already.

    ``source`` names where it was seen; a callable is asked only when something
    is remembered, so the proxy does not digest every tracker request for it.
    """
    if not page_url:
        return
    record = records.record_for(page_url)
    about = tuple(f for f in findings if _describes_the_page(f))
    if about and not record.health:
        seen = source() if callable(source) else source
        records.put(replace(record, health=about, health_source=seen))


def page_findings(record: PageRecord | None, own: Sequence[Finding]) -> tuple[Finding, ...]:
    """``health_page`` findings for a request from a page whose content is about health.

    One per term the page showed that the request's own findings do not
    already carry; each says it comes from the page, and where that was seen.
    """
    if record is None or not record.health:
        return ()
    carried = {(f.category, f.matched) for f in own if f.kind == "health"}
    return tuple(
        replace(
            f,
            rule=PAGE_RULE,
            reason=f"from the page's context: {f.reason}, seen in {record.health_source}",
            trail=(),
        )
        for f in record.health
        if (f.category, f.matched) not in carried
    )
