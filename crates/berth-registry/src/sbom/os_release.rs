//! `/etc/os-release` and `/usr/lib/os-release` (os-release(5): `KEY=value`
//! lines, values optionally quoted), and `/etc/alpine-release`.

use super::package::OsRelease;

/// Parses an os-release file.
pub fn parse(text: &str) -> Option<OsRelease> {
    let mut os = OsRelease::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        match key.trim() {
            "ID" => os.id = value.to_string(),
            "VERSION_ID" => os.version_id = value.to_string(),
            "PRETTY_NAME" => os.pretty_name = value.to_string(),
            _ => {}
        }
    }
    (!os.id.is_empty()).then_some(os)
}

/// `/etc/alpine-release`: the version alone.
pub fn alpine(text: &str) -> Option<OsRelease> {
    let version = text.trim();
    (!version.is_empty()).then(|| OsRelease {
        id: "alpine".into(),
        version_id: version.to_string(),
        pretty_name: format!("Alpine Linux v{version}"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoted_values() {
        let os = super::parse(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
        )
        .unwrap();
        assert_eq!((os.id.as_str(), os.version_id.as_str()), ("debian", "12"));
        assert_eq!(os.pretty_name, "Debian GNU/Linux 12 (bookworm)");
    }
}
