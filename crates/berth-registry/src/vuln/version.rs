//! Version order by ecosystem, as the OSV schema's `ECOSYSTEM` and `SEMVER`
//! ranges need it (OSV schema §Evaluation): dpkg (Debian, Ubuntu; the
//! `debversion` crate, Debian Policy §5.6.12), apk (Alpine; apk-tools'
//! rules, written here), rpm (AlmaLinux, Rocky Linux; rpm's `rpmvercmp`
//! and epoch-version-release order, written here), PEP 440 (PyPI; `pep440_rs`), SemVer 2.0 (npm,
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
    /// rpm (`[epoch:]version-release`, `~` and `^`).
    Rpm,
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
            "AlmaLinux" | "Rocky Linux" | "Red Hat" | "openSUSE" | "SUSE" | "Mageia"
            | "openEuler" => Scheme::Rpm,
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
            Scheme::Rpm => Some(rpm_evr_compare(a, b)),
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

/// `(epoch, version, release)` of `[epoch:]version[-release]`; no epoch
/// is epoch 0.
fn rpm_evr(v: &str) -> (u64, &str, Option<&str>) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), r)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((version, release)) => (epoch, version, Some(release)),
        None => (epoch, rest, None),
    }
}

/// rpm's order of two versions: epochs as numbers, then versions, then
/// releases by [`rpmvercmp`]; a missing release is not compared (as rpm
/// and dnf do when one side names none).
fn rpm_evr_compare(a: &str, b: &str) -> Ordering {
    let (ea, va, ra) = rpm_evr(a);
    let (eb, vb, rb) = rpm_evr(b);
    ea.cmp(&eb)
        .then_with(|| rpmvercmp(va, vb))
        .then_with(|| match (ra, rb) {
            (Some(x), Some(y)) => rpmvercmp(x, y),
            _ => Ordering::Equal,
        })
}

/// rpm's `rpmvercmp`: alternating runs of digits and of letters, other
/// characters separating them; numbers compare as numbers (leading zeros
/// ignored), letters as text, a number is newer than letters; `~` sorts
/// before anything, even the end, and `^` after the end but before
/// anything else.
fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    let separator = |c: &u8| !c.is_ascii_alphanumeric() && *c != b'~' && *c != b'^';
    loop {
        while a.first().is_some_and(separator) {
            a = &a[1..];
        }
        while b.first().is_some_and(separator) {
            b = &b[1..];
        }
        if a.first() == Some(&b'~') || b.first() == Some(&b'~') {
            if a.first() != Some(&b'~') {
                return Ordering::Greater;
            }
            if b.first() != Some(&b'~') {
                return Ordering::Less;
            }
            (a, b) = (&a[1..], &b[1..]);
            continue;
        }
        if a.first() == Some(&b'^') || b.first() == Some(&b'^') {
            if a.is_empty() {
                return Ordering::Less;
            }
            if b.is_empty() {
                return Ordering::Greater;
            }
            if a.first() != Some(&b'^') {
                return Ordering::Greater;
            }
            if b.first() != Some(&b'^') {
                return Ordering::Less;
            }
            (a, b) = (&a[1..], &b[1..]);
            continue;
        }
        if a.is_empty() || b.is_empty() {
            break;
        }
        let numeric = a[0].is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let la = a.iter().take_while(|c| class(c)).count();
        let lb = b.iter().take_while(|c| class(c)).count();
        let (sa, sb) = (&a[..la], &b[..lb]);
        (a, b) = (&a[la..], &b[lb..]);
        if sb.is_empty() {
            // Segments of different kinds: the number is newer.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let order = if numeric {
            let trim = |s: &[u8]| {
                let zeros = s.iter().take_while(|c| **c == b'0').count();
                s[zeros..].to_vec()
            };
            let (x, y) = (trim(sa), trim(sb));
            x.len().cmp(&y.len()).then_with(|| x.cmp(&y))
        } else {
            sa.cmp(sb)
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
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

    /// Cases from rpm's own test suite (tests/rpmvercmp.at).
    #[test]
    fn rpmvercmp_orders_as_rpm_does() {
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0", Greater),
            ("5.5p1", "5.5p2", Less),
            ("5.5p10", "5.5p1", Greater),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10.1", Less),
            ("xyz.4", "8", Less),
            ("2a", "2.0", Less),
            ("1.0a", "1.0", Greater),
            ("1.0aa", "1.0a", Greater),
            ("1.05", "1.5", Equal),
            ("1.0010", "1.9", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~rc1~git123", "1.0~rc1", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.01", Less),
            ("1.0^20160101", "1.0.1", Less),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("1.0^git1~pre", "1.0^git1", Less),
        ] {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn rpm_epoch_version_release() {
        let r = Scheme::Rpm;
        assert_eq!(
            cmp(r, "1:1.0-1.el9", "2.0-1.el9"),
            Greater,
            "the epoch first"
        );
        assert_eq!(cmp(r, "0:2.0-1.el9", "2.0-1.el9"), Equal, "no epoch is 0");
        assert_eq!(cmp(r, "5.1.8-6.el9", "5.1.8-6.el9_1"), Less);
        assert_eq!(cmp(r, "5.1.8-10.el9", "5.1.8-9.el9"), Greater);
        assert_eq!(
            cmp(r, "5.1.8-6.el9", "5.1.8"),
            Equal,
            "no release to compare"
        );
        assert_eq!(Scheme::of("AlmaLinux:9"), Some(Scheme::Rpm));
        assert_eq!(Scheme::of("Rocky Linux:8"), Some(Scheme::Rpm));
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
