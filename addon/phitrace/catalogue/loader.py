"""Read signature YAML: the bundled catalogue, extra files and directories, into frozen records.

Every document is validated against ``signatures/schema.json`` (see
:mod:`phitrace.catalogue.schema`) before its record is built, so a file the
loader accepts passes the linter's schema check, and the loader refuses a
broken file with the linter's ``file:line: message``.  Loading stops at the
first problem, so that the proxy refuses a broken catalogue quickly; the
linter reports them all.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from phitrace.catalogue import schema
from phitrace.catalogue.matcher import Catalogue
from phitrace.catalogue.model import (
    Endpoint,
    FieldRule,
    Problem,
    Signature,
    SignatureError,
    compile_glob,
)
from phitrace.model import SinkholeReply
from phitrace.resources import YAML_LOADER

log = logging.getLogger(__name__)


def read_document(path: Path) -> tuple[Any, str]:
    """The one signature document in ``path``, and the file's text (for error lines).

    Raises :class:`SignatureError` for an unreadable file, invalid YAML, or
    a file that does not hold exactly one document.
    """
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        docs = [d for d in yaml.load_all(text, Loader=YAML_LOADER) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SignatureError(
            Problem(file, mark.line + 1 if mark else 1, f"not valid YAML: {problem}")
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SignatureError(Problem(file, 1, f"cannot read: {exc}")) from exc
    if len(docs) != 1:
        message = f"a file holds one signature; found {len(docs)} documents"
        raise SignatureError(Problem(file, 1, message))
    return docs[0], text


def compose(text: str) -> yaml.Node | None:
    """The YAML node tree of a one-document text, which knows each value's line."""
    return next(iter(yaml.compose_all(text, Loader=YAML_LOADER)), None)


def parse_signature(data: Any, file: str, *, text: str | None = None) -> Signature:
    """Validate one signature document against the schema and build its record.

    Raises :class:`SignatureError` with the first problem in line order;
    ``text`` is the YAML it came from, read again only to find that line.
    """
    if not schema.is_valid(data):
        root = compose(text) if text is not None else None
        raise SignatureError(schema.problems(file, data, root)[0])
    return build_signature(data, file)


def build_signature(data: Mapping[str, Any], file: str) -> Signature:
    """The record of a document that already passed the schema."""
    return Signature(
        id=data["id"],
        name=data["name"],
        company=data["company"],
        category=data["category"],
        endpoints=tuple(_endpoint(e) for e in data["endpoints"]),
        fields=_fields(data.get("fields", {})),
        tests=tuple(data.get("tests", ())),
        file=file,
    )


def _strings(value: str | list[str]) -> tuple[str, ...]:
    """A schema "string or list of strings" as a tuple."""
    return (value,) if isinstance(value, str) else tuple(value)


def _value_globs(value: Mapping[Any, str | int]) -> tuple[tuple[str, Any], ...]:
    return tuple((str(name), compile_glob(str(glob))) for name, glob in value.items())


def _endpoint(node: Mapping[str, Any]) -> Endpoint:
    path_globs = _strings(node.get("paths", ()))
    return Endpoint(
        hosts=_strings(node.get("hosts", ())),
        paths=tuple(compile_glob(p) for p in path_globs),
        methods=frozenset(_strings(node.get("methods", ()))),
        params=_value_globs(node.get("params", {})),
        role=node.get("role", "collect"),
        body=_value_globs(node.get("body", {})),
        path_globs=path_globs,
        sinkhole=_sinkhole(node["sinkhole"]) if "sinkhole" in node else None,
    )


def _sinkhole(node: Mapping[str, Any]) -> SinkholeReply:
    """An endpoint's declared sinkhole answer (valid by the schema) as status, type and bytes.

    JSON is encoded compactly; a content type left out follows the body given
    (JSON, text or bytes), and a 204 has neither.
    """
    if "json" in node:
        body, kind = json.dumps(node["json"], separators=(",", ":")).encode(), "application/json"
    elif "body_base64" in node:
        body, kind = base64.b64decode(node["body_base64"]), "application/octet-stream"
    elif "body" in node:
        body, kind = str(node["body"]).encode(), "text/plain; charset=utf-8"
    else:
        body, kind = b"", ""
    status = int(node.get("status", 200))
    return SinkholeReply(status, "" if status == 204 else node.get("content_type", kind), body)


def _fields(node: Mapping[str, str | list[str]]) -> tuple[FieldRule, ...]:
    return tuple(
        FieldRule(role, compile_glob(key, sep=".") if "*" in key else None, key)
        for role, keys in node.items()
        for key in _strings(keys)
    )


def load_file(path: Path) -> list[Signature]:
    """Parse a YAML file holding one signature document."""
    data, text = read_document(path)
    return [parse_signature(data, str(path), text=text)]


def bundled_dir() -> Path:
    """The directory of tracker signatures shipped with phitrace."""
    from phitrace.resources import data_dir

    return data_dir("signatures") / "trackers"


def signature_files(paths: Iterable[Path] = (), *, bundled: bool = True) -> list[Path]:
    """The YAML files of the bundled catalogue (optionally) plus extra files or directories."""
    sources = [bundled_dir(), *paths] if bundled else list(paths)
    files: list[Path] = []
    for source in sources:
        if not source.exists():
            raise SignatureError(Problem(str(source), 1, "no such signature file or directory"))
        files.extend(sorted(source.glob("*.yaml")) if source.is_dir() else [source])
    return files


def load_catalogue(paths: Iterable[Path] = ()) -> Catalogue:
    """Load the bundled signatures plus any extra files or directories given."""
    signatures = bundled_signatures()
    for file in signature_files(paths, bundled=False):
        signatures.extend(load_file(file))
    return Catalogue(signatures)


CACHE_FORMAT = 1
"""Bumped whenever the cached documents' layout changes."""


def _cache_slot(files: list[Path]) -> tuple[Path, str] | None:
    """The cache file and key of the bundled documents; None when a file cannot be read."""
    from phitrace import cache
    from phitrace.resources import data_dir

    code = Path(schema.__file__)
    checked_by = [code, code.with_name("checker.py"), Path(__file__)]
    checked_by.append(data_dir("signatures") / "schema.json")
    try:
        key = cache.make_key([CACHE_FORMAT], [*checked_by, *files])
    except OSError:  # reading the file itself then says what is wrong with it
        return None
    return cache.cache_path("signatures", str(bundled_dir().resolve())), key


def bundled_signatures() -> list[Signature]:
    """The bundled signatures, their validated documents kept between starts.

    Parsing and validating the bundled YAML is most of a catalogue load, and
    the proxy loads it twice per start, so the documents that passed are kept
    with :mod:`phitrace.cache`, keyed by every file's content and by the code
    and schema that validated them.  Only the bundled files are kept: extra
    files are the user's, read afresh every time.
    """
    from phitrace import cache

    files = signature_files()
    slot = _cache_slot(files)
    documents = cache.recall(*slot) if slot else None
    if isinstance(documents, list) and len(documents) == len(files):
        try:
            return [build_signature(d, str(f)) for d, f in zip(documents, files, strict=True)]
        except (KeyError, TypeError, ValueError, AttributeError):  # fail open: parse afresh
            log.info("phitrace: cached signatures unusable; parsing them", exc_info=True)
    documents, signatures = [], []
    for file in files:
        data, text = read_document(file)
        signatures.append(parse_signature(data, str(file), text=text))
        documents.append(data)
    if slot:
        cache.remember(*slot, documents)
    return signatures
