//! SBOMs (docs/supply-chain.md "SBOMs"), end to end: an image built by the
//! test from this machine's own files (its dpkg database and os-release,
//! pip's real metadata, skopeo's Go binary, an ELF carrying cargo-auditable
//! data as cargo-auditable embeds it, npm package.json files) in a gzip and
//! a zstd layer with a whiteout and an opaque whiteout, pushed by skopeo;
//! berth attaches an SPDX and a CycloneDX referrer, listed by the referrers
//! API, Harbor's accessories and `sbom_overview`, printed by `berth sbom
//! show`, made again on demand, per platform for an index, never for a
//! project that turned it off, and recorded in the audit trail.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::http::{admin, send};
use support::*;

const SPDX: &str = "application/spdx+json";
const CYCLONEDX: &str = "application/vnd.cyclonedx+json";

fn sha256(b: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, b))
    )
}

/// An OCI image layout being written: blobs by digest, one image.
struct Layout {
    dir: std::path::PathBuf,
}

impl Layout {
    fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout {
            dir: dir.to_path_buf(),
        }
    }

    fn blob(&self, bytes: &[u8]) -> Value {
        let d = sha256(bytes);
        std::fs::write(
            self.dir.join("blobs/sha256").join(&d["sha256:".len()..]),
            bytes,
        )
        .unwrap();
        json!({"digest": d, "size": bytes.len()})
    }

    /// Writes an image of `layers` (`(tar, compressed, media type)`) for
    /// `arch`; returns its descriptor.
    fn image(&self, arch: &str, layers: &[(Vec<u8>, Vec<u8>, &str)]) -> Value {
        let diff_ids: Vec<String> = layers.iter().map(|(tar, _, _)| sha256(tar)).collect();
        let config = json!({"architecture": arch, "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids}});
        let mut c = self.blob(&serde_json::to_vec(&config).unwrap());
        c["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
        let ls: Vec<Value> = layers
            .iter()
            .map(|(_, z, mt)| {
                let mut l = self.blob(z);
                l["mediaType"] = (*mt).into();
                l
            })
            .collect();
        let m = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": c, "layers": ls});
        let mut d = self.blob(&serde_json::to_vec(&m).unwrap());
        d["mediaType"] = "application/vnd.oci.image.manifest.v1+json".into();
        d
    }

    /// Names `descriptor` `name` in the layout's index.json.
    fn tag(&self, name: &str, mut d: Value) {
        d["annotations"] = json!({"org.opencontainers.image.ref.name": name});
        let index_path = self.dir.join("index.json");
        let mut index: Value = std::fs::read(&index_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| json!({"schemaVersion": 2, "manifests": []}));
        index["manifests"].as_array_mut().unwrap().push(d);
        std::fs::write(index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    }
}

/// A tar of `(path, mode, bytes)`.
fn tar(files: &[(&str, u32, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, mode, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(*mode);
        b.append_data(&mut h, path, &content[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(b).unwrap();
    z.finish().unwrap()
}

/// `/bin/true` with a `.dep-v0` section, as cargo-auditable embeds it (the
/// dependency tree as zlib-compressed JSON), added by binutils' objcopy.
fn rust_binary(dir: &Path) -> Vec<u8> {
    use std::io::Write;
    let json = br#"{"packages":[{"name":"rust-app","version":"0.3.1","source":"local","root":true,"dependencies":[1,2]},
        {"name":"serde","version":"1.0.190","source":"crates.io"},
        {"name":"cc","version":"1.0.83","source":"crates.io","kind":"build"}]}"#;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(json).unwrap();
    let section = dir.join("dep-v0");
    std::fs::write(&section, z.finish().unwrap()).unwrap();
    let out = dir.join("rust-app");
    run(Command::new("objcopy")
        .arg("--add-section")
        .arg(format!(".dep-v0={}", section.display()))
        .arg("/bin/true")
        .arg(&out));
    std::fs::read(out).unwrap()
}

/// pip's `*.dist-info` directory on this machine and its version, from Python.
fn pip_metadata() -> (String, Vec<u8>, String) {
    let out = run(Command::new("python3").args([
        "-c",
        "import importlib.metadata as m; d = m.distribution('pip'); print(d._path); print(d.version)",
    ]));
    let mut lines = out.lines();
    let path = Path::new(lines.next().unwrap()).to_path_buf();
    let version = lines.next().unwrap().to_string();
    let dir = path.file_name().unwrap().to_string_lossy().to_string();
    (dir, std::fs::read(path.join("METADATA")).unwrap(), version)
}

/// Builds the test image into `layout` as `app`.
fn build_app(layout: &Layout, work: &Path) -> (String, String) {
    let site = "usr/lib/python3/dist-packages";
    let (pip_dir, pip_meta, pip_version) = pip_metadata();
    let pkg = |name: &str, version: &str| {
        format!(r#"{{"name":"{name}","version":"{version}","license":"MIT"}}"#).into_bytes()
    };
    let base = tar(&[
        (
            "etc/os-release",
            0o644,
            std::fs::read("/etc/os-release").unwrap(),
        ),
        (
            "var/lib/dpkg/status",
            0o644,
            std::fs::read("/var/lib/dpkg/status").unwrap(),
        ),
        (&format!("{site}/{pip_dir}/METADATA"), 0o644, pip_meta),
        (
            &format!("{site}/leftover-1.0.dist-info/METADATA"),
            0o644,
            b"Metadata-Version: 2.1\nName: leftover\nVersion: 1.0\n".to_vec(),
        ),
        (
            "usr/bin/skopeo",
            0o755,
            std::fs::read("/usr/bin/skopeo").unwrap(),
        ),
        ("usr/local/bin/rust-app", 0o755, rust_binary(work)),
        (
            "app/node_modules/left-pad/package.json",
            0o644,
            pkg("left-pad", "1.3.0"),
        ),
        (
            "app/node_modules/@scope/gone/package.json",
            0o644,
            pkg("@scope/gone", "2.0.0"),
        ),
    ]);
    let upper = tar(&[
        (
            &format!("{site}/.wh.leftover-1.0.dist-info"),
            0o644,
            Vec::new(),
        ),
        ("app/node_modules/@scope/.wh..wh..opq", 0o644, Vec::new()),
        (
            "app/node_modules/@scope/kept/package.json",
            0o644,
            pkg("@scope/kept", "4.5.6"),
        ),
    ]);
    let zbase = gzip(&base);
    let zupper = zstd::encode_all(&upper[..], 3).unwrap();
    let layers = [
        (base, zbase, "application/vnd.oci.image.layer.v1.tar+gzip"),
        (upper, zupper, "application/vnd.oci.image.layer.v1.tar+zstd"),
    ];
    let amd64 = layout.image("amd64", &layers);
    layout.tag("app", amd64.clone());
    // The same files as a two-platform index.
    let arm64 = layout.image("arm64", &layers);
    let platform = |mut d: Value, arch: &str| {
        d["platform"] = json!({"architecture": arch, "os": "linux"});
        d
    };
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [platform(amd64, "amd64"), platform(arm64, "arm64")]});
    let mut d = layout.blob(&serde_json::to_vec(&index).unwrap());
    d["mediaType"] = "application/vnd.oci.image.index.v1+json".into();
    layout.tag("multi", d);
    (pip_dir, pip_version)
}

/// The referrers of `digest` in `repo` of `artifact_type`.
fn referrers(b: &Berth, repo: &str, digest: &str, artifact_type: &str) -> Vec<Value> {
    let r = send(reqwest::Client::new().get(b.url(&format!(
        "/v2/{repo}/referrers/{digest}?artifactType={}",
        artifact_type.replace('+', "%2B")
    ))));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["manifests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until `digest` of `repo` has one SPDX and one CycloneDX referrer
/// other than `not` (the digests of a previous run); returns them.
fn wait_for_sboms(b: &Berth, repo: &str, digest: &str, not: &[String]) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = referrers(b, repo, digest, SPDX);
        let c = referrers(b, repo, digest, CYCLONEDX);
        let fresh = |v: &[Value]| {
            v.len() == 1 && !not.contains(&v[0]["digest"].as_str().unwrap().to_string())
        };
        if fresh(&s) && fresh(&c) {
            return (
                s[0]["digest"].as_str().unwrap().to_string(),
                c[0]["digest"].as_str().unwrap().to_string(),
            );
        }
        assert!(
            Instant::now() < deadline,
            "no SBOM for {repo}@{digest}: spdx {s:?} cyclonedx {c:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The document of SBOM referrer `referrer`: `(manifest, document bytes)`.
fn document(b: &Berth, repo: &str, referrer: &str) -> (Value, Vec<u8>) {
    let m = send(
        reqwest::Client::new()
            .get(b.url(&format!("/v2/{repo}/manifests/{referrer}")))
            .header("accept", "application/vnd.oci.image.manifest.v1+json"),
    );
    assert_eq!(m.status, 200, "{}", m.text());
    let manifest = m.json();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = send(reqwest::Client::new().get(b.url(&format!("/v2/{repo}/blobs/{layer}"))));
    assert_eq!(blob.status, 200);
    assert_eq!(sha256(&blob.body), layer);
    (manifest, blob.body)
}

fn manifest_digest(reference: &str) -> String {
    sha256(skopeo(&["inspect", "--raw", "--tls-verify=false", reference]).as_bytes())
}

/// The dpkg packages this machine has installed, by dpkg-query: `name` →
/// (version, architecture).
fn dpkg_installed() -> std::collections::BTreeMap<String, String> {
    run(Command::new("dpkg-query").args([
        "-W",
        "-f",
        "${db:Status-Status}\t${Package}\t${Version}\n",
    ]))
    .lines()
    .filter_map(|l| {
        let mut f = l.split('\t');
        (f.next() == Some("installed"))
            .then(|| (f.next().unwrap().to_string(), f.next().unwrap().to_string()))
    })
    .collect()
}

#[test]
fn pushed_images_get_spdx_and_cyclonedx_sboms() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let layout = Layout::new(&tmp.path().join("layout"));
    let (pip_dir, pip_version) = build_app(&layout, &work);
    let b = Berth::start(&data);
    let host = b.addr.clone();
    let oci = format!("oci:{}:app", tmp.path().join("layout").display());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &oci,
        &format!("docker://{host}/team/app:1"),
    ]);
    let image = manifest_digest(&format!("docker://{host}/team/app:1"));

    // Attached as referrers, in oras attach's shape.
    let (spdx_ref, cdx_ref) = wait_for_sboms(&b, "team/app", &image, &[]);
    let (manifest, spdx_bytes) = document(&b, "team/app", &spdx_ref);
    assert_eq!(manifest["artifactType"], SPDX);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    assert_eq!(manifest["layers"][0]["mediaType"], SPDX);
    assert_eq!(manifest["subject"]["digest"], image);
    let spdx: Value = serde_json::from_slice(&spdx_bytes).unwrap();
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
    let packages = spdx["packages"].as_array().unwrap();
    let purls: std::collections::BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        .map(str::to_string)
        .collect();
    let named = |name: &str| {
        packages
            .iter()
            .filter(|p| p["name"] == name && p["SPDXID"] != "SPDXRef-Image")
            .map(|p| p["versionInfo"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };

    // Every package dpkg-query says is installed, at its version.
    let installed = dpkg_installed();
    let debs: Vec<&Value> = packages
        .iter()
        .filter(|p| {
            p["SPDXID"]
                .as_str()
                .unwrap()
                .starts_with("SPDXRef-Package-deb-")
        })
        .collect();
    assert_eq!(
        debs.len(),
        installed.len(),
        "one package per installed dpkg package"
    );
    for (name, version) in installed.iter().take(50) {
        assert_eq!(named(name), std::slice::from_ref(version), "{name}");
    }
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap();
    let version_id = os_release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_ID="))
        .unwrap()
        .trim_matches('"');
    assert!(
        purls.iter().any(|p| p.starts_with("pkg:deb/debian/bash@")
            && p.ends_with(&format!("distro=debian-{version_id}"))),
        "{purls:?}"
    );
    // pip from its real metadata; the whited-out distribution is gone.
    assert_eq!(
        named("pip"),
        std::slice::from_ref(&pip_version),
        "{pip_dir}"
    );
    assert!(named("leftover").is_empty());
    // npm: the opaque whiteout removed @scope/gone but not what its own
    // layer put there.
    assert_eq!(named("left-pad"), ["1.3.0"]);
    assert_eq!(named("@scope/kept"), ["4.5.6"]);
    assert!(named("@scope/gone").is_empty());
    assert!(purls.contains("pkg:npm/%40scope/kept@4.5.6"), "{purls:?}");
    // Go: skopeo's standard library, at the toolchain version its binary names.
    let stdlib = named("stdlib");
    assert_eq!(stdlib.len(), 1, "{stdlib:?}");
    let go = format!("go{}", stdlib[0].trim_start_matches('v'));
    let skopeo_bin = std::fs::read("/usr/bin/skopeo").unwrap();
    assert!(
        skopeo_bin.windows(go.len()).any(|w| w == go.as_bytes()),
        "{go} is not in the skopeo binary"
    );
    // Rust: runtime crates of the cargo-auditable data; not build-only ones.
    assert_eq!(named("rust-app"), ["0.3.1"]);
    assert_eq!(named("serde"), ["1.0.190"]);
    assert!(named("cc").is_empty());

    // CycloneDX: the same packages.
    let (manifest, cdx_bytes) = document(&b, "team/app", &cdx_ref);
    assert_eq!(manifest["artifactType"], CYCLONEDX);
    let cdx: Value = serde_json::from_slice(&cdx_bytes).unwrap();
    assert_eq!(cdx["bomFormat"], "CycloneDX");
    assert_eq!(cdx["specVersion"], "1.5");
    assert_eq!(cdx["metadata"]["component"]["version"], image);
    let cdx_purls: std::collections::BTreeSet<String> = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str())
        .map(str::to_string)
        .collect();
    let spdx_package_purls: std::collections::BTreeSet<String> = purls
        .iter()
        .filter(|p| !p.starts_with("pkg:oci/"))
        .cloned()
        .collect();
    assert_eq!(cdx_purls, spdx_package_purls);

    // Harbor's views: sbom_overview and accessories.
    let api = |path: &str| {
        send(admin(
            reqwest::Client::new().get(b.url(&format!("/api/v2.0{path}"))),
        ))
    };
    // The task is recorded done just after its referrers appear.
    let deadline = Instant::now() + Duration::from_secs(30);
    let a = loop {
        let a = api("/projects/team/repositories/app/artifacts/1?with_sbom_overview=true");
        assert_eq!(a.status, 200, "{}", a.text());
        if a.json()["sbom_overview"]["scan_status"] == "Success" || Instant::now() > deadline {
            break a;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let overview = &a.json()["sbom_overview"];
    assert_eq!(overview["scan_status"], "Success", "{overview}");
    assert_eq!(overview["sbom_digest"], spdx_ref);
    assert_eq!(
        overview["package_count"].as_u64().unwrap() as usize,
        packages.len() - 2
    );
    let acc = api("/projects/team/repositories/app/artifacts/1/accessories").json();
    let sboms: Vec<&Value> = acc
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "harbor.sbom")
        .collect();
    assert_eq!(sboms.len(), 2, "{acc}");
    // The same in artifact listings (Harbor's with_accessory).
    let listed = api("/projects/team/repositories/app/artifacts?with_accessory=true").json();
    let listed_sboms = listed[0]["accessories"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "harbor.sbom")
        .count();
    assert_eq!(listed_sboms, 2, "{listed}");
    let one = api("/projects/team/repositories/app/artifacts/1").json();
    assert!(one.get("accessories").is_none(), "only when asked: {one}");

    // `berth sbom show` prints the same document.
    let shown = berth_ok(
        &data,
        &["sbom", "show", "team/app:1", "--format", "cyclonedx"],
        &[],
    );
    assert_eq!(shown.trim_end().as_bytes(), &cdx_bytes[..]);

    // On demand (Harbor's scan API): made again, the old ones replaced.
    let scan = |body: Option<Value>| {
        let r = admin(
            reqwest::Client::new()
                .post(b.url("/api/v2.0/projects/team/repositories/app/artifacts/1/scan")),
        );
        send(match body {
            Some(v) => r.json(&v),
            None => r,
        })
    };
    let r = scan(Some(json!({"scan_type": "sbom"})));
    assert_eq!(r.status, 202, "{}", r.text());
    let (spdx2, cdx2) =
        wait_for_sboms(&b, "team/app", &image, &[spdx_ref.clone(), cdx_ref.clone()]);
    assert_ne!(spdx2, spdx_ref);
    assert_eq!(
        send(reqwest::Client::new().get(b.url(&format!("/v2/team/app/manifests/{spdx_ref}"))))
            .status,
        404,
        "the first SPDX SBOM was replaced"
    );
    // Harbor's default scan type (vulnerability) is refused with the reason.
    let r = scan(None);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("vulnerability"), "{}", r.text());
    // An SBOM has no SBOM.
    let r = send(admin(
        reqwest::Client::new()
            .post(b.url(&format!(
                "/api/v2.0/projects/team/repositories/app/artifacts/{spdx2}/scan"
            )))
            .json(&json!({"scan_type": "sbom"})),
    ));
    assert_eq!(r.status, 400, "{}", r.text());
    let _ = cdx2;

    // A multi-platform index: one SBOM per platform manifest, none for the index.
    let multi = format!("oci:{}:multi", tmp.path().join("layout").display());
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &multi,
        &format!("docker://{host}/team/multi:1"),
    ]);
    let index: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{host}/team/multi:1"),
    ]))
    .unwrap();
    let index_digest = manifest_digest(&format!("docker://{host}/team/multi:1"));
    for child in index["manifests"].as_array().unwrap() {
        wait_for_sboms(&b, "team/multi", child["digest"].as_str().unwrap(), &[]);
    }
    assert!(referrers(&b, "team/multi", &index_digest, SPDX).is_empty());

    // An image where nothing is found (busybox-static: no package database,
    // no os-release) gets no documents; its overview says so.
    let busybox_oci = format!("oci:{}:amd64", images().join("busybox").display());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &busybox_oci,
        &format!("docker://{host}/team/busybox:1"),
    ]);
    let busybox = manifest_digest(&format!("docker://{host}/team/busybox:1"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let overview = loop {
        let a =
            api("/projects/team/repositories/busybox/artifacts/1?with_sbom_overview=true").json();
        if a["sbom_overview"]["scan_status"] == "Success" {
            break a["sbom_overview"].clone();
        }
        assert!(Instant::now() < deadline, "{a}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(overview["package_count"], 0, "{overview}");
    assert!(overview.get("sbom_digest").is_none(), "{overview}");
    assert!(referrers(&b, "team/busybox", &busybox, SPDX).is_empty());

    // A project with auto_sbom_generation off: nothing. (The worker takes
    // tasks in order, so once a later push to team has its SBOM, quiet's
    // would have had its own.)
    let r = send(
        admin(reqwest::Client::new().post(b.url("/api/v2.0/projects")))
            .json(&json!({"project_name": "quiet", "metadata": {"auto_sbom_generation": "false"}})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        api("/projects/quiet").json()["metadata"]["auto_sbom_generation"],
        "false"
    );
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &oci,
        &format!("docker://{host}/quiet/app:1"),
    ]);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &oci,
        &format!("docker://{host}/team/later:1"),
    ]);
    let later = manifest_digest(&format!("docker://{host}/team/later:1"));
    wait_for_sboms(&b, "team/later", &later, &[]);
    assert!(referrers(&b, "quiet/app", &image, SPDX).is_empty());
    let a = api("/projects/quiet/repositories/app/artifacts/1?with_sbom_overview=true").json();
    assert!(a.get("sbom_overview").is_none(), "{a}");

    // The trail: the worker's sbom_generate entries and the scan request;
    // then `berth sbom generate` on the data directory, recorded as the CLI.
    let mut b = b;
    assert!(b.terminate());
    let out = berth_ok(&data, &["sbom", "generate", "team/app:1"], &[]);
    assert!(
        out.contains(&format!(
            "team/app@{image}: {} packages",
            packages.len() - 2
        )),
        "{out}"
    );
    let (_, jsonl, _) = berth_cli(&data, &["audit", "export"], &[]);
    let entries: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let generated = entries
        .iter()
        .filter(|e| {
            e["action"] == "sbom_generate"
                && e["repository"] == "team/app"
                && e["digest"] == image
                && e["result"] == "success"
        })
        .count();
    assert_eq!(generated, 3, "at push, on demand and by the CLI");
    assert!(entries.iter().any(|e| e["action"] == "sbom_generate"
        && e["repository"] == "team/app"
        && e["digest"] == image
        && e["detail"].as_str().is_some_and(|d| d.starts_with("cli: "))));
    assert!(entries.iter().any(|e| e["action"] == "scan_request"
        && e["result"] == "success"
        && e["detail"].as_str().is_some_and(|d| d.contains(&image))));
    let (code, out) = fsck(&data);
    assert_eq!(code, 0, "{out}");
}

