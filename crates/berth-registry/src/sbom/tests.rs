//! SBOMs through the registry core, on SQLite or PostgreSQL (whichever
//! `BERTH_TEST_DATABASE_URL` picks): a push queues one, a worker claims it
//! alone, the referrers have `oras attach`'s shape, a second run replaces
//! the first, an index queues its platform manifests, an accessory is
//! refused, a broken layer is an error with the reason.

use std::io::Write;

use berth_oci::{Algorithm, Digest, Reference, RepositoryName};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};

use super::{cyclonedx, spdx, KIND};
use crate::{Limits, Registry};

const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const STATUS: &[u8] =
    b"Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\n\n\
Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n";

async fn registry(dir: &std::path::Path) -> Registry {
    Registry::open_at(
        dir,
        &berth_meta::testing::database_url(dir).await,
        Limits::default(),
    )
    .await
    .unwrap()
}

fn repo(s: &str) -> RepositoryName {
    RepositoryName::parse(s).unwrap()
}

async fn blob(reg: &Registry, r: &RepositoryName, bytes: Vec<u8>) -> Value {
    let d = Digest::of(Algorithm::Sha256, &bytes);
    let n = bytes.len();
    let stream = futures::stream::once(async move { Ok(Bytes::from(bytes)) }).boxed();
    reg.upload_monolithic(r, Some(d.as_str()), stream)
        .await
        .unwrap();
    json!({"digest": d.to_string(), "size": n})
}

fn gzip_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, path, *content).unwrap();
    }
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&b.into_inner().unwrap()).unwrap();
    z.finish().unwrap()
}

/// Pushes an image whose one layer is `layer`; returns its digest.
async fn push_image(reg: &Registry, r: &RepositoryName, tag: &str, layer: Vec<u8>) -> Digest {
    let mut config = blob(
        reg,
        r,
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec(),
    )
    .await;
    config["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
    let mut layer = blob(reg, r, layer).await;
    layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
    let m = json!({"schemaVersion": 2, "mediaType": IMAGE, "config": config, "layers": [layer]});
    reg.manifest_put(
        r,
        &Reference::parse(tag).unwrap(),
        Some(IMAGE),
        Bytes::from(serde_json::to_vec(&m).unwrap()),
    )
    .await
    .unwrap()
    .digest
}

async fn document(reg: &Registry, r: &RepositoryName, referrer: &Digest) -> (Value, Value) {
    let m = reg
        .manifest_get(r, &Reference::Digest(referrer.clone()), true)
        .await
        .unwrap();
    let manifest: Value = serde_json::from_slice(&m.body.unwrap()).unwrap();
    let layer: Digest = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let doc = reg.blobs.read_all(&layer).await.unwrap();
    (manifest, serde_json::from_slice(&doc).unwrap())
}

#[tokio::test]
async fn a_pushed_image_gets_an_spdx_and_a_cyclonedx_referrer() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path()).await;
    let r = repo("team/app");
    let layer = gzip_tar(&[
        ("etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n"),
        ("var/lib/dpkg/status", STATUS),
    ]);
    let image = push_image(&reg, &r, "1", layer).await;
    let task = reg.sbom_status(&r, &image).await.unwrap().unwrap();
    assert_eq!(task.status, "pending");

    let done = reg.sbom_work().await;
    assert_eq!(done.len(), 1);
    let report = done[0].1.as_ref().unwrap().clone();
    assert_eq!(report.packages, 1);
    assert_eq!(report.os.as_deref(), Some("debian 12"));
    assert!(reg.sbom_work().await.is_empty(), "the queue is empty");
    assert_eq!(
        reg.sbom_status(&r, &image).await.unwrap().unwrap().status,
        "success"
    );

    let spdx_referrers = reg
        .referrers(&r, &image, Some(spdx::MEDIA_TYPE))
        .await
        .unwrap();
    assert_eq!(spdx_referrers.len(), 1);
    assert_eq!(Some(spdx_referrers[0].digest.to_string()), report.spdx);
    let (manifest, doc) = document(&reg, &r, &spdx_referrers[0].digest).await;
    // oras attach's shape: artifactType, the empty config, one layer, subject.
    assert_eq!(manifest["artifactType"], spdx::MEDIA_TYPE);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(manifest["config"]["size"], 2);
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    assert_eq!(manifest["subject"]["digest"], image.to_string());
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    let bash = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "bash")
        .unwrap();
    assert_eq!(bash["versionInfo"], "5.2.15-2+b2");
    assert_eq!(
        bash["externalRefs"][0]["referenceLocator"],
        "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12"
    );
    let cdx: Digest = report.cyclonedx.as_deref().unwrap().parse().unwrap();
    let (manifest, doc) = document(&reg, &r, &cdx).await;
    assert_eq!(manifest["artifactType"], cyclonedx::MEDIA_TYPE);
    assert_eq!(
        (doc["bomFormat"].as_str(), doc["specVersion"].as_str()),
        (Some("CycloneDX"), Some("1.5"))
    );
    assert_eq!(
        doc["components"].as_array().unwrap().len(),
        2,
        "the OS and bash"
    );

    // The SBOM referrers are accessories: they queue nothing themselves,
    // and cannot be scanned.
    assert!(reg.sbom_status(&r, &cdx).await.unwrap().is_none());
    assert!(matches!(
        reg.sbom_request(&r, &cdx).await,
        Err(crate::Error::Unsupported(_))
    ));

    // On demand again: new documents replace berth's old ones.
    reg.sbom_request(&r, &image).await.unwrap();
    let again = reg.sbom_work().await;
    let second = again[0].1.as_ref().unwrap();
    assert_ne!(
        second.spdx, report.spdx,
        "a new document (new serial number)"
    );
    let now = reg.sboms_of(&r, &image).await.unwrap();
    let mut digests: Vec<String> = now.iter().map(|s| s.digest.to_string()).collect();
    digests.sort();
    let mut want = vec![
        second.spdx.clone().unwrap(),
        second.cyclonedx.clone().unwrap(),
    ];
    want.sort();
    assert_eq!(digests, want);
    reg.close().await;
}

