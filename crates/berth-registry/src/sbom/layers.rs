//! Reading an image's root filesystem as its layers stream past (OCI
//! image-spec §Image Layer Filesystem Changeset: layers apply in order; a
//! `.wh.<name>` whiteout deletes `<name>` from the layers below, a
//! `.wh..wh..opq` opaque whiteout empties its directory of what the layers
//! below put there; whiteouts never touch their own layer's files).
//!
//! Only the files that say what is installed are read ([`catalog`]), each
//! up to a bound; every other byte streams through. An executable is
//! spooled to a temporary file (in memory up to 1 MiB) so its sections can
//! be read ([`super::binary`]). A layer is never held in memory.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Seek, Write};

use super::package::{OsRelease, Package};
use super::{apk, binary, dpkg, npm, os_release, python, rpm};

/// Largest package database or metadata file read (a dpkg status file of a
/// large image is a few MiB).
const MAX_TEXT: u64 = 64 << 20;
/// Largest executable examined for compiled-in packages.
const MAX_EXECUTABLE: u64 = 2 << 30;
/// An executable this small stays in memory while it is examined.
const SPOOL_IN_MEMORY: usize = 1 << 20;
/// Largest rpm database read (a full RHEL 9 image's is about 20 MiB).
const MAX_RPMDB: u64 = 1 << 30;

/// What one file told.
#[derive(Debug, Clone)]
enum Found {
    Packages(Vec<Package>),
    Os(OsRelease),
}

/// The packages and distribution of an image, read layer by layer with
/// [`LayerWalk::layer`].
#[derive(Debug, Default)]
pub struct LayerWalk {
    /// What each cataloged file that is still visible told, by path
    /// (relative, no leading `/`).
    found: BTreeMap<String, Found>,
}

/// The result of a walk: packages sorted by ecosystem, name and version,
/// and the distribution when the image names one.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// The distribution (`/etc/os-release`).
    pub os: Option<OsRelease>,
    /// Every package found.
    pub packages: Vec<Package>,
}

/// A deletion a layer makes in the layers below it.
enum Removal {
    /// A path, and everything under it.
    Path(String),
    /// Everything under a directory (an opaque whiteout).
    Under(String),
}

/// The layer's bytes, decompressed by what they start with: gzip
/// (`1f 8b`), zstd (`28 b5 2f fd`) or a plain tar.
fn decompressed<'a>(layer: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut buffered = BufReader::with_capacity(256 << 10, layer);
    let head = buffered.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?)
    } else {
        Box::new(buffered)
    })
}

