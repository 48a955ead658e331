"""Find health data and identifiers in a request's decoded fields.

Detection reads each field in the light of the signature's field map: a term
in a page-URL field is a health page, a term in a search field is a health
search, a 64-hex value in a hashed-email field is a hashed e-mail.  All
functions are pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

from phitrace.decode import field_key
from phitrace.model import Field, Finding
from phitrace.signatures import Signature
from phitrace.vocabulary import Term, Vocabulary

EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}")
HEX_HASH = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}|[0-9a-f]{128})$", re.I)
PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{8,18}[0-9]$")
IPV4 = re.compile(r"^(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}$")

# Hashes of values that identify nobody: the empty string, "test", "1".
PLACEHOLDER_HASHES = frozenset(
    {
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
        "d41d8cd98f00b204e9800998ecf8427e",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    }
)

URL_ROLES = frozenset({"page_url", "referrer"})
CONTEXT_ROLES = frozenset(
    {"page_url", "referrer", "page_title", "search_term", "event_name", "event_properties",
     "free_text"}
)


def _role(field: Field, signature: Signature | None) -> str | None:
    if field.path == "header.referer":
        return "referrer"
    if signature is None:
        return None
    return signature.role_of(field_key(field.path))


def _looks_like_url(value: str) -> bool:
    return value.startswith(("http://", "https://", "/")) and len(value) > 1


def _url_parts(value: str, vocab: Vocabulary) -> Iterable[tuple[str, str]]:
    """Split a URL into (part, text) pairs: its path, and each query value."""
    parts = urlsplit(unquote(value) if "%2F" in value[:40] else value)
    yield "path", parts.path
    for key, val in parse_qsl(parts.query, keep_blank_values=False):
        yield ("search" if key.lower() in vocab.search_params else f"param {key}"), val
    if parts.fragment:
        yield "fragment", parts.fragment


def _health_finding(field: Field, term: Term, category: str, rule: str, reason: str) -> Finding:
    return Finding(
        kind="health",
        category=category,
        field=field.evidence,
        value=field.value,
        matched=term.canonical,
        rule=rule,
        reason=reason,
    )


def _terms_in_field(field: Field, role: str | None, vocab: Vocabulary) -> Iterable[Finding]:
    if role in URL_ROLES or (_looks_like_url(field.value) and role is None):
        for part, text in _url_parts(field.value, vocab):
            for term in vocab.find(text):
                if part == "search":
                    yield _health_finding(
                        field, term, "health_search", f"url-search:{term.category}",
                        f"{term.category} term '{term.canonical}' in a site search in the URL",
                    )
                else:
                    yield _health_finding(
                        field, term, term.category, f"url-{part.split()[0]}:{term.category}",
                        f"{term.category} term '{term.canonical}' in the page URL {part}",
                    )
        return
    if role == "search_term" or (role is None and field_key(field.path).lower() in vocab.search_params):
        for term in vocab.find(field.value):
            yield _health_finding(
                field, term, "health_search", f"search:{term.category}",
                f"{term.category} term '{term.canonical}' in a search term",
            )
        return
    allow_weak = role in CONTEXT_ROLES
    for term in vocab.find(field.value, allow_weak=allow_weak):
        where = role.replace("_", " ") if role else "a payload field"
        yield _health_finding(
            field, term, term.category, f"{role or 'field'}:{term.category}",
            f"{term.category} term '{term.canonical}' in {where}",
        )


def detect_health(
    fields: Iterable[Field], signature: Signature | None, vocab: Vocabulary
) -> list[Finding]:
    """Find health terms in fields; one finding per category and term per request.

    The Referer header only counts when the payload did not already carry the
    same term, so a term is reported where the tracker's own payload put it.
    """
    seen: set[tuple[str, str]] = set()
    findings: list[Finding] = []
    ordered = sorted(fields, key=lambda f: f.path.startswith(("header.", "cookie.")))
    for field in ordered:
        if field.path.startswith("cookie."):
            continue
        for finding in _terms_in_field(field, _role(field, signature), vocab):
            key = (finding.category, finding.matched)
            if key not in seen:
                seen.add(key)
                findings.append(finding)
    return findings


def _identifier(field: Field, category: str, rule: str, reason: str) -> Finding:
    return Finding(
        kind="identifier", category=category, field=field.evidence, value=field.value,
        matched=rule, rule=rule, reason=reason,
    )


def _identifiers_in_field(field: Field, role: str | None) -> Iterable[Finding]:
    value = field.value.strip()
    if not value:
        return
    if role in ("hashed_email", "hashed_phone"):
        if HEX_HASH.match(value) and value.lower() not in PLACEHOLDER_HASHES:
            yield _identifier(field, role, f"{role}:hex", f"hashed identity in a {role} field")
        elif role == "hashed_email" and EMAIL.fullmatch(value):
            yield _identifier(field, "email", "email:unhashed", "e-mail sent in plain text")
        return
    if role == "phone" and PHONE.match(value):
        yield _identifier(field, "phone", "phone:field", "phone number in a phone field")
        return
    if role == "user_id":
        yield _identifier(field, "user_id", "user_id:field", "site user id sent to the tracker")
        return
    if role in ("client_id", "cookie_id"):
        yield _identifier(
            field, "device_id", f"{role}:field", "browser/device identifier sent to the tracker"
        )
        return
    if role == "ip_address" and IPV4.match(value):
        yield _identifier(field, "ip_address", "ip:field", "IP address override")
        return
    match = EMAIL.search(unquote(value) if "%40" in value else value)
    if match:
        yield _identifier(field, "email", "email:pattern", "e-mail address in the payload")


def detect_identifiers(fields: Iterable[Field], signature: Signature | None) -> list[Finding]:
    """Find identifiers: e-mails anywhere, ids and hashes where the field map says."""
    seen: set[tuple[str, str]] = set()
    findings: list[Finding] = []
    for field in fields:
        if field.path == "header.referer":
            continue
        for finding in _identifiers_in_field(field, _role(field, signature)):
            key = (finding.category, finding.value)
            if key not in seen:
                seen.add(key)
                findings.append(finding)
    return findings
