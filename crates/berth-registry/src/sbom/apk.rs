//! The apk database (Alpine): `/lib/apk/db/installed`, stanzas of
//! one-letter `K:value` lines separated by blank lines (apk-tools'
//! "installed database" format: `P` name, `V` version, `A` arch, `L`
//! license, `o` origin).

use super::package::{Ecosystem, Package};

/// The packages of an apk installed database at `location`.
pub fn packages(text: &str, location: &str) -> Vec<Package> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut p = Package::new(Ecosystem::Apk, "", "", location);
        let mut origin = None;
        for line in stanza.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            match key {
                "P" => p.name = value.to_string(),
                "V" => p.version = value.to_string(),
                "A" => p.arch = Some(value.to_string()),
                "L" => p.license = Some(value.to_string()),
                "o" => origin = Some(value.to_string()),
                _ => {}
            }
        }
        if p.name.is_empty() || p.version.is_empty() {
            continue;
        }
        p.source = origin.map(|o| (o, p.version.clone()));
        out.push(p);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn stanzas_become_packages() {
        let db = "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\n\nP:busybox\nV:1.36.1-r5\nA:x86_64\nL:GPL-2.0-only\n\n";
        let p = super::packages(db, "/lib/apk/db/installed");
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].name.as_str(), p[0].version.as_str()),
            ("musl", "1.2.4-r2")
        );
        assert_eq!(p[1].license.as_deref(), Some("GPL-2.0-only"));
    }
}
