"""A request read in the light of its page: logged in or not, about health or not."""

from __future__ import annotations

from phitrace.assess.pagecontext import (
    PAGE_RULE,
    learn_page_health,
    page_authentication,
    page_findings,
    page_health,
)
from phitrace.assess.severity import AUTHENTICATED_RULE, assess
from phitrace.capture.pagerecords import PageRecord, PageRecords
from phitrace.decode.document import PageText
from phitrace.detect.vocabulary import load_vocabulary
from phitrace.model import Field, Finding

PAGE = "https://portal.example.org/content?id=8812"
VOCAB = load_vocabulary(imported=False)


def test_a_documents_title_and_headings_give_the_pages_health_content() -> None:
    text = PageText("Managing type 2 diabetes", None, ("Your insulin dose",))
    found = {(f.category, f.matched, f.path) for f in page_health(text, VOCAB)}
    assert ("condition", "diabetes", "page.title") in found
    assert page_health(PageText("Contact us", "Opening hours", ("Find us",)), VOCAB) == ()


def test_page_findings_say_where_the_page_showed_health_and_skip_what_the_request_carries() -> None:
    (hit,) = page_health(PageText("Living with diabetes"), VOCAB)
    record = PageRecord(PAGE, health=(hit,), health_source=f"the document {PAGE}")
    (derived,) = page_findings(record, [])
    assert derived.rule == PAGE_RULE and derived.category == "condition"
    assert derived.reason.endswith(f"seen in the document {PAGE}")
    assert page_findings(record, [hit]) == ()
    assert page_findings(None, []) == ()


def test_a_trackers_page_title_is_learnt_once_for_the_page() -> None:
    records = PageRecords()
    title = Finding(
        "health", "condition", "query.dt", "Diabetes care", "diabetes", "page_title:condition"
    )
    event = Finding(
        "health", "medication", "query.ep.drug", "insulin", "insulin", "field:medication"
    )
    learn_page_health(records, PAGE, [event], "flow a")
    assert records.get(PAGE) is None
    learn_page_health(records, PAGE, [title], "flow b")
    learn_page_health(records, PAGE, [title], "flow c")
    record = records.get(PAGE + "#top")
    assert record is not None and record.health == (title,) and record.health_source == "flow b"


def test_the_pages_state_comes_from_its_record_unless_the_payload_says_logged_in() -> None:
    records = PageRecords()
    records.put(PageRecord(PAGE, authenticated="no"))
    assert page_authentication(records, PAGE, [], "meta-pixel") == ("no", None)
    said = page_authentication(records, PAGE, [Field("query.ud[external_id]", "x1")], "meta-pixel")
    assert said.state == "yes"
    later = page_authentication(records, PAGE, [], "meta-pixel")
    assert later == said


def test_without_a_record_the_state_is_unknown_and_a_portal_path_is_only_named() -> None:
    assert page_authentication(None, PAGE, [], None) == ("unknown", None)
    state = page_authentication(PageRecords(), "https://h.example.org/mychart/home", [], None)
    assert state.state == "unknown" and state.reason is not None and "/mychart/" in state.reason


def test_a_logged_in_page_makes_any_tracker_request_high_naming_the_bulletins_rule() -> None:
    nothing = assess([], "analytics", authenticated="session cookie 'sid' on the document request")
    assert nothing.severity == "high"
    assert AUTHENTICATED_RULE in nothing.reason and "session cookie 'sid'" in nothing.reason
    health = Finding("health", "condition", "query.dl", "x", "diabetes", "url-path:condition")
    already = assess([health], "advertising", authenticated="cookie 'pt'")
    assert already.severity == "high"
    assert already.reason.startswith("health data sent to an advertising vendor")
    assert all(AUTHENTICATED_RULE in f.reason for f in already.findings)
    assert assess([], "analytics").severity == "info"
