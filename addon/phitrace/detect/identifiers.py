"""Find identifiers in a request's decoded fields.

Three sources of evidence, strongest first:

1. the signature's field map (``ud[em]`` is a hashed e-mail for Meta, ``cid``
   a client id for Google Analytics);
2. the field's own name, as forms and JSON payloads spell it (``email``,
   ``phone``, ``dob``, ``member_id``; Meta-style advanced-matching keys such as
   ``user_data.fn`` inside a user-data object);
3. the value's shape wherever it appears: an e-mail address, or Google's
   enhanced-conversions ``tv.1~em.<base64url SHA-256>`` string.

A value is only reported when it has the expected shape (a phone field must
hold a phone number, a hashed field a 32/40/64/128-hex digest that is not the
hash of an empty or placeholder value).  A value in an id field that is an
e-mail, a phone number or a hash its field names as one is classified by what
it is, with the field's role kept in the rule.  All functions are pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from urllib.parse import unquote

from phitrace.catalogue.model import Signature
from phitrace.decode.request import field_key
from phitrace.detect.roles import load_conventions
from phitrace.detect.shapes import (
    DATE,
    EMAIL,
    FILE_TLDS,
    GOOGLE_USER_DATA,
    MEMBER,
    PERSON_NAME,
    PHONE,
    PLACEHOLDERS,
    POSTCODE,
    SHA256_B64URL,
    STREET,
    identity_of,
    is_hash,
)
from phitrace.model import Field, Finding
from phitrace.urls import is_ip_address

# Field names (normalised: lower case, no separators) and what they carry.
KEY_CATEGORIES: dict[str, str] = {
    **dict.fromkeys(
        ("email", "emailaddress", "useremail", "customeremail", "mail", "contactemail", "em"),
        "email",
    ),
    **dict.fromkeys(
        (
            "phone",
            "phonenumber",
            "tel",
            "telephone",
            "mobile",
            "mobilephone",
            "cell",
            "cellphone",
            "homephone",
            "ph",
        ),
        "phone",
    ),
    **dict.fromkeys(
        (
            "firstname",
            "fname",
            "lastname",
            "lname",
            "fullname",
            "patientname",
            "givenname",
            "familyname",
            "surname",
            "namefirst",
            "namelast",
            "fn",
            "ln",
        ),
        "name",
    ),
    **dict.fromkeys(
        (
            "address",
            "street",
            "streetaddress",
            "address1",
            "addressline1",
            "addr",
            "homeaddress",
            "mailingaddress",
        ),
        "street",
    ),
    **dict.fromkeys(("zip", "zipcode", "postalcode", "postcode", "zp"), "postcode"),
    **dict.fromkeys(
        ("dob", "dateofbirth", "birthdate", "birthday", "db", "patientdob"), "date_of_birth"
    ),
    **dict.fromkeys(
        (
            "memberid",
            "membernumber",
            "subscriberid",
            "policynumber",
            "policyid",
            "insuranceid",
            "mrn",
            "medicalrecordnumber",
            "patientid",
            "healthplanid",
            "groupnumber",
            "insurancememberid",
        ),
        "member_id",
    ),
    **dict.fromkeys(
        ("userid", "customerid", "externalid", "loginid", "patientuserid"),
        "user_id",
    ),
    **dict.fromkeys(
        ("ip", "ipaddress", "clientip", "clientipaddress", "uip", "userip"), "ip_address"
    ),
    **dict.fromkeys(
        ("deviceid", "idfa", "idfv", "gaid", "adid", "aaid", "advertisingid", "androidid"),
        "device_id",
    ),
}
# Roles and field kinds that name an opaque id: a value in them that is an e-mail or a
# phone number is classified by what it is (see shapes.identity_of).
ID_ROLES = frozenset({"user_id", "client_id", "cookie_id", "device_id", "member_id"})
IDENTITY_WORDS = {
    "email": "e-mail address",
    "phone": "phone number",
    "hashed_email": "hashed e-mail",
    "hashed_phone": "hashed phone number",
}
# Short keys that only mean something inside a user-data object (Meta's ud[em], user_data.fn).
SHORT_KEYS = frozenset({"em", "ph", "fn", "ln", "db", "zp"})
USER_OBJECTS = frozenset({"ud", "udff", "userdata", "user", "customer", "customerdata"})


def _identifier(field: Field, category: str, rule: str, reason: str) -> Finding:
    return Finding(
        kind="identifier",
        category=category,
        path=field.path,
        value=field.value,
        matched=rule,
        rule=rule,
        reason=reason,
        trail=field.trail,
    )


_KEY_SPLIT = re.compile(r"[.\[\]]+")
_NON_ALNUM = re.compile(r"[^a-z0-9]")


@lru_cache(maxsize=65536)
def key_parts(path: str) -> tuple[str, str, str]:
    """The field-map key of a path, its last name and the name before it, normalised.

    ``query.ud[em]`` → (``ud[em]``, ``em``, ``ud``);
    ``body.data[0].user_data.fn [json]`` → (…, ``fn``, ``userdata``).
    """
    key = field_key(path)
    names: list[str] = []
    for part in reversed(_KEY_SPLIT.split(key.lower())):
        name = part if part.isalnum() else _NON_ALNUM.sub("", part)
        if name and not name.isdigit():
            names.append(name)
            if len(names) == 2:
                break
    leaf = names[0] if names else ""
    parent = names[1] if len(names) > 1 else ""
    return key, leaf, parent


PUBLISHED_DATA = ("json-ld", "jsonld", "microdata", "opengraph", "schema.org")
"""Markers of a page's own published metadata (Meta's ``cd[JSON-LD]``, ``cd[Microdata]``…).

