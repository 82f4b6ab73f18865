//! Replays every input kept in `fuzz/corpus/tokens_and_scopes/` (and every
//! crash turned into a regression case in `fuzz/regressions/tokens_and_scopes/`)
//! through the entry point the fuzz target uses,
//! `berth_registry::auth::fuzzing::tokens_and_scopes`. This is how CI runs the
//! fuzzer's findings without a nightly toolchain (the OCI parsers' targets are
//! replayed by `crates/berth-oci/tests/fuzz_corpus.rs`).

use std::path::Path;

use berth_registry::auth::fuzzing;

fn replay(target: &str, run: fn(&[u8])) -> usize {
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
    count
}

#[test]
fn corpus_of_tokens_and_scopes_replays_cleanly() {
    let n = replay("tokens_and_scopes", fuzzing::tokens_and_scopes);
    assert!(n >= 12, "only {n} corpus files");
}

/// The corpus keeps tokens signed with the fuzzing key that pass every check,
/// so the replay (and the fuzzer) reaches the invariants of accepted tokens,
/// and their refused twins (`crit` header, high-S signature, expired, wrong
/// audience, `alg: none`, HS256).
#[test]
fn corpus_holds_tokens_that_verify_and_twins_that_do_not() {
    use berth_registry::auth::TokenIssuer;
    let issuer = TokenIssuer::new(
        fuzzing::FUZZ_KEY,
        "berth",
        "berth",
        std::time::Duration::from_secs(300),
    )
    .expect("fuzzing key");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/tokens_and_scopes");
    let (mut ok, mut refused) = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&data);
        let text = text.trim();
        if text.split('.').count() != 3 || text.contains('\n') {
            continue;
        }
        match issuer.verify(text) {
            Ok(_) => ok += 1,
            Err(_) => refused += 1,
        }
    }
    assert!(ok >= 2, "{ok} corpus tokens verify");
    assert!(refused >= 6, "{refused} corpus tokens are refused");
}
