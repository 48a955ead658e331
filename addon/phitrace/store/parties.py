"""Read a session's inventory of third parties (the ``third_parties`` table) back as plain rows."""

from __future__ import annotations

import json
from typing import Any

from phitrace.store.engine import Store

PARTY_COLUMNS = (
    "session_id",
    "domain",
    "hosts",
    "requests",
    "bytes_sent",
    "first_seen",
    "last_seen",
    "catalogued",
    "vendor",
    "company",
)


def load_parties(db: Store, session: int | None = None) -> list[dict[str, Any]]:
    """Every stored third party of one session (or all), most requests first.

    ``hosts`` comes back as a list and ``catalogued`` as a bool; a database
    written before the table existed has none.
    """
    if not db.table("third_parties").exists():
        return []
    where, params = ("where session_id = ?", [session]) if session is not None else ("", [])
    sql = (
        f"select {', '.join(PARTY_COLUMNS)} from third_parties {where} "
        "order by requests desc, domain"
    )
    out = []
    for row in db.execute(sql, params):
        party = dict(zip(PARTY_COLUMNS, row, strict=True))
        party["hosts"] = json.loads(party["hosts"] or "[]")
        party["catalogued"] = bool(party["catalogued"])
        out.append(party)
    return out
