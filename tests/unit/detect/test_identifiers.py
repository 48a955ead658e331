"""Identifier detection: by field map, by field name, by value shape."""

from __future__ import annotations

import base64
import hashlib

import pytest

from phitrace.analyzer import Analyzer
from phitrace.catalogue.loader import load_catalogue, parse_signature
from phitrace.catalogue.model import Signature
from phitrace.detect.health import detect_identifiers
from phitrace.detect.vocabulary import load_vocabulary
from phitrace.model import IDENTIFIER_CATEGORIES, Field, Request

SHA = hashlib.sha256(b"jane.canary@example.org").hexdigest()
B64 = base64.urlsafe_b64encode(hashlib.sha256(b"jane.canary@example.org").digest()).decode()


@pytest.fixture(scope="module")
def sig() -> Signature:
    return parse_signature(
        {
            "id": "test-pixel",
            "name": "Test",
            "company": "Test",
            "category": "advertising",
            "endpoints": [{"hosts": ["pixel.example"]}],
            "fields": {
                "hashed_email": ["ud[em]"],
                "hashed_phone": ["ud[ph]"],
                "email": ["e"],
                "phone": ["tel"],
                "user_id": ["uid"],
                "client_id": ["fbp"],
                "cookie_id": ["sid"],
                "ip_address": ["uip"],
                "event_properties": ["cd[*]"],
            },
        },
        "test.yaml",
    )


def found(sig: Signature | None, *fields: tuple[str, str]) -> set[tuple[str, str]]:
    return {
        (f.category, f.matched) for f in detect_identifiers([Field(p, v) for p, v in fields], sig)
    }


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("query.ud[em]", SHA, ("hashed_email", "hashed_email:hex")),
        (
            "query.ud[ph]",
            hashlib.md5(b"15555550123").hexdigest(),
            ("hashed_phone", "hashed_phone:hex"),
        ),
        ("query.ud[em]", B64, ("hashed_email", "hashed_email:base64url")),
        ("query.ud[em]", "Jane.Canary@example.org", ("email", "email:unhashed")),
        ("query.e", "jane.canary@example.org", ("email", "email:unhashed")),
        ("query.tel", "+1 (555) 555-0123", ("phone", "phone:field")),
        ("query.uid", "user-8841", ("user_id", "user_id:field")),
        ("query.fbp", "fb.1.1700000000000.123456789", ("device_id", "client_id:field")),
        ("query.sid", "1683043778", ("device_id", "cookie_id:field")),
        ("query.uip", "203.0.113.9", ("ip_address", "ip:field")),
        ("query.uip", "2001:db8::1", ("ip_address", "ip:field")),
    ],
)
def test_field_map_roles_name_identifiers(
    sig: Signature, path: str, value: str, expected: tuple[str, str]
) -> None:
    assert found(sig, (path, value)) == {expected}


@pytest.mark.parametrize(
    ("path", "value", "category"),
    [
        ("body.email", "jane.canary@example.org", "email"),
        ("body.contact.phoneNumber", "555-555-0123", "phone"),
        ("body.first_name", "Jane", "name"),
        ("body.patient.lastName", "Canary", "name"),
        ("body.address1", "42 Wallaby Way Suite 3", "postal_address"),
        ("body.zip", "94107", "postal_address"),
        ("body.dob", "1984-03-07", "date_of_birth"),
        ("body.birthDate", "03/07/1984", "date_of_birth"),
        ("body.member_id", "XJH123456789", "member_id"),
        ("body.mrn", "00123456", "member_id"),
        ("body.customer_id", "c-77", "user_id"),
        ("body.ip_address", "198.51.100.4", "ip_address"),
        ("body.device_id", "6D92078A-8246-4BA4-AE5B-76104861E7DC", "device_id"),
        ("body.user_data.em", SHA, "hashed_email"),
        ("body.data[0].user_data.ph", SHA, "hashed_phone"),
        ("body.ud.fn", SHA, "name"),
        ("body.user_data.db", SHA, "date_of_birth"),
        ("body.user_data.zp", SHA, "postal_address"),
    ],
)
def test_field_names_in_forms_and_json_name_identifiers(
    path: str, value: str, category: str
) -> None:
    assert {c for c, _ in found(None, (path, value))} == {category}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("body.email", "not an email"),
        ("body.phone", "call us"),
        ("body.first_name", "12345"),
        ("body.zip", "hello"),
        ("body.dob", "yesterday"),
        ("body.member_id", "none"),
        ("body.user_id", "undefined"),
        ("body.em", SHA),  # a short key outside a user-data object means nothing
        ("body.fn", "Jane"),
        ("body.name", "page_view"),  # "name" alone is an event name, not a person
        ("query.img", "logo@2x.png"),  # retina image names look like addresses
        ("query.ud[em]", hashlib.sha256(b"").hexdigest()),  # hash of nothing
    ],
)
def test_values_without_the_expected_shape_are_not_identifiers(
    sig: Signature, path: str, value: str
) -> None:
    assert found(sig, (path, value)) == set()


