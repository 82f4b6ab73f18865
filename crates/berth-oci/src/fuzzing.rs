//! Entry points shared by the fuzz targets in `fuzz/` and by the corpus replay
//! test (`tests/fuzz_corpus.rs`), so every input the fuzzer ever kept is also an
//! ordinary `cargo test` case. Each takes arbitrary bytes, must never panic, and
//! asserts the parser's own invariants (a value that parses prints back to text
//! that parses to the same value).

use crate::digest::Digest;
use crate::manifest::Manifest;
use crate::name::RepositoryName;
use crate::range::{ByteRange, ContentRange, RangeOutcome};
use crate::reference::Reference;

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Repository names and manifest references.
pub fn names_and_references(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(n) = RepositoryName::parse(s) {
        assert_eq!(n.as_str(), s);
        assert!(n.as_str().len() <= crate::name::MAX_NAME_LEN);
        assert!(!n.as_str().contains(".."), "{s:?}");
        assert!(
            !n.as_str().contains("//") && !n.as_str().starts_with('/'),
            "{s:?}"
        );
        assert!(n
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b)));
    }
    if let Ok(r) = Reference::parse(s) {
        assert_eq!(Reference::parse(&r.to_string()).ok(), Some(r.clone()));
        assert!(!r.to_string().contains('/'), "{s:?}");
    }
}

/// Digests.
pub fn digests(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(d) = Digest::parse(s) {
        assert_eq!(d.as_str(), s);
        assert_eq!(d.hex().len(), d.algorithm().hex_len());
        assert!(d
            .hex()
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }
}

/// `Content-Range` of upload chunks and `Range` of blob reads.
pub fn ranges(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Some(r) = ContentRange::parse(s) {
        assert!(r.end >= r.start);
        assert_eq!(
            ContentRange::parse(&format!("{}-{}", r.start, r.end)),
            Some(r)
        );
    }
    for size in [0u64, 1, 10, 1 << 20, u64::MAX] {
        match ByteRange::resolve(Some(s), size) {
            RangeOutcome::Partial { start, end } => {
                assert!(start < end && end <= size, "{s:?} {size}")
            }
            RangeOutcome::Full | RangeOutcome::Unsatisfiable => {}
        }
    }
}

/// Manifest and index validation, with and without a `Content-Type`.
pub fn manifests(data: &[u8]) {
    for ct in [
        None,
        Some(crate::media_type::OCI_MANIFEST),
        Some(crate::media_type::OCI_INDEX),
        Some("application/json"),
    ] {
        if let Ok(m) = Manifest::parse(data, ct) {
            assert!(crate::media_type::MANIFEST_TYPES.contains(&m.media_type.as_str()));
            for c in &m.children {
                assert!(Digest::parse(c.digest.as_str()).is_ok());
            }
        }
    }
}
