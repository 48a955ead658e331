"""Health detection over decoded fields: roles, URL semantics, codes, policy."""

from __future__ import annotations

import pytest

from phitrace.catalogue.loader import parse_signature
from phitrace.catalogue.model import Signature
from phitrace.detect.health import MAX_HEALTH_FINDINGS, detect_health, opaque
from phitrace.detect.vocabulary import Vocabulary, load_vocabulary
from phitrace.model import Field


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return load_vocabulary().prepare()


@pytest.fixture(scope="module")
def sig() -> Signature:
    return parse_signature(
        {
            "id": "test-tracker",
            "name": "Test",
            "company": "Test",
            "category": "analytics",
            "endpoints": [{"hosts": ["tracker.example"]}],
            "fields": {
                "page_url": ["dl"],
                "page_title": ["dt"],
                "search_term": ["ep.search_term"],
                "event_name": ["en"],
                "event_properties": ["ep.*"],
                "client_id": ["cid"],
            },
        },
        "test.yaml",
    )


def hits(
    vocab: Vocabulary, sig: Signature | None, *fields: tuple[str, str]
) -> set[tuple[str, str]]:
    found = detect_health([Field(p, v) for p, v in fields], sig, vocab)
    return {(f.category, f.matched) for f in found}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://h.example/conditions/type-2-diabetes", ("condition", "diabetes")),
        ("https://h.example/find-a-doctor/cardiology", ("provider", "find a doctor")),
        ("https://h.example/find-a-doctor/cardiology", ("provider", "cardiology")),
        ("https://h.example/pharmacy/refill", ("health_page", "pharmacy")),
        ("https://h.example/mychart/inbox", ("health_page", "patient portal")),
        ("https://h.example/test-results", ("lab_test", "test results")),
        ("https://h.example/appointments/book", ("appointment", "appointment")),
        ("https://h.example/Services/BreastCancerScreening", ("procedure", "mammogram")),
        ("https://h.example/topics/living_with_hiv", ("condition", "HIV")),
        ("https://h.example/learn/birth+control", ("medication", "birth control")),
        ("https://h.example/a%20b/chlamydia%20symptoms", ("condition", "chlamydia")),
    ],
)
def test_page_url_path_segments_and_slugs_are_read(
    vocab: Vocabulary, sig: Signature, url: str, expected: tuple[str, str]
) -> None:
    assert expected in hits(vocab, sig, ("query.dl", url))


@pytest.mark.parametrize("param", ["q", "s", "query", "searchTerm", "search_term", "kw_search"])
def test_search_parameters_in_a_page_url_make_a_health_search(
    vocab: Vocabulary, sig: Signature, param: str
) -> None:
    found = hits(vocab, sig, ("query.dl", f"https://h.example/search?{param}=hiv+testing"))
    if param == "kw_search":
        assert ("lab_test", "HIV test") in found and ("health_search", "HIV test") not in found
    else:
        assert ("health_search", "HIV test") in found


def test_search_fields_carry_health_searches(vocab: Vocabulary, sig: Signature) -> None:
    assert hits(vocab, sig, ("body.line[1].ep.search_term", "metformin")) == {
        ("health_search", "metformin")
    }
    # Without a signature, a field named like a search parameter is a search too.
    assert hits(vocab, None, ("body.searchQuery", "adderall")) == {("health_search", "adderall")}


def test_titles_events_and_properties_carry_terms(vocab: Vocabulary, sig: Signature) -> None:
    assert ("condition", "pregnancy") in hits(vocab, sig, ("query.dt", "Pregnancy | Clinic"))
    assert ("appointment", "appointment") in hits(vocab, sig, ("query.en", "appointment_booked"))
    assert ("provider", "cardiology") in hits(vocab, sig, ("query.ep.specialty", "cardiology"))


def test_weak_terms_do_not_count_in_unknown_payload_fields(
    vocab: Vocabulary, sig: Signature
) -> None:
    assert hits(vocab, sig, ("body.widget", "appointments pharmacy cardiology")) == set()
    assert hits(vocab, sig, ("body.widget", "lisinopril")) == {("medication", "lisinopril")}


@pytest.mark.parametrize(
    "url",
    [
        "https://h.example/about-us",
        "https://h.example/careers/nurse-jobs?ref=footer",
        "https://h.example/parking-and-directions",
        "https://h.example/news/2024/annual-gala",
        "https://h.example/store-locator?zip=90210",
        "https://h.example/terms-and-conditions",
        "https://cdn.example/img/breast-cancer-awareness.png",  # a resource, not a page
        "https://cdn.example/js/diabetes-widget.min.js",
    ],
)
def test_non_health_pages_and_resources_are_not_health_data(
    vocab: Vocabulary, sig: Signature, url: str
) -> None:
    assert hits(vocab, sig, ("query.dl", url)) == set()


