//! npm packages: the `package.json` at the root of each package directory
//! under a `node_modules` directory (`node_modules/<name>/package.json`,
//! `node_modules/@scope/<name>/package.json`).

use super::package::{Ecosystem, Package};

/// True for the `package.json` of a package installed under `node_modules`.
pub fn is_manifest(path: &str) -> bool {
    let Some(dir) = path.strip_suffix("/package.json") else {
        return false;
    };
    let mut parts = dir.rsplit('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some("node_modules"), _) => true,
        (Some(_), Some(scope), Some("node_modules")) => scope.starts_with('@'),
        _ => false,
    }
}

/// The package a `package.json` describes (`name`, `version`, `license`
/// as a string or the old `{ "type": … }` form).
pub fn package(json: &[u8], location: &str) -> Option<Package> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let name = v.get("name")?.as_str()?.to_string();
    let version = v.get("version")?.as_str()?.to_string();
    if name.is_empty() || version.is_empty() {
        return None;
    }
    let license = match v.get("license") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(o) => o.get("type").and_then(|t| t.as_str()).map(str::to_string),
        None => None,
    };
    Some(Package {
        license,
        ..Package::new(Ecosystem::Npm, name, version, location)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_json_under_node_modules() {
        assert!(is_manifest("app/node_modules/express/package.json"));
        assert!(is_manifest("app/node_modules/@types/node/package.json"));
        assert!(!is_manifest("app/package.json"));
        assert!(!is_manifest("app/node_modules/express/lib/package.json"));
        let p = package(
            br#"{"name":"@types/node","version":"20.1.0","license":"MIT"}"#,
            "/x",
        )
        .unwrap();
        assert_eq!(p.name, "@types/node");
        assert!(package(br#"{"name":"x"}"#, "/x").is_none());
    }
}
