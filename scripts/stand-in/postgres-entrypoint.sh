#!/bin/sh
# Entry point of the CI stand-in for the official postgres image (scripts/container-test.sh
# builds it from Debian's postgresql package when no registry can be reached).
#
# It honours the part of the official image's contract that docker-compose.yml uses:
# POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE, POSTGRES_INITDB_ARGS
# and PGDATA; a new data directory is initialised once, with that user as its owner and the
# password required on every TCP connection; the server then listens on every interface
# of the container. Runs as the postgres user (the image's USER).
set -eu

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"

if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE")
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "stand-in postgres: no password given (POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE);" \
            "refusing to initialise a database anyone could open" >&2
        exit 1
    fi
    umask 077
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of arguments, as upstream
    initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --auth-local=trust ${POSTGRES_INITDB_ARGS:-} >/dev/null
    rm -f "$pwfile"
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    # The database named by POSTGRES_DB, made through the Unix socket before TCP opens.
    pg_ctl --pgdata="$PGDATA" --silent --wait -o "-c listen_addresses=''" start
    if [ "$POSTGRES_DB" != postgres ]; then
        createdb --username="$POSTGRES_USER" --owner="$POSTGRES_USER" "$POSTGRES_DB"
    fi
    pg_ctl --pgdata="$PGDATA" --silent --wait stop
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
