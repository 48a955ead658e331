"""Flow facts: every flow's time, page, vendor and login state, in journey order."""

from __future__ import annotations

from phitrace.store.database import open_database
from phitrace.store.flowfacts import FlowFact, load_flow_facts
from phitrace.store.target import Target
from tests.support.seeded_db import DIABETES_PAGE, clinic


def test_every_flow_in_time_order_quiet_ones_too(db_target: Target) -> None:
    db = open_database(clinic(db_target))
    db.execute("update flows set authenticated = 'yes' where id = 3")
    facts = load_flow_facts(db, 1)
    assert list(facts) == [1, 2, 3, 4, 5]
    assert facts[1] == FlowFact(
        1, 1, "2026-01-01T00:00:01.000+00:00", DIABETES_PAGE, "meta-pixel", "Meta Pixel", ""
    )
    assert (facts[3].vendor_label, facts[3].authenticated) == ("Google Analytics", "yes")
    assert load_flow_facts(db, 2) == {}
    db.close()
