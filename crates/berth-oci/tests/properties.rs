//! Property tests: the parsers round-trip what they accept, accept everything the
//! spec's grammars generate, and never panic on arbitrary input.

use berth_oci::range::{ByteRange, ContentRange, RangeOutcome};
use berth_oci::{fuzzing, Algorithm, Digest, Reference, RepositoryName, Tag};
use proptest::prelude::*;

proptest! {
    #[test]
    fn any_sha256_or_sha512_digest_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..256), sha512 in any::<bool>()) {
        let alg = if sha512 { Algorithm::Sha512 } else { Algorithm::Sha256 };
        let d = Digest::of(alg, &bytes);
        prop_assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
    }

    #[test]
    fn names_from_the_spec_grammar_are_accepted(
        name in "[a-z0-9]{1,8}((\\.|_|__|-{1,3})[a-z0-9]{1,8}){0,2}(/[a-z0-9]{1,8}((\\.|_|__|-{1,3})[a-z0-9]{1,8}){0,2}){0,4}"
    ) {
        prop_assume!(name.len() <= 255);
        let n = RepositoryName::parse(&name).unwrap();
        prop_assert_eq!(n.as_str(), name.as_str());
    }

    #[test]
    fn tags_from_the_spec_grammar_are_accepted(tag in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}") {
        let parsed = Tag::parse(&tag).unwrap();
        prop_assert_eq!(parsed.as_str(), tag.as_str());
        prop_assert!(matches!(Reference::parse(&tag), Ok(Reference::Tag(_))));
    }

    #[test]
    fn content_ranges_round_trip(start in 0u64..u64::MAX / 2, len in 1u64..1 << 40) {
        let end = start + len - 1;
        let r = ContentRange::parse(&format!("{start}-{end}")).unwrap();
        prop_assert_eq!((r.start, r.end, r.len()), (start, end, len));
        prop_assert_eq!(ContentRange::parse(&format!("bytes {start}-{end}/*")), Some(r));
    }

    #[test]
    fn resolved_byte_ranges_stay_inside_the_blob(start in 0u64..2000, end in 0u64..2000, size in 0u64..1500, suffix in any::<bool>()) {
        let header = if suffix { format!("bytes=-{end}") } else { format!("bytes={start}-{end}") };
        match ByteRange::resolve(Some(&header), size) {
            RangeOutcome::Partial { start: s, end: e } => prop_assert!(s < e && e <= size),
            RangeOutcome::Unsatisfiable => prop_assert!(suffix && (end == 0 || size == 0) || !suffix && (start >= size || end < start)),
            RangeOutcome::Full => prop_assert!(false, "a single valid range is never ignored"),
        }
    }

    #[test]
    fn arbitrary_text_never_panics_the_parsers(s in "\\PC{0,300}") {
        fuzzing::names_and_references(s.as_bytes());
        fuzzing::digests(s.as_bytes());
        fuzzing::ranges(s.as_bytes());
        fuzzing::manifests(s.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic_manifest_validation(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        fuzzing::manifests(&bytes);
    }
}
