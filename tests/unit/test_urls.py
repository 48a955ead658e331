"""One URL parser for every stage: never raises, and knows which site a host belongs to."""

from __future__ import annotations

import pytest

from phitrace.urls import is_ip_address, parse_url, registrable_domain, same_site, within


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("a.github.io", "b.github.io"),
        ("d1.cloudfront.net", "d2.cloudfront.net"),
        ("clinic.azurewebsites.net", "tracker.azurewebsites.net"),
        ("salud.gob.mx", "imss.gob.mx"),
        ("canada.gc.ca", "tracker.gc.ca"),
        ("health.govt.nz", "other.govt.nz"),
    ],
)
def test_hosts_under_a_shared_public_suffix_are_different_sites(first: str, second: str) -> None:
    assert not same_site(first, second)


@pytest.mark.parametrize(
    ("host", "site"),
    [
        ("www.example.co.uk", "example.co.uk"),
        ("WWW.Clinic.Example.ORG.", "example.org"),
        ("stats.g.doubleclick.net", "doubleclick.net"),
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "::1"),
        ("localhost", "localhost"),
        ("", ""),
    ],
)
def test_registrable_domain(host: str, site: str) -> None:
    assert registrable_domain(host) == site


@pytest.mark.parametrize(
    "text",
    ["http://[clinic.example/", "https://a.example:99999/", "https://a.example:x/", "", "::"],
)
def test_unreadable_urls_give_empty_parts_and_never_raise(text: str) -> None:
    url = parse_url(text)
    assert url.host == "" and url.origin == ""


def test_parts_and_origin() -> None:
    url = parse_url("HTTPS://Portal.Example.org:8443/conditions/hiv?x=1#top")
    assert (url.scheme, url.host, url.port, url.path, url.query, url.fragment) == (
        "https",
        "portal.example.org",
        8443,
        "/conditions/hiv",
        "x=1",
        "top",
    )
    assert url.origin == "https://portal.example.org:8443"
    assert url.site == "example.org"
    assert not url.is_origin_only and parse_url("https://a.example/").is_origin_only
    assert parse_url("http://[::1]:8080/x").origin == "http://[::1]:8080"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12:30", False), ("fe80::1", True), ("2001:db8::8a2e:370:7334", True), ("1.2.3.4", True),
     ("256.1.1.1", False), ("cafe:babe", False)],
)  # fmt: skip
def test_ip_addresses_are_real_addresses_not_times(value: str, expected: bool) -> None:
    assert is_ip_address(value) is expected


def test_within_a_domain_means_the_domain_or_a_subdomain() -> None:
    assert within("portal.example.org", "example.org")
    assert within("example.org", ".example.org")
    assert not within("badexample.org", "example.org")


def test_the_quick_public_suffix_parse_answers_as_the_library_default_does() -> None:
    from publicsuffixlist import PSLFILE, PublicSuffixList

    from phitrace.urls import public_suffix_list

    default, quick = PublicSuffixList(), public_suffix_list()
    with open(PSLFILE, encoding="utf-8") as source:
        rules = [r.split(" ")[0] for r in source.read().splitlines() if r and r[0] != "/"]
    hosts = [f"www.example.{rule.lstrip('!*.')}" for rule in rules]
    hosts += [host.encode("idna").decode("ascii") for host in hosts if not host.isascii()]
    assert any(not host.isascii() for host in hosts) and any("xn--" in host for host in hosts)
    assert [quick.privatesuffix(h) for h in hosts] == [default.privatesuffix(h) for h in hosts]
    assert [quick.publicsuffix(h) for h in hosts] == [default.publicsuffix(h) for h in hosts]


def test_registrable_domain_answers_as_the_library_default_for_every_rule() -> None:
    from publicsuffixlist import PSLFILE, PublicSuffixList

    default = PublicSuffixList()
    with open(PSLFILE, encoding="utf-8") as source:
        rules = [r.split(" ")[0] for r in source.read().splitlines() if r and r[0] != "/"]
    hosts = [f"www.example.{rule.lstrip('!*.')}" for rule in rules]
    hosts += [host.encode("idna").decode("ascii") for host in hosts if not host.isascii()]
    hosts += [rule.lstrip("!*.") for rule in rules]
    assert any("xn--" in host for host in hosts)
    expected = [default.privatesuffix(h.lower()) or h.lower() for h in hosts]
    assert [registrable_domain(h) for h in hosts] == expected
