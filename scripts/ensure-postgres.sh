#!/usr/bin/env bash
# Make sure a PostgreSQL server answers at $GURU_MCP_TEST_DATABASE_URL (default
# postgresql://postgres:postgres@127.0.0.1:5432/postgres), installing and starting one if needed.
#
# Idempotent: exits 0 at once when the server answers. Otherwise, for the default URL only and as
# root: installs Debian's `postgresql` with apt, creates a cluster if there is none, starts it with
# pg_ctlcluster, gives the `postgres` role the password `postgres` (TCP logins on 127.0.0.1 use
# passwords), and waits up to 60 s. The test suite creates and drops its own databases there.
set -euo pipefail

log() { printf '[ensure-postgres] %s\n' "$*" >&2; }
die() { printf '[ensure-postgres] ERROR: %s\n' "$*" >&2; exit 1; }

DEFAULT_URL=postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres
URL=${GURU_MCP_TEST_DATABASE_URL:-$DEFAULT_URL}
WAIT_SECONDS=${POSTGRES_WAIT_SECONDS:-60}
PY=${PYTHON_FOR_CHECK:-.venv/bin/python}

answers() {
    "$PY" - "$URL" <<'EOF' >/dev/null 2>&1
import sys
import psycopg
from sqlalchemy.engine import make_url
u = make_url(sys.argv[1])
psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                dbname=u.database or "postgres", connect_timeout=3).close()
EOF
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
    else die "need root to run: $*"
    fi
}

if answers; then
    log "PostgreSQL already answers"
    exit 0
fi
[ "$URL" = "$DEFAULT_URL" ] || die "PostgreSQL at GURU_MCP_TEST_DATABASE_URL does not answer; start it or unset the variable"

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    log "apt-get install -y postgresql"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
fi

# The newest installed major version, and its cluster (created if the package did not make one).
VERSION=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
[ -n "$VERSION" ] || die "no PostgreSQL server installed under /usr/lib/postgresql"
CLUSTER=$(pg_lsclusters -h 2>/dev/null | awk -v v="$VERSION" '$1 == v { print $2; exit }')
if [ -z "$CLUSTER" ]; then
    CLUSTER=main
    log "creating cluster $VERSION/$CLUSTER"
    as_root pg_createcluster "$VERSION" "$CLUSTER" >&2
fi
if ! pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c { print $4 }' | grep -q online; then
    log "starting cluster $VERSION/$CLUSTER"
    as_root pg_ctlcluster "$VERSION" "$CLUSTER" start
fi

deadline=$((SECONDS + WAIT_SECONDS))
until as_root runuser -u postgres -- psql -qAtc "SELECT 1" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "cluster $VERSION/$CLUSTER did not accept connections within ${WAIT_SECONDS}s"
    sleep 0.5
done
as_root runuser -u postgres -- psql -qc "ALTER ROLE postgres PASSWORD 'postgres'" >/dev/null
until answers; do
    [ "$SECONDS" -lt "$deadline" ] || die "PostgreSQL runs but refuses $URL (check pg_hba.conf and listen_addresses)"
    sleep 0.5
done
log "PostgreSQL $VERSION ready"
