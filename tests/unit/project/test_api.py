"""The package itself: ``import phitrace`` stays cheap (the API is documented, not imported)."""

from __future__ import annotations

import subprocess
import sys


def test_import_phitrace_loads_nothing_else() -> None:
    script = (
        "import sys; import phitrace; "
        "print(sorted(m for m in sys.modules if m.startswith(('phitrace', 'mitmproxy', 'yaml'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "['phitrace']"