def test_resource_paths_without_a_scheme_are_not_read_for_words(
    vocab: Vocabulary, sig: Signature
) -> None:
    # Session-replay proxies list a page's images as "https/host/path"; a photo's file
    # name describes the photo, not the visit.
    image = "https/www.charity.example/content/dam/yemen-malnutrition-child.jpg/_jcr_content/x.png"
    assert hits(vocab, sig, ("body[0].data.items[8]", image)) == set()
    assert hits(vocab, sig, ("body.topic", "malnutrition in adults")) == {
        ("condition", "malnutrition")
    }


def test_opaque_tokens_are_not_read_for_words(vocab: Vocabulary, sig: Signature) -> None:
    blob = "yN9ButVW11zFT9jnRApMpb79wjDOwiaaBOY/CUl/090f599k34gcTC4P92sfXtzfNLoFVvhc"
    assert opaque(blob) and not opaque("type-2-diabetes-treatment-options")
    assert hits(vocab, sig, ("body.p", blob)) == set()


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("body.note", "E11.9", ("condition", "ICD-10-CM E11.9")),
        ("body.note", "icd-10 F32.A", ("condition", "ICD-10-CM F32.A")),
        ("body.note", "dx=E119, I10", ("condition", "ICD-10-CM I10")),
        ("body.diagnosis_code", "J45909", ("condition", "ICD-10-CM J45.909")),
        ("body.note", "ndc 0093-7214-01", ("medication", "NDC 0093-7214-01")),
        ("body.ndc", "00937214001", ("medication", "NDC 00937214001")),
    ],
)
def test_codes_count_when_dotted_or_next_to_their_name(
    vocab: Vocabulary, path: str, value: str, expected: tuple[str, str]
) -> None:
    assert expected in hits(vocab, None, (path, value))


@pytest.mark.parametrize(
    "value",
    [
        "/products/c10-charger",
        "gate B20 departures",
        "version 1.2.3",
        "Z99.9.9",
        "W99.9",
        "0093-7214-01",
    ],
)
def test_loose_code_shapes_are_not_codes(vocab: Vocabulary, value: str) -> None:
    assert hits(vocab, None, ("body.text", value)) == set()


def test_a_message_field_mentioning_health_is_a_message(vocab: Vocabulary) -> None:
    found = hits(vocab, None, ("body.message", "My chest pain got worse after the new inhaler"))
    assert ("message", "message") in found and ("condition", "chest pain") in found
    assert hits(vocab, None, ("body.message", "Please call me back tomorrow")) == set()


def test_one_finding_per_term_and_the_payload_before_the_referer(
    vocab: Vocabulary, sig: Signature
) -> None:
    found = detect_health(
        [
            Field("header.referer", "https://h.example/conditions/asthma"),
            Field("query.dl", "https://h.example/conditions/asthma"),
            Field("query.dt", "Asthma care"),
            Field("cookie.topic", "asthma"),
        ],
        sig,
        vocab,
    )
    asthma = [f for f in found if f.matched == "asthma"]
    assert len(asthma) == 1 and asthma[0].field == "query.dl"
    assert "asthma" in asthma[0].reason and "page URL" not in asthma[0].reason


def test_decoded_json_is_read_by_its_parts_only(vocab: Vocabulary) -> None:
    found = detect_health(
        [
            Field("body.cd", '{"topic": "asthma"}', ("form",)),
            Field("body.cd.topic", "asthma", ("form", "json")),
        ],
        None,
        vocab,
    )
    assert [(f.field, f.matched) for f in found] == [("body.cd.topic [form>json]", "asthma")]


def test_findings_per_request_are_capped(vocab: Vocabulary) -> None:
    strong = sorted({t.canonical for t in vocab.terms.values() if not (t.weak or t.ambiguous)})
    fields = [Field(f"body.services[{i}]", term) for i, term in enumerate(strong)]
    assert len(fields) > MAX_HEALTH_FINDINGS
    assert len(detect_health(fields, None, vocab)) == MAX_HEALTH_FINDINGS


def test_reasons_name_the_term_its_source_and_sensitivity(
    vocab: Vocabulary, sig: Signature
) -> None:
    (finding,) = detect_health([Field("query.dt", "Living with HIV")], sig, vocab)
    assert finding.reason == "condition term 'HIV' (conditions.yaml, hiv) in page title"
    assert finding.rule == "page_title:condition"
