"""The container's entry point, health check and compose settings (no Docker engine needed).

The stack itself is built and driven end to end by scripts/container-test.sh
(`make test-container`); these tests pin the parts that need no engine.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
ENTRYPOINT = REPO / "docker" / "entrypoint.sh"

Runner = Callable[..., tuple[int, list[str], str]]
"""run(*argv, **environment) -> (exit status, arguments phitrace got, stdout)"""

FAKE_PHITRACE = """#!/bin/sh
# Stands in for the phitrace command: records its arguments, fakes the gate.
if [ "$1" = check ]; then
    [ "$2" = --help ] && exit 0
    printf '%s\\n' "$@" > "$FAKE_ARGS"
    echo "phitrace check: fake verdict"
    exit "${FAKE_CHECK_STATUS:-0}"
fi
printf '%s\\n' "$@" > "$FAKE_ARGS"
printf '%s' "${PGPASSWORD-(unset)}" > "$FAKE_ARGS.pgpassword"
[ "$1" = report ] && echo "wrote report"
exit 0
"""


@pytest.fixture
def run_entrypoint(tmp_path: Path) -> Runner:
    """Run docker/entrypoint.sh with a fake phitrace; return (status, args, stdout)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "phitrace"
    fake.write_text(FAKE_PHITRACE)
    fake.chmod(0o755)
    args_file = tmp_path / "args"

    def run(*argv: str, **env: str) -> tuple[int, list[str], str]:
        environment = {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "FAKE_ARGS": str(args_file),
            "PHITRACE_DATA": str(tmp_path),
            **env,
        }
        done = subprocess.run(
            ["sh", str(ENTRYPOINT), *argv],
            env=environment,
            capture_output=True,
            text=True,
            timeout=30,
        )
        args = args_file.read_text().splitlines() if args_file.exists() else []
        return done.returncode, args, done.stdout

    return run


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_proxy_options_come_from_the_environment(run_entrypoint: Runner) -> None:
    status, args, _ = run_entrypoint(
        "proxy",
        PHITRACE_LABEL="release 4.2",
        PHITRACE_SINKHOLE="true",
        PHITRACE_CANARIES="/config/canaries.yaml",
        PHITRACE_MODE="block",
        PHITRACE_SCOPE="example.org",
    )
    assert status == 0
    assert args[0] == "proxy"
    assert _option(args, "--label") == "release 4.2"
    assert "--sinkhole" in args
    assert _option(args, "--canaries") == "/config/canaries.yaml"
    assert _option(args, "--mode") == "block"
    assert _option(args, "--scope") == "example.org"
    assert _option(args, "--listen-host") == "0.0.0.0"
    assert _option(args, "--db").endswith("/phitrace.db")


@pytest.mark.parametrize("value", ["false", "0", "", "no"])
def test_sinkhole_stays_off_unless_asked(run_entrypoint: Runner, value: str) -> None:
    _, args, _ = run_entrypoint("proxy", PHITRACE_SINKHOLE=value)
    assert "--sinkhole" not in args


def test_web_ui_listens_inside_the_container_with_the_password(run_entrypoint: Runner) -> None:
    _, args, _ = run_entrypoint("proxy", PHITRACE_WEB_PASSWORD="s3cret")
    mitmproxy = args[args.index("--") + 1 :]
    assert mitmproxy == [
        "--set",
        "web_host=0.0.0.0",
        "--set",
        "web_port=8081",
        "--set",
        "web_password=s3cret",
    ]


def test_headless_proxy_gets_no_web_options(run_entrypoint: Runner) -> None:
    _, args, _ = run_entrypoint("proxy", PHITRACE_UI="none")
    assert _option(args, "--ui") == "none"
    assert "--" not in args


def test_arguments_given_to_the_container_win_and_reach_mitmproxy(run_entrypoint: Runner) -> None:
    _, args, _ = run_entrypoint(
        "proxy", "--label", "override", "--", "--set", "proxyauth=qa:pw", PHITRACE_LABEL="env"
    )
    labels = [args[i + 1] for i, a in enumerate(args) if a == "--label"]
    assert labels[-1] == "override"  # click keeps the last value
    assert args.count("--") == 1
    mitmproxy = args[args.index("--") + 1 :]
    assert mitmproxy[:2] == ["--set", "proxyauth=qa:pw"]
    assert "web_host=0.0.0.0" in mitmproxy


def test_other_commands_go_to_phitrace(run_entrypoint: Runner) -> None:
    status, args, _ = run_entrypoint("signatures", "list")
    assert status == 0
    assert args == ["signatures", "list"]


@pytest.mark.parametrize(
    ("check_status", "verdict"), [(0, "gate: pass"), (1, "gate: fail"), (2, "gate: error")]
)
def test_collect_writes_the_gate_result_and_exits_with_its_status(
    run_entrypoint: Runner,
    tmp_path: Path,
    check_status: int,
    verdict: str,
) -> None:
    status, args, _ = run_entrypoint(
        "collect", FAKE_CHECK_STATUS=str(check_status), PHITRACE_FAIL_ON="medium"
    )
    assert status == check_status
    assert args[0] == "check"
    assert _option(args, "--fail-on") == "medium"
    gate = tmp_path / "phitrace-gate.txt"
    lines = gate.read_text().splitlines()
    assert lines[0].startswith(verdict)
    assert "fake verdict" in lines[1]
    assert gate.stat().st_mode & 0o077 == 0  # it quotes what leaked


