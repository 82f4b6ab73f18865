#!/usr/bin/env bash
# bench/flat.sh: does the cost of a request stay flat as the registry grows?
# Measures berth on an empty registry, then fills its SQLite metadata with
# synthetic rows (10,000 repositories, 100,000 tags in the measured repository,
# 1,000 referrers of one subject, 1,000,000 blob rows) and measures again;
# writes bench/FLAT.md. The target: each request within 1.5 x its empty value.
#
#   ./bench/flat.sh            # COUNT=1000 requests of each kind
#
# berth listens on 127.0.0.1 only; the synthetic rows are written with the
# sqlite3 CLI while berth is stopped (they name no bytes: nothing is pulled
# through them, and the data directory is thrown away afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-1000}
PORT=${BERTH_PORT:-5303}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-flat.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
command -v sqlite3 >/dev/null || as_root apt-get install -y -q sqlite3 >/dev/null
cargo build --release -q -p berth -p berth-bench
BERTH=target/release/berth
BENCH=target/release/berth-bench
URL=http://127.0.0.1:$PORT

start() {
    "$BERTH" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --auth-mode none --log-level warn >>"$WORK/log" 2>&1 &
    PID=$!
    for _ in $(seq 1 300); do curl -fsS "$URL/v2/" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "flat.sh: berth did not come up" >&2; cat "$WORK/log" >&2; return 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; }

# gc_time NAME: copies the (stopped) registry's data, runs one collection
# (the steady state: the candidates recorded by the pushes and by the fill are
# checked and the blob storage's first listing is done), adds 1,000 blob rows
# nothing keeps (GC candidates; they name no bytes, which a sweep tolerates)
# and prints the seconds the next `berth gc` takes to collect them.
gc_time() {
    rm -rf "$WORK/gc-$1"
    cp -a "$WORK/data" "$WORK/gc-$1"
    "$BERTH" gc --data-dir "$WORK/gc-$1" --yes >"$WORK/gc-$1.warm.log" 2>&1 || { cat "$WORK/gc-$1.warm.log" >&2; return 1; }
    sqlite3 "$WORK/gc-$1/meta.db" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
        INSERT INTO blobs (digest, size, created_at) SELECT printf('sha256:%064x', 2000000 + i), 1, 0 FROM n;"
    local t0 t1
    t0=$(date +%s.%N)
    "$BERTH" gc --data-dir "$WORK/gc-$1" --yes >"$WORK/gc-$1.log" 2>&1
    t1=$(date +%s.%N)
    grep -q "deleted 1000 blobs" "$WORK/gc-$1.log" || { echo "flat.sh: gc did not collect the 1000 candidates" >&2; cat "$WORK/gc-$1.log" >&2; return 1; }
    python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$t0" "$t1"
}
kept() { sqlite3 "$WORK/gc-$1/meta.db" "SELECT count(*) FROM blobs"; }

start
"$BENCH" flat-setup --target "$URL" --repo flat/app >"$WORK/fixture.json"
sync
sleep 2
"$BENCH" flat-measure --target "$URL" --fixture "$WORK/fixture.json" --label empty --count "$COUNT" --json "$WORK/empty.json" >/dev/null
stop
GC_EMPTY=$(gc_time empty)

CONFIG=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"])' "$WORK/fixture.json")
MANIFEST=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifest"])' "$WORK/fixture.json")
echo "flat.sh: filling the metadata" >&2
sqlite3 "$WORK/data/meta.db" <<SQL
PRAGMA foreign_keys = OFF;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
INSERT INTO blobs (digest, size, created_at) SELECT printf('sha256:%064x', i), 1, 0 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
INSERT INTO repositories (name, created_at) SELECT printf('fill/r%05d', i), 0 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
INSERT INTO tags (repo_id, name, digest, pushed_at)
SELECT (SELECT id FROM repositories WHERE name = 'flat/app'), printf('f%06d', i), '$MANIFEST', 0 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
INSERT INTO manifests (repo_id, digest, media_type, artifact_type, subject, size, pushed_at)
SELECT (SELECT id FROM repositories WHERE name = 'flat/app'), printf('sha256:%064x', i),
       'application/vnd.oci.image.manifest.v1+json', 'application/vnd.berth.bench.note', '$CONFIG', 1, 0 FROM n;
