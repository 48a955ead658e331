"""Evidence bundles: flagged flows as HAR, findings as JSON, and a manifest of digests.

A bundle is one zip file holding:

- ``flows.har``: a HAR 1.2 log of every flow with findings, rebuilt from the
  stored raw requests (headers in wire order and the exact body), so browser
  developer tools import it and ``phitrace scan`` reproduces the findings and
  request digests; ``postData`` holds the wire bytes, and a body sent with a
  ``Content-Encoding`` also gets its decoded text, labelled as decoded, in
  the entry's ``_phitrace.decoded_body``;
- ``findings.json``: the JSON export (see :mod:`phitrace.report.formats`);
- ``manifest.json``: phitrace, mitmproxy and signature versions, the
  sessions covered, counts, and the SHA-256 and size of every other file;
- ``SHA256SUMS``: the same digests plus the manifest's, in the format
  ``sha256sum -c`` reads, so a bundle can be checked without phitrace.

:func:`verify_bundle` checks a bundle against its manifest.  A bundle proves
nothing on its own about who made it: keep the manifest digest that
:func:`write_bundle` returns somewhere the bundle's recipient trusts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from mitmproxy.net.http.cookies import parse_cookie_header

from phitrace import __version__
from phitrace.report.decoded import WIRE_LABEL, decoded_body
from phitrace.report.formats import to_json
from phitrace.store.private import private_output
from phitrace.store.reader import Findings, Leak, RawRequest, url_parts

FORMAT = "phitrace-evidence"
VERSION = 1
HAR_NAME = "flows.har"
FINDINGS_NAME = "findings.json"
MANIFEST_NAME = "manifest.json"
SUMS_NAME = "SHA256SUMS"
MAX_MEMBERS = 64
"""Most files a bundle may hold before verification refuses it (phitrace writes four)."""
MAX_TOTAL_BYTES = 4 * 1024**3
"""Most uncompressed bytes verification reads in all, so a zip bomb cannot exhaust the disk."""
MAX_INDEX_BYTES = 16 * 1024**2
"""Most bytes of the manifest or SHA256SUMS, which are read into memory."""
NOT_STORED = "headers and body were not stored (--no-bodies or redacted storage)"


def _pairs(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]


def _cookies(headers: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """Every cookie of the Cookie headers, in order.

    mitmproxy's lenient parser, not ``SimpleCookie``: the latter stops at the first
    cookie it cannot parse (a JSON value, say) and would drop the rest from evidence.
    """
    return [
        {"name": key, "value": value}
        for name, header in headers
        if name.lower() == "cookie"
        for key, value in parse_cookie_header(header)
    ]


def _post_data(raw: RawRequest) -> dict[str, Any] | None:
    if not raw.body:
        return None
    mime = next((v for k, v in raw.headers if k.lower() == "content-type"), "")
    try:
        return {"mimeType": mime, "text": raw.body.decode("utf-8"), "comment": WIRE_LABEL}
    except UnicodeDecodeError:
        # HAR 1.2 has no encoding for request bodies; this is the common extension.
        text = base64.b64encode(raw.body).decode("ascii")
        return {"mimeType": mime, "text": text, "encoding": "base64", "comment": WIRE_LABEL}


def _bodies(raw: RawRequest | None) -> dict[str, Any]:
    """The wire body's size and digest, and its decoded form when it had a coding."""
    if raw is None:
        return {}
    wire = {"label": WIRE_LABEL, "bytes": len(raw.body), "sha256": sha256(raw.body)}
    decoded = decoded_body(raw)
    return {"wire_body": wire, **({"decoded_body": decoded.as_json()} if decoded else {})}


def har_request(leak: Leak, raw: RawRequest | None) -> dict[str, Any]:
    """The HAR ``request`` object of a flow, as exact as what was stored."""
    headers = raw.headers if raw else ()
    request: dict[str, Any] = {
        "method": leak.method,
        "url": leak.url,
        "httpVersion": "HTTP/1.1",
        "cookies": _cookies(headers),
        "headers": _pairs(headers),
        "queryString": _pairs(parse_qsl(url_parts(leak.url).query, keep_blank_values=True)),
        "headersSize": -1,
        "bodySize": len(raw.body) if raw else -1,
    }
    post = _post_data(raw) if raw else None
    if post is not None:
        request["postData"] = post
    if raw is None:
        request["comment"] = NOT_STORED
    return request


