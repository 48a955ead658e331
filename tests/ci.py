"""What the suite does differently in CI (``CI=true``): missing data fails, fuzzing runs in full.

Locally a missing shared corpus skips its tests with the reason and the fuzz targets run a
tenth of their examples, to keep the inner loop short; in CI neither may shrink silently.
"""

from __future__ import annotations

import os

CI_FUZZ_EXAMPLES = 10_000
"""Hypothesis examples per fuzz target and per decoder in CI."""
LOCAL_FUZZ_EXAMPLES = 1_000
"""The same outside CI, unless ``PHITRACE_FUZZ_EXAMPLES`` says otherwise."""


def in_ci() -> bool:
    """True when ``CI`` is set to true, 1 or yes, as CI services and ``.ci/run`` do."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def fuzz_examples() -> int:
    """``PHITRACE_FUZZ_EXAMPLES`` if set, else the CI budget in CI and less elsewhere."""
    value = os.environ.get("PHITRACE_FUZZ_EXAMPLES", "").strip()
    if value:
        return int(value)
    return CI_FUZZ_EXAMPLES if in_ci() else LOCAL_FUZZ_EXAMPLES