def test_emails_are_found_in_any_field_value(sig: Signature) -> None:
    assert found(sig, ("query.dl", "https://h.example/thanks?e=jane%40example.org")) == {
        ("email", "email:pattern")
    }


def test_google_enhanced_conversions_user_data_is_hashed_identity() -> None:
    phone = base64.urlsafe_b64encode(hashlib.sha256(b"+15555550123").digest()).decode()
    value = f"tv.1~em.{B64.rstrip('=')}~ph.{phone.rstrip('=')}"
    assert found(None, ("query.em", value)) == {
        ("hashed_email", "hashed_email:google_tv1"),
        ("hashed_phone", "hashed_phone:google_tv1"),
    }


def test_the_referer_is_not_an_identifier_source(sig: Signature) -> None:
    assert found(sig, ("header.referer", "https://h.example/?email=a@b.org")) == set()


def test_every_category_found_is_a_contract_category(sig: Signature) -> None:
    everything = found(
        sig,
        ("query.ud[em]", SHA),
        ("body.first_name", "Jane"),
        ("body.zip", "94107"),
        ("body.dob", "1984-03-07"),
        ("body.member_id", "XJH123456789"),
    )
    assert {c for c, _ in everything} <= set(IDENTIFIER_CATEGORIES)


def test_a_pages_published_metadata_names_the_organisation_not_a_visitor(
    sig: Signature,
) -> None:
    # Meta's Microdata event forwards the page's schema.org block: the hospital's own
    # telephone and street address are not a person's identifiers.
    published = found(
        sig,
        ("body.cd[JSON-LD][0].telephone", "626-256-4673"),
        ("body.cd[JSON-LD][0].address.streetAddress", "1500 East Duarte Road, Duarte, CA"),
        ("body.cd[JSON-LD][0].address.postalCode", "91010"),
        ("body.cd[OpenGraph].og:email", "info@hospital.example"),
    )
    assert published == set()
    # The same names in a visitor's form data still are.
    assert found(sig, ("body.telephone", "626-256-4673"), ("body.zip", "91010")) == {
        ("phone", "phone:key"),
        ("postal_address", "postcode:key"),
    }


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("query.uid", "jane.canary@example.org", ("email", "email:in_user_id")),
        ("query.uid", "+1 (555) 555-0123", ("phone", "phone:in_user_id")),
        ("query.fbp", "jane.canary@example.org", ("email", "email:in_client_id")),
        ("query.sid", "+15555550123", ("phone", "phone:in_cookie_id")),
        ("body.customer_id", "jane.canary@example.org", ("email", "email:in_user_id")),
        ("body.member_id", "jane.canary@example.org", ("email", "email:in_member_id")),
        ("body.device_id", "+44 20 7946 0958", ("phone", "phone:in_device_id")),
        ("body.email_sha256.customer_id", SHA, ("hashed_email", "hashed_email:in_user_id")),
    ],
)
def test_an_email_or_phone_in_an_id_field_is_classified_by_what_it_is(
    sig: Signature, path: str, value: str, expected: tuple[str, str]
) -> None:
    assert found(sig, (path, value)) == {expected}


def test_the_field_role_stays_in_the_evidence(sig: Signature) -> None:
    (finding,) = detect_identifiers([Field("query.uid", "jane.canary@example.org")], sig)
    assert finding.path == "query.uid"
    assert finding.rule == "email:in_user_id"
    assert "user id field" in finding.reason


def test_an_opaque_or_numeric_id_stays_an_id(sig: Signature) -> None:
    assert found(sig, ("query.uid", "15555550123")) == {("user_id", "user_id:field")}
    assert found(sig, ("query.uid", SHA)) == {("user_id", "user_id:field")}


def test_app_insights_auth_user_id_carrying_an_email_is_an_email() -> None:
    body = (
        '[{"name":"Microsoft.ApplicationInsights.abc.Pageview","iKey":"abc",'
        '"tags":{"ai.user.id":"AbCd1","ai.user.authUserId":"jane.canary@example.org"},'
        '"data":{"baseType":"PageviewData","baseData":{"name":"Home",'
        '"url":"https://www.example.org/"}}}]'
    )
    request = Request(
        "POST",
        "https://dc.services.visualstudio.com/v2/track",
        (("content-type", "application/json"),),
        body.encode(),
    )
    analysis = Analyzer(load_catalogue(), load_vocabulary()).analyse(request)
    assert analysis.vendor == "microsoft-app-insights"
    by_path = {f.path: (f.category, f.matched) for f in analysis.findings}
    assert by_path["body[0].tags.ai.user.authUserId"] == ("email", "email:in_user_id")
