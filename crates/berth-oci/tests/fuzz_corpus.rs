//! Replays every input kept in `fuzz/corpus/<target>/` (and every crash turned
//! into a regression case in `fuzz/regressions/<target>/`) through the same entry
//! points the fuzz targets use. This is how CI runs the fuzzers' findings without
//! a nightly toolchain.

use std::path::Path;

use berth_oci::fuzzing;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| run(&data));
            assert!(result.is_ok(), "{} panics", path.display());
            count += 1;
        }
    }
    assert!(count > 0, "no corpus for fuzz target {target}");
}

#[test]
fn corpus_of_names_and_references_replays_cleanly() {
    replay("names_and_references", fuzzing::names_and_references);
}

#[test]
fn corpus_of_digests_replays_cleanly() {
    replay("digests", fuzzing::digests);
}

#[test]
fn corpus_of_ranges_replays_cleanly() {
    replay("ranges", fuzzing::ranges);
}

#[test]
fn corpus_of_manifests_replays_cleanly() {
    replay("manifests", fuzzing::manifests);
}
