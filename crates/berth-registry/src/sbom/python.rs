//! Python distributions: the core metadata file (PyPA "Core metadata
//! specifications": RFC 822 style headers, `Name`, `Version`, `License` or
//! `License-Expression`) of a `*.dist-info/METADATA` or an
//! `*.egg-info/PKG-INFO` (or an `*.egg-info` file).

use super::package::{Ecosystem, Package};

/// True for a path whose file is a distribution's core metadata.
pub fn is_metadata(path: &str) -> bool {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    (file == "METADATA" && dir.ends_with(".dist-info"))
        || (file == "PKG-INFO" && dir.ends_with(".egg-info"))
        || (file.ends_with(".egg-info") && (dir.contains("-packages")))
}

/// The distribution described by core metadata `text` found at `location`.
pub fn package(text: &str, location: &str) -> Option<Package> {
    let mut name = None;
    let mut version = None;
    let mut license = None;
    for line in text.lines() {
        if line.is_empty() {
            break; // the headers end; the description follows
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.to_ascii_lowercase().as_str() {
            "name" => name = Some(value.to_string()),
            "version" => version = Some(value.to_string()),
            "license-expression" => license = Some(value.to_string()),
            "license" if license.is_none() && !value.is_empty() && value != "UNKNOWN" => {
                license = Some(value.lines().next().unwrap_or(value).to_string())
            }
            _ => {}
        }
    }
    Some(Package {
        license,
        ..Package::new(
            Ecosystem::PyPI,
            name.filter(|n| !n.is_empty())?,
            version.filter(|v| !v.is_empty())?,
            location,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_metadata_names_the_distribution() {
        assert!(is_metadata(
            "usr/lib/python3/dist-packages/requests-2.28.1.dist-info/METADATA"
        ));
        assert!(is_metadata(
            "usr/lib/python3/dist-packages/six-1.16.0.egg-info"
        ));
        assert!(!is_metadata("home/METADATA"));
        let p = package(
            "Metadata-Version: 2.1\nName: requests\nVersion: 2.28.1\nLicense: Apache 2.0\n\nName: not-this\n",
            "/x",
        )
        .unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str()),
            ("requests", "2.28.1")
        );
        assert_eq!(p.license.as_deref(), Some("Apache 2.0"));
        assert!(package("Name: x\n", "/x").is_none());
    }
}
