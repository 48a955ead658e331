#!/usr/bin/env bash
# Print the path of the newest CPython on this machine that runs, from 3.12 on (mitmproxy 12
# needs it): python3.N on PATH, and pyenv's versions when pyenv is installed. Exit 1 if none.
# pyenv's shims name every version but run only the selected ones, so each candidate is run.
set -euo pipefail

candidates() {
    local dir root
    local -a dirs
    IFS=: read -r -a dirs <<<"$PATH"
    for dir in "${dirs[@]}"; do
        printf '%s\n' "$dir"/python3.[0-9]*
    done
    if command -v pyenv >/dev/null 2>&1 && root=$(pyenv root 2>/dev/null); then
        printf '%s\n' "$root"/versions/*/bin/python3.[0-9]*
    fi
}

candidates | grep -E '/python3\.[0-9]+$' | sort -u | while read -r python; do
    [ -x "$python" ] || continue
    "$python" -c 'import sys, venv
assert sys.implementation.name == "cpython" and sys.version_info >= (3, 12)
print("%d.%d.%d" % sys.version_info[:3], sys.executable)' 2>/dev/null || true
done | sort -V | tail -n 1 | awk '{print $2} END {exit NR == 0}'
