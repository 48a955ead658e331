"""``redact`` storage: a planted canary value is nowhere in the database file, wherever it was sent.

Requests to a tracker carry a test-persona value in a random place (query value or
name, JSON or form key or value, cookie, fragment, a gzip body, a spoofed Host) among
random noise; the real analyzer finds it, redact mode's rewrite removes it, and the
record is stored in ``redact`` storage.  Then the bytes of the database and its
``-wal`` are searched for the value, as typed and in its lower-case and URL-encoded
forms.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from functools import cache
from pathlib import Path
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.ci import fuzz_examples

from phitrace.act.enforce import redact
from phitrace.analyzer import Analyzer
from phitrace.catalogue.loader import load_catalogue
from phitrace.detect.canaries import parse_canaries
from phitrace.detect.vocabulary import load_vocabulary
from phitrace.model import Request
from phitrace.store.database import open_database
from phitrace.store.rows import Record
from phitrace.store.sessions import start_session
from phitrace.store.writer import write_record

EMAIL = "jane.canary@example.org"
MEMBER = "XJH-PLANTED-93817"
CANARIES = {"email": EMAIL, "member_id": MEMBER}
TRACKER = "https://www.facebook.com/tr/"
PLACES = (
    "query value",
    "query name",
    "json value",
    "json key",
    "nested json key",
    "form value",
    "form key",
    "cookie value",
    "cookie name",
    "fragment",
    "gzip json",
    "host header",
    "query name of a condition",
    "json key of a condition",
)
SETTINGS = settings(
    max_examples=max(100, fuzz_examples() // 20),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
noise = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=12)


@cache
def analyzer() -> Analyzer:
    return Analyzer(load_catalogue(), load_vocabulary(), parse_canaries({"canaries": CANARIES}))


def planted(place: str, value: str, key: str, filler: str) -> Request:
    """A tracker request that carries ``value`` at ``place``, next to harmless ``filler``."""
    url, headers, body = f"{TRACKER}?id=1&ev=Lead&{key}={filler}", [], b""
    json_type = ("Content-Type", "application/json")
    form_type = ("Content-Type", "application/x-www-form-urlencoded")
    if place == "query value":
        url += f"&ud[em]={quote(value)}"
    elif place == "query name":
        url += f"&{quote(value)}=1"
    elif place == "query name of a condition":
        url += f"&{quote(value)}=diabetes"
    elif place == "fragment":
        url += f"#{key}={quote(value)}"
    elif place in (
        "json value",
        "json key",
        "nested json key",
        "gzip json",
        "json key of a condition",
    ):
        document: object = {key: filler, "user": value}
        if place == "json key of a condition":
            document = {"cd": {value: "diabetes"}, key: filler}
        elif place == "json key":
            document = {value: filler, key: 1}
        elif place == "nested json key":
            document = {"events": [{"props": {value: {key: filler}}}]}
        body = json.dumps(document).encode()
        headers.append(json_type)
        if place == "gzip json":
            body = gzip.compress(body)
            headers.append(("Content-Encoding", "gzip"))
    elif place in ("form value", "form key"):
        pair = f"em={quote(value)}" if place == "form value" else f"{quote(value)}=1"
        body = f"{key}={filler}&{pair}".encode()
        headers.append(form_type)
    elif place == "cookie value":
        headers.append(("Cookie", f"{key}={filler}; uid={quote(value)}"))
    elif place == "cookie name":
        headers.append(("Cookie", f"{quote(value)}=1; {key}={filler}"))
    host_header = None
    if place == "host header":
        host_header = f"{value}.cdn.example"
        headers.append(("Host", host_header))
    method = "POST" if body else "GET"
    return Request(method, url, tuple(headers), body, 1.0, None, host_header)


def stored_bytes(request: Request) -> bytes:
    """Analyse, redact as redact mode would, store in ``redact`` storage; the files' bytes."""
    analysis = analyzer().analyse(request)
    removed = redact(request, analysis.findings, analysis.fields).removed
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "redacted.db"
        db = open_database(path)
        try:
            session = start_session(db, source="proxy", label="property")
            record = Record(session, analysis, 200, False, removed)
            with db.atomic():
                write_record(db, record, True, "redact")
        finally:
            db.close()
        return b"".join(p.read_bytes() for p in Path(directory).iterdir())


@SETTINGS
@given(
    place=st.sampled_from(PLACES),
    value=st.sampled_from(sorted(CANARIES.values())),
    key=noise,
    filler=noise,
)
def test_a_planted_canary_is_nowhere_in_a_redacted_database(
    place: str, value: str, key: str, filler: str
) -> None:
    request = planted(place, value, f"k{key}", filler)
    found = {f.value for f in analyzer().analyse(request).findings if f.kind == "canary"}
    data = stored_bytes(request)
    for form in {value, value.lower(), quote(value, safe=""), quote(value)}:
        assert form.encode() not in data, (place, form, found)


def test_the_search_would_see_a_canary_stored_in_full() -> None:
    """The property is not vacuous: the same requests in ``full`` storage keep the value."""
    request = planted("json key", EMAIL, "kx", "y")
    analysis = analyzer().analyse(request)
    assert any(f.kind == "canary" for f in analysis.findings)
    with tempfile.TemporaryDirectory() as directory:
        db = open_database(Path(directory) / "full.db")
        try:
            write_record(db, Record(start_session(db, source="proxy"), analysis), True, "full")
        finally:
            db.close()
        data = b"".join(p.read_bytes() for p in Path(directory).iterdir())
    assert EMAIL.encode() in data
