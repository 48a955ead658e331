"""What a value looks like, and what a value is whatever its field is called.

The shapes (an e-mail address, a phone number, a hex digest that is not the
hash of a placeholder…) are shared by every identifier rule.  :func:`identity_of`
answers the question a field map cannot: a site that puts the visitor's e-mail
in Application Insights' ``ai.user.authUserId`` has sent Microsoft an e-mail,
not an opaque user id.  Pure functions.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

EMAIL = re.compile(
    r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}"
)
HEX_HASH = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}|[0-9a-f]{128})$", re.I)
SHA256_B64URL = re.compile(r"^[A-Za-z0-9_-]{43}=?$")
PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{8,18}[0-9]$")
DATE = re.compile(
    r"^(?:(?:19|20)\d\d[-/.]?(?:0[1-9]|1[0-2])[-/.]?(?:0[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.](?:19|20)\d\d"
    r"|(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|1[0-2])[-/.](?:19|20)\d\d)$"
)
PERSON_NAME = re.compile(r"^[^\W\d_][^\W\d_ .'-]*(?:[ .'-]+[^\W\d_][^\W\d_.'-]*){0,4}\.?$")
POSTCODE = re.compile(
    r"^(?:\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|[A-Z]\d[A-Z] ?\d[A-Z]\d)$", re.I
)
STREET = re.compile(r"^\d{1,6}[A-Za-z]?\s+\S+(?:\s+\S+){1,8}$")
MEMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{3,39}$")
GOOGLE_USER_DATA = re.compile(r"(?:^|~)(em|ph)\.([A-Za-z0-9_-]{43})(?=~|$)")

# Hashes of values that identify nobody: the empty string, "test", "1", "null", "undefined".
PLACEHOLDER_HASHES = frozenset(
    {
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
        "74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b",
        "eb045d78d273107348b0300c01d29b7552d622abbc6faf81b3ec55359aa9950c",
        "d41d8cd98f00b204e9800998ecf8427e",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    }
)
PLACEHOLDERS = frozenset(
    {
        "",
        "0",
        "-1",
        "null",
        "none",
        "undefined",
        "nan",
        "false",
        "true",
        "anonymous",
        "guest",
        "unknown",
        "n/a",
        "na",
        "[redacted]",
        "redacted",
        "not_given",
        "not set",
        "(not set)",
    }
)
FILE_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "js", "css", "ico"})
PHONE_SHAPED = re.compile(
    r"^(?:\+[1-9]\d{7,14}"
    r"|\+?(?:\d{1,3}[ -]?)?\(\d{2,4}\)[ -]?\d{3,4}[ -]?\d{3,4}"
    r"|\+?(?:\d{1,3}[ -])?\d{2,4}[ -]\d{3,4}[ -]\d{3,4})$"
)
"""A phone number beyond doubt: E.164 (``+15555550123``) or grouped digits
(``(555) 555-0123``, ``+44 20 7946 0958``).  A bare run of digits is not one:
numeric user ids look the same, so in an id field it stays an id."""

EMAIL_NAMES = ("email", "mail")
PHONE_NAMES = ("phone", "mobile", "msisdn")


def is_hash(value: str) -> bool:
    """True for a hex digest of the usual lengths that is not the hash of a placeholder."""
    return bool(HEX_HASH.match(value)) and value.lower() not in PLACEHOLDER_HASHES


def is_email(value: str) -> bool:
    """True when the whole value (percent-decoded if need be) is one e-mail address."""
    text = unquote(value) if "%40" in value else value
    if EMAIL.fullmatch(text) is None:
        return False
    return text.rsplit(".", 1)[-1].lower() not in FILE_TLDS  # logo@2x.png


def _named(names: tuple[str, ...], *parts: str) -> bool:
    return any(word in part for part in parts for word in names)


def identity_of(value: str, leaf: str = "", parent: str = "") -> str | None:
    """``email``, ``phone``, ``hashed_email`` or ``hashed_phone`` when the value is one.

    The value decides for e-mails and phone numbers.  A digest's shape cannot say
    what was hashed, so a hash counts as a hashed e-mail (or phone) only when the
    field's own names (``leaf`` and ``parent``, normalised) say so, as in
    ``customerIds.email_sha256.id``; otherwise None and the field's role stands.
    """
    if "@" in value or "%40" in value:
        return "email" if is_email(value) else None
    if PHONE_SHAPED.match(value):
        return "phone"
    if is_hash(value):
        if _named(EMAIL_NAMES, leaf, parent):
            return "hashed_email"
        if _named(PHONE_NAMES, leaf, parent):
            return "hashed_phone"
    return None
