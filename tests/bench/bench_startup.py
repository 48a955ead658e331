"""8. Start-up: ``phitrace scan`` of one request and the time to listen, against plain tools.

Each figure is a within-run ratio of medians, so a busy machine slows both
sides alike: ``phitrace scan`` of a one-request HAR against ``python -c
"import mitmproxy.http"`` (the least any mitmproxy-based tool pays), and
``phitrace proxy`` against plain ``mitmdump`` from process start until
127.0.0.1 accepts a connection.  The cache of derived tables is warmed by a
first, unmeasured start, and so is each side's bytecode (see :func:`child_env`);
the two sides of each ratio alternate run by run.
Everything listens on and connects to loopback only.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence

from tests.bench.child import phitrace_command
from tests.bench.figures import Figure, at_most, info
from tests.bench.harness import Context
from tests.ports import free_port
from tests.support.har import write_har
from tests.support.loopback import tool_path

TITLE = "8 start-up"
SCAN_RATIO = 2.5
LISTEN_RATIO = 2.0


def run_seconds(command: Sequence[str], env: Mapping[str, str]) -> float:
    """Wall seconds for a command to run to completion (it must succeed)."""
    started = time.perf_counter()
    done = subprocess.run(list(command), env=dict(env), capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[2:]} failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return seconds


def listen_seconds(command: Sequence[str], port: int, env: Mapping[str, str]) -> float:
    """Seconds from starting a proxy until 127.0.0.1:port accepts; the proxy is then stopped."""
    started = time.perf_counter()
    process = subprocess.Popen(
        list(command), env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        while time.perf_counter() - started < 120:
            if process.poll() is not None:
                error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"proxy exited before listening: {error[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return time.perf_counter() - started
            except OSError:
                time.sleep(0.005)
        raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def alternate(
    runs: int, first: Callable[[int], float], second: Callable[[int], float]
) -> tuple[float, float]:
    """Medians of ``runs`` timings of each, taken turn about so that load hits both alike."""
    a, b = [], []
    for run in range(runs):
        a.append(first(run))
        b.append(second(run))
    return statistics.median(a), statistics.median(b)


def scan_ratio(context: Context, env: Mapping[str, str], runs: int) -> list[Figure]:
    """``phitrace scan`` of one request against importing mitmproxy.http."""
    workdir = context.scratch("startup/scan")
    har = write_har(workdir / "one.har")

    def scan(run: int) -> float:
        return run_seconds(
            phitrace_command("scan", str(har), "--db", str(workdir / f"{run}.db")), env
        )

    def plain(_run: int) -> float:
        return run_seconds([sys.executable, "-c", "import mitmproxy.http"], env)

    scan(-1)  # warm the cache of derived tables (and the page and bytecode caches)
    plain(-1)
    ours, theirs = alternate(runs, scan, plain)
    return [
        info(TITLE, "phitrace scan, one-request HAR (median)", ours, "s", note=f"{runs} runs"),
        info(TITLE, 'python -c "import mitmproxy.http" (median)', theirs, "s"),
        at_most(TITLE, "scan ÷ import mitmproxy.http", ours / theirs, SCAN_RATIO, "×"),
    ]


def listen_ratio(context: Context, env: Mapping[str, str], runs: int) -> list[Figure]:
    """``phitrace proxy`` against plain mitmdump, from start until it accepts a connection."""
    workdir = context.scratch("startup/proxy")
    confdir = context.scratch("startup/proxy/confdir")

    def ours(run: int) -> float:
        port = free_port()
        db = workdir / f"{run}.db"
        command = phitrace_command(
            "proxy", "--listen-port", str(port), "--db", str(db), "--confdir", str(confdir)
        )
        return listen_seconds(command, port, env)

    def plain(_run: int) -> float:
        port = free_port()
        command = [tool_path(), "-q", "--listen-host", "127.0.0.1", "--listen-port", str(port)]
        return listen_seconds([*command, "--set", f"confdir={confdir}"], port, env)

    ours(-1)  # warm the cache and create mitmproxy's CA once, for both sides
    plain(-1)  # and fill mitmdump's bytecode cache as phitrace's
    phitrace, mitmdump = alternate(runs, ours, plain)
    return [
        info(TITLE, "phitrace proxy, time to listen (median)", phitrace, "s", note=f"{runs} runs"),
        info(TITLE, "plain mitmdump, time to listen (median)", mitmdump, "s"),
        at_most(TITLE, "proxy ÷ mitmdump time to listen", phitrace / mitmdump, LISTEN_RATIO, "×"),
    ]


def child_env(context: Context) -> dict[str, str]:
    """The environment of every measured process: a scratch cache, and bytecode kept.

    An installed wheel ships compiled bytecode, and mitmproxy's does; a source
    checkout run with ``PYTHONDONTWRITEBYTECODE`` would compile every phitrace
    module at every start.  Both sides get one private bytecode cache
    (``PYTHONPYCACHEPREFIX``), filled by their unmeasured first runs.
    """
    env = {**os.environ, "PHITRACE_CACHE_DIR": str(context.scratch("startup/cache"))}
    env["PHITRACE_LISTS"] = str(context.scratch("startup/no-lists"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(context.scratch("startup/bytecode"))
    return env


def run(context: Context) -> list[Figure]:
    env = child_env(context)
    runs = context.size(9, 3)
    return scan_ratio(context, env, runs) + listen_ratio(context, env, runs)
