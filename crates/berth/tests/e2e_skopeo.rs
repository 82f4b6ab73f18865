//! End to end with skopeo against the real binary: OCI single-arch, a
//! two-platform OCI index, Docker v2s2 and a manifest list; inspect, list-tags,
//! delete, and a copy back whose manifest and blob digests equal the originals.

mod support;

use std::path::Path;

use support::*;

fn blobs_of_layout(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("blobs/sha256"))
        .unwrap()
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    v.sort();
    v
}

#[test]
fn skopeo_push_inspect_list_pull_delete_round_trip() {
    let img = images();
    let data = tempfile::tempdir().unwrap();
    let berth = Berth::start(data.path());
    let reg = &berth.addr;
    let oci = |r: &str| format!("oci:{}:{r}", img.join("busybox").display());

    // Single-arch OCI image.
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &oci("amd64"),
        &format!("docker://{reg}/e2e/busybox:1"),
    ]);
    let digest = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &format!("docker://{reg}/e2e/busybox:1"),
    ]);
    assert_eq!(digest.trim(), recorded_digest("oci:busybox:amd64"));

    // Two-platform index with --all.
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &oci("multi"),
        &format!("docker://{reg}/e2e/busybox:multi"),
    ]);
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reg}/e2e/busybox:multi"),
    ]);
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    let digest = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{reg}/e2e/busybox:multi"),
    ]);
    assert_eq!(
        file_digest_of(digest.as_bytes()),
        recorded_digest("oci:busybox:multi")
    );
    let arm = skopeo(&[
        "--override-arch",
        "arm64",
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Architecture}}",
        &format!("docker://{reg}/e2e/busybox:multi"),
    ]);
    assert_eq!(arm.trim(), "arm64");

    // Docker v2 schema2 image and manifest list (skopeo dir: format), digests kept.
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("dir:{}", img.join("busybox-v2s2").display()),
        &format!("docker://{reg}/e2e/busybox:v2s2"),
    ]);
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("dir:{}", img.join("busybox-multi-v2s2").display()),
        &format!("docker://{reg}/e2e/busybox:list"),
    ]);
    let d = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &format!("docker://{reg}/e2e/busybox:v2s2"),
    ]);
    assert_eq!(d.trim(), recorded_digest("dir:busybox-v2s2"));
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reg}/e2e/busybox:list"),
    ]);
    assert_eq!(
        file_digest_of(raw.as_bytes()),
        recorded_digest("dir:busybox-multi-v2s2")
    );

    // Tags.
    let tags: serde_json::Value = serde_json::from_str(&skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{reg}/e2e/busybox"),
    ]))
    .unwrap();
    assert_eq!(
        tags["Tags"],
        serde_json::json!(["1", "list", "multi", "v2s2"])
    );

    // Copy back to an OCI layout: same manifest digest, same blobs.
    let back = tempfile::tempdir().unwrap();
    let dest = format!("oci:{}:back", back.path().join("layout").display());
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{reg}/e2e/busybox:1"),
        &dest,
    ]);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(back.path().join("layout/index.json")).unwrap())
            .unwrap();
    assert_eq!(
        index["manifests"][0]["digest"],
        recorded_digest("oci:busybox:amd64")
    );
    let original = blobs_of_layout(&img.join("busybox"));
    for b in blobs_of_layout(&back.path().join("layout")) {
        assert!(original.contains(&b), "{b} not among the original blobs");
        let hex = b.trim_start_matches("sha256:");
        assert_eq!(
            file_digest(&back.path().join("layout/blobs/sha256").join(hex)),
            b
        );
    }

    // Copy back the whole index.
    let dest = format!("oci:{}:multi", back.path().join("multi").display());
    skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &format!("docker://{reg}/e2e/busybox:multi"),
        &dest,
    ]);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(back.path().join("multi/index.json")).unwrap())
            .unwrap();
    assert_eq!(
        index["manifests"][0]["digest"],
        recorded_digest("oci:busybox:multi")
    );

    // Delete by tag (skopeo deletes the manifest the tag resolves to).
    skopeo(&[
        "delete",
        "--tls-verify=false",
        &format!("docker://{reg}/e2e/busybox:v2s2"),
    ]);
    let out = std::process::Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{reg}/e2e/busybox:v2s2"),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "deleted image is still inspectable");

    let (code, report) = fsck(data.path());
    assert_eq!(code, 0, "{report}");
}

fn file_digest_of(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
    )
}
