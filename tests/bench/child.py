"""Run a command as a child process and measure its wall time and its own peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Measured:
    """A finished child: wall seconds, peak resident set (MB), exit code and output."""

    seconds: float
    peak_mb: float
    returncode: int
    output: str


def phitrace_command(*args: str) -> list[str]:
    """The phitrace CLI of this Python's environment."""
    return [sys.executable, "-m", "phitrace", *args]


def high_water_mb(pid: int) -> float:
    """The peak resident set of a running process (``VmHWM``), 0 once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(
    command: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 600.0
) -> Measured:
    """Run ``command``, polling its peak resident set until it exits.

    The kernel's ``ru_maxrss`` for a child is no use here: at ``exec`` it keeps
    the high-water mark of the memory the child was forked with, which is this
    (large) process's.  ``VmHWM`` belongs to the new program alone.  Raises
    :class:`subprocess.TimeoutExpired` (after killing it) past ``timeout``.
    """
    with tempfile.TemporaryFile() as out:
        started = time.monotonic()
        process = subprocess.Popen(
            list(command), stdout=out, stderr=subprocess.STDOUT, env=dict(env or os.environ)
        )
        peak = 0.0
        while process.poll() is None:
            peak = max(peak, high_water_mb(process.pid))
            if time.monotonic() - started > timeout:
                process.kill()
                process.wait()
                raise subprocess.TimeoutExpired(list(command), timeout)
            time.sleep(0.01)
        seconds = time.monotonic() - started
        out.seek(0)
        output = out.read().decode(errors="replace")
    return Measured(seconds, peak, process.returncode, output)