#[tokio::test]
async fn one_worker_claims_a_task_and_a_lapsed_lease_is_claimed_again() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path()).await;
    let r = repo("team/app");
    let image = push_image(&reg, &r, "1", gzip_tar(&[("var/lib/dpkg/status", STATUS)])).await;
    let meta = reg.meta();
    let (a, b) = tokio::join!(meta.scan_claim(KIND, 60_000), meta.scan_claim(KIND, 60_000));
    let claimed: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(
        claimed.len(),
        1,
        "exactly one of two concurrent claims wins"
    );
    assert_eq!(claimed[0].digest, image.to_string());
    assert!(meta.scan_claim(KIND, 60_000).await.unwrap().is_none());
    // Its node died: the lease lapses and another claims it.
    sqlx_free_lapse(&reg, &r, &image).await;
    let again = meta.scan_claim(KIND, 60_000).await.unwrap().unwrap();
    assert_eq!(again.attempts, 2);
    // A node stopping gives it back without counting the claim.
    meta.scan_release(r.as_str(), image.as_str(), KIND)
        .await
        .unwrap();
    let third = meta.scan_claim(KIND, 60_000).await.unwrap().unwrap();
    assert_eq!(third.attempts, 2);
    reg.close().await;
}

/// Makes the running task's lease run out (as if its node died).
async fn sqlx_free_lapse(reg: &Registry, r: &RepositoryName, image: &Digest) {
    // A claim with a lease already over (-1 ms) stands for a dead node.
    reg.meta()
        .scan_release(r.as_str(), image.as_str(), KIND)
        .await
        .unwrap();
    let claimed = reg.meta().scan_claim(KIND, -1).await.unwrap().unwrap();
    assert_eq!(claimed.attempts, 1);
}

#[tokio::test]
async fn an_index_queues_its_platform_manifests_and_a_broken_layer_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path()).await;
    let r = repo("team/multi");
    let good = push_image(
        &reg,
        &r,
        "amd64",
        gzip_tar(&[("var/lib/dpkg/status", STATUS)]),
    )
    .await;
    let mut broken = vec![0x1f, 0x8b];
    broken.extend(b"not gzip at all");
    let bad = push_image(&reg, &r, "arm64", broken).await;
    let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": IMAGE, "digest": good.to_string(), "size": reg.manifest_get(&r, &Reference::Digest(good.clone()), false).await.unwrap().size,
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": IMAGE, "digest": bad.to_string(), "size": reg.manifest_get(&r, &Reference::Digest(bad.clone()), false).await.unwrap().size,
         "platform": {"architecture": "arm64", "os": "linux"}},
    ]});
    let index = reg
        .manifest_put(
            &r,
            &Reference::parse("1").unwrap(),
            Some(INDEX),
            Bytes::from(serde_json::to_vec(&index).unwrap()),
        )
        .await
        .unwrap()
        .digest;
    assert!(
        reg.sbom_status(&r, &index).await.unwrap().is_none(),
        "an index queues nothing itself"
    );
    let done = reg.sbom_work().await;
    assert_eq!(done.len(), 2);
    assert_eq!(
        reg.sbom_status(&r, &good).await.unwrap().unwrap().status,
        "success"
    );
    let failed = reg.sbom_status(&r, &bad).await.unwrap().unwrap();
    assert_eq!(failed.status, "error");
    assert!(
        failed.detail.contains("not a readable tar"),
        "{}",
        failed.detail
    );
    // On demand for the index: both platform manifests again.
    let queued = reg.sbom_request(&r, &index).await.unwrap();
    assert_eq!(queued, vec![good.clone(), bad.clone()]);
    assert_eq!(reg.sbom_work().await.len(), 2);
    reg.close().await;
}

#[tokio::test]
async fn a_project_with_automatic_sboms_off_queues_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path()).await;
    reg.meta()
        .project_create("quiet", false, None)
        .await
        .unwrap();
    reg.project_switch_set("quiet", crate::ProjectSwitch::AutoSbom, false)
        .await
        .unwrap();
    assert!(!reg.auto_sbom("quiet").await.unwrap());
    assert!(reg.auto_sbom("library").await.unwrap(), "on by default");
    let r = repo("quiet/app");
    let image = push_image(&reg, &r, "1", gzip_tar(&[("var/lib/dpkg/status", STATUS)])).await;
    assert!(reg.sbom_status(&r, &image).await.unwrap().is_none());
    assert!(reg.sbom_work().await.is_empty());
    reg.close().await;
}

#[tokio::test]
async fn an_image_where_nothing_is_found_gets_no_documents() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path()).await;
    let r = repo("team/plain");
    // The OCI conformance suite's layer: one text file.
    let image = push_image(
        &reg,
        &r,
        "1",
        gzip_tar(&[("test.txt", b"you bothered to find out what was in here.\n")]),
    )
    .await;
    let done = reg.sbom_work().await;
    let report = done[0].1.as_ref().unwrap();
    assert_eq!((report.packages, report.spdx.as_ref()), (0, None));
    assert!(reg.referrers(&r, &image, None).await.unwrap().is_empty());
    assert_eq!(
        reg.sbom_status(&r, &image).await.unwrap().unwrap().status,
        "success"
    );
    reg.close().await;
}
