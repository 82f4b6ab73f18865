//! Manifest references (OCI distribution-spec §Pulling manifests, `<reference>`):
//! a tag matching `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` or a digest.

use std::fmt;

use crate::digest::{Digest, DigestError};

/// Why a reference is neither a valid tag nor a valid digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Not a tag, and contains no `:` so not a digest either.
    #[error("invalid tag {0:?}: tags are 1-128 characters of [A-Za-z0-9_.-] and must not start with '.' or '-'")]
    Tag(String),
    /// Contains a `:` but is not a usable digest.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

/// A validated tag.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// Validates a tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
    pub fn parse(s: &str) -> Result<Tag, ReferenceError> {
        let b = s.as_bytes();
        let first_ok = b
            .first()
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
        let rest_ok = b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
        if first_ok && rest_ok && b.len() <= 128 {
            Ok(Tag(s.to_string()))
        } else {
            Err(ReferenceError::Tag(s.to_string()))
        }
    }

    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({})", self.0)
    }
}

/// A manifest reference: by tag or by digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// `GET /v2/<name>/manifests/<tag>`.
    Tag(Tag),
    /// `GET /v2/<name>/manifests/<digest>`.
    Digest(Digest),
}

impl Reference {
    /// A string with a `:` is parsed as a digest (tags cannot contain one), anything
    /// else as a tag.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if s.contains(':') {
            Ok(Reference::Digest(Digest::parse(s)?))
        } else {
            Ok(Reference::Tag(Tag::parse(s)?))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => t.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_spec_pattern() {
        for ok in ["latest", "v1.2.3", "_x", "A-b_c.d", &"a".repeat(128)] {
            assert!(Tag::parse(ok).is_ok(), "{ok} rejected");
        }
        for bad in ["", ".x", "-x", "a/b", "a b", "..", &"a".repeat(129), "a%2f"] {
            assert!(Tag::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn reference_with_colon_is_a_digest() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(matches!(Reference::parse(&d), Ok(Reference::Digest(_))));
        assert!(matches!(Reference::parse("v1"), Ok(Reference::Tag(_))));
        assert!(matches!(
            Reference::parse("sha256:zz"),
            Err(ReferenceError::Digest(_))
        ));
    }
}
