//! Version order by ecosystem, as the OSV schema's `ECOSYSTEM` and `SEMVER`
//! ranges need it (OSV schema §Evaluation): dpkg (Debian, Ubuntu; the
//! `debversion` crate, Debian Policy §5.6.12), apk (Alpine; apk-tools'
//! rules, written here), PEP 440 (PyPI; `pep440_rs`), SemVer 2.0 (npm,
//! crates.io, Go modules; `semver`, Go's leading `v` dropped).

use std::cmp::Ordering;
use std::str::FromStr;

/// How an ecosystem orders versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Debian Policy §5.6.12 (epochs, `~`).
    Dpkg,
    /// apk-tools (`1.2.3_rc1-r2`).
    Apk,
    /// PEP 440.
    Pep440,
    /// SemVer 2.0; a leading `v` is dropped (Go).
    Semver,
}

impl Scheme {
    /// The scheme of an OSV ecosystem (`Debian:12`, `Ubuntu:22.04`,
    /// `Alpine:v3.19`, `PyPI`, `npm`, `crates.io`, `Go`); `None` for others.
    pub fn of(ecosystem: &str) -> Option<Scheme> {
        let base = ecosystem.split(':').next().unwrap_or(ecosystem);
        Some(match base {
            "Debian" | "Ubuntu" => Scheme::Dpkg,
            "Alpine" => Scheme::Apk,
            "PyPI" => Scheme::Pep440,
            "npm" | "crates.io" | "Go" => Scheme::Semver,
            _ => return None,
        })
    }

    /// Orders `a` and `b`; `None` when either is not a version of the
    /// scheme. OSV's `0` (the first version of all) is below everything.
    pub fn compare(self, a: &str, b: &str) -> Option<Ordering> {
        match (a, b) {
            ("0", "0") => return Some(Ordering::Equal),
            ("0", _) => return Some(Ordering::Less),
            (_, "0") => return Some(Ordering::Greater),
            _ => {}
        }
        match self {
            Scheme::Dpkg => {
                let a = debversion::Version::from_str(a).ok()?;
                let b = debversion::Version::from_str(b).ok()?;
                Some(a.cmp(&b))
            }
            Scheme::Apk => Some(apk_compare(a, b)),
            Scheme::Pep440 => {
                let a = pep440_rs::Version::from_str(a).ok()?;
                let b = pep440_rs::Version::from_str(b).ok()?;
                Some(a.cmp(&b))
            }
            Scheme::Semver => {
                let a = semver::Version::parse(a.strip_prefix('v').unwrap_or(a)).ok()?;
                let b = semver::Version::parse(b.strip_prefix('v').unwrap_or(b)).ok()?;
                Some(a.cmp_precedence(&b))
            }
        }
    }
}

/// One piece of an apk version.
#[derive(Debug, PartialEq, Eq)]
enum Token {
    /// A number (compared as a number; with a leading zero, as text, as
    /// apk-tools does for fractional parts).
    Number(String),
    /// A letter after a number (`1.0a`).
    Letter(char),
    /// `_alpha`, `_beta`, `_pre`, `_rc` (before the release: negative rank)
    /// or `_cvs`, `_svn`, `_git`, `_hg`, `_p` (after it), and its number.
    Suffix(i8, u64),
}

fn suffix_rank(name: &str) -> i8 {
    match name {
        "alpha" => -4,
        "beta" => -3,
        "pre" => -2,
        "rc" => -1,
        "cvs" => 1,
        "svn" => 2,
        "git" => 3,
        "hg" => 4,
        "p" => 5,
        _ => 0,
    }
}

/// `(tokens, revision)` of an apk version.
fn apk_tokens(v: &str) -> (Vec<Token>, u64) {
    let (main, revision) = match v.rsplit_once("-r") {
        Some((m, r)) if r.chars().all(|c| c.is_ascii_digit()) && !r.is_empty() => {
            (m, r.parse().unwrap_or(0))
        }
        _ => (v, 0),
    };
    let mut tokens = Vec::new();
    let mut rest = main;
    while !rest.is_empty() {
        if let Some(s) = rest.strip_prefix('_') {
            let name: String = s.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
            let after = &s[name.len()..];
            let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
            tokens.push(Token::Suffix(
                suffix_rank(&name),
                digits.parse().unwrap_or(0),
            ));
            rest = &after[digits.len()..];
        } else if let Some(s) = rest.strip_prefix('.') {
            rest = s;
        } else if rest.starts_with(|c: char| c.is_ascii_digit()) {
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            rest = &rest[digits.len()..];
            tokens.push(Token::Number(digits));
        } else {
            let c = rest.chars().next().unwrap_or('a');
            tokens.push(Token::Letter(c));
            rest = &rest[c.len_utf8()..];
        }
    }
    (tokens, revision)
}