COMMIT;
SQL
# The blob rows are kept for the GC curve as the layers of old images are:
# each referenced by one of the 1,000 manifests above (1,000 each) and linked
# to the measured repository long ago, so a collection must keep them all.
sqlite3 "$WORK/data/meta.db" <<SQL
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
INSERT INTO manifest_refs (repo_id, manifest_digest, kind, child_digest)
SELECT (SELECT id FROM repositories WHERE name = 'flat/app'), printf('sha256:%064x', (i - 1) / 1000 + 1),
       'layer', printf('sha256:%064x', i) FROM n;
INSERT INTO repo_blobs (repo_id, digest, linked_at)
SELECT (SELECT id FROM repositories WHERE name = 'flat/app'), digest, 0
FROM blobs WHERE size = 1 ON CONFLICT DO NOTHING;
COMMIT;
SQL
# Let the kernel write the fill back before the filled measurements, so they
# measure berth, not the writeback of a few hundred megabytes.
sync
sleep 2
ROWS=$(sqlite3 "$WORK/data/meta.db" "SELECT (SELECT count(*) FROM repositories) || ' repositories, ' || (SELECT count(*) FROM tags) || ' tags, ' || (SELECT count(*) FROM manifests WHERE subject = '$CONFIG') || ' referrers of one subject, ' || (SELECT count(*) FROM blobs) || ' blob rows'")
start
"$BENCH" flat-measure --target "$URL" --fixture "$WORK/fixture.json" --label filled --count "$COUNT" --json "$WORK/filled.json" >/dev/null
stop
GC_FILLED=$(gc_time filled)
"$BENCH" compare --a "$WORK/filled.json" --b "$WORK/empty.json" --flat-targets --out "$WORK/table.md"
{
    echo "# Flat cost: berth on an empty registry and on a full one"
    echo
    echo "Run by \`bench/flat.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, berth $(git rev-parse --short HEAD),"
    echo "SQLite metadata. $COUNT requests of each kind in a row on one connection after"
    echo "a tenth as warm-up; figures are p50 (and p99) latencies as the client sees them."
    echo "Filled: $ROWS."
    echo
    cat "$WORK/table.md"
    echo
    echo "The referrers of the crowded subject are listed apart: its answer carries"
    echo "1,000 descriptors in the filled run and none in the empty one, so its time"
    echo "grows with the answer, not with the registry."
    echo
    echo "## Garbage collection against the blobs it keeps"
    echo
    echo "\`berth gc\` collecting the same 1,000 candidates (blob rows nothing keeps),"
    echo "once beside the empty registry's few blobs and once beside the filled one's"
    echo "1,000,000 synthetic blob rows, each referenced by a manifest and linked to"
    echo "its repository long ago, as the layers of old images are (blobs kept: what"
    echo "is left after the run). Each registry had one"
    echo "collection before (the steady state: the candidates the pushes and the fill"
    echo "recorded are checked, and the first listing of the blob storage is done); the"
    echo "timed run reads the candidates recorded since (migration 25, docs/gc.md)."
    echo
    echo "| registry | blobs kept | candidates | gc run (s) |"
    echo "|---|---:|---:|---:|"
    echo "| empty | $(kept empty) | 1000 | $GC_EMPTY |"
    echo "| filled | $(kept filled) | 1000 | $GC_FILLED |"
    echo
    echo "Target: the run's time grows with the candidates, not with the blobs kept."
    echo "Met when the filled run is within 1.5 x the empty one: $(python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'{b / a:.2f} x, ' + ('yes' if b <= 1.5 * a else '**no**'))" "$GC_EMPTY" "$GC_FILLED")."
} > bench/FLAT.md
echo "flat.sh: wrote bench/FLAT.md" >&2
