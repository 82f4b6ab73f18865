//! The rpm database (Fedora, RHEL 9 and its rebuilds, openSUSE, …) in its
//! SQLite form, `rpmdb.sqlite` (rpm 4.16 and later): table `Packages`
//! (`hnum INTEGER PRIMARY KEY, blob BLOB`), one row per installed package,
//! the blob an rpm header without its lead (rpm's file format
//! specification, §Header structure: two big-endian `u32`s, the index
//! entry count and the data length; 16-byte index entries of tag, type,
//! offset and count; then the data store).
//!
//! The older Berkeley DB (`Packages`) and NDB (`Packages.db`) databases are
//! not read.

use std::path::Path;

use super::package::{Ecosystem, Package};

/// rpm header tags (rpmtag.h).
const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_LICENSE: u32 = 1014;
const TAG_ARCH: u32 = 1022;
const TAG_SOURCERPM: u32 = 1044;

/// rpm header data types (rpmtag.h `rpmTagType`).
const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_I18NSTRING: u32 = 9;

/// An index with more entries than this is not a package header.
const MAX_ENTRIES: usize = 1 << 16;

/// Whether `path` (relative, no leading `/`) is an rpm SQLite database.
pub fn is_database(path: &str) -> bool {
    matches!(
        path,
        "var/lib/rpm/rpmdb.sqlite" | "usr/lib/sysimage/rpm/rpmdb.sqlite"
    )
}

/// The packages of the rpm database file `db` (a copy on local disk),
/// found in the image at `location`. The imported signing keys rpm keeps
/// as `gpg-pubkey` packages are not packages and are left out.
///
/// Errors: the file is not an SQLite database with a `Packages` table.
/// A header that cannot be read is skipped.
pub fn packages(db: &Path, location: &str) -> rusqlite::Result<Vec<Package>> {
    // Read only, and `immutable`: nothing (no -shm, no journal) is written
    // beside the copy, and no lock is taken.
    let uri = format!("file:{}?immutable=1", db.display());
    let conn = rusqlite::Connection::open_with_flags(
        uri,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
            | rusqlite::OpenFlags::SQLITE_OPEN_URI
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut statement = conn.prepare("SELECT blob FROM Packages ORDER BY hnum")?;
    let mut rows = statement.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let blob: Vec<u8> = row.get(0)?;
        if let Some(p) = Header::parse(&blob).and_then(|h| h.package(location)) {
            out.push(p);
        }
    }
    Ok(out)
}

/// One index entry of a header.
#[derive(Debug, Clone, Copy)]
struct Entry {
    tag: u32,
    kind: u32,
    offset: usize,
}

/// A parsed header: its index and its data store.
struct Header<'a> {
    entries: Vec<Entry>,
    data: &'a [u8],
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