/// apk-tools' order: numbers numerically, a letter above none, pre-release
/// suffixes below the release and post-release ones above it, then `-rN`.
fn apk_compare(a: &str, b: &str) -> Ordering {
    let (ta, ra) = apk_tokens(a);
    let (tb, rb) = apk_tokens(b);
    for i in 0..ta.len().max(tb.len()) {
        let o = match (ta.get(i), tb.get(i)) {
            (Some(Token::Number(x)), Some(Token::Number(y))) => {
                if x.starts_with('0') || y.starts_with('0') {
                    x.cmp(y)
                } else {
                    let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
                }
            }
            (Some(Token::Letter(x)), Some(Token::Letter(y))) => x.cmp(y),
            (Some(Token::Suffix(rx, nx)), Some(Token::Suffix(ry, ny))) => {
                rx.cmp(ry).then(nx.cmp(ny))
            }
            // Past the end of one: a pre-release suffix is below the end,
            // anything else above it.
            (Some(Token::Suffix(r, _)), None) => {
                if *r < 0 {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (None, Some(Token::Suffix(r, _))) => {
                if *r < 0 {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            // Different kinds at one place: a number sorts above a letter
            // or suffix there (1.0.1 > 1.0a > 1.0_rc1).
            (Some(Token::Number(_)), Some(_)) => Ordering::Greater,
            (Some(_), Some(Token::Number(_))) => Ordering::Less,
            (Some(Token::Letter(_)), Some(Token::Suffix(..))) => Ordering::Greater,
            (Some(Token::Suffix(..)), Some(Token::Letter(_))) => Ordering::Less,
            (None, None) => Ordering::Equal,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ra.cmp(&rb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::{Equal, Greater, Less};

    fn cmp(s: Scheme, a: &str, b: &str) -> Ordering {
        s.compare(a, b).unwrap_or_else(|| panic!("{a} vs {b}"))
    }

    #[test]
    fn dpkg_epochs_and_tildes() {
        let d = Scheme::Dpkg;
        assert_eq!(cmp(d, "1:1.0", "2.0"), Greater, "the epoch first");
        assert_eq!(cmp(d, "1.0~rc1", "1.0"), Less, "~ sorts before the end");
        assert_eq!(cmp(d, "2.36-9+deb12u4", "2.36-9+deb12u3"), Greater);
        assert_eq!(cmp(d, "3.0.11-1~deb12u2", "3.0.11-1"), Less);
        assert_eq!(cmp(d, "5.2.15-2+b2", "5.2.15-2"), Greater);
        assert_eq!(cmp(d, "0", "0.1"), Less, "OSV's 0 is the first version");
    }

    #[test]
    fn apk_suffixes_and_revisions() {
        let a = Scheme::Apk;
        assert_eq!(cmp(a, "1.2.4-r2", "1.2.4-r10"), Less);
        assert_eq!(cmp(a, "1.2.4_rc1-r0", "1.2.4-r0"), Less);
        assert_eq!(cmp(a, "1.2.4_p1-r0", "1.2.4-r0"), Greater);
        assert_eq!(cmp(a, "1.2.10", "1.2.9"), Greater);
        assert_eq!(cmp(a, "1.0a", "1.0"), Greater);
        assert_eq!(cmp(a, "1.0.1", "1.0a"), Greater);
        assert_eq!(cmp(a, "3.0.8-r0", "3.0.8"), Equal);
    }

    #[test]
    fn pep440_and_semver() {
        assert_eq!(cmp(Scheme::Pep440, "23.2.1", "23.3"), Less);
        assert_eq!(cmp(Scheme::Pep440, "1.0rc1", "1.0"), Less);
        assert_eq!(cmp(Scheme::Pep440, "1.0.post1", "1.0"), Greater);
        assert_eq!(cmp(Scheme::Semver, "v1.19.8", "1.20.0"), Less);
        assert_eq!(cmp(Scheme::Semver, "1.0.0-alpha", "1.0.0"), Less);
        assert_eq!(
            cmp(
                Scheme::Semver,
                "v0.0.0-20230101000000-abcdef123456",
                "0.1.0"
            ),
            Less,
            "a Go pseudo-version"
        );
        assert!(Scheme::Semver.compare("not a version", "1.0.0").is_none());
        assert_eq!(Scheme::of("Debian:12"), Some(Scheme::Dpkg));
        assert_eq!(Scheme::of("Alpine:v3.19"), Some(Scheme::Apk));
        assert_eq!(Scheme::of("Maven"), None);
    }
}
