"""What a value is, whatever its field is called."""

from __future__ import annotations

import hashlib

import pytest

from phitrace.detect.shapes import identity_of, is_email

SHA = hashlib.sha256(b"jane.canary@example.org").hexdigest()


@pytest.mark.parametrize(
    ("value", "leaf", "parent", "expected"),
    [
        ("jane.canary@example.org", "authuserid", "user", "email"),
        ("jane.canary%40example.org", "uid", "", "email"),
        ("+15555550123", "userid", "", "phone"),
        ("(555) 555-0123", "customerid", "", "phone"),
        ("+44 20 7946 0958", "id", "", "phone"),
        ("555-555-0123", "externalid", "", "phone"),
        (SHA, "id", "emailsha256", "hashed_email"),
        (SHA, "hashedemail", "", "hashed_email"),
        (SHA, "phonehash", "", "hashed_phone"),
    ],
)
def test_a_value_is_classified_by_what_it_is(
    value: str, leaf: str, parent: str, expected: str
) -> None:
    assert identity_of(value, leaf, parent) == expected


@pytest.mark.parametrize(
    "value",
    [
        "patient-42",
        "15555550123",  # a bare run of digits is as likely a numeric user id
        "1683043778",
        "2024-01-15",
        "192.168.1.100",
        "123.456",
        "logo@2x.png",
        "jane@example.org and more",
        SHA,  # a digest whose field does not say what was hashed
        hashlib.sha256(b"").hexdigest(),
    ],
)
def test_values_that_are_not_plainly_an_email_or_phone_keep_their_role(value: str) -> None:
    assert identity_of(value, "userid", "") is None


def test_an_email_is_the_whole_value() -> None:
    assert is_email("a.b@example.org")
    assert not is_email("mailto:a.b@example.org?subject=x")
