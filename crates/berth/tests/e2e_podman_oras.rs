//! End to end with podman (containers/image, vfs storage) and Python `oras`
//! (OCI 1.1 artifacts with a `subject`, listed through the referrers API).

mod support;

use std::process::Command;

use support::*;

#[test]
fn podman_push_and_pull_round_trip() {
    let img = images();
    let data = tempfile::tempdir().unwrap();
    let berth = Berth::start(data.path());
    let reg = &berth.addr;
    let store = tempfile::Builder::new()
        .prefix("podman")
        .tempdir_in("/tmp")
        .unwrap();
    let podman = |args: &[&str]| {
        run(Command::new("podman")
            .arg("--storage-driver=vfs")
            .arg(format!("--root={}", store.path().join("root").display()))
            .arg(format!("--runroot={}", store.path().join("run").display()))
            .args(args))
    };
    let src = format!("oci-archive:{}", img.join("busybox.oci.tar").display());
    podman(&["pull", &src]);
    let id = podman(&["images", "--format", "{{.ID}}"]);
    let id = id.lines().next().expect("pulled image").trim().to_string();
    let name = format!("{reg}/e2e/podman:1");
    podman(&["tag", &id, &name]);
    podman(&["push", "--tls-verify=false", &name]);
    podman(&["rmi", "--all", "--force"]);
    podman(&["pull", "--tls-verify=false", &name]);
    let pulled = podman(&["images", "--format", "{{.ID}}", &name]);
    assert_eq!(
        pulled.trim(),
        id,
        "image id (config digest) changed through berth"
    );
    let (code, report) = fsck(data.path());
    assert_eq!(code, 0, "{report}");
}

#[test]
fn python_oras_pushes_artifacts_with_subject_and_lists_referrers() {
    let img = images();
    let data = tempfile::tempdir().unwrap();
    let berth = Berth::start(data.path());
    let reg = &berth.addr;
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:amd64", img.join("busybox").display()),
        &format!("docker://{reg}/e2e/app:1"),
    ]);
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reg}/e2e/app:1"),
    ]);
    let digest = recorded_digest("oci:busybox:amd64");
    let work = tempfile::tempdir().unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/oras_referrers.py");
    let out = run(Command::new("python3")
        .arg(script)
        .args([reg.as_str(), "e2e/app", &digest, &raw.len().to_string()])
        .arg(work.path()));
    eprintln!("{out}");
    assert!(out.contains("oras: all checks passed"), "{out}");
}
