"""Canaries: a QA persona's planted values, searched for in every request.

A tester types known values (an e-mail, a phone number, a drug) into a site
and phitrace looks for them in every request, as sent or transformed the way
trackers transform them: normalised, percent-encoded, base64, hex, or hashed
with MD5, SHA-1, SHA-256 or SHA-512.  Needles are computed once at load time;
each hit names the transform chain that produced it, e.g. ``sha256(lower(trim))``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote

import yaml

from phitrace.model import Field, Finding, Request


class CanaryError(ValueError):
    """The canaries file is invalid; the message says how to fix it."""


@dataclass(frozen=True)
class Needle:
    """One precomputed form of a canary value."""

    canary: str
    text: str
    chain: str
    case_sensitive: bool


Normaliser = Callable[[str], str]
Encoder = Callable[[str], str]


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _normalisers(name: str, value: str) -> dict[str, str]:
    """The plain forms of a value: as typed, trimmed, lower-cased, digits only."""
    forms = {"raw": value, "trim": value.strip(), "lower(trim)": value.strip().lower()}
    forms["collapse(lower(trim))"] = " ".join(value.lower().split())
    digits = _digits(value)
    if len(digits) >= 7 and len(digits) >= len(re.sub(r"[\s().+-]", "", value)) - 1:
        forms["digits"] = digits
        if len(digits) == 10:
            forms["e164"] = "1" + digits
            forms["+e164"] = "+1" + digits
        elif value.strip().startswith("+"):
            forms["+e164"] = "+" + digits
            forms["national"] = digits[-10:]
    return forms


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _digest_b64url(algorithm: str) -> Encoder:
    return lambda text: (
        base64.urlsafe_b64encode(hashlib.new(algorithm, text.encode()).digest())
        .decode()
        .rstrip("=")
    )


def _hex_digest(algorithm: str) -> Encoder:
    return lambda text: hashlib.new(algorithm, text.encode()).hexdigest()


# Each encoder: (name, function, case-sensitive result?)
ENCODERS: tuple[tuple[str, Encoder, bool], ...] = (
    ("url", quote, False),
    ("url_plus", quote_plus, False),
    ("url2", lambda t: quote(quote(t)), False),
    ("base64", _b64, True),
    ("base64url", _b64url, True),
    ("hex", lambda t: t.encode().hex(), False),
    ("md5", _hex_digest("md5"), False),
    ("sha1", _hex_digest("sha1"), False),
    ("sha256", _hex_digest("sha256"), False),
    ("sha512", _hex_digest("sha512"), False),
    ("sha256_b64url", _digest_b64url("sha256"), True),
)
_SECOND_LAYER = ("base64", "base64url", "url", "hex")


def _needles_for(name: str, value: str) -> list[Needle]:
    needles: dict[tuple[str, bool], Needle] = {}

    def add(text: str, chain: str, case_sensitive: bool) -> None:
        if len(text) < 4:
            return
        key = (text if case_sensitive else text.lower(), case_sensitive)
        if key not in needles:
            needles[key] = Needle(name, key[0], chain, case_sensitive)

    for form_name, form in _normalisers(name, value).items():
        add(form, form_name, False)
        for enc_name, encode, sensitive in ENCODERS:
            first = encode(form)
            add(first, f"{enc_name}({form_name})", sensitive)
            for enc2_name, encode2, sensitive2 in ENCODERS:
                if enc2_name in _SECOND_LAYER and enc2_name != enc_name:
                    add(encode2(first), f"{enc2_name}({enc_name}({form_name}))", sensitive2)
    return list(needles.values())


@dataclass(frozen=True)
class Canaries:
    """All needles of a persona, ready to search with."""

    values: Mapping[str, str]
    needles: tuple[Needle, ...]

    def __bool__(self) -> bool:
        return bool(self.needles)


NO_CANARIES = Canaries({}, ())


def parse_canaries(data: object, source: str = "canaries") -> Canaries:
    """Build needles from ``{canaries: {name: value}}``; raises :class:`CanaryError`."""
    if not isinstance(data, Mapping) or not isinstance(data.get("canaries"), Mapping):
        raise CanaryError(
            f"{source}: expected a mapping 'canaries: {{name: value, ...}}', "
            "e.g. 'canaries: {email: jane.canary@example.org}'"
        )
    values: dict[str, str] = {}
    for name, value in data["canaries"].items():
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise CanaryError(f"{source}: canary name {name!r} must be a lower-case identifier")
        text = str(value).strip()
        if len(text) < 4:
            raise CanaryError(f"{source}: canary {name!r} is too short to search for safely")
        values[name] = text
    needles = [n for name, value in values.items() for n in _needles_for(name, value)]
    return Canaries(values, tuple(needles))


def load_canaries(path: Path) -> Canaries:
    """Read a canaries YAML file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CanaryError(f"{path}: cannot read canaries file: {exc}") from exc
    return parse_canaries(data, str(path))


def _haystacks(request: Request, fields: Iterable[Field]) -> Iterable[tuple[str, str]]:
    yield "url", request.url
    yield "url (decoded)", unquote(unquote(request.url))
    for name, value in request.headers:
        if name.lower() not in ("host", "content-length"):
            yield f"header.{name.lower()}", value
    if request.body:
        yield "body", request.body[: 4 * 1024 * 1024].decode("utf-8", "replace")
    for field in fields:
        if field.trail:
            yield field.evidence, field.value


def find_canaries(request: Request, fields: Iterable[Field], canaries: Canaries) -> list[Finding]:
    """Search the request, raw and decoded, for every canary needle."""
    if not canaries:
        return []
    findings: dict[str, Finding] = {}
    for where, text in _haystacks(request, fields):
        lowered = text.lower()
        for needle in canaries.needles:
            haystack = text if needle.case_sensitive else lowered
            if needle.text in haystack:
                key = f"{needle.canary}:{needle.chain}"
                if key not in findings:
                    findings[key] = Finding(
                        kind="canary",
                        category=needle.canary,
                        field=where,
                        value=needle.text,
                        matched=needle.chain,
                        rule=f"canary:{needle.chain.split('(')[0]}",
                        reason=f"test-persona value '{needle.canary}' found as {needle.chain}",
                    )
    # A raw hit explains its encoded forms: keep the simplest chain per place.
    return _simplest(findings.values())


def _simplest(findings: Iterable[Finding]) -> list[Finding]:
    best: dict[tuple[str, str], Finding] = {}
    for finding in findings:
        key = (finding.category, finding.field)
        current = best.get(key)
        if current is None or finding.matched.count("(") < current.matched.count("("):
            best[key] = finding
    return list(best.values())
