#!/usr/bin/env bash
# bench/scale_out.sh: berth on SQLite + filesystem beside berth on PostgreSQL +
# Garage (1 node, and 3 nodes behind an nginx round robin) and CNCF
# Distribution on the same Garage, with the berth-bench workloads; then the
# database statements berth runs per operation on PostgreSQL, counted by
# pg_stat_statements. Writes bench/SCALE_OUT.md.
#
#   ./bench/scale_out.sh                       # 16 MiB blobs, 2 s per manifest figure
#   BLOB_MIB=64 MANIFEST_SECS=5 ./bench/scale_out.sh
#
# PostgreSQL runs with fsync on here (unlike the test instance), so berth on
# PostgreSQL pays for durable commits as berth on SQLite does. Every server
# listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
BLOB_MIB=${BLOB_MIB:-16}
MANIFEST_SECS=${MANIFEST_SECS:-2}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-scale.XXXXXX")
chmod 755 "$WORK"   # the postgres user enters it for its data directory
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    scripts/start-postgres.sh --stop "$WORK/pg" || true
    scripts/start-garage.sh --stop "$WORK/garage" || true
    rm -rf "$WORK"
}
trap cleanup EXIT

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
for pkg in nginx docker-registry; do
    command -v "$pkg" >/dev/null || [ -x "/usr/sbin/$pkg" ] || {
        as_root apt-get update -q >/dev/null
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >/dev/null
    }
done
cargo build --release -q -p berth -p berth-bench
BERTH=$PWD/target/release/berth
BENCH=$PWD/target/release/berth-bench
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

PG=$(PG_EXTRA_OPTS="-c shared_preload_libraries=pg_stat_statements -c fsync=on -c synchronous_commit=on -c full_page_writes=on" \
        scripts/start-postgres.sh "$WORK/pg" "$(free_port)")
eval "$(scripts/start-garage.sh "$WORK/garage")"
db() { # NAME: creates a database, prints its URL
    psql -q -d "$PG" -c "CREATE DATABASE $1" >/dev/null
    echo "${PG%/*}/$1"
}

serve() { # DATA_DIR PORT [ENV=VALUE...]: a berth node, auth off (as bench/compare.sh)
    local dir=$1 port=$2; shift 2
    env "$@" "$BERTH" serve --listen "127.0.0.1:$port" --data-dir "$dir" --auth-mode none \
        --log-level warn >"$dir.log" 2>&1 &
    PIDS+=($!)
    wait_http "http://127.0.0.1:$port/v2/"
}

run() { # LABEL URL PID
    "$BENCH" run --target "$2" --label "$1" --pid "$3" --blob-mib "$BLOB_MIB" \
        --manifest-secs "$MANIFEST_SECS" --json "$WORK/$1.json" >/dev/null
    echo "ran $1" >&2
}

# 1. berth on SQLite and the filesystem.
p=$(free_port); serve "$WORK/sqlite" "$p"
run berth-sqlite-fs "http://127.0.0.1:$p" "${PIDS[-1]}"

# 2. berth on PostgreSQL and Garage, one node.
DB1=$(db bench_one)
p=$(free_port); serve "$WORK/one" "$p" BERTH_DATABASE_URL="$DB1" BERTH_STORAGE_URL=s3://berth-test/one
ONE=http://127.0.0.1:$p
run berth-pg-garage-1 "$ONE" "${PIDS[-1]}"

# 3. Three nodes behind nginx (round robin, bodies streamed).
DB3=$(db bench_three)
upstream=""
for n in 1 2 3; do
    p=$(free_port); serve "$WORK/three$n" "$p" BERTH_DATABASE_URL="$DB3" BERTH_STORAGE_URL=s3://berth-test/three
    upstream+="server 127.0.0.1:$p; "
done
lb=$(free_port)
cat >"$WORK/nginx.conf" <<NGINX
pid $WORK/nginx.pid;
error_log $WORK/nginx.err warn;
events { worker_connections 4096; }
http {
    access_log off;
    upstream berth { $upstream keepalive 64; }
    server {
        listen 127.0.0.1:$lb;
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        location / {
            proxy_pass http://berth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
        }
    }
}
NGINX
/usr/sbin/nginx -c "$WORK/nginx.conf"
wait_http "http://127.0.0.1:$lb/v2/"
run berth-pg-garage-3 "http://127.0.0.1:$lb" "${PIDS[-1]}"