impl<'a> Header<'a> {
    /// Reads a header blob; `None` when its sizes do not add up.
    fn parse(blob: &'a [u8]) -> Option<Header<'a>> {
        let count = be32(blob, 0)? as usize;
        let data_len = be32(blob, 4)? as usize;
        if count > MAX_ENTRIES {
            return None;
        }
        let data_start = 8 + count * 16;
        let data = blob.get(data_start..data_start.checked_add(data_len)?)?;
        let entries = (0..count)
            .map(|i| {
                let at = 8 + i * 16;
                Some(Entry {
                    tag: be32(blob, at)?,
                    kind: be32(blob, at + 4)?,
                    offset: be32(blob, at + 8)? as usize,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Header { entries, data })
    }

    fn entry(&self, tag: u32) -> Option<Entry> {
        self.entries.iter().copied().find(|e| e.tag == tag)
    }

    /// A string tag (an `I18NSTRING`'s first, untranslated, string).
    fn string(&self, tag: u32) -> Option<String> {
        let e = self.entry(tag)?;
        if e.kind != TYPE_STRING && e.kind != TYPE_I18NSTRING {
            return None;
        }
        let rest = self.data.get(e.offset..)?;
        let end = memchr::memchr(0, rest)?;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    fn int32(&self, tag: u32) -> Option<u32> {
        let e = self.entry(tag)?;
        (e.kind == TYPE_INT32).then(|| be32(self.data, e.offset))?
    }

    /// The package this header describes. The version is rpm's EVR,
    /// `[epoch:]version-release`, as rpm prints it and OSV's rpm-based
    /// ecosystems (AlmaLinux, Rocky Linux) write their ranges.
    fn package(&self, location: &str) -> Option<Package> {
        let name = self.string(TAG_NAME)?;
        if name == "gpg-pubkey" {
            return None;
        }
        let version = self.string(TAG_VERSION)?;
        let release = self.string(TAG_RELEASE)?;
        let evr = match self.int32(TAG_EPOCH) {
            Some(epoch) => format!("{epoch}:{version}-{release}"),
            None => format!("{version}-{release}"),
        };
        let mut p = Package::new(Ecosystem::Rpm, name, evr, location);
        p.arch = self.string(TAG_ARCH).filter(|a| !a.is_empty());
        p.license = self.string(TAG_LICENSE).filter(|l| !l.is_empty());
        p.source = self.string(TAG_SOURCERPM).and_then(|s| source_rpm(&s));
        Some(p)
    }
}

/// `(name, version-release)` of a source rpm's file name,
/// `bash-5.1.8-6.el9.src.rpm`.
fn source_rpm(file: &str) -> Option<(String, String)> {
    let stem = file
        .strip_suffix(".src.rpm")
        .or_else(|| file.strip_suffix(".nosrc.rpm"))?;
    let (rest, release) = stem.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    Some((name.to_string(), format!("{version}-{release}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header blob of `(tag, type, value)` entries: strings are
    /// NUL-terminated, integers big-endian.
    fn header(entries: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, kind, value) in entries {
            index.extend_from_slice(&tag.to_be_bytes());
            index.extend_from_slice(&kind.to_be_bytes());
            index.extend_from_slice(&(data.len() as u32).to_be_bytes());
            index.extend_from_slice(&1u32.to_be_bytes());
            data.extend_from_slice(value);
        }
        let mut blob = Vec::new();
        blob.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        blob.extend_from_slice(&(data.len() as u32).to_be_bytes());
        blob.extend(index);
        blob.extend(data);
        blob
    }

    fn s(v: &str) -> Vec<u8> {
        let mut b = v.as_bytes().to_vec();
        b.push(0);
        b
    }

    #[test]
    fn a_header_gives_name_epoch_version_release_and_source() {
        let blob = header(&[
            (TAG_NAME, TYPE_STRING, s("bash")),
            (TAG_VERSION, TYPE_STRING, s("5.1.8")),
            (TAG_RELEASE, TYPE_STRING, s("6.el9")),
            (TAG_EPOCH, TYPE_INT32, 1u32.to_be_bytes().to_vec()),
            (TAG_ARCH, TYPE_STRING, s("x86_64")),
            (TAG_LICENSE, TYPE_STRING, s("GPLv3+")),
            (TAG_SOURCERPM, TYPE_STRING, s("bash-5.1.8-6.el9.src.rpm")),
        ]);
        let p = Header::parse(&blob).unwrap().package("/db").unwrap();
        assert_eq!(p.name, "bash");
        assert_eq!(p.version, "1:5.1.8-6.el9");
        assert_eq!(p.arch.as_deref(), Some("x86_64"));
        assert_eq!(p.license.as_deref(), Some("GPLv3+"));
        assert_eq!(
            p.source,
            Some(("bash".to_string(), "5.1.8-6.el9".to_string()))
        );
    }

    #[test]
    fn keys_and_broken_headers_are_not_packages() {
        let key = header(&[
            (TAG_NAME, TYPE_STRING, s("gpg-pubkey")),
            (TAG_VERSION, TYPE_STRING, s("fd431d51")),
            (TAG_RELEASE, TYPE_STRING, s("4ae0493b")),
        ]);
        assert!(Header::parse(&key).unwrap().package("/db").is_none());
        let mut truncated = header(&[(TAG_NAME, TYPE_STRING, s("bash"))]);
        truncated.truncate(truncated.len() - 2);
        assert!(Header::parse(&truncated).is_none());
        assert!(Header::parse(&[0xff; 8]).is_none());
        // An offset past the data store.
        let mut wild = header(&[
            (TAG_NAME, TYPE_STRING, s("bash")),
            (TAG_VERSION, TYPE_STRING, s("1")),
            (TAG_RELEASE, TYPE_STRING, s("1")),
        ]);
        wild[8 + 8..8 + 12].copy_from_slice(&9999u32.to_be_bytes());
        assert!(Header::parse(&wild).unwrap().package("/db").is_none());
    }

    #[test]
    fn a_database_that_is_not_sqlite_is_an_error() {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), b"not a database at all, not even close").unwrap();
        assert!(packages(f.path(), "/var/lib/rpm/rpmdb.sqlite").is_err());
    }

    #[test]
    fn source_rpm_names_split_at_the_last_two_dashes() {
        assert_eq!(
            source_rpm("python-dateutil-2.8.1-7.el9.src.rpm"),
            Some(("python-dateutil".into(), "2.8.1-7.el9".into()))
        );
        assert_eq!(source_rpm("garbage"), None);
    }
}
