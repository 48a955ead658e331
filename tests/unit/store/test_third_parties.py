"""The session's inventory of third parties is stored, replaced on each write, and reported."""

from __future__ import annotations

from phitrace.capture.parties import Inventory
from phitrace.model import Request
from phitrace.report.html import build_context, render_html
from phitrace.store.database import open_database
from phitrace.store.parties import load_parties
from phitrace.store.rows import party_rows
from phitrace.store.sessions import start_session
from phitrace.store.target import Target
from phitrace.store.writer import write_inventory


def test_inventory_is_stored_once_per_domain_and_shown_in_the_report(db_target: Target) -> None:
    with open_database(db_target) as db:
        session = start_session(db, source="proxy")
        inventory = Inventory()
        request = Request("POST", "https://api.aptabase.com/e", body=b"{}", timestamp=1.0e9)
        inventory.observe(request, "aptabase.com", "third-party:aptabase.com", "Aptabase")
        write_inventory(db, session, party_rows(session, inventory))
        inventory.observe(request, "aptabase.com", "third-party:aptabase.com")
        write_inventory(db, session, party_rows(session, inventory))
        [party] = load_parties(db, session)
        assert party["domain"] == "aptabase.com"
        assert party["requests"] == 2
        assert party["hosts"] == ["api.aptabase.com"]
        assert party["catalogued"] is False
        assert party["company"] == "Aptabase"
        html = render_html(build_context(db))
        assert "Third parties" in html and "aptabase.com" in html