# 4. Distribution on the same Garage.
p=$(free_port)
cat >"$WORK/dist.yml" <<YAML
version: 0.1
log: { level: error, accesslog: { disabled: true } }
storage:
  s3:
    region: $AWS_REGION
    regionendpoint: $AWS_ENDPOINT_URL
    bucket: $BERTH_TEST_S3_BUCKET
    rootdirectory: /distribution
    accesskey: $AWS_ACCESS_KEY_ID
    secretkey: $AWS_SECRET_ACCESS_KEY
    secure: false
    v4auth: true
  delete: { enabled: true }
  redirect: { disable: true }
http: { addr: 127.0.0.1:$p }
YAML
# Its AWS SDK refuses a custom CA bundle on a plain-HTTP endpoint.
env -u AWS_CA_BUNDLE docker-registry serve "$WORK/dist.yml" >"$WORK/dist.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$p/v2/"
run distribution-garage "http://127.0.0.1:$p" "${PIDS[-1]}"

# Statements per operation on PostgreSQL (pg_stat_statements), on the one-node
# database: a cached manifest GET, and the same image push into an empty
# repository and into one that already holds 200 tags (the image's blobs are
# in the registry already, linked to neither, so both pushes do the same work).
psql -q -d "$DB1" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
calls() {
    psql -qtA -d "$DB1" -c "SELECT COALESCE(SUM(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'bench_one' AND query NOT ILIKE '%pg_stat_statements%'"
}
reset() { psql -q -d "$DB1" -c "SELECT pg_stat_statements_reset()" >/dev/null; }
img=${BERTH_TESTDATA:-$PWD/target/testdata}/busybox
[ -d "$img" ] || "${BERTH_SHARED:-$PWD/../shared}/testdata/make-images.sh" "$(dirname "$img")" >/dev/null
push() { skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$img:$1" "docker://${ONE#http://}/$2" >/dev/null; }
accept='Accept: application/vnd.oci.image.manifest.v1+json'
push amd64 stats/warm:v1
curl -fsS -o /dev/null -H "$accept" "$ONE/v2/stats/warm/manifests/v1"
sleep 1
reset
for _ in $(seq 1 200); do curl -fsS -o /dev/null -H "$accept" "$ONE/v2/stats/warm/manifests/v1"; done
sleep 1   # pull statistics and audit entries are written in batches
get_calls=$(calls)
# 200 tags in stats/big (of the amd64 image), and the arm64 image's blobs in
# the registry (in stats/seed).
push amd64 stats/big:t0
m=$(curl -fsS -H "$accept" "$ONE/v2/stats/big/manifests/t0")
for i in $(seq 1 200); do
    curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
        --data-binary "$m" "$ONE/v2/stats/big/manifests/t$i"
done
push arm64 stats/seed:v1
sleep 1
reset; push arm64 stats/empty:v1; sleep 1; fresh_calls=$(calls)
reset; push arm64 stats/big:v1; sleep 1; big_calls=$(calls)

{
    echo "# berth scale-out: PostgreSQL + Garage beside SQLite + filesystem and Distribution"
    echo
    echo "Run by \`bench/scale_out.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, berth $(git rev-parse --short HEAD)."
    echo "Blobs ${BLOB_MIB} MiB, manifest figures ${MANIFEST_SECS} s each, one round. PostgreSQL 15 with fsync on;"
    echo "Garage single node (replication 1) on the same machine; nginx round robin for 3 nodes."
    echo "Client, servers, database and object store share the same cores: the figures show the cost"
    echo "per request of each deployment, not node scaling, which 2 shared cores cannot show."
    echo
    "$BENCH" compare --a "$WORK/berth-sqlite-fs.json" --b "$WORK/berth-pg-garage-1.json"
    echo
    "$BENCH" compare --a "$WORK/berth-pg-garage-1.json" --b "$WORK/distribution-garage.json"
    echo
    "$BENCH" compare --a "$WORK/berth-pg-garage-1.json" --b "$WORK/berth-pg-garage-3.json"
    echo
    echo "## Database statements per operation (berth on PostgreSQL, pg_stat_statements)"
    echo
    echo "| operation | statements |"
    echo "|---|---:|"
    echo "| manifest GET by tag, cached (per request, over 200; includes the batched writes of pull statistics and audit entries) | $(python3 -c "print(round($get_calls/200, 2))") |"
    echo "| image push (skopeo: 2 blobs uploaded, manifest), into an empty repository | $fresh_calls |"
    echo "| the same push into a repository holding 200 tags | $big_calls |"
} >bench/SCALE_OUT.md
cat bench/SCALE_OUT.md
