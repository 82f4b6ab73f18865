//! What an SBOM lists: the [`Package`]s found in an image, with the
//! package URL ([`Package::purl`], the purl specification's `pkg:` form) and
//! the OSV ecosystem ([`Package::osv_ecosystem`]) each is known by.

use std::fmt;

/// Where a package comes from: its package manager or language ecosystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ecosystem {
    /// A Debian or Ubuntu package from the dpkg database.
    Deb,
    /// An Alpine package from the apk database.
    Apk,
    /// An rpm package from the rpm database (`rpmdb.sqlite`).
    Rpm,
    /// A Python distribution (`*.dist-info`, `*.egg-info`).
    PyPI,
    /// An npm package under `node_modules`.
    Npm,
    /// A Go module (or the Go standard library, `stdlib`) compiled into a binary.
    Go,
    /// A Rust crate compiled into a binary (cargo-auditable data).
    Cargo,
}

impl Ecosystem {
    /// The purl type (`deb`, `apk`, `rpm`, `pypi`, `npm`, `golang`, `cargo`).
    pub fn purl_type(self) -> &'static str {
        match self {
            Ecosystem::Deb => "deb",
            Ecosystem::Apk => "apk",
            Ecosystem::Rpm => "rpm",
            Ecosystem::PyPI => "pypi",
            Ecosystem::Npm => "npm",
            Ecosystem::Go => "golang",
            Ecosystem::Cargo => "cargo",
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.purl_type())
    }
}

/// The distribution an image is built on, from `/etc/os-release`
/// (freedesktop.org os-release(5)) or `/etc/alpine-release`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// `ID`, e.g. `debian`, `ubuntu`, `alpine`.
    pub id: String,
    /// `VERSION_ID`, e.g. `12`, `22.04`, `3.19.1`.
    pub version_id: String,
    /// `PRETTY_NAME`, e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub pretty_name: String,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Package {
    /// Its ecosystem.
    pub ecosystem: Ecosystem,
    /// Name as the ecosystem spells it (`libc6`, `requests`, `@scope/pkg`,
    /// `github.com/x/y`, `stdlib`).
    pub name: String,
    /// Version as the ecosystem spells it (`2.36-9+deb12u4`, `v1.2.3`; rpm:
    /// `[epoch:]version-release`, `1:5.1.8-6.el9`).
    pub version: String,
    /// Architecture, where the database records one (`amd64`, `x86_64`).
    pub arch: Option<String>,
    /// Source package (dpkg `Source`, apk origin), with its version when it
    /// differs from the binary package's.
    pub source: Option<(String, String)>,
    /// Declared license, as written by the package.
    pub license: Option<String>,
    /// Path in the image of the file it was found in (`/var/lib/dpkg/status`).
    pub location: String,
}

impl Package {
    /// A package without an architecture, source or license.
    pub fn new(
        ecosystem: Ecosystem,
        name: impl Into<String>,
        version: impl Into<String>,
        location: &str,
    ) -> Package {
        Package {
            ecosystem,
            name: name.into(),
            version: version.into(),
            arch: None,
            source: None,
            license: None,
            location: location.to_string(),
        }
    }

    /// The package URL (purl-spec), e.g.
    /// `pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12`,
    /// `pkg:npm/%40scope/name@1.0.0`, `pkg:golang/github.com/x/y@v1.2.3`,
    /// `pkg:rpm/almalinux/bash@5.1.8-6.el9?arch=x86_64&epoch=1&distro=almalinux-9.4`
    /// (an rpm's epoch is a qualifier, not part of the version).
    pub fn purl(&self, os: Option<&OsRelease>) -> Option<String> {
        let (namespace, name) = match self.ecosystem {
            Ecosystem::Rpm => (
                os.map(|o| o.id.as_str()).filter(|i| !i.is_empty()),
                self.name.as_str(),
            ),
            Ecosystem::Deb | Ecosystem::Apk => (
                Some(
                    os.map(|o| o.id.as_str())
                        .filter(|i| !i.is_empty())
                        .unwrap_or(if self.ecosystem == Ecosystem::Deb {
                            "debian"
                        } else {
                            "alpine"
                        }),
                ),
                self.name.as_str(),
            ),
            Ecosystem::Npm => match self.name.rsplit_once('/') {
                Some((scope, name)) if self.name.starts_with('@') => (Some(scope), name),
                _ => (None, self.name.as_str()),
            },
            Ecosystem::Go => match self.name.rsplit_once('/') {
                Some((ns, name)) => (Some(ns), name),
                None => (None, self.name.as_str()),
            },
            Ecosystem::PyPI | Ecosystem::Cargo => (None, self.name.as_str()),
        };
        let name = match self.ecosystem {
            // purl-spec: PyPI names are lowercased, `_` becomes `-`.
            Ecosystem::PyPI => name.to_ascii_lowercase().replace('_', "-"),
            _ => name.to_string(),
        };
        let mut purl = packageurl::PackageUrl::new(self.ecosystem.purl_type(), name).ok()?;
        if let Some(ns) = namespace {
            purl.with_namespace(ns).ok()?;
        }
        let (epoch, version) = match self.ecosystem {
            Ecosystem::Rpm => match self.version.split_once(':') {
                Some((e, v)) => (Some(e), v),
                None => (None, self.version.as_str()),
            },
            _ => (None, self.version.as_str()),
        };
        if !version.is_empty() {
            purl.with_version(version).ok()?;
        }
        if let Some(arch) = &self.arch {
            purl.add_qualifier("arch", arch.as_str()).ok()?;
        }
        if let Some(epoch) = epoch {
            purl.add_qualifier("epoch", epoch).ok()?;
        }
        if let (Ecosystem::Deb | Ecosystem::Apk | Ecosystem::Rpm, Some(os)) = (self.ecosystem, os) {
            if !os.version_id.is_empty() {
                purl.add_qualifier("distro", format!("{}-{}", os.id, os.version_id))
                    .ok()?;
            }
        }
        Some(purl.to_string())
    }

