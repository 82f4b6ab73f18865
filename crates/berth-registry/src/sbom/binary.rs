//! Packages compiled into executables: Go build information (the
//! `.go.buildinfo` section Go 1.18 and later write, read as Go's
//! `debug/buildinfo` does) and Rust cargo-auditable data (the `.dep-v0`
//! section: zlib-compressed JSON, rust-secure-code/cargo-auditable
//! `auditable-serde` format). ELF only: container images run Linux.

use std::io::{Read, Seek};

use object::{Object, ObjectSection};

use super::package::{Ecosystem, Package};

/// Go's build information header: `\xff Go buildinf:`, then the pointer
/// size and flags bytes, padded to 32 bytes.
const GO_MAGIC: &[u8] = b"\xff Go buildinf:";
/// Flag: the version and module strings follow the header inline (Go 1.18+).
const GO_INLINE: u8 = 0x2;
/// Largest cargo-auditable JSON accepted once decompressed.
const MAX_AUDIT_JSON: u64 = 8 << 20;

/// The packages compiled into the ELF file `file` found at `location`:
/// Go modules (with the Go standard library as `stdlib`) and Rust crates.
/// Anything unreadable yields nothing.
pub fn packages<R: Read + Seek>(file: R, location: &str) -> Vec<Package> {
    let cache = object::read::ReadCache::new(file);
    let Ok(elf) = object::File::parse(&cache) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(data) = elf
        .section_by_name(".go.buildinfo")
        .and_then(|s| s.data().ok())
    {
        out.extend(go_packages(data, location));
    }
    if let Some(data) = elf.section_by_name(".dep-v0").and_then(|s| s.data().ok()) {
        out.extend(cargo_packages(data, location));
    }
    out
}

/// An unsigned LEB128 varint (Go's `binary.Uvarint`) at the start of `b`:
/// `(value, bytes used)`.
fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// A varint-length-prefixed byte string at the start of `b`, and what
/// follows.
fn go_string(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, used) = uvarint(b)?;
    let end = used.checked_add(usize::try_from(len).ok()?)?;
    Some((b.get(used..end)?, &b[end..]))
}

/// The modules of a `.go.buildinfo` section: the main module, each
/// dependency (a `=>` replacement line replaces the dependency before it)
/// and the standard library at the toolchain's version. Binaries from
/// before Go 1.18 (pointer-based header) yield nothing.
pub fn go_packages(section: &[u8], location: &str) -> Vec<Package> {
    let Some(start) = memchr::memmem::find(section, GO_MAGIC) else {
        return Vec::new();
    };
    let header = &section[start..];
    if header.len() < 32 || header[15] & GO_INLINE == 0 {
        return Vec::new();
    }
    let Some((go_version, rest)) = go_string(&header[32..]) else {
        return Vec::new();
    };
    let Some((mut modinfo, _)) = go_string(rest) else {
        return Vec::new();
    };
    // The module text is framed by 16-byte (binary) sentinels.
    if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        modinfo = &modinfo[16..modinfo.len() - 16];
    }
    let go_version = String::from_utf8_lossy(go_version);
    let modinfo = String::from_utf8_lossy(modinfo);
    let module = |name: &str, version: &str| Package::new(Ecosystem::Go, name, version, location);
    let mut out = Vec::new();
    if let Some(v) = go_version.strip_prefix("go") {
        // `go1.21.3`, or `go1.22.0 X:boringcrypto`.
        let v = v.split_whitespace().next().unwrap_or(v);
        out.push(module("stdlib", &format!("v{v}")));
    }
    for line in modinfo.lines() {
        let mut fields = line.split('\t');
        match (fields.next(), fields.next(), fields.next()) {
            (Some("mod" | "dep"), Some(path), Some(version))
                if version != "(devel)" && !path.is_empty() =>
            {
                out.push(module(path, version));
            }
            (Some("=>"), Some(path), Some(version)) => {
                if let Some(last) = out.last_mut() {
                    *last = module(path, version);
                }
            }
            _ => {}
        }
    }
    out
}

/// The crates of a `.dep-v0` section, build-time-only ones left out.
pub fn cargo_packages(section: &[u8], location: &str) -> Vec<Package> {
    let mut json = Vec::new();
    let decoder = flate2::read::ZlibDecoder::new(section);
    if decoder.take(MAX_AUDIT_JSON).read_to_end(&mut json).is_err() {
        return Vec::new();
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&json) else {
        return Vec::new();
    };
    let Some(crates) = v.get("packages").and_then(|p| p.as_array()) else {
        return Vec::new();
    };
    crates
        .iter()
        .filter(|c| c.get("kind").and_then(|k| k.as_str()) != Some("build"))
        .filter_map(|c| {
            Some(Package::new(
                Ecosystem::Cargo,
                c.get("name")?.as_str()?,
                c.get("version")?.as_str()?,
                location,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn varint_string(out: &mut Vec<u8>, s: &[u8]) {
        let mut n = s.len() as u64;
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(s);
    }

    #[test]
    fn go_build_information() {
        let mut section = Vec::from(GO_MAGIC);
        section.extend([8, GO_INLINE]);
        section.resize(32, 0);
        varint_string(&mut section, b"go1.21.3");
        let modinfo = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\n\
dep\tgolang.org/x/net\tv0.17.0\th1:abc=\n\
dep\tgithub.com/old/thing\tv1.0.0\th1:def=\n=>\tgithub.com/new/thing\tv1.1.0\th1:ghi=\n\
build\t-compiler=gc\n";
        // Go's sentinels are not UTF-8.
        let mut framed = vec![0xe6u8; 16];
        framed.extend_from_slice(modinfo.as_bytes());
        framed.extend([0xf9u8; 16]);
        assert_eq!(framed[framed.len() - 17], b'\n');
        varint_string(&mut section, &framed);
        let p = go_packages(&section, "/app");
        let names: Vec<_> = p
            .iter()
            .map(|p| format!("{}@{}", p.name, p.version))
            .collect();
        assert_eq!(
            names,
            [
                "stdlib@v1.21.3",
                "golang.org/x/net@v0.17.0",
                "github.com/new/thing@v1.1.0"
            ]
        );
        // Before Go 1.18: no inline strings, nothing read.
        let mut old = Vec::from(GO_MAGIC);
        old.extend([8, 0]);
        old.resize(64, 0);
        assert!(go_packages(&old, "/app").is_empty());
        // Truncated: nothing, no panic.
        assert!(go_packages(&section[..40], "/app").is_empty());
    }

    #[test]
    fn cargo_auditable_data() {
        let json = br#"{"packages":[{"name":"app","version":"0.1.0","source":"local","root":true,"dependencies":[1]},
            {"name":"serde","version":"1.0.190","source":"crates.io"},
            {"name":"cc","version":"1.0.83","source":"crates.io","kind":"build"}]}"#;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(json).unwrap();
        let p = cargo_packages(&z.finish().unwrap(), "/app");
        let names: Vec<_> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["app", "serde"]);
        assert!(cargo_packages(b"not zlib", "/app").is_empty());
    }
}
