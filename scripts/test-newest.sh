#!/usr/bin/env bash
# The unit, property and end-to-end tests under the newest CPython here (3.12 or newer) with
# mitmproxy 12 or newer, as the container image runs them; `make test` runs the oldest pair.
# The virtual environment is its own (NEWEST_VENV, default .venv-newest) and is made anew
# when the interpreter changes. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${NEWEST_VENV:-.venv-newest}

if ! python=$(bash scripts/newest-python.sh); then
    echo "test-newest: no CPython 3.12 or newer on PATH or in pyenv's versions" >&2
    exit 1
fi
version() { "$1" -c 'import sys; print(sys.version)'; }
if [ ! -x "$venv/bin/python" ] || [ "$(version "$venv/bin/python")" != "$(version "$python")" ]; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
fi
"$venv/bin/python" -m pip install -q -e ".[test]"
"$venv/bin/python" - <<'PY'
import platform
import sys

import mitmproxy.version

print(f"newest: Python {platform.python_version()}, mitmproxy {mitmproxy.version.VERSION}")
if int(mitmproxy.version.VERSION.split(".")[0]) < 12:
    sys.exit("test-newest: mitmproxy 12 or newer expected")
PY
exec "$venv/bin/pytest" -ra "$@" tests/unit tests/property tests/e2e