/// An OSV record (OSV schema 1.6) about `package` of `ecosystem`.
fn osv(id: &str, modified: &str, aliases: &[&str], affected: Value, extra: Value) -> Value {
    let mut r = json!({
        "schema_version": "1.6.0", "id": id, "modified": modified,
        "published": "2026-01-01T00:00:00Z", "aliases": aliases,
        "summary": format!("test advisory {id}"),
        "affected": [affected],
        "references": [{"type": "ADVISORY", "url": format!("https://example.invalid/{id}")}],
    });
    if let (Some(r), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            r.insert(k.clone(), v.clone());
        }
    }
    r
}

fn range(ecosystem: &str, package: &str, kind: &str, events: Value) -> Value {
    json!({"package": {"ecosystem": ecosystem, "name": package},
           "ranges": [{"type": kind, "events": events}]})
}

/// `(source package, source version)` of installed dpkg package `name`.
fn dpkg_source(name: &str) -> (String, String) {
    let out = run(Command::new("dpkg-query").args([
        "-W",
        "-f",
        "${source:Package}\t${source:Version}",
        name,
    ]));
    let (p, v) = out.split_once('\t').unwrap();
    (p.to_string(), v.to_string())
}

#[test]
fn vulnerabilities_are_matched_reported_and_gate_pulls() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let layout = Layout::new(&tmp.path().join("layout"));
    build_app(&layout, &work);
    let b = Berth::start(&data);
    let host = b.addr.clone();
    let r = send(
        admin(reqwest::Client::new().post(b.url("/api/v2.0/projects")))
            .json(&json!({"project_name": "team"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let oci = format!("oci:{}:app", tmp.path().join("layout").display());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &oci,
        &format!("docker://{host}/team/app:1"),
    ]);
    let image = manifest_digest(&format!("docker://{host}/team/app:1"));
    wait_for_sboms(&b, "team/app", &image, &[]);
    let api = |path: &str| {
        send(admin(
            reqwest::Client::new().get(b.url(&format!("/api/v2.0{path}"))),
        ))
    };
    let put = |path: &str, body: Value| {
        send(admin(reqwest::Client::new().put(b.url(&format!("/api/v2.0{path}")))).json(&body))
    };
    let overview = || {
        let a = api("/projects/team/repositories/app/artifacts/1?with_scan_overview=true").json();
        a["scan_overview"]["application/vnd.security.vulnerability.report; version=1.1"].clone()
    };
    let scan = || {
        send(admin(reqwest::Client::new().post(b.url(
            "/api/v2.0/projects/team/repositories/app/artifacts/1/scan",
        ))))
    };

    // No database yet: the image is not scanned (no overview, as Harbor
    // shows an artifact no scanner looked at; not "failed"), and a scan
    // says why.
    // The SBOM task is finished after the match was tried.
    let deadline = Instant::now() + Duration::from_secs(30);
    while api("/projects/team/repositories/app/artifacts/1?with_sbom_overview=true").json()
        ["sbom_overview"]["scan_status"]
        != "Success"
    {
        assert!(Instant::now() < deadline, "the SBOM task did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(overview(), Value::Null, "not scanned, not failed");
    let r = scan();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("berth vuln-db import"), "{}", r.text());

    // Advisories about what the image holds, as OSV publishes them: Debian's
    // by source package and version, the others by name.
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap();
    let major = os_release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_ID="))
        .unwrap()
        .trim_matches('"')
        .split('.')
        .next()
        .unwrap()
        .to_string();
    let debian = format!("Debian:{major}");
    let (bash_src, bash_version) = dpkg_source("bash");
    let (core_src, _) = dpkg_source("coreutils");
    let critical = json!({"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]});
    let dir = tmp.path().join("osv");
    std::fs::create_dir_all(dir.join("Debian")).unwrap();
    let write = |path: &Path, v: &Value| {
        std::fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap()
    };
    let bash_record = |modified: &str, fixed: &str| {
        osv(
            "DEBIAN-TEST-0001",
            modified,
            &["CVE-2099-0001"],
            range(
                &debian,
                &bash_src,
                "ECOSYSTEM",
                json!([{"introduced": "0"}, {"fixed": fixed}]),
            ),
            critical.clone(),
        )
    };
    write(
        &dir.join("Debian/DEBIAN-TEST-0001.json"),
        &bash_record("2026-01-01T00:00:00Z", &format!("{bash_version}.1")),
    );
    write(
        &dir.join("Debian/DEBIAN-TEST-0002.json"),
        &osv(
            "DEBIAN-TEST-0002",
            "2026-01-01T00:00:00Z",
            &["CVE-2099-0002"],
            range(
                &debian,
                &core_src,
                "ECOSYSTEM",
                json!([{"introduced": "0"}, {"fixed": "0.1"}]),
            ),
            critical.clone(),
        ),
    );
    std::fs::write(dir.join("Debian/broken.json"), "{not json").unwrap();
    // The other ecosystems as one zip export.
    let zip_path = tmp.path().join("all.zip");
    {
        use std::io::Write;
        let mut z = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        let records = [
            osv(
                "PYSEC-TEST-0001",
                "2026-01-01T00:00:00Z",
                &["CVE-2099-0003"],
                range(
                    "PyPI",
                    "pip",
                    "ECOSYSTEM",
                    json!([{"introduced": "0"}, {"fixed": "999.0"}]),
                ),
                json!({"database_specific": {"severity": "MODERATE"}}),
            ),
            osv(
                "GHSA-test-0001",
                "2026-01-01T00:00:00Z",
                &["CVE-2099-0004"],
                range(
                    "npm",
                    "left-pad",
                    "SEMVER",
                    json!([{"introduced": "0"}, {"fixed": "1.3.1"}]),
                ),
                json!({"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
                       "database_specific": {"cwe_ids": ["CWE-1321"], "github_reviewed": true}}),
            ),
            osv(
                "GO-TEST-0001",
                "2026-01-01T00:00:00Z",
                &[],
                range(
                    "Go",
                    "stdlib",
                    "SEMVER",
                    json!([{"introduced": "0"}, {"fixed": "99.0.0"}]),
                ),
                json!({}),
            ),
            osv(
                "RUSTSEC-TEST-0001",
                "2026-01-01T00:00:00Z",
                &[],
                range(
                    "crates.io",
                    "serde",
                    "SEMVER",
                    json!([{"introduced": "1.0.0"}, {"last_affected": "1.0.190"}]),
                ),
                json!({"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}]}),
            ),
            osv(
                "GHSA-test-0002",
                "2026-01-01T00:00:00Z",
                &[],
                range("npm", "left-pad", "SEMVER", json!([{"introduced": "0"}])),
                json!({"withdrawn": "2026-02-01T00:00:00Z"}),
            ),
        ];
        for r in &records {
            z.start_file(format!("{}.json", r["id"].as_str().unwrap()), opts)
                .unwrap();
            z.write_all(&serde_json::to_vec(r).unwrap()).unwrap();
        }
        z.finish().unwrap();
    }
    let dir_s = dir.to_str().unwrap();
    let zip_s = zip_path.to_str().unwrap();
    let out = berth_ok(&data, &["vuln-db", "import", dir_s], &[]);
    assert!(out.contains("2 records read, 2 new or changed"), "{out}");
    assert!(
        out.contains("skipped") && out.contains("broken.json: not an OSV record"),
        "{out}"
    );
    let out = berth_ok(&data, &["vuln-db", "import", zip_s], &[]);
    assert!(
        out.contains("5 records read, 5 new or changed; 1 images matched again"),
        "{out}"
    );

    // The report: matched without reading layers again, by each
    // ecosystem's version order; the withdrawn and fixed ones left out.
    let o = overview();
    assert_eq!(o["scan_status"], "Success", "{o}");
    assert_eq!(o["severity"], "Critical", "{o}");
    assert_eq!(o["summary"]["total"], 5, "{o}");
    assert_eq!(o["summary"]["summary"]["Critical"], 1, "{o}");
    let report =
        api("/projects/team/repositories/app/artifacts/1/additions/vulnerabilities").json();
    let report = &report["application/vnd.security.vulnerability.report; version=1.1"];
    let vulns = report["vulnerabilities"].as_array().unwrap();
    let ids: std::collections::BTreeSet<&str> =
        vulns.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "CVE-2099-0001",
            "CVE-2099-0003",
            "CVE-2099-0004",
            "GO-TEST-0001",
            "RUSTSEC-TEST-0001"
        ]
        .into(),
        "{report}"
    );
    let bash = vulns.iter().find(|v| v["id"] == "CVE-2099-0001").unwrap();
    assert_eq!(bash["severity"], "Critical");
    assert_eq!(bash["fix_version"], format!("{bash_version}.1"));
    assert_eq!(bash["version"], bash_version);
    assert_eq!(vulns[0]["id"], "CVE-2099-0001", "worst first");
    let by = |id: &str| vulns.iter().find(|v| v["id"] == id).unwrap()["severity"].clone();
    assert_eq!(by("CVE-2099-0003"), "Medium");
    assert_eq!(by("CVE-2099-0004"), "High");
    let left_pad = vulns.iter().find(|v| v["id"] == "CVE-2099-0004").unwrap();
    assert_eq!(left_pad["cwe_ids"], json!(["CWE-1321"]), "{left_pad}");
    assert_eq!(bash["cwe_ids"], json!([]), "{bash}");
    assert_eq!(by("RUSTSEC-TEST-0001"), "Low");
    assert_eq!(by("GO-TEST-0001"), "Unknown");
    let csv =
        api("/projects/team/repositories/app/artifacts/1/additions/vulnerabilities?format=csv")
            .text();
    assert_eq!(csv.lines().count(), 6, "{csv}");
    assert!(
        csv.starts_with("id,osv_id,package,version,fix_version,severity"),
        "{csv}"
    );

    // Importing again changes nothing; a changed record is matched again
    // at once, without a new SBOM.
    let out = berth_ok(&data, &["vuln-db", "import", dir_s], &[]);
    assert!(out.contains("2 records read, 0 new or changed"), "{out}");
    let sbom_before = api("/projects/team/repositories/app/artifacts/1?with_sbom_overview=true")
        .json()["sbom_overview"]
        .clone();
    write(
        &dir.join("Debian/DEBIAN-TEST-0001.json"),
        &bash_record("2026-03-01T00:00:00Z", "0.1"),
    );
    let out = berth_ok(&data, &["vuln-db", "import", dir_s], &[]);
    assert!(
        out.contains("1 new or changed; 1 images matched again"),
        "{out}"
    );
    let o = overview();
    assert_eq!(
        (o["severity"].as_str(), o["summary"]["total"].as_u64()),
        (Some("High"), Some(4)),
        "{o}"
    );
    let sbom_after = api("/projects/team/repositories/app/artifacts/1?with_sbom_overview=true")
        .json()["sbom_overview"]
        .clone();
    assert_eq!(sbom_before, sbom_after, "no layer was read again");
    let db = api("/vulnerability-database").json();
    assert_eq!(db["records"], 7, "{db}");
    assert_eq!(db["imports"].as_array().unwrap().len(), 4, "{db}");

    // The gate: High and above refused, naming the worst finding.
    let get = || {
        send(
            reqwest::Client::new()
                .get(b.url("/v2/team/app/manifests/1"))
                .header("accept", "application/vnd.oci.image.manifest.v1+json"),
        )
    };
    assert_eq!(get().status, 200);
    let r = put(
        "/projects/team",
        json!({"metadata": {"prevent_vul": "true", "severity": "high"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get();
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.text().contains("DENIED") && r.text().contains("CVE-2099-0004"),
        "{}",
        r.text()
    );
    let err = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{host}/team/app:1"),
        ])
        .output()
        .unwrap();
    assert!(!err.status.success());
    // Allow-listed by the project: passes.
    let r = put(
        "/projects/team",
        json!({"cve_allowlist": {"items": [{"cve_id": "CVE-2099-0004"}]}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        api("/projects/team").json()["cve_allowlist"]["items"][0]["cve_id"],
        "CVE-2099-0004"
    );
    assert_eq!(get().status, 200);
    // Medium: pip's advisory; the system allow-list (by OSV id) lets it
    // pass until it expires.
    put(
        "/projects/team",
        json!({"metadata": {"severity": "medium"}}),
    );
    let r = get();
    assert_eq!(r.status, 403);
    assert!(r.text().contains("CVE-2099-0003"), "{}", r.text());
    let r = put(
        "/system/CVEAllowlist",
        json!({"items": [{"cve_id": "PYSEC-TEST-0001"}], "expires_at": null}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get().status, 200);
    put(
        "/system/CVEAllowlist",
        json!({"items": [{"cve_id": "PYSEC-TEST-0001"}], "expires_at": 1}),
    );
    assert_eq!(get().status, 403, "an expired allow-list no longer applies");
    let r = put(
        "/system/CVEAllowlist",
        json!({"items": [{"cve_id": "not an id!"}]}),
    );
    assert_eq!(r.status, 400);
    let r = put(
        "/projects/team",
        json!({"metadata": {"severity": "catastrophic"}}),
    );
    assert_eq!(r.status, 400);

    // prevent_unscanned: an image never scanned is refused until scanned.
    let r = send(
        admin(reqwest::Client::new().post(b.url("/api/v2.0/projects"))).json(&json!({
        "project_name": "strict",
        "metadata": {"auto_sbom_generation": "false", "prevent_unscanned": "true"}})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &oci,
        &format!("docker://{host}/strict/app:1"),
    ]);
    let strict = || {
        send(
            reqwest::Client::new()
                .get(b.url("/v2/strict/app/manifests/1"))
                .header("accept", "application/vnd.oci.image.manifest.v1+json"),
        )
    };
    let r = strict();
    assert_eq!(r.status, 403);
    assert!(r.text().contains("never scanned"), "{}", r.text());
    let r = send(admin(reqwest::Client::new().post(
        b.url("/api/v2.0/projects/strict/repositories/app/artifacts/1/scan"),
    )));
    assert_eq!(r.status, 202, "{}", r.text());
    let deadline = Instant::now() + Duration::from_secs(60);
    while strict().status != 200 {
        assert!(Instant::now() < deadline, "never scanned");
        std::thread::sleep(Duration::from_millis(200));
    }

    let mut b = b;
    assert!(b.terminate());
    let status = berth_ok(&data, &["vuln-db", "status"], &[]);
    assert!(status.starts_with("7 records"), "{status}");
    let (_, jsonl, _) = berth_cli(&data, &["audit", "export"], &[]);
    let entries: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let imports = entries
        .iter()
        .filter(|e| e["action"] == "vuln_db_import" && e["result"] == "success")
        .count();
    assert_eq!(imports, 4);
    assert!(entries
        .iter()
        .any(|e| e["action"] == "cve_allowlist_change" && e["result"] == "success"));
    assert!(entries.iter().any(|e| e["action"] == "pull"
        && e["result"] == "failure"
        && e["detail"]
            .as_str()
            .is_some_and(|d| d.contains("vulnerability policy"))));
}

/// Builds the rpm package `name` (`epoch`: none when `None`) with
/// rpmbuild under `work`; returns the .rpm's path.
fn build_rpm(work: &Path, name: &str, epoch: Option<u32>, version: &str, release: &str) -> String {
    let spec = work.join(format!("{name}.spec"));
    let epoch = epoch.map(|e| format!("Epoch: {e}\n")).unwrap_or_default();
    std::fs::write(
        &spec,
        format!(
            "Name: {name}\nVersion: {version}\nRelease: {release}\n{epoch}Summary: test\n\
             License: MIT\nBuildArch: noarch\n%description\ntest\n%install\n\
             mkdir -p %{{buildroot}}/usr/share/{name}\necho hi > %{{buildroot}}/usr/share/{name}/hi\n\
             %files\n/usr/share/{name}/hi\n"
        ),
    )
    .unwrap();
    run(Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", work.display()))
        .args(["-bb", spec.to_str().unwrap()]));
    work.join(format!("RPMS/noarch/{name}-{version}-{release}.noarch.rpm"))
        .to_str()
        .unwrap()
        .to_string()
}

/// An AlmaLinux-like image whose rpm database (SQLite, where RHEL 9 keeps
/// it) is written by the real `rpm` installing packages built by
/// `rpmbuild`: the SBOM lists exactly what `rpm -qa` says is installed,
/// with epochs, and OSV advisories in the `AlmaLinux:9` ecosystem match by
/// rpm's version order.
#[test]
fn rpm_databases_are_read_and_matched() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let work = tmp.path().join("rpmbuild");
    std::fs::create_dir_all(&work).unwrap();
    let root = tmp.path().join("root");
    let rpm = |args: &[&str]| {
        run(Command::new("rpm")
            .args(["--define", "_db_backend sqlite"])
            .args(["--define", "_dbpath /usr/lib/sysimage/rpm"])
            .arg("--root")
            .arg(&root)
            .args(args))
    };
    rpm(&["--initdb"]);
    let hello = build_rpm(&work, "berth-hello", Some(2), "1.2.3", "4.el9");
    let tools = build_rpm(&work, "berth-tools", None, "0.9.1", "1.el9_2");
    rpm(&[
        "-i",
        "--nodeps",
        "--ignoreos",
        "--nosignature",
        &hello,
        &tools,
    ]);
    let installed: std::collections::BTreeMap<String, String> = rpm(&[
        "-qa",
        "--qf",
        "%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n",
    ])
    .lines()
    .map(|l| {
        let (n, v) = l.split_once('\t').unwrap();
        (n.to_string(), v.to_string())
    })
    .collect();
    assert_eq!(installed.len(), 2, "{installed:?}");
    assert_eq!(installed["berth-hello"], "2:1.2.3-4.el9");

    let layout = Layout::new(&tmp.path().join("layout"));
    let base = tar(&[
        (
            "etc/os-release",
            0o644,
            b"NAME=\"AlmaLinux\"\nVERSION=\"9.4 (Seafoam Ocelot)\"\nID=\"almalinux\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"AlmaLinux 9.4 (Seafoam Ocelot)\"\n".to_vec(),
        ),
        (
            "usr/lib/sysimage/rpm/rpmdb.sqlite",
            0o644,
            std::fs::read(root.join("usr/lib/sysimage/rpm/rpmdb.sqlite")).unwrap(),
        ),
    ]);
    let zbase = gzip(&base);
    let image = layout.image(
        "amd64",
        &[(base, zbase, "application/vnd.oci.image.layer.v1.tar+gzip")],
    );
    layout.tag("alma", image);
    let b = Berth::start(&data);
    let host = b.addr.clone();
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:alma", tmp.path().join("layout").display()),
        &format!("docker://{host}/library/alma:1"),
    ]);
    let digest = manifest_digest(&format!("docker://{host}/library/alma:1"));
    let (spdx, _) = wait_for_sboms(&b, "library/alma", &digest, &[]);
    let (_, doc) = document(&b, "library/alma", &spdx);
    let doc: Value = serde_json::from_slice(&doc).unwrap();
    let listed: std::collections::BTreeMap<String, String> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["externalRefs"].as_array().is_some_and(|refs| {
                refs.iter().any(|r| {
                    r["referenceLocator"]
                        .as_str()
                        .is_some_and(|l| l.starts_with("pkg:rpm/almalinux/"))
                })
            })
        })
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["versionInfo"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(listed, installed, "{doc}");
    let purls = doc.to_string();
    assert!(
        purls.contains(
            "pkg:rpm/almalinux/berth-hello@1.2.3-4.el9?arch=noarch&distro=almalinux-9.4&epoch=2"
        ),
        "{doc}"
    );

    // Advisories as AlmaLinux publishes them in OSV: by binary package, the
    // fix as `[epoch:]version-release`.
    let dir = tmp.path().join("osv");
    std::fs::create_dir_all(&dir).unwrap();
    let records = [
        // Fixed after the installed 2:1.2.3-4.el9 (same epoch, later release).
        ("ALSA-TEST-0001", "berth-hello", "2:1.2.3-4.el9_1"),
        // Fixed in a higher version, but of epoch 0: 2:… is newer.
        ("ALSA-TEST-0002", "berth-hello", "1.9.9-1.el9"),
        // Fixed before the installed 0.9.1-1.el9_2.
        ("ALSA-TEST-0003", "berth-tools", "0.9.1-1.el9"),
        // Fixed after it: 0.10 is newer than 0.9.1.
        ("ALSA-TEST-0004", "berth-tools", "0.10-1.el9"),
    ];
    for (id, package, fixed) in records {
        let r = osv(
            id,
            "2026-01-01T00:00:00Z",
            &[],
            range(
                "AlmaLinux:9",
                package,
                "ECOSYSTEM",
                json!([{"introduced": "0"}, {"fixed": fixed}]),
            ),
            json!({}),
        );
        std::fs::write(
            dir.join(format!("{id}.json")),
            serde_json::to_vec(&r).unwrap(),
        )
        .unwrap();
    }
    let out = berth_ok(&data, &["vuln-db", "import", dir.to_str().unwrap()], &[]);
    assert!(out.contains("4 records read, 4 new or changed"), "{out}");
    let report = send(admin(reqwest::Client::new().get(b.url(
        "/api/v2.0/projects/library/repositories/alma/artifacts/1/additions/vulnerabilities",
    ))))
    .json();
    let vulns = report["application/vnd.security.vulnerability.report; version=1.1"]
        ["vulnerabilities"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let found: std::collections::BTreeSet<(String, String, String)> = vulns
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_string(),
                v["package"].as_str().unwrap().to_string(),
                v["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "ALSA-TEST-0001".to_string(),
                "berth-hello".to_string(),
                "2:1.2.3-4.el9".to_string()
            ),
            (
                "ALSA-TEST-0004".to_string(),
                "berth-tools".to_string(),
                "0.9.1-1.el9_2".to_string()
            ),
        ]
        .into(),
        "{report}"
    );
}
