//! Repository names (OCI distribution-spec §Pulling manifests, `<name>`):
//!
//! ```text
//! name      := component ("/" component)*
//! component := [a-z0-9]+ (separator [a-z0-9]+)*
//! separator := "." | "_" | "__" | "-"+
//! ```
//! at most [`MAX_NAME_LEN`] characters. A valid name contains no `..`, no empty
//! component, no percent sign and no uppercase letter, so it is safe as part of a
//! storage key or URL without escaping.

use std::fmt;

/// Longest accepted repository name, in bytes (Distribution's limit).
pub const MAX_NAME_LEN: usize = 255;

/// Why a repository name is invalid. The message is meant for users.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty name.
    #[error("repository name is empty")]
    Empty,
    /// Longer than [`MAX_NAME_LEN`].
    #[error("repository name is {0} characters long; the limit is 255")]
    TooLong(usize),
    /// Breaks the component grammar.
    #[error("invalid repository name {0:?}: components are lowercase letters and digits separated by '.', '_', '__' or dashes, joined by '/'")]
    Grammar(String),
}

/// A validated repository name such as `team/app/api`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(String);

impl RepositoryName {
    /// Validates `s` against the spec's grammar.
    pub fn parse(s: &str) -> Result<RepositoryName, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong(s.len()));
        }
        if !s.split('/').all(component_ok) {
            return Err(NameError::Grammar(s.to_string()));
        }
        Ok(RepositoryName(s.to_string()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first path component (`team` for `team/app`, `busybox` for `busybox`).
    pub fn namespace(&self) -> &str {
        self.0.split('/').next().unwrap_or(&self.0)
    }

    /// The project this repository belongs to: the first path component of a
    /// multi-component name (`team/app` → `team`), and [`DEFAULT_PROJECT`]
    /// (`library`) for a one-component name (`busybox`), as on Docker Hub and Harbor.
    pub fn project(&self) -> &str {
        match self.0.split_once('/') {
            Some((project, _)) => project,
            None => DEFAULT_PROJECT,
        }
    }
}

/// The project of one-component repository names (`busybox` is in `library`).
pub const DEFAULT_PROJECT: &str = "library";

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let mut i = 0;
    // Leading run of alphanumerics.
    let start = i;
    while i < b.len() && is_alnum(b[i]) {
        i += 1;
    }
    if i == start {
        return false;
    }
    while i < b.len() {
        // A separator: ".", "_", "__", or one or more "-".
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        let run = i;
        while i < b.len() && is_alnum(b[i]) {
            i += 1;
        }
        if i == run {
            return false;
        }
    }
    true
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepositoryName({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_is_the_first_component_or_library() {
        let name = |s: &str| RepositoryName::parse(s).expect(s);
        assert_eq!(name("team/app").project(), "team");
        assert_eq!(name("team/sub/app").project(), "team");
        assert_eq!(name("busybox").project(), "library");
        assert_eq!(name("library/busybox").project(), "library");
    }

    #[test]
    fn multi_component_names_are_valid() {
        for ok in [
            "busybox",
            "team/app/api",
            "a.b_c__d---e/f-g",
            "0/1/2",
            "library/busybox",
        ] {
            assert!(RepositoryName::parse(ok).is_ok(), "{ok} rejected");
        }
    }

    #[test]
    fn names_breaking_the_grammar_are_invalid() {
        for bad in [
            "Upper",
            "a//b",
            "/a",
            "a/",
            "a..b",
            "a___b",
            "-a",
            "a-",
            "a_-b",
            "a/../b",
            "..",
            "a/%2e%2e/b",
            "a\0b",
            "a b",
            "a:b",
            "_a",
            "a/.b",
        ] {
            assert!(
                matches!(RepositoryName::parse(bad), Err(NameError::Grammar(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn name_longer_than_255_is_invalid() {
        let long = "a".repeat(256);
        assert_eq!(RepositoryName::parse(&long), Err(NameError::TooLong(256)));
        assert!(RepositoryName::parse(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn namespace_is_the_first_component() {
        assert_eq!(
            RepositoryName::parse("team/app").unwrap().namespace(),
            "team"
        );
        assert_eq!(
            RepositoryName::parse("busybox").unwrap().namespace(),
            "busybox"
        );
    }
}
