"""Compile a JSON Schema into a fast yes-or-no check, for validating signatures at every load.

jsonschema explains every problem, but it takes longer to import (about
0.2 s of CPU) than the bundled catalogue takes to parse, and as long again to
validate it, which every proxy start would pay.  This compiler turns the
keywords the signature schema uses into nested closures that only answer
"valid or not"; when the answer is no, :mod:`phitrace.catalogue.schema`
asks jsonschema why.  A keyword it does not know makes compilation fail, so
that a schema change can never be silently ignored, and a test checks on
mutated documents that its verdicts equal jsonschema's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "description", "errorMessage", "examples"}
)
"""Keywords that say something about a schema without constraining values."""

_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    # As in JSON Schema (and jsonschema), 2.0 is an integer and True is not.
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
}


class _Compiler:
    """Builds one check per subschema; ``$ref``s to local definitions bind late (recursion)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.defs: Mapping[str, Any] = document.get("$defs", {})
        self.compiled: dict[str, Check] = {}

    def ref(self, ref: str) -> Check:
        name = ref.removeprefix("#/$defs/")
        if name == ref or name not in self.defs:
            raise ValueError(f"only local '#/$defs/...' references are supported, not {ref!r}")
        if name not in self.compiled:
            self.compiled[name] = _TYPES["null"]  # stands in while a recursive definition builds
            self.compiled[name] = self.build(self.defs[name])
        compiled = self.compiled
        return lambda v: compiled[name](v)

    def build(self, node: Any) -> Check:
        if node is True or node == {}:
            return lambda v: True
        if node is False:
            return lambda v: False
        if not isinstance(node, Mapping):
            raise ValueError(f"a schema must be an object or a boolean, not {node!r}")
        unknown = set(node) - _KNOWN - ANNOTATIONS
        if unknown:
            raise ValueError(f"the signature checker does not support {', '.join(sorted(unknown))}")
        checks = [
            build(self, node) for keywords, build in _KEYWORDS if not keywords.isdisjoint(node)
        ]
        if not checks:
            return lambda v: True
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(check(v) for check in checks)


def _type(compiler: _Compiler, node: Mapping[str, Any]) -> Check:
    names = node["type"] if isinstance(node["type"], list) else [node["type"]]
    tests = [_TYPES[name] for name in names]
    if len(tests) == 1:
        return tests[0]
    return lambda v: any(test(v) for test in tests)


def _enum(compiler: _Compiler, node: Mapping[str, Any]) -> Check:
    """Strings and integers (HTTP statuses); as in JSON Schema, 200.0 is 200 and True is not 1."""
    values = node["enum"]
    if not all(isinstance(v, str) or _TYPES["integer"](v) for v in values):
        raise ValueError("the signature checker supports enumerations of strings and integers only")
    allowed = frozenset(values)
    return lambda v: isinstance(v, (str, int, float)) and not isinstance(v, bool) and v in allowed


def _pattern(compiler: _Compiler, node: Mapping[str, Any]) -> Check:
    search = re.compile(node["pattern"]).search
    return lambda v: not isinstance(v, str) or search(v) is not None


def _min_length(compiler: _Compiler, node: Mapping[str, Any]) -> Check:
    least = node["minLength"]
    return lambda v: not isinstance(v, str) or len(v) >= least


def _array(compiler: _Compiler, node: Mapping[str, Any]) -> Check:
    least = node.get("minItems", 0)
    item = compiler.build(node.get("items", True))
    return lambda v: not isinstance(v, list) or (len(v) >= least and all(item(x) for x in v))


def _object(compiler: _Compiler, node: Mapping[str, Any]) -> Check:
    """``required``, ``properties``, ``additionalProperties``, ``propertyNames`` and
    ``minProperties`` in one pass over the mapping."""
    required = tuple(node.get("required", ()))
    properties = {k: compiler.build(s) for k, s in node.get("properties", {}).items()}
    extra = compiler.build(node.get("additionalProperties", True))
    name = compiler.build(node.get("propertyNames", True))
    least = node.get("minProperties", 0)

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        if len(v) < least or not all(k in v for k in required):
            return False
        for key, value in v.items():
            if not name(key) or not properties.get(key, extra)(value):
                return False
        return True

    return check


def _any_of(compiler: _Compiler, node: Mapping[str, Any]) -> Check:
    branches = [compiler.build(branch) for branch in node["anyOf"]]
    return lambda v: any(branch(v) for branch in branches)


def _ref(compiler: _Compiler, node: Mapping[str, Any]) -> Check:
    return compiler.ref(node["$ref"])


_KEYWORDS: tuple[tuple[frozenset[str], Callable[[_Compiler, Mapping[str, Any]], Check]], ...] = (
    (frozenset({"type"}), _type),
    (frozenset({"enum"}), _enum),
    (frozenset({"pattern"}), _pattern),
    (frozenset({"minLength"}), _min_length),
    (frozenset({"items", "minItems"}), _array),
    (
        frozenset(
            {"properties", "required", "additionalProperties", "propertyNames", "minProperties"}
        ),
        _object,
    ),
    (frozenset({"anyOf"}), _any_of),
    (frozenset({"$ref"}), _ref),
)
"""Groups of keywords, each compiled into one check."""

_KNOWN = frozenset().union(*(keywords for keywords, _ in _KEYWORDS))


def compile_check(document: Mapping[str, Any]) -> Check:
    """A function telling whether a value is valid against the schema ``document``.

    Raises :class:`ValueError` when the schema uses a keyword this compiler
    does not implement.
    """
    return _Compiler(document).build(document)
