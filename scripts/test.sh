#!/usr/bin/env bash
# berth's whole test suite: unit tests, HTTP-level spec tests, and end-to-end
# tests with real clients (skopeo, docker, oci-client) against the real binary.
#
# Installs what the tests need when missing (Debian packages: skopeo, umoci, jq,
# docker.io, podman, curl, openssl (the signature tests sign with it), sqlite3,
# rpm (rpmbuild and rpm make the rpm database of the SBOM test),
# postgresql, docker-registry (a
# Distribution upstream for the proxy tests), chromium, nodejs/npm (the web UI
# test), slapd and ldap-utils (the LDAP sign-in test); PyPI: oras and cbor2, into target/venv; npm:
# playwright-core and oidc-provider),
# builds the test images once with ../shared/testdata/make-images.sh, starts a
# private PostgreSQL and a Garage node (S3) on loopback, then runs `cargo test
# --release --workspace` (one profile: the e2e tests use the same release
# binary that `cargo run --release -- serve` runs) on SQLite and the
# filesystem, and the PostgreSQL + S3 half of the matrix.
set -euo pipefail
cd "$(dirname "$0")/.."

SHARED=${BERTH_SHARED:-$(cd .. && pwd)/shared}
export BERTH_SHARED=$SHARED

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

need=()
command -v skopeo >/dev/null || need+=(skopeo)
command -v umoci >/dev/null || need+=(umoci)
command -v jq >/dev/null || need+=(jq)
command -v dockerd >/dev/null || need+=(docker.io)
command -v podman >/dev/null || need+=(podman)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v rpmbuild >/dev/null || need+=(rpm)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v chromium >/dev/null || need+=(chromium)
command -v slapd >/dev/null || need+=(slapd)
command -v ldapdelete >/dev/null || need+=(ldap-utils)
command -v npm >/dev/null || need+=(nodejs npm)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# apt waits for a dpkg lock another process holds instead of failing at once;
# its output goes to a log, shown only when it fails.
apt_install() {
    local log
    log=$(mktemp)
    if ! { as_root apt-get -o DPkg::Lock::Timeout=300 update -q &&
           as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
               install -y -q "$@"; } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}
if [ ${#need[@]} -gt 0 ]; then
    echo "test.sh: installing ${need[*]}" >&2
    apt_install "${need[@]}"
fi

# Python oras and cbor2 (COSE envelopes in the notation test) in a virtual
# environment this script owns (Debian's python3 refuses `pip install` into
# the system: externally-managed-environment).
if ! python3 -c 'import oras, cbor2' 2>/dev/null; then
    VENV=${BERTH_VENV:-$PWD/target/venv}
    if ! "$VENV/bin/python3" -c 'import oras, cbor2' 2>/dev/null; then
        echo "test.sh: installing Python oras and cbor2 into $VENV" >&2
        python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$VENV"; }
        "$VENV/bin/python3" -m pip install -q oras cbor2 >/dev/null 2>&1 || "$VENV/bin/python3" -m pip install -q oras cbor2
    fi
    export PATH="$VENV/bin:$PATH"
    python3 -c 'import oras, cbor2'
fi

# playwright-core (npm, pinned by its lockfile) drives Debian's chromium in the
# web UI tests (crates/berth/tests/ui.rs, oidc.rs); no browser is downloaded.
# oidc-provider is the OpenID Provider of the OIDC sign-in test.
if [ ! -d crates/berth/tests/browser/node_modules/playwright-core ] \
    || [ ! -d crates/berth/tests/browser/node_modules/oidc-provider ]; then
    echo "test.sh: installing playwright-core and oidc-provider into crates/berth/tests/browser" >&2
    (cd crates/berth/tests/browser && npm ci --no-audit --no-fund -q)
fi

export BERTH_TESTDATA=${BERTH_TESTDATA:-$PWD/target/testdata}
if [ ! -f "$BERTH_TESTDATA/DIGESTS" ]; then
    echo "test.sh: building test images into $BERTH_TESTDATA" >&2
    as_root "$SHARED/testdata/make-images.sh" "$BERTH_TESTDATA" >/dev/null
fi

# A private PostgreSQL on a free loopback port for the PostgreSQL half of the
# test matrix (scripts/start-postgres.sh), stopped when this script exits.
PG_DIR=$(mktemp -d /tmp/berth-pg.XXXXXX)
PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
GARAGE_DIR=$(mktemp -d /tmp/berth-garage.XXXXXX)
# Garage takes ~22 min to build on a fresh machine: build it in the
# background (niced) while berth builds and the first pass runs, which leave
# the cores idle much of the time; wait for it before the second pass.
GARAGE_BUILD_LOG=$PWD/target/garage-build.log
mkdir -p target
nice -n 10 scripts/start-garage.sh --build >"$GARAGE_BUILD_LOG" 2>&1 &
GARAGE_BUILD=$!
stop_engines() {
    if kill -0 "$GARAGE_BUILD" 2>/dev/null; then
        pkill -TERM -P "$GARAGE_BUILD" 2>/dev/null || true
        kill "$GARAGE_BUILD" 2>/dev/null || true
    fi
    scripts/start-postgres.sh --stop "$PG_DIR" || true
    scripts/start-garage.sh --stop "$GARAGE_DIR" || true
    rm -rf "$PG_DIR" "$GARAGE_DIR"
}
trap stop_engines EXIT
PG_URL=$(scripts/start-postgres.sh "$PG_DIR" "$PG_PORT")

cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -q -- -D warnings
cargo test --release --workspace "$@"

# The metadata, registry and HTTP spec tests again on PostgreSQL and Garage:
# every test gets a fresh database on the private server
# (crates/berth-meta/src/testing.rs) and a prefix of its own in the bucket,
# and the end-to-end tests that run several nodes need both. The same
# `--workspace` selection as above, narrowed by target, so cargo reuses the
# build instead of resolving other features (docs/testing.md "One build").
if [ $# -eq 0 ]; then
    # Garage, a real S3-compatible store, single node on loopback; built once
    # into ~/.cache/berth/garage (BERTH_CACHE) and reused. Its AWS_* settings
    # are for the second pass only.
    if ! wait "$GARAGE_BUILD"; then
        cat "$GARAGE_BUILD_LOG" >&2
        echo "test.sh: building garage failed" >&2
        exit 1
    fi
    S3_ENV=$(scripts/start-garage.sh "$GARAGE_DIR")
    echo "test.sh: the metadata, registry, storage and HTTP tests on PostgreSQL and S3 (Garage)" >&2
    pg_targets=(--lib)
    for t in crates/berth-server/tests/*.rs; do pg_targets+=(--test "$(basename "$t" .rs)"); done
    for t in e2e_skopeo e2e_docker e2e_podman_oras e2e_auth scale_out proxy replication signatures sbom scanner_adapter metrics webhooks ldap oidc; do pg_targets+=(--test "$t"); done
    (
        eval "$S3_ENV"
        BERTH_TEST_DATABASE_URL=$PG_URL cargo test --release --workspace "${pg_targets[@]}"
    )
fi

# One build: what `cargo run --release` / `cargo build --release` builds is the
# binary the tests just ran, so it must compile nothing (crates/berth/Cargo.toml
# pins the feature set; docs/testing.md "One build").
if [ $# -eq 0 ]; then
    log=$(cargo build --release 2>&1)
    if grep -q Compiling <<<"$log"; then
        echo "$log" >&2
        echo "test.sh: cargo build --release recompiled after the test build (feature unification drifted; see docs/testing.md \"One build\")" >&2
        exit 1
    fi
fi
