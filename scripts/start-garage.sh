#!/usr/bin/env bash
# Starts Garage (crates.io `garage`, a real S3-compatible object store) for
# berth's tests: single node, everything on 127.0.0.1, state in DIR.
#
#   scripts/start-garage.sh DIR           prints shell exports:
#       AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
#       AWS_ALLOW_HTTP, BERTH_TEST_S3_BUCKET, and GARAGE_PIDS (one per node)
#   GARAGE_NODES=3 scripts/start-garage.sh DIR
#                                         three nodes, replication_factor = 3
#                                         (the S3 endpoint is node 1's)
#   scripts/start-garage.sh --stop DIR    stops it
#   scripts/start-garage.sh --build       only builds (and caches) the binary
#
# The binary is built once into $BERTH_CACHE/garage (default
# ~/.cache/berth/garage; `cargo install garage --locked`, ~22 min on 2 cores)
# and reused by every later run.
set -euo pipefail

CACHE=${BERTH_CACHE:-$HOME/.cache/berth}
GARAGE=$CACHE/garage/bin/garage

if [ "${1:-}" = "--stop" ]; then
    dir=$2
    [ -f "$dir/garage.pid" ] && kill $(cat "$dir/garage.pid") 2>/dev/null || true
    exit 0
fi
if [ ! -x "$GARAGE" ]; then
    echo "start-garage.sh: building garage into $CACHE/garage (once; ~22 min on 2 cores)" >&2
    mkdir -p "$CACHE"
    cargo install garage --locked --quiet --root "$CACHE/garage" >&2
fi
[ "${1:-}" = "--build" ] && exit 0
dir=$1

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
nodes=${GARAGE_NODES:-1}
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
s3_port=""
rpcs=()
mkdir -p "$dir"
: > "$dir/garage.pid"
for n in $(seq 1 "$nodes"); do
    nd=$dir/node$n
    rpc=$(free_port); s3=$(free_port); admin=$(free_port)
    rpcs+=("$rpc")
    [ -z "$s3_port" ] && s3_port=$s3
    mkdir -p "$nd/meta" "$nd/data"
    cat > "$nd/garage.toml" <<TOML
metadata_dir = "$nd/meta"
data_dir = "$nd/data"
db_engine = "sqlite"
replication_factor = $nodes
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin"
TOML
    "$GARAGE" -c "$nd/garage.toml" server >"$nd/garage.log" 2>&1 &
    echo $! >> "$dir/garage.pid"
done
g() { "$GARAGE" -c "$dir/node1/garage.toml" "$@"; }
node_id() { # the full id (id@addr) of node $1
    local out=""
    for _ in $(seq 1 100); do
        out=$("$GARAGE" -c "$dir/node$1/garage.toml" node id -q 2>/dev/null) && [ -n "$out" ] && break
        sleep 0.1
    done
    [ -n "$out" ] || { echo "start-garage.sh: node $1 did not start; $dir/node$1/garage.log:" >&2; cat "$dir/node$1/garage.log" >&2; exit 1; }
    echo "$out"
}
ids=()
for n in $(seq 1 "$nodes"); do ids+=("$(node_id "$n")"); done
for n in $(seq 2 "$nodes"); do g node connect "${ids[$((n-1))]}" >/dev/null; done
for n in $(seq 1 "$nodes"); do
    g layout assign -z "dc$n" -c 1G "${ids[$((n-1))]%%@*}" >/dev/null
done
g layout apply --version 1 >/dev/null
# Buckets become usable once every node has the layout.
for _ in $(seq 1 100); do
    g bucket create berth-test >/dev/null 2>&1 && break
    sleep 0.2
done
key=$(g key create berth-test-key)
id=$(awk '/Key ID/ {print $NF}' <<<"$key")
secret_key=$(awk '/Secret key/ {print $NF}' <<<"$key")
g bucket allow --read --write --owner berth-test --key berth-test-key >/dev/null
cat <<OUT
export AWS_ENDPOINT_URL=http://127.0.0.1:$s3_port
export AWS_REGION=garage
export AWS_ACCESS_KEY_ID=$id
export AWS_SECRET_ACCESS_KEY=$secret_key
export AWS_ALLOW_HTTP=true
export BERTH_TEST_S3_BUCKET=berth-test
export GARAGE_PIDS="$(tr '\n' ' ' < "$dir/garage.pid" | sed 's/ $//')"
OUT
