#!/usr/bin/env bash
# berth's whole test suite: unit tests, HTTP-level spec tests, and end-to-end
# tests with real clients (skopeo, docker, oci-client) against the real binary.
#
# Installs what the tests need when missing (Debian packages: skopeo, umoci, jq,
# docker.io, podman; PyPI: oras), builds the test images once with ../shared/testdata/make-images.sh,
# then runs `cargo test --release --workspace` (one profile: the e2e tests use the
# same release binary that `cargo run --release -- serve` runs).
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
if [ ${#need[@]} -gt 0 ]; then
    echo "test.sh: installing ${need[*]}" >&2
    as_root apt-get update -q >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi

python3 -c 'import oras' 2>/dev/null || {
    echo "test.sh: installing Python oras" >&2
    python3 -m pip install -q oras 2>&1 | grep -v 'running pip as the' >&2 || true
    python3 -c 'import oras'
}

export BERTH_TESTDATA=${BERTH_TESTDATA:-$PWD/target/testdata}
if [ ! -f "$BERTH_TESTDATA/DIGESTS" ]; then
    echo "test.sh: building test images into $BERTH_TESTDATA" >&2
    as_root "$SHARED/testdata/make-images.sh" "$BERTH_TESTDATA" >/dev/null
fi

cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -q -- -D warnings
cargo test --release --workspace "$@"
