#!/usr/bin/env bash
# Starts a private PostgreSQL for berth's tests: Debian's `postgresql` package
# (installed when missing), a fresh `initdb` in DIR, listening on 127.0.0.1:PORT
# only (no system service, no socket outside DIR), trust authentication.
#
#   scripts/start-postgres.sh DIR PORT     prints the admin URL on stdout
#   scripts/start-postgres.sh --stop DIR   stops it
#
# The admin URL (postgres://postgres@127.0.0.1:PORT/postgres) may create
# databases: BERTH_TEST_DATABASE_URL takes it (crates/berth-meta/src/testing.rs).
# PG_EXTRA_OPTS adds server options (bench/scale_out.sh loads pg_stat_statements).
set -euo pipefail

if [ "${1:-}" = "--stop" ]; then
    dir=$2
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    [ -f "$dir/data/postmaster.pid" ] && runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    exit 0
fi

dir=$1
port=$2
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "installing postgresql (Debian)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    # The package starts a system cluster; berth's tests use their own.
    (service postgresql stop || pg_ctlcluster --force 15 main stop || true) >/dev/null 2>&1
fi
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_postgres "$pgbin/initdb" -D "$dir/data" -U postgres -A trust --no-sync >/dev/null
fi
# fsync off: a test server that is thrown away; berth's own durability is
# SQLite's and PostgreSQL's job in production, not this instance's.
as_postgres "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 ${PG_EXTRA_OPTS:-}" \
    start >/dev/null
echo "postgres://postgres@127.0.0.1:$port/postgres"