/// A tar member's path as the image sees it: relative, without `./`.
fn normalize(raw: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(raw).ok()?;
    let parts: Vec<&str> = s
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") || parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

fn read_text(entry: &mut impl Read, size: u64) -> io::Result<Option<String>> {
    if size > MAX_TEXT {
        return Ok(None);
    }
    let mut buf = Vec::with_capacity(size as usize);
    entry.take(MAX_TEXT).read_to_end(&mut buf)?;
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// What the file at `path` tells, when it is one berth reads.
fn catalog(path: &str, mode: u32, size: u64, entry: &mut impl Read) -> io::Result<Option<Found>> {
    let location = format!("/{path}");
    let found = match path {
        "etc/os-release" | "usr/lib/os-release" => {
            read_text(entry, size)?.and_then(|t| os_release::parse(&t).map(Found::Os))
        }
        "etc/alpine-release" => {
            read_text(entry, size)?.and_then(|t| os_release::alpine(&t).map(Found::Os))
        }
        "var/lib/dpkg/status" => {
            read_text(entry, size)?.map(|t| Found::Packages(dpkg::packages(&t, &location)))
        }
        p if p.starts_with("var/lib/dpkg/status.d/")
            && !p.ends_with(".md5sums")
            && !p.ends_with(".list") =>
        {
            read_text(entry, size)?.map(|t| Found::Packages(dpkg::packages(&t, &location)))
        }
        "lib/apk/db/installed" => {
            read_text(entry, size)?.map(|t| Found::Packages(apk::packages(&t, &location)))
        }
        p if rpm::is_database(p) && size <= MAX_RPMDB => {
            // SQLite reads a file: the database is copied to one.
            let mut copy = tempfile::NamedTempFile::new()?;
            io::copy(&mut entry.take(MAX_RPMDB), copy.as_file_mut())?;
            match rpm::packages(copy.path(), &location) {
                Ok(packages) => Some(Found::Packages(packages)),
                Err(e) => {
                    tracing::warn!(path = %location, error = %e, "rpm database not readable");
                    None
                }
            }
        }
        p if python::is_metadata(p) => read_text(entry, size)?
            .map(|t| Found::Packages(python::package(&t, &location).into_iter().collect())),
        p if npm::is_manifest(p) => read_text(entry, size)?
            .map(|t| Found::Packages(npm::package(t.as_bytes(), &location).into_iter().collect())),
        _ if mode & 0o111 != 0 && (64..=MAX_EXECUTABLE).contains(&size) => {
            let mut magic = [0u8; 4];
            entry.read_exact(&mut magic)?;
            if &magic != b"\x7fELF" {
                return Ok(None);
            }
            let mut spool = tempfile::SpooledTempFile::new(SPOOL_IN_MEMORY);
            spool.write_all(&magic)?;
            io::copy(entry, &mut spool)?;
            spool.rewind()?;
            let packages = binary::packages(spool, &location);
            (!packages.is_empty()).then_some(Found::Packages(packages))
        }
        _ => None,
    };
    Ok(found)
}

impl LayerWalk {
    /// Applies one layer (a tar, gzip- or zstd-compressed) on top of the
    /// ones before it.
    ///
    /// Errors: the layer is not a readable tar in one of those encodings,
    /// or reading it failed.
    pub fn layer(&mut self, layer: impl Read) -> io::Result<()> {
        let mut archive = tar::Archive::new(decompressed(layer)?);
        let mut added: BTreeMap<String, Found> = BTreeMap::new();
        let mut removed: Vec<Removal> = Vec::new();
        for entry in archive.entries()? {
            let mut entry = entry?;
            let Some(path) = normalize(&entry.path_bytes()) else {
                continue;
            };
            let (dir, base) = match path.rsplit_once('/') {
                Some((d, b)) => (Some(d), b),
                None => (None, path.as_str()),
            };
            let join = |name: &str| match dir {
                Some(d) => format!("{d}/{name}"),
                None => name.to_string(),
            };
            if base == ".wh..wh..opq" {
                removed.push(Removal::Under(dir.unwrap_or_default().to_string()));
                continue;
            }
            if let Some(name) = base.strip_prefix(".wh.") {
                removed.push(Removal::Path(join(name)));
                continue;
            }
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                continue;
            }
            // Any other member hides what the layers below had at its path.
            if self.holds(&path) {
                removed.push(Removal::Path(path.clone()));
            }
            if !(kind.is_file() || kind == tar::EntryType::Continuous) {
                continue;
            }
            let mode = entry.header().mode().unwrap_or(0);
            let size = entry.size();
            if let Some(found) = catalog(&path, mode, size, &mut entry)? {
                added.insert(path, found);
            } else {
                added.remove(&path);
            }
        }
        for removal in removed {
            match removal {
                Removal::Path(p) => {
                    self.found.remove(&p);
                    self.remove_under(&format!("{p}/"));
                }
                Removal::Under(dir) if dir.is_empty() => self.found.clear(),
                Removal::Under(dir) => self.remove_under(&format!("{dir}/")),
            }
        }
        self.found.extend(added);
        Ok(())
    }

    /// True when a lower layer's cataloged file is at `path` or under it.
    fn holds(&self, path: &str) -> bool {
        self.found.contains_key(path)
            || self
                .found
                .range(format!("{path}/")..)
                .next()
                .is_some_and(|(k, _)| k.starts_with(&format!("{path}/")))
    }

    /// Forgets every cataloged file whose path starts with `prefix`.
    fn remove_under(&mut self, prefix: &str) {
        let doomed: Vec<String> = self
            .found
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.found.remove(&k);
        }
    }

    /// What the image holds once every layer is applied.
    pub fn finish(self) -> Inventory {
        let mut inventory = Inventory::default();
        let mut os_from = None;
        for (path, found) in self.found {
            match found {
                Found::Packages(p) => inventory.packages.extend(p),
                // /etc/os-release wins over /usr/lib/os-release and
                // /etc/alpine-release.
                Found::Os(os) => {
                    if os_from != Some("etc/os-release") {
                        os_from = Some(if path == "etc/os-release" {
                            "etc/os-release"
                        } else {
                            "other"
                        });
                        inventory.os = Some(os);
                    }
                }
            }
        }
        inventory.packages.sort();
        inventory.packages.dedup();
        inventory
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar of `(path, mode, content)` members.
    fn tar(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, mode, content) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(content.len() as u64);
            h.set_mode(*mode);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, path, *content).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(b).unwrap();
        z.finish().unwrap()
    }

    const STATUS: &[u8] = b"Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n\n";
    const META_A: &[u8] = b"Name: alpha\nVersion: 1.0\n";
    const META_B: &[u8] = b"Name: beta\nVersion: 2.0\n";
    const NPM: &[u8] = br#"{"name":"left-pad","version":"1.3.0"}"#;

    fn names(inv: &Inventory) -> Vec<String> {
        inv.packages
            .iter()
            .map(|p| format!("{}:{}@{}", p.ecosystem, p.name, p.version))
            .collect()
    }

    #[test]
    fn whiteouts_hide_the_layers_below_but_not_their_own() {
        let site = "usr/lib/python3/dist-packages";
        let base = tar(&[
            ("./etc/os-release", 0o644, b"ID=debian\nVERSION_ID=\"12\"\n"),
            ("./var/lib/dpkg/status", 0o644, STATUS),
            (
                &format!("{site}/alpha-1.0.dist-info/METADATA"),
                0o644,
                META_A,
            ),
            (
                &format!("{site}/beta-2.0.dist-info/METADATA"),
                0o644,
                META_B,
            ),
            ("app/node_modules/left-pad/package.json", 0o644, NPM),
        ]);
        let mut walk = LayerWalk::default();
        walk.layer(&gzip(&base)[..]).unwrap();
        // Layer 2 (zstd): deletes alpha's metadata directory, empties
        // node_modules and puts a new package there in the same layer.
        let upper = tar(&[
            (&format!("{site}/.wh.alpha-1.0.dist-info"), 0o644, b""),
            ("app/node_modules/.wh..wh..opq", 0o644, b""),
            (
                "app/node_modules/right-pad/package.json",
                0o644,
                br#"{"name":"right-pad","version":"2.0.0"}"#,
            ),
        ]);
        walk.layer(&zstd::encode_all(&upper[..], 3).unwrap()[..])
            .unwrap();
        let inv = walk.finish();
        assert_eq!(
            names(&inv),
            [
                "deb:bash@5.2.15-2+b2",
                "pypi:beta@2.0",
                "npm:right-pad@2.0.0"
            ]
        );
        assert_eq!(inv.os.unwrap().version_id, "12");
    }

    #[test]
    fn a_file_replaced_by_a_later_layer_is_read_again() {
        let mut walk = LayerWalk::default();
        walk.layer(&tar(&[("var/lib/dpkg/status", 0o644, STATUS)])[..])
            .unwrap();
        walk.layer(
            &tar(&[(
                "var/lib/dpkg/status",
                0o644,
                b"Package: dash\nStatus: install ok installed\nVersion: 0.5.12-2\n",
            )])[..],
        )
        .unwrap();
        assert_eq!(names(&walk.finish()), ["deb:dash@0.5.12-2"]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut walk = LayerWalk::default();
        assert!(walk.layer(&[0x1f, 0x8b, 1, 2, 3][..]).is_err());
    }

    #[test]
    fn member_paths_are_normalized_and_traversal_ignored() {
        assert_eq!(normalize(b"./usr//lib/").as_deref(), Some("usr/lib"));
        assert_eq!(
            normalize(b"/etc/os-release").as_deref(),
            Some("etc/os-release")
        );
        assert_eq!(normalize(b"../../etc/passwd"), None);
        assert_eq!(normalize(b"./"), None);
    }
}
