//! The dpkg database (Debian, Ubuntu): `/var/lib/dpkg/status`, and the
//! one-stanza files of `/var/lib/dpkg/status.d/` distroless images use
//! (deb-control(5) syntax: stanzas of `Field: value` lines separated by
//! blank lines, continuation lines starting with a space).

use super::package::{Ecosystem, Package};

/// The fields of one stanza of a control file, in order.
pub(crate) fn stanzas(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((field, value)) = line.split_once(':') {
            current.push((field.trim().to_string(), value.trim().to_string()));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn field<'a>(stanza: &'a [(String, String)], name: &str) -> Option<&'a str> {
    stanza
        .iter()
        .find(|(f, _)| f.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The installed packages of a dpkg status file at `location`. A stanza
/// counts when its `Status` says `installed` (the third word; a status.d
/// file has no `Status` and counts); `Source: name (version)` gives the
/// source package.
pub fn packages(text: &str, location: &str) -> Vec<Package> {
    stanzas(text)
        .into_iter()
        .filter_map(|s| {
            if field(&s, "Status")
                .is_some_and(|st| st.split_whitespace().nth(2) != Some("installed"))
            {
                return None;
            }
            let name = field(&s, "Package")?.to_string();
            let version = field(&s, "Version")?.to_string();
            let source = field(&s, "Source").map(|src| match src.split_once(' ') {
                Some((n, v)) => (
                    n.to_string(),
                    v.trim_matches(|c| c == '(' || c == ')' || c == ' ')
                        .to_string(),
                ),
                None => (src.to_string(), version.clone()),
            });
            Some(Package {
                ecosystem: Ecosystem::Deb,
                name,
                version,
                arch: field(&s, "Architecture").map(str::to_string),
                source,
                license: None,
                location: location.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_stanzas_become_packages() {
        let status = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\n\
Version: 2.36-9+deb12u4\nSource: glibc\nDescription: GNU C Library\n more text\n\n\
Package: old\nStatus: deinstall ok config-files\nVersion: 1\n\n\
Package: libssl3\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u2\n\
Source: openssl (3.0.11-1~deb12u2)\nArchitecture: amd64\n";
        let p = packages(status, "/var/lib/dpkg/status");
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].name, "libc6");
        assert_eq!(p[0].source, Some(("glibc".into(), "2.36-9+deb12u4".into())));
        assert_eq!(p[1].version, "3.0.11-1~deb12u2");
        assert_eq!(
            p[1].source,
            Some(("openssl".into(), "3.0.11-1~deb12u2".into()))
        );
        // distroless status.d: one stanza, no Status field.
        let one = packages(
            "Package: base-files\nVersion: 12.4\n",
            "/var/lib/dpkg/status.d/base",
        );
        assert_eq!(one.len(), 1);
    }
}
