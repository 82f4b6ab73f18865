#!/usr/bin/env bash
# bench/compare.sh: berth side by side with CNCF Distribution (Debian's
# docker-registry 2.8.2), both on loopback with filesystem storage and no auth
# (berth: --auth-mode none; its audit trail stays on, as by default),
# alternating A B A B for ROUNDS rounds (default 2), plus Debian's nginx
# (`sendfile on`) serving a file of the blob size to curl, the static-file
# limit of the pull figures; then writes bench/RESULTS.md.
#
#   ./bench/compare.sh                 # full run (64 MiB blobs, 5 s per manifest figure)
#   ROUNDS=3 BLOB_MIB=16 ./bench/compare.sh
#
# Every server listens on 127.0.0.1 only; every loop in the harness is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-2}
BLOB_MIB=${BLOB_MIB:-64}
MANIFEST_SECS=${MANIFEST_SECS:-5}
BERTH_PORT=${BERTH_PORT:-5301}
DIST_PORT=${DIST_PORT:-5302}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
    echo "compare.sh: installing ${need[*]}" >&2
    as_root apt-get update -q >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
NGINX_PORT=${NGINX_PORT:-5304}
cargo build --release -q -p berth -p berth-bench
BERTH=target/release/berth
BENCH=target/release/berth-bench

dist_config() { # DIR PORT
    cat >"$1/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $1/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$2
YAML
}

wait_up() { # URL
    for _ in $(seq 1 300); do curl -fsS "$1/v2/" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "compare.sh: $1 did not come up" >&2; return 1
}

run_one() { # NAME ROUND
    local name=$1 round=$2 dir="$WORK/$1-$2" pid url
    mkdir -p "$dir"
    if [ "$name" = berth ]; then
        url=http://127.0.0.1:$BERTH_PORT
        "$BERTH" serve --listen "127.0.0.1:$BERTH_PORT" --data-dir "$dir/data" --auth-mode none --log-level warn >"$dir/log" 2>&1 &
    else
        url=http://127.0.0.1:$DIST_PORT
        dist_config "$dir" "$DIST_PORT"
        docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    fi
    pid=$!
    wait_up "$url"
    "$BENCH" run --target "$url" --label "$name" --pid "$pid" --blob-mib "$BLOB_MIB" \
        --manifest-secs "$MANIFEST_SECS" --json "$WORK/$name-$round.json" --markdown "$WORK/$name-$round.md" >/dev/null
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "compare.sh: $name round $round done" >&2
}

run_nginx() { # ROUND
    local dir="$WORK/nginx-$1"
    mkdir -p "$dir/www" "$dir/tmp"
    head -c "$((BLOB_MIB * 1024 * 1024))" /dev/urandom >"$dir/www/blob"
    # nginx's workers run as another user when started by root: let them read.
    chmod 755 "$WORK" "$dir" "$dir/www"; chmod 644 "$dir/www/blob"
    cat >"$dir/nginx.conf" <<NGINX
$([ "$(id -u)" -eq 0 ] && echo "user root;")
daemon off;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 256; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp;
    fastcgi_temp_path $dir/tmp; uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;
    server { listen 127.0.0.1:$NGINX_PORT; root $dir/www; }
}
NGINX
    "$NGINX" -c "$dir/nginx.conf" -p "$dir" &
    local pid=$!
    for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT/blob" && break; sleep 0.1; done
    "$BENCH" curl-pull --url "http://127.0.0.1:$NGINX_PORT/blob" --bytes "$((BLOB_MIB * 1024 * 1024))" \
        --label nginx --json "$WORK/nginx-$1.json" >/dev/null
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "compare.sh: nginx round $1 done" >&2
}

for round in $(seq 1 "$ROUNDS"); do
    run_one berth "$round"
    run_one distribution "$round"
    run_nginx "$round"
done

mkdir -p "$WORK/cold-b" "$WORK/cold-d"
dist_config "$WORK/cold-d" "$DIST_PORT"
COLD_B=$("$BENCH" cold-start --cmd "$BERTH serve --listen 127.0.0.1:$BERTH_PORT --data-dir $WORK/cold-b/data --auth-mode none --log-level warn" --url "http://127.0.0.1:$BERTH_PORT")
COLD_D=$("$BENCH" cold-start --cmd "docker-registry serve $WORK/cold-d/config.yml" --url "http://127.0.0.1:$DIST_PORT")

a=(); b=(); n=()
for round in $(seq 1 "$ROUNDS"); do
    a+=(--a "$WORK/berth-$round.json"); b+=(--b "$WORK/distribution-$round.json"); n+=(--nginx "$WORK/nginx-$round.json")
done
"$BENCH" compare "${a[@]}" "${b[@]}" "${n[@]}" --targets --cold-a-ms "$COLD_B" --out "$WORK/table.md"
NGINX_MD=$("$BENCH" compare "${a[@]}" --b "$WORK/nginx-1.json" $(for round in $(seq 2 "$ROUNDS"); do echo --b "$WORK/nginx-$round.json"; done) | grep -E '^\| (metric|---|pull_curl)')

{
    echo "# Benchmark results: berth vs CNCF Distribution"
    echo
    echo "Run by \`bench/compare.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
    echo "$(free -g | awk '/Mem:/ {print $2}') GiB RAM. berth $(git rev-parse --short HEAD), Distribution $(dpkg-query -W -f '${Version}' docker-registry)."
    echo "$ROUNDS rounds alternating berth / Distribution; figures are medians; blobs ${BLOB_MIB} MiB;"
    echo "manifest figures ${MANIFEST_SECS} s each. Client and servers share the same 2 cores,"
    echo "so absolute numbers are noisy; the ratios are what the targets are about."
    echo
    echo "## Side by side"
    echo
    cat "$WORK/table.md"
    echo
    echo "Cold start to first 200 on /v2/ (median of 5): berth ${COLD_B} ms, Distribution ${COLD_D} ms."
    echo
    echo "## Pulls against the static-file limit"
    echo
    echo "The same blob size fetched with curl (\`-o /dev/null\`, one keep-alive connection"
    echo "per process) from berth and from nginx $(dpkg-query -W -f '${Version}' nginx 2>/dev/null || echo) with \`sendfile on\`:"
    echo
    echo "$NGINX_MD" | sed '1a |---|---|---:|---:|---:|---|' 
    echo
    echo "Flat cost as the registry grows: [FLAT.md](FLAT.md), by \`bench/flat.sh\`."
    echo
    echo "## Each run"
    echo
    for round in $(seq 1 "$ROUNDS"); do
        for name in berth distribution; do echo "#### round $round"; cat "$WORK/$name-$round.md"; echo; done
    done
    if [ -f bench/NOTES.md ]; then echo; cat bench/NOTES.md; fi
} > bench/RESULTS.md
echo "compare.sh: wrote bench/RESULTS.md" >&2