def test_collect_passes_the_baseline(run_entrypoint: Runner) -> None:
    _, args, _ = run_entrypoint("collect", PHITRACE_BASELINE="/config/baseline.json")
    assert _option(args, "--baseline") == "/config/baseline.json"


TEAM_DB = "postgresql://phitrace@postgres:5432/phitrace"


@pytest.mark.parametrize("command", ["proxy", "collect"])
def test_the_team_database_replaces_the_sqlite_file(run_entrypoint: Runner, command: str) -> None:
    status, args, _ = run_entrypoint(command, PHITRACE_DB=TEAM_DB)
    assert status == 0
    assert _option(args, "--db") == TEAM_DB


def test_the_database_password_comes_from_the_secret_file(
    run_entrypoint: Runner, tmp_path: Path
) -> None:
    secret = tmp_path / "db-password"
    secret.write_text("s3cret-from-a-file")
    status, args, stdout = run_entrypoint(
        "proxy", PHITRACE_DB=TEAM_DB, PHITRACE_DB_PASSWORD_FILE=str(secret)
    )
    assert status == 0
    assert (tmp_path / "args.pgpassword").read_text() == "s3cret-from-a-file"
    assert not any("s3cret" in arg for arg in args)
    assert "s3cret" not in stdout


@pytest.mark.parametrize("secret", ["/dev/null", "/no/such/file"])
def test_no_password_without_a_secret(run_entrypoint: Runner, tmp_path: Path, secret: str) -> None:
    run_entrypoint("proxy", PHITRACE_DB_PASSWORD_FILE=secret)
    assert (tmp_path / "args.pgpassword").read_text() == "(unset)"


def _compose() -> dict[str, dict]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def test_the_team_database_runs_only_in_the_team_profile_and_is_not_published() -> None:
    postgres = _compose()["services"]["postgres"]
    assert postgres["profiles"] == ["team"]
    assert "ports" not in postgres
    assert _compose()["networks"]["store"]["internal"] is True
    assert postgres["networks"] == ["store"]


def test_no_database_password_is_written_into_the_compose_file() -> None:
    compose = _compose()
    postgres = compose["services"]["postgres"]["environment"]
    assert "POSTGRES_PASSWORD" not in postgres
    assert postgres["POSTGRES_PASSWORD_FILE"] == "/run/secrets/phitrace_db_password"
    assert compose["secrets"]["phitrace_db_password"]["file"].startswith(
        "${PHITRACE_DB_PASSWORD_FILE:-"
    )


@pytest.mark.parametrize("service", ["proxy", "report"])
def test_proxy_and_report_use_the_team_database_when_it_is_named(service: str) -> None:
    spec = _compose()["services"][service]
    assert spec["environment"]["PHITRACE_DB"] == "${PHITRACE_DB:-}"
    assert "phitrace_db_password" in spec["secrets"]
    assert spec["depends_on"]["postgres"] == {"condition": "service_healthy", "required": False}
    assert "store" in spec["networks"]


def _healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthcheck", REPO / "docker" / "healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TCP_TABLE = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 10001
   1: 0100007F:C3B0 0100007F:1F91 06 00000000:00000000 03:00001384 00000000     0
"""


@pytest.mark.parametrize(("port", "expected"), [(8080, True), (8081, False), (50096, False)])
def test_healthcheck_finds_listening_sockets_only(
    tmp_path: Path, port: int, expected: bool
) -> None:
    table = tmp_path / "tcp"
    table.write_text(TCP_TABLE)
    assert _healthcheck().listening(port, (table, tmp_path / "missing")) is expected


def test_healthcheck_waits_for_the_ca(tmp_path: Path) -> None:
    reason = _healthcheck().problem((8080,), tmp_path / "mitmproxy-ca-cert.pem")
    assert reason is not None and "CA" in reason


def test_healthcheck_waits_for_the_web_ui_port(tmp_path: Path) -> None:
    """mitmweb opens its UI after the proxy port: healthy only once both listen."""
    health = _healthcheck()
    table = tmp_path / "tcp"
    table.write_text(TCP_TABLE)  # 8080 listens, 8081 does not
    ca = tmp_path / "mitmproxy-ca-cert.pem"
    ca.write_text("certificate")
    web = health.expected_ports("web")
    reason = health.problem(web, ca, (table,))
    assert reason is not None and "8081" in reason
    assert health.problem(health.expected_ports("none"), ca, (table,)) is None


def test_healthcheck_is_healthy_when_every_port_listens(tmp_path: Path) -> None:
    table = tmp_path / "tcp"
    table.write_text(TCP_TABLE + TCP_TABLE.splitlines()[1].replace(":1F90", ":1F91") + "\n")
    ca = tmp_path / "mitmproxy-ca-cert.pem"
    ca.write_text("certificate")
    health = _healthcheck()
    assert health.problem(health.expected_ports("web"), ca, (table,)) is None


def test_every_compose_setting_is_documented() -> None:
    compose = (REPO / "docker-compose.yml").read_text()
    docs = (REPO / "docs" / "container.md").read_text()
    settings = set(re.findall(r"\$\{(PHITRACE_[A-Z_]+)", compose))
    assert settings
    assert sorted(s for s in settings if f"`{s}`" not in docs) == []


def test_example_persona_is_the_one_the_journey_types() -> None:
    canaries = yaml.safe_load((REPO / "examples" / "qa-site" / "canaries.yaml").read_text())
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    qa_email = compose["services"]["qa"]["environment"]["QA_EMAIL"]
    assert canaries["canaries"]["email"] in qa_email