def har_entry(
    leak: Leak, raw: RawRequest | None, pageref: str | None, ids: list[int]
) -> dict[str, Any]:
    """One HAR entry: the request as stored, the response status phitrace saw."""
    entry: dict[str, Any] = {
        "startedDateTime": leak.timestamp,
        "time": 0,
        "request": har_request(leak, raw),
        "response": {
            "status": leak.status_code or 0,
            "statusText": "",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [],
            "content": {"size": 0, "mimeType": "x-unknown"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
            "comment": "phitrace keeps requests only; the response is not recorded",
        },
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
        "_phitrace": {
            "flow_id": leak.flow_id,
            "request_sha256": leak.request_sha256,
            "vendor": leak.vendor,
            "blocked": leak.blocked,
            "finding_ids": ids,
            **_bodies(raw),
        },
    }
    if pageref:
        entry["pageref"] = pageref
    return entry


def har_document(findings: Findings) -> dict[str, Any]:
    """A HAR 1.2 log of every flow with findings, oldest first, grouped into pages."""
    flows: dict[int, tuple[Leak, list[int]]] = {}
    for leak in findings.leaks:
        flows.setdefault(leak.flow_id, (leak, []))[1].append(leak.id)
    ordered = sorted(flows.values(), key=lambda item: (item[0].timestamp, item[0].flow_id))
    pages: dict[str, dict[str, Any]] = {}
    entries = []
    for leak, ids in ordered:
        page = None
        if leak.page_url:
            if leak.page_url not in pages:
                pages[leak.page_url] = {
                    "startedDateTime": leak.timestamp,
                    "id": f"page_{len(pages) + 1}",
                    "title": leak.page_url,
                    "pageTimings": {},
                }
            page = pages[leak.page_url]["id"]
        entries.append(har_entry(leak, findings.raw.get(leak.flow_id), page, sorted(ids)))
    creator = {"name": "phitrace", "version": __version__}
    log = {"version": "1.2", "creator": creator, "pages": list(pages.values()), "entries": entries}
    return {"log": log}


def _mitmproxy_version() -> str:
    try:
        from mitmproxy.version import VERSION
    except ImportError:
        return "not installed"
    return str(VERSION)


def _catalogue_digest() -> str:
    from phitrace.catalogue.loader import load_catalogue
    from phitrace.catalogue.model import SignatureError

    try:
        return load_catalogue().digest
    except (SignatureError, OSError) as exc:
        return f"unavailable: {exc}"


def sha256(data: bytes) -> str:
    """Hex SHA-256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


def manifest(findings: Findings, files: dict[str, bytes]) -> dict[str, Any]:
    """The manifest: versions, sessions, counts, and the digest of every file."""
    flows = findings.flagged_flow_ids
    return {
        "format": FORMAT,
        "version": VERSION,
        "created_at": findings.generated_at,
        "phitrace_version": __version__,
        "mitmproxy_version": _mitmproxy_version(),
        "signatures": {
            "catalogue_digest": _catalogue_digest(),
            "session_digests": sorted({s.signatures_digest for s in findings.sessions}),
        },
        "sessions": [asdict(s) for s in findings.sessions],
        "counts": {
            "findings": len(findings.leaks),
            "flows": len(flows),
            "flows_with_stored_request": len(flows & findings.raw.keys()),
        },
        "files": {
            name: {"sha256": sha256(data), "bytes": len(data)} for name, data in files.items()
        },
    }


def _encode(document: Any) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode(
        "utf-8", "backslashreplace"
    )


def bundle_files(findings: Findings) -> dict[str, bytes]:
    """Every file of a bundle, by name, in the order they are written."""
    files = {
        HAR_NAME: _encode(har_document(findings)),
        FINDINGS_NAME: to_json(findings).encode("utf-8", "backslashreplace"),
    }
    files[MANIFEST_NAME] = _encode(manifest(findings, files))
    sums = "".join(f"{sha256(data)}  {name}\n" for name, data in files.items())
    files[SUMS_NAME] = sums.encode("ascii")
    return files


def _zip_time(stamp: str) -> tuple[int, int, int, int, int, int]:
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        moment = datetime(1980, 1, 1)
    return (max(moment.year, 1980), moment.month, moment.day, moment.hour, moment.minute, 0)


def write_bundle(findings: Findings, path: Path, databases: Iterable[Path] = ()) -> str:
    """Write the bundle (mode 0600, entries 0600) and return the manifest's SHA-256.

    The zip is streamed into a temporary file that replaces ``path`` only when
    complete, so a failed export leaves an earlier bundle intact.
    """
    files = bundle_files(findings)
    when = _zip_time(findings.generated_at)
    with private_output(path, databases) as handle, zipfile.ZipFile(handle, "w") as bundle:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=when)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100600 & 0xFFFF) << 16
            bundle.writestr(info, data)
    return sha256(files[MANIFEST_NAME])


@dataclass
class Verification:
    """The outcome of :func:`verify_bundle`."""

    problems: list[str] = field(default_factory=list)
    manifest_sha256: str = ""
    files: int = 0
    refused: str = ""
    """Set when the bundle could not be checked at all (unreadable, or past the limits)."""

    def refuse(self, reason: str) -> None:
        """Record why the bundle was not checked; it is also its only problem."""
        self.refused = reason
        self.problems.append(reason)

    @property
    def ok(self) -> bool:
        """True when every file matches the manifest and nothing else is in the bundle."""
        return not self.problems


class BundleTooLarge(ValueError):
    """A bundle holds more files or more uncompressed bytes than verification reads."""


class _Reader:
    """Streams bundle members through SHA-256, each once, within the size limits."""

    def __init__(self, bundle: zipfile.ZipFile) -> None:
        self.bundle = bundle
        self.names = set(bundle.namelist())
        self.read_bytes = 0
        self.digests: dict[str, tuple[str, int]] = {}

    def _chunks(self, name: str, limit: int) -> Iterator[bytes]:
        """The member's bytes, refusing once it or the whole bundle passes its limit."""
        size = 0
        with self.bundle.open(name) as member:
            for chunk in iter(lambda: member.read(1 << 20), b""):
                size += len(chunk)
                self.read_bytes += len(chunk)
                if size > limit or self.read_bytes > MAX_TOTAL_BYTES:
                    raise BundleTooLarge(
                        f"{name} is larger than phitrace verifies "
                        f"({min(limit, MAX_TOTAL_BYTES)} bytes) — not a phitrace bundle?"
                    )
                yield chunk

    def digest(self, name: str) -> tuple[str, int]:
        """SHA-256 and size of one member, streamed, computed once."""
        if name not in self.digests:
            digest, size = hashlib.sha256(), 0
            for chunk in self._chunks(name, MAX_TOTAL_BYTES):
                digest.update(chunk)
                size += len(chunk)
            self.digests[name] = (digest.hexdigest(), size)
        return self.digests[name]

    def read_index(self, name: str) -> bytes:
        """A small member read whole (the manifest or the sums), within its own cap."""
        return b"".join(self._chunks(name, MAX_INDEX_BYTES))


def _check_size(bundle: zipfile.ZipFile) -> None:
    """Refuse a bundle by its directory before reading any member."""
    members = bundle.infolist()
    if len(members) > MAX_MEMBERS:
        raise BundleTooLarge(f"{len(members)} files, more than the {MAX_MEMBERS} phitrace verifies")
    declared = sum(info.file_size for info in members)
    if declared > MAX_TOTAL_BYTES:
        raise BundleTooLarge(
            f"{declared} bytes uncompressed, more than the {MAX_TOTAL_BYTES} phitrace verifies"
        )


def _check_files(reader: _Reader, listed: dict[str, Any], result: Verification) -> None:
    for name, expected in sorted(listed.items()):
        if name not in reader.names:
            result.problems.append(f"{name}: listed in the manifest but missing")
            continue
        digest, size = reader.digest(name)
        result.files += 1
        if not isinstance(expected, dict) or (digest, size) != (
            expected.get("sha256"),
            expected.get("bytes"),
        ):
            result.problems.append(f"{name}: content differs from the manifest")
    for name in sorted(reader.names - set(listed) - {MANIFEST_NAME, SUMS_NAME}):
        result.problems.append(f"{name}: in the bundle but not in the manifest")


def _check_sums(reader: _Reader, result: Verification) -> None:
    try:
        lines = reader.read_index(SUMS_NAME).decode("ascii").splitlines()
    except (KeyError, UnicodeDecodeError):
        result.problems.append(f"{SUMS_NAME}: missing or unreadable")
        return
    for line in lines:
        digest, _, name = line.partition("  ")
        if name not in reader.names or reader.digest(name)[0] != digest:
            result.problems.append(f"{SUMS_NAME}: {name or line!r} does not match")


def verify_bundle(path: Path, expected_manifest: str | None = None) -> Verification:
    """Check a bundle's files against its manifest (and the manifest against a digest)."""
    result = Verification()
    try:
        with zipfile.ZipFile(path) as bundle:
            _check_size(bundle)
            reader = _Reader(bundle)
            data = reader.read_index(MANIFEST_NAME)
            result.manifest_sha256 = sha256(data)
            document = json.loads(data)
            if not isinstance(document, dict) or document.get("format") != FORMAT:
                result.problems.append(f"{MANIFEST_NAME}: not a phitrace evidence manifest")
                return result
            listed = document.get("files")
            _check_files(reader, listed if isinstance(listed, dict) else {}, result)
            _check_sums(reader, result)
    except BundleTooLarge as exc:
        result.refuse(f"refusing to verify {path}: {exc}")
        return result
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, KeyError, ValueError) as exc:
        result.refuse(f"cannot read {path} as an evidence bundle: {exc}")
        return result
    if expected_manifest and expected_manifest.lower() != result.manifest_sha256:
        result.problems.append(
            f"{MANIFEST_NAME}: sha256 {result.manifest_sha256} is not the expected one"
        )
    return result