    /// The OSV ecosystem (OSV schema §Affected.package.ecosystem) whose
    /// advisories apply: `Debian:12`, `Alpine:v3.19`, `AlmaLinux:9`,
    /// `Rocky Linux:9`, `PyPI`, `npm`, `Go`, `crates.io`. `None` for a
    /// distribution package on an image without a known release, and for
    /// rpm packages of other distributions (OSV has no ecosystem berth can
    /// name for them by release).
    pub fn osv_ecosystem(&self, os: Option<&OsRelease>) -> Option<String> {
        match self.ecosystem {
            Ecosystem::Deb => {
                let os = os?;
                let name = match os.id.as_str() {
                    "ubuntu" => "Ubuntu",
                    _ => "Debian",
                };
                let major = os.version_id.split('.').next().unwrap_or_default();
                (!major.is_empty()).then(|| match os.id.as_str() {
                    "ubuntu" => format!("{name}:{}", os.version_id),
                    _ => format!("{name}:{major}"),
                })
            }
            Ecosystem::Apk => {
                let os = os?;
                let mut parts = os.version_id.split('.');
                let (major, minor) = (parts.next()?, parts.next()?);
                Some(format!("Alpine:v{major}.{minor}"))
            }
            Ecosystem::Rpm => {
                let os = os?;
                let name = match os.id.as_str() {
                    "almalinux" => "AlmaLinux",
                    "rocky" => "Rocky Linux",
                    _ => return None,
                };
                let major = os.version_id.split('.').next().filter(|m| !m.is_empty())?;
                Some(format!("{name}:{major}"))
            }
            Ecosystem::PyPI => Some("PyPI".into()),
            Ecosystem::Npm => Some("npm".into()),
            Ecosystem::Go => Some("Go".into()),
            Ecosystem::Cargo => Some("crates.io".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(ecosystem: Ecosystem, name: &str, version: &str) -> Package {
        Package::new(ecosystem, name, version, "/x")
    }

    #[test]
    fn package_urls_follow_the_purl_spec() {
        let bookworm = OsRelease {
            id: "debian".into(),
            version_id: "12".into(),
            pretty_name: String::new(),
        };
        let mut libc = pkg(Ecosystem::Deb, "libc6", "2.36-9+deb12u4");
        libc.arch = Some("amd64".into());
        assert_eq!(
            libc.purl(Some(&bookworm)).unwrap(),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            pkg(Ecosystem::Npm, "@types/node", "20.1.0")
                .purl(None)
                .unwrap(),
            "pkg:npm/%40types/node@20.1.0"
        );
        assert_eq!(
            pkg(Ecosystem::PyPI, "Typing_Extensions", "4.8.0")
                .purl(None)
                .unwrap(),
            "pkg:pypi/typing-extensions@4.8.0"
        );
        assert_eq!(
            pkg(Ecosystem::Go, "github.com/containers/image/v5", "v5.24.2")
                .purl(None)
                .unwrap(),
            "pkg:golang/github.com/containers/image/v5@v5.24.2"
        );
        assert_eq!(
            libc.osv_ecosystem(Some(&bookworm)).as_deref(),
            Some("Debian:12")
        );
        let alpine = OsRelease {
            id: "alpine".into(),
            version_id: "3.19.1".into(),
            pretty_name: String::new(),
        };
        assert_eq!(
            pkg(Ecosystem::Apk, "musl", "1.2.4-r2")
                .osv_ecosystem(Some(&alpine))
                .as_deref(),
            Some("Alpine:v3.19")
        );
        let alma = OsRelease {
            id: "almalinux".into(),
            version_id: "9.4".into(),
            pretty_name: String::new(),
        };
        let mut bash = pkg(Ecosystem::Rpm, "bash", "1:5.1.8-6.el9");
        bash.arch = Some("x86_64".into());
        assert_eq!(
            bash.purl(Some(&alma)).unwrap(),
            "pkg:rpm/almalinux/bash@5.1.8-6.el9?arch=x86_64&distro=almalinux-9.4&epoch=1"
        );
        assert_eq!(
            bash.osv_ecosystem(Some(&alma)).as_deref(),
            Some("AlmaLinux:9")
        );
        let fedora = OsRelease {
            id: "fedora".into(),
            version_id: "40".into(),
            pretty_name: String::new(),
        };
        assert_eq!(bash.osv_ecosystem(Some(&fedora)), None);
    }
}
