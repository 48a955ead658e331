"""Read a tracker request in the light of its page: was the page logged in, was it about health?

The session's :class:`~phitrace.capture.pagerecords.PageRecords` say what was
learnt of each page from its document and from other trackers' payloads;
these functions combine that with what the request itself says.  Without
records (no session) only the request is read, so the answer is the same
every time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from phitrace.capture.pagerecords import PageRecord, PageRecords
from phitrace.detect.authenticated import UNKNOWN, YES, AuthState, payload_state, portal_hint
from phitrace.model import Field

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
