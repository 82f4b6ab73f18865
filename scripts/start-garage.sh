#!/usr/bin/env bash
# Starts Garage (crates.io `garage`, a real S3-compatible object store) for
# berth's tests: single node, everything on 127.0.0.1, state in DIR.
#
#   scripts/start-garage.sh DIR           prints shell exports:
#       AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
#       AWS_ALLOW_HTTP, BERTH_TEST_S3_BUCKET, and GARAGE_PID
#   scripts/start-garage.sh --stop DIR    stops it
#
# The binary is built once into $BERTH_CACHE/garage (default
# ~/.cache/berth/garage; `cargo install garage --locked`, ~22 min on 2 cores)
# and reused by every later run.
set -euo pipefail

CACHE=${BERTH_CACHE:-$HOME/.cache/berth}
GARAGE=$CACHE/garage/bin/garage

if [ "${1:-}" = "--stop" ]; then
    dir=$2
    [ -f "$dir/garage.pid" ] && kill "$(cat "$dir/garage.pid")" 2>/dev/null || true
    exit 0
fi
dir=$1

if [ ! -x "$GARAGE" ]; then
    echo "start-garage.sh: building garage into $CACHE/garage (once; ~22 min on 2 cores)" >&2
    mkdir -p "$CACHE"
    cargo install garage --locked --quiet --root "$CACHE/garage" >&2
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rpc=$(free_port)
s3=$(free_port)
admin=$(free_port)
mkdir -p "$dir/meta" "$dir/data"
cat > "$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin"
TOML
g() { "$GARAGE" -c "$dir/garage.toml" "$@"; }
"$GARAGE" -c "$dir/garage.toml" server >"$dir/garage.log" 2>&1 &
echo $! > "$dir/garage.pid"
node=""
for _ in $(seq 1 100); do
    node=$(g status 2>/dev/null | awk '/NO ROLE ASSIGNED/ {print $1; exit}') || true
    [ -n "$node" ] && break
    sleep 0.1
done
[ -n "$node" ] || { echo "start-garage.sh: garage did not start; $dir/garage.log:" >&2; cat "$dir/garage.log" >&2; exit 1; }
g layout assign -z dc1 -c 1G "$node" >/dev/null
g layout apply --version 1 >/dev/null
g bucket create berth-test >/dev/null
key=$(g key create berth-test-key)
id=$(awk '/Key ID/ {print $NF}' <<<"$key")
secret=$(awk '/Secret key/ {print $NF}' <<<"$key")
g bucket allow --read --write --owner berth-test --key berth-test-key >/dev/null
cat <<OUT
export AWS_ENDPOINT_URL=http://127.0.0.1:$s3
export AWS_REGION=garage
export AWS_ACCESS_KEY_ID=$id
export AWS_SECRET_ACCESS_KEY=$secret
export AWS_ALLOW_HTTP=true
export BERTH_TEST_S3_BUCKET=berth-test
export GARAGE_PID=$(cat "$dir/garage.pid")
OUT
