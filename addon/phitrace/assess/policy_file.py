"""Read and check a policy file: every problem as ``file:line: message``.

The schema is ``policies/schema.json`` (shipped with the package); on top of
it come the checks a schema cannot make: a vendor the catalogue does not know
(a typo would silently accept nothing), an allow entry for a covered vendor
(it can never apply), and page globs that are not URLs or have too many
wildcards.  :func:`load_policy` is what ``--policy`` and the
``phitrace_policy`` option call: it refuses a file with any problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from phitrace.assess.policy import Policy, PolicyError, parse_policy
from phitrace.catalogue import schema
from phitrace.catalogue.loader import YAML_LOADER, compose
from phitrace.catalogue.model import MANY_WILDCARDS, Problem, wildcards
from phitrace.resources import data_dir

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

NAMED_ELSEWHERE = ("third-party:", "list:")
"""Vendor ids that no signature defines: unlisted third parties and imported lists."""
PAGE_STARTS = ("http://", "https://", "*")


@lru_cache(maxsize=1)
def policy_schema() -> dict[str, Any]:
    """The JSON Schema of a policy file, as shipped in ``policies/schema.json``."""
    return dict(json.loads((data_dir("policies") / "schema.json").read_text("utf-8")))


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema.inline_refs(policy_schema()))


def read_policy_document(path: Path) -> tuple[Any, yaml.Node | None]:
    """The document of a policy file and its node tree; an empty file is an empty policy."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        return yaml.load(text, Loader=YAML_LOADER), compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark else 1
        raise PolicyError(Problem(file, line, f"not valid YAML: {problem}")) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(Problem(file, 1, f"cannot read: {exc}")) from exc


def _vendor_problems(
    file: str, data: dict[str, Any], root: yaml.Node | None, known: frozenset[str]
) -> Iterator[Problem]:
    covered = data.get("covered_vendors") or []
    for index, vendor in enumerate(covered):
        if vendor not in known and not vendor.startswith(NAMED_ELSEWHERE):
            line = schema.value_line(root, ["covered_vendors", index])
            yield Problem(file, line, f"covered_vendors[{index}]: unknown vendor {vendor!r}")
    for index, entry in enumerate(data.get("allow") or []):
        vendor = entry["vendor"]
        line = schema.key_line(root, ["allow", index], "vendor")
        if vendor not in known and not vendor.startswith(NAMED_ELSEWHERE):
            yield Problem(file, line, f"allow[{index}].vendor: unknown vendor {vendor!r}")
        elif vendor in covered:
            message = f"allow[{index}] can never apply: {vendor!r} is in covered_vendors"
            yield Problem(file, line, message)


def _page_problems(file: str, data: dict[str, Any], root: yaml.Node | None) -> Iterator[Problem]:
    for index, entry in enumerate(data.get("allow") or []):
        for number, page in enumerate(entry.get("pages") or []):
            where = f"allow[{index}].pages[{number}]"
            line = schema.value_line(root, ["allow", index, "pages", number])
            if not page.startswith(PAGE_STARTS):
                yield Problem(file, line, f"{where} {page!r} must be a URL glob (https://…)")
            elif wildcards(page) > MANY_WILDCARDS:
                message = f"{where} {page!r} has more than {MANY_WILDCARDS} wildcards"
                yield Problem(file, line, message)


def policy_problems(path: Path, known_vendors: frozenset[str] | None) -> list[Problem]:
    """Every problem of one policy file, in line order.

    ``known_vendors`` are the signature ids a vendor may name; None skips that check.
    """
    file = str(path)
    try:
        data, root = read_policy_document(path)
    except PolicyError as exc:
        return list(exc.problems)
    data = {} if data is None else data
    found = schema.problems(file, data, root, _validator())
    if found:
        return found
    found = [*_page_problems(file, data, root)]
    found += _vendor_problems(file, data, root, known_vendors or frozenset())
    if known_vendors is None:
        found = [p for p in found if "unknown vendor" not in p.message]
    return sorted(found)


def load_policy(path: Path, known_vendors: frozenset[str] | None = None) -> Policy:
    """Read, check and parse a policy file; :class:`PolicyError` holds every problem.

    The proxy and ``scan`` pass their catalogue's ids, so that a misspelt vendor
    is refused rather than silently accepting nothing.
    """
    problems = policy_problems(path, known_vendors)
    if problems:
        raise PolicyError(*problems)
    data, _ = read_policy_document(path)
    return parse_policy(data, str(path))
