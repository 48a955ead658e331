"""Medical codes in text: ICD-10-CM diagnoses and NDC drug codes, strictly.

Loose code patterns are dangerous on the web: ``C10`` is a charger model and
``B20`` an airport gate, yet both are valid ICD-10-CM categories.  So a
diagnosis code is only reported when it is written with its dot (``E11.9``,
``F32.A``), or when it follows ``icd``/``icd-10``/``dx``/``diagnosis`` in the
text or sits in a field named that way, and always only when the CMS code
list (from ``simple-icd-10-cm``) knows it.  An NDC is only reported next to
``ndc`` (in the text or the field name).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from phitrace.detect.dictionaries import ICD10CM, icd10cm_codes, source_label

_DOTTED = re.compile(r"(?<![A-Za-z0-9.])([A-Z][0-9][0-9AB])\.([0-9A-Z]{1,4})(?![A-Za-z0-9])")
_CODE = r"[A-Za-z][0-9][0-9ABab](?:\.?[0-9A-Za-z]{1,4})?"
_ICD_CONTEXT = re.compile(
    r"(?<![a-z0-9])(?:icd[\s_-]*(?:10)?(?:[\s_-]*cm)?|dx|diag(?:nosis)?(?:[\s_-]*codes?)?)"
    rf"\s*[:=#]?\s*((?:{_CODE})(?:\s*[,;|/]\s*{_CODE})*)(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_CODE_IN_LIST = re.compile(_CODE)
ICD_KEYS = frozenset(
    {
        "icd",
        "icd10",
        "icd10cm",
        "icdcode",
        "icdcodes",
        "dx",
        "dxcode",
        "dxcodes",
        "diag",
        "diagcode",
        "diagnosis",
        "diagnoses",
        "diagnosiscode",
        "diagnosiscodes",
    }
)
"""Field names (lower case, letters and digits only) whose values are diagnosis codes."""
_NDC_SHAPE = r"\d{4}-\d{4}-\d{2}|\d{5}-\d{3}-\d{2}|\d{5}-\d{4}-\d{1,2}|\d{10,11}"
_NDC_CONTEXT = re.compile(
    rf"(?<![a-z0-9])ndc(?:[\s_-]*(?:code|number|no))?\s*[:=#]?\s*({_NDC_SHAPE})(?![0-9-])",
    re.IGNORECASE,
)
_NDC_VALUE = re.compile(rf"^\s*({_NDC_SHAPE})\s*$")
_PREFILTER = re.compile(r"[A-Z][0-9][0-9AB]\.|icd|dx|diag|ndc", re.IGNORECASE)


@dataclass(frozen=True)
class Code:
    """A medical code found in text."""

    system: str
    code: str
    category: str
    source: str

    @property
    def label(self) -> str:
        """How findings name the code, e.g. ``ICD-10-CM E11.9`` or ``NDC 0093-7214-01``."""
        return f"{self.system} {self.code}"


def _icd(candidate: str) -> Code | None:
    bare = candidate.replace(".", "").upper()
    if len(bare) < 3 or bare not in icd10cm_codes():
        return None
    dotted = bare if len(bare) == 3 else f"{bare[:3]}.{bare[3:]}"
    return Code("ICD-10-CM", dotted, "condition", source_label(ICD10CM))


def might_hold_codes(text: str, leaf: str = "") -> bool:
    """A cheap test: could ``text`` (a field named ``leaf``) hold a code at all?"""
    if leaf in ICD_KEYS or "ndc" in leaf:
        return True
    if "." in text and _DOTTED.search(text):
        return True
    lowered = text[:4096].lower()
    return "icd" in lowered or "dx" in lowered or "diag" in lowered or "ndc" in lowered


def find_codes(text: str, leaf: str = "") -> Iterator[Code]:
    """Yield the ICD-10-CM and NDC codes in ``text``.

    ``leaf`` is the name of the field holding it, lower case with letters and
    digits only (``diagnosis_code`` → ``diagnosiscode``).
    """
    keyed_icd = leaf in ICD_KEYS
    keyed_ndc = "ndc" in leaf
    if not (keyed_icd or keyed_ndc or _PREFILTER.search(text)):
        return
    seen: set[str] = set()
    candidates: list[str] = [f"{m.group(1)}.{m.group(2)}" for m in _DOTTED.finditer(text)]
    for match in _ICD_CONTEXT.finditer(text):
        candidates.extend(_CODE_IN_LIST.findall(match.group(1)))
    if keyed_icd and len(text) <= 200:
        candidates.extend(m.group(0) for m in re.finditer(rf"(?<![A-Za-z0-9]){_CODE}", text))
    for candidate in candidates:
        code = _icd(candidate)
        if code is not None and code.code not in seen:
            seen.add(code.code)
            yield code
    ndcs = [m.group(1) for m in _NDC_CONTEXT.finditer(text)]
    if keyed_ndc:
        value = _NDC_VALUE.match(text)
        if value:
            ndcs.append(value.group(1))
    for ndc in ndcs:
        if ndc not in seen:
            seen.add(ndc)
            yield Code("NDC", ndc, "medication", "FDA National Drug Code shape")
