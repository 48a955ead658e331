"""What the report's cards and journey need of every flow: time, page, vendor, login state.

:class:`phitrace.store.reader.Leak` carries these for flows with findings;
the per-page journey also shows the tracker flows that carried nothing, and
the cards filter on whether the page was viewed logged in, so both read
these few columns of every flow here, once.
"""

from __future__ import annotations

from dataclasses import dataclass

from phitrace.store.engine import Store


@dataclass(frozen=True, slots=True)
class FlowFact:
    """One tracker flow as the journey and the cards' filters see it."""

    id: int
    session_id: int
    timestamp: str
    page_url: str
    vendor: str
    vendor_label: str
    authenticated: str
    """``yes``, ``no`` or ``unknown`` (empty for databases recorded before it was kept)."""


def load_flow_facts(db: Store, session: int | None = None) -> dict[int, FlowFact]:
    """Every flow of one session (or all), in journey order, by flow id."""
    columns = db.table("flows").columns_dict
    auth = "coalesce(authenticated, '')" if "authenticated" in columns else "''"
    where, params = ("where session_id = ?", [session]) if session is not None else ("", [])
    sql = (
        "select id, session_id, coalesce(timestamp, ''), coalesce(page_url, ''), "
        "coalesce(vendor, ''), coalesce(nullif(vendor_name, ''), nullif(vendor, ''), host, ''), "
        f"{auth} from flows {where} order by timestamp, id"
    )
    return {row[0]: FlowFact(*row) for row in db.execute(sql, params)}