A hospital's schema.org ``telephone`` or ``address`` names the organisation, not a
visitor, so fields inside such metadata are not read for identifiers by their names
or shapes (the signature's own identity fields still count)."""


@lru_cache(maxsize=65536)
def published_metadata(key: str) -> bool:
    """True when a field key lies inside a page's structured metadata."""
    lowered = key.lower()
    return any(marker in lowered for marker in PUBLISHED_DATA)


def _by_role(field: Field, role: str, value: str) -> Iterator[Finding]:
    if role in ("hashed_email", "hashed_phone", "email", "phone"):
        kind = role.removeprefix("hashed_")
        if is_hash(value):
            yield _identifier(
                field,
                f"hashed_{kind}",
                f"hashed_{kind}:hex",
                f"hashed {kind} in a field the signature marks as one",
            )
        elif SHA256_B64URL.match(value) and role.startswith("hashed_"):
            yield _identifier(
                field,
                role,
                f"{role}:base64url",
                f"base64url SHA-256 in a {role.replace('_', ' ')} field",
            )
        elif kind == "email" and EMAIL.fullmatch(value):
            yield _identifier(field, "email", "email:unhashed", "e-mail sent in plain text")
        elif kind == "phone" and PHONE.match(value):
            yield _identifier(field, "phone", "phone:field", "phone number in a phone field")
    elif role == "user_id":
        if value.lower() not in PLACEHOLDERS:
            yield _identifier(field, "user_id", "user_id:field", "site user id sent to the tracker")
    elif role in ("client_id", "cookie_id"):
        if value.lower() not in PLACEHOLDERS:
            yield _identifier(
                field, "device_id", f"{role}:field", "browser/device identifier sent to the tracker"
            )
    elif role == "ip_address" and is_ip_address(value):
        yield _identifier(field, "ip_address", "ip:field", "IP address in the payload")


def _by_key(field: Field, kind: str, value: str) -> Iterator[Finding]:
    where = "a field named like it"
    if kind in ("email", "phone") and is_hash(value):
        yield _identifier(
            field, f"hashed_{kind}", f"hashed_{kind}:key", f"hashed {kind} in {where}"
        )
    elif kind == "email" and EMAIL.fullmatch(value):
        yield _identifier(field, "email", "email:key", f"e-mail address in {where}")
    elif kind == "phone" and PHONE.match(value):
        yield _identifier(field, "phone", "phone:key", f"phone number in {where}")
    elif kind in ("name", "street", "postcode", "date_of_birth") and is_hash(value):
        category = "postal_address" if kind in ("street", "postcode") else kind
        yield _identifier(field, category, f"{category}:hashed", f"hashed {kind} in {where}")
    elif kind == "name" and PERSON_NAME.match(value) and 2 <= len(value) <= 60:
        yield _identifier(field, "name", "name:key", f"person's name in {where}")
    elif kind == "street" and STREET.match(value):
        yield _identifier(
            field, "postal_address", "postal_address:key", f"street address in {where}"
        )
    elif kind == "postcode" and POSTCODE.match(value):
        yield _identifier(field, "postal_address", "postcode:key", f"postal code in {where}")
    elif kind == "date_of_birth" and DATE.match(value):
        yield _identifier(field, "date_of_birth", "date_of_birth:key", f"birth date in {where}")
    elif kind == "member_id" and MEMBER.match(value) and any(c.isdigit() for c in value):
        yield _identifier(field, "member_id", "member_id:key", f"member or patient id in {where}")
    elif kind == "user_id" and value.lower() not in PLACEHOLDERS:
        yield _identifier(field, "user_id", "user_id:key", f"user id in {where}")
    elif kind == "ip_address" and is_ip_address(value):
        yield _identifier(field, "ip_address", "ip:key", f"IP address in {where}")
    elif kind == "device_id" and value.lower() not in PLACEHOLDERS and len(value) >= 8:
        yield _identifier(field, "device_id", "device_id:key", f"device id in {where}")


def _by_value(field: Field, value: str) -> Iterator[Finding]:
    if "~" in value and ("em." in value or "ph." in value):
        for kind, _digest in GOOGLE_USER_DATA.findall(value):
            category = "hashed_email" if kind == "em" else "hashed_phone"
            yield _identifier(
                field,
                category,
                f"{category}:google_tv1",
                "Google enhanced-conversions user data (base64url SHA-256)",
            )
    if "@" in value or "%40" in value:
        text = unquote(value) if "%40" in value else value
        for match in EMAIL.finditer(text):
            if match.group(0).rsplit(".", 1)[-1].lower() not in FILE_TLDS:
                yield _identifier(field, "email", "email:pattern", "e-mail address in the payload")
                break


def _by_identity(field: Field, role: str, value: str, leaf: str, parent: str) -> list[Finding]:
    """An e-mail or phone number in an id field is an e-mail or phone number.

    The field's role stays in the evidence: the rule (``email:in_user_id``) and
    the reason name it, and the path names the field.
    """
    identity = identity_of(value, leaf, parent)
    if identity is None:
        return []
    what = IDENTITY_WORDS[identity]
    rule = f"{identity}:in_{role}"
    return [_identifier(field, identity, rule, f"{what} sent in a {role.replace('_', ' ')} field")]


def _identifiers_in_field(field: Field, role: str | None, leaf: str, parent: str) -> list[Finding]:
    value = field.value.strip()
    if not value or len(value) > 4096:
        return []
    if role is not None:
        found = _by_identity(field, role, value, leaf, parent) if role in ID_ROLES else []
        found = found or list(_by_role(field, role, value))
        if found or role not in ("event_properties", "free_text"):
            return found or list(_by_value(field, value))
    kind = KEY_CATEGORIES.get(leaf)
    if kind is not None and (leaf not in SHORT_KEYS or parent in USER_OBJECTS):
        found = _by_identity(field, kind, value, leaf, parent) if kind in ID_ROLES else []
        found = found or list(_by_key(field, kind, value))
        if found:
            return found
    if "@" in value or "%40" in value or "~" in value:
        return list(_by_value(field, value))
    return []


def detect_identifiers(fields: Iterable[Field], signature: Signature | None) -> list[Finding]:
    """Find identifiers: by the field map, by field names, and by value shape."""
    seen: set[tuple[str, str]] = set()
    findings: list[Finding] = []
    for field in fields:
        if field.path == "header.referer" or not field.value:
            continue
        key, leaf, parent = key_parts(field.path)
        role = signature.role_of(key) if signature is not None else None
        if role is None and leaf not in KEY_CATEGORIES:
            # A name this module knows (member_id, dob) says more than a convention.
            role = load_conventions().role_of(leaf, parent)
        if role in (None, "event_properties", "free_text") and published_metadata(key):
            continue
        if role is None and leaf not in KEY_CATEGORIES:
            value = field.value
            if "@" not in value and "%40" not in value and "~" not in value:
                continue
        for finding in _identifiers_in_field(field, role, leaf, parent):
            dedup = (finding.category, finding.value)
            if dedup not in seen:
                seen.add(dedup)
                findings.append(finding)
    return findings
