"""Bounded JSON streaming: deeply nested captures cost a counter, not memory."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import ijson
import pytest

from phitrace.capture.json_stream import MAX_DEPTH, TooDeep, build, one_line, skip

LEVELS = 200_000
MEMORY_LIMIT_MB = 1024
PEAK_LIMIT_MB = 300

ENTRY = {
    "request": {
        "method": "GET",
        "url": "https://www.google-analytics.com/g/collect?v=2&tid=G-1&cid=555.777",
        "headers": [],
    }
}

# Scans one file under an address-space limit and prints the exit code and peak RSS.
CHILD = """
import resource, sys
limit = int(sys.argv[1]) << 20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from click.testing import CliRunner
from phitrace.cli.main import main
result = CliRunner().invoke(main, ["scan", sys.argv[2], "--db", sys.argv[3]])
print(result.exit_code, repr(result.exception))
print(result.output)
# VmHWM, not ru_maxrss: the latter can start from the parent's size at fork.
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print("peak-rss-mb", int(hwm.split()[1]) // 1024)
"""


def stream(text: str) -> object:
    return iter(ijson.basic_parse(io.BytesIO(text.encode())))


def test_a_value_is_built_as_json_would_load_it() -> None:
    text = json.dumps({"a": [1, 2.5, {"b": None, "c": [True, "x"]}], "d": {}, "e": []})
    events = stream(text)
    assert build(events, next(events)) == json.loads(text)


def test_a_too_deep_value_is_read_past_so_the_next_one_can_be_built() -> None:
    events = stream("[" + "[" * 500 + "]" * 500 + ', {"ok": 1}]')
    assert next(events)[0] == "start_array"
    with pytest.raises(TooDeep, match=f"nested more than {MAX_DEPTH} levels deep"):
        build(events, next(events))
    assert build(events, next(events)) == {"ok": 1}


def test_values_up_to_the_limit_are_built() -> None:
    events = stream("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    value = build(events, next(events))
    for _ in range(MAX_DEPTH - 1):
        (value,) = value
    assert value == []


def test_skipping_reads_past_any_depth() -> None:
    events = stream("[" + '{"a": [' * 50_000 + "1" + "]}" * 50_000 + ", 7]")
    next(events)
    skip(events, next(events))
    assert next(events) == ("number", 7)


def test_parser_pointers_become_one_line() -> None:
    with pytest.raises(ijson.JSONError) as caught:
        list(stream('{"log": nope}'))
    line = one_line(caught.value)
    assert line == """lexical error: invalid string in json text near '{"log": nope}'"""


def scan_in_a_bounded_child(path: Path, db: Path) -> tuple[str, int]:
    """Scan in a child limited to MEMORY_LIMIT_MB of address space: (output, peak RSS in MB)."""
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(MEMORY_LIMIT_MB), str(path), str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    *output, peak = child.stdout.strip().splitlines()
    return "\n".join(output), int(peak.split()[-1])


@pytest.mark.slow
def test_a_deeply_nested_entry_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    deep = "[" * LEVELS + "]" * LEVELS
    har = tmp_path / "deep.har"
    har.write_text('{"log": {"entries": [' + deep + ", " + json.dumps(ENTRY) + "]}}")
    output, peak = scan_in_a_bounded_child(har, tmp_path / "p.db")
    print(f"{LEVELS:,} nested arrays ({har.stat().st_size:,} bytes): peak RSS {peak} MB")
    assert output.startswith("0 None"), output
    assert f"entry 0 skipped: nested more than {MAX_DEPTH} levels deep" in output
    assert "1 requests, 1 tracker flows" in output
    assert peak < PEAK_LIMIT_MB


@pytest.mark.slow
@pytest.mark.parametrize(
    "template,expected",
    [
        ("{deep}", "not a HAR capture (its top level is not a JSON object)"),
        ('{{"log": {{"creator": {deep}, "entries": [{entry}]}}}}', "1 requests, 1 tracker flows"),
        ('{{"log": {{"pages": [{deep}], "entries": [{entry}]}}}}', "1 requests, 1 tracker flows"),
    ],
    ids=["the whole file", "outside the entries", "a page"],
)
def test_deep_nesting_elsewhere_costs_no_memory(
    tmp_path: Path, template: str, expected: str
) -> None:
    deep = "[" * LEVELS + "]" * LEVELS
    har = tmp_path / "deep.har"
    har.write_text(template.format(deep=deep, entry=json.dumps(ENTRY)))
    output, peak = scan_in_a_bounded_child(har, tmp_path / "p.db")
    print(f"{LEVELS:,} nested arrays: peak RSS {peak} MB")
    assert expected in output and "Traceback" not in output
    assert peak < PEAK_LIMIT_MB
