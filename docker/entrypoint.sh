#!/bin/sh
# Container entry point: turns PHITRACE_* environment variables into phitrace options.
#
#   proxy      run the proxy (mitmweb by default) recording to /data/phitrace.db
#   collect    write /data/phitrace-report.html and the CI gate result /data/phitrace-gate.txt
#              (phitrace check --fail-on $PHITRACE_FAIL_ON [--baseline $PHITRACE_BASELINE]);
#              exits with the gate's status: 0 pass, 1 new findings, 2 could not check
#   anything else is passed to the phitrace command (e.g. "report --help")
#
# PHITRACE_DB, when set, names the database instead of /data/phitrace.db (a PostgreSQL URL
# for a team database); PHITRACE_DB_PASSWORD_FILE names a file holding its password (a
# Compose secret), handed to the PostgreSQL driver as PGPASSWORD and never printed.
set -eu

DATA=${PHITRACE_DATA:-/data}
DB=${PHITRACE_DB:-$DATA/phitrace.db}

# A password in a file (a secret) rather than in the URL, the command line or the compose
# file. An empty or missing file means no password: SQLite needs none.
if [ -n "${PHITRACE_DB_PASSWORD_FILE:-}" ] && [ -s "$PHITRACE_DB_PASSWORD_FILE" ] &&
    [ -z "${PGPASSWORD:-}" ]; then
    PGPASSWORD=$(cat "$PHITRACE_DB_PASSWORD_FILE")
    export PGPASSWORD
fi
CONFDIR=${PHITRACE_CONFDIR:-/home/phitrace/.mitmproxy}

truthy() {
    case $(printf '%s' "$1" | tr '[:upper:]' '[:lower:]') in
        1 | true | yes | on) return 0 ;;
        *) return 1 ;;
    esac
}

proxy() {
    ui=${PHITRACE_UI:-web}
    separator=no
    for arg in "$@"; do
        [ "$arg" = -- ] && separator=yes
    done
    # Options from the environment go first; arguments given to the container follow,
    # so they win, and anything after their "--" goes to mitmproxy.
    set -- --ui "$ui" --listen-host 0.0.0.0 --listen-port 8080 --db "$DB" \
        --confdir "$CONFDIR" --label "${PHITRACE_LABEL:-}" --mode "${PHITRACE_MODE:-passive}" "$@"
    if truthy "${PHITRACE_SINKHOLE:-false}"; then
        set -- --sinkhole "$@"
    fi
    if [ -n "${PHITRACE_CANARIES:-}" ]; then
        set -- --canaries "$PHITRACE_CANARIES" "$@"
    fi
    if [ -n "${PHITRACE_SCOPE:-}" ]; then
        set -- --scope "$PHITRACE_SCOPE" "$@"
    fi
    if [ -n "${PHITRACE_CONSENT:-}" ]; then
        set -- --consent "$PHITRACE_CONSENT" "$@"
    fi
    if [ "$ui" = web ]; then
        # Inside the container the UI must listen on every interface; compose publishes
        # it on 127.0.0.1 only. Without a password mitmweb logs a login token.
        [ "$separator" = yes ] || set -- "$@" --
        set -- "$@" --set web_host=0.0.0.0 --set web_port=8081
        if [ -n "${PHITRACE_WEB_PASSWORD:-}" ]; then
            set -- "$@" --set "web_password=$PHITRACE_WEB_PASSWORD"
        fi
    fi
    exec phitrace proxy "$@"
}

gate() {
    level=${PHITRACE_FAIL_ON:-high}
    out=$DATA/phitrace-gate.txt
    if ! phitrace check --help >/dev/null 2>&1; then
        echo "gate: not run (this phitrace has no 'check' command)" | tee "$out"
        return 0
    fi
    set -- --db "$DB" --fail-on "$level"
    if [ -n "${PHITRACE_BASELINE:-}" ]; then
        set -- "$@" --baseline "$PHITRACE_BASELINE"
    fi
    status=0
    phitrace check "$@" >"$out.tmp" 2>&1 || status=$?
    case $status in
        0) verdict="pass (no new findings at or above $level)" ;;
        1) verdict="fail (new findings at or above $level)" ;;
        *) verdict="error (phitrace check exited $status)" ;;
    esac
    {
        echo "gate: $verdict"
        cat "$out.tmp"
    } >"$out"
    rm -f "$out.tmp"
    cat "$out"
    return "$status"
}

collect() {
    # The report and the gate's list quote what leaked: readable by this user only.
    umask 077
    phitrace report --db "$DB" -o "$DATA/phitrace-report.html"
    gate
}

case "${1:-proxy}" in
    proxy)
        [ $# -gt 0 ] && shift
        proxy "$@"
        ;;
    collect)
        collect
        ;;
    *)
        exec phitrace "$@"
        ;;
esac
