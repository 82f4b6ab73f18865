//! Crash safety and concurrency against the real binary: uploads resume after a
//! kill -9 or SIGTERM restart, completed pushes survive a kill -9, concurrent
//! clients pushing overlapping content leave a store `berth fsck` finds clean,
//! and fsck finds tampering.

mod support;

use std::time::Duration;

use reqwest::{Client, StatusCode};
use support::*;

fn sha256(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
    )
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn push_blob(c: &Client, base: &str, repo: &str, bytes: &[u8]) -> String {
    let d = sha256(bytes);
    let r = c
        .post(format!("{base}/v2/{repo}/blobs/uploads/?digest={d}"))
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    d
}

fn manifest(config: &(String, usize), layers: &[(String, usize)]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1},
        "layers": layers.iter().map(|(d, s)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s})).collect::<Vec<_>>(),
    }))
    .unwrap()
}

async fn resume_after(stop: impl FnOnce(&mut Berth)) {
    let data = tempfile::tempdir().unwrap();
    let mut berth = Berth::start(data.path());
    let c = Client::new();
    let base = format!("http://{}", berth.addr);
    let first = vec![1u8; 700_000];
    let second = vec![2u8; 300_000];
    let r = c
        .post(format!("{base}/v2/r/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let location = header(&r, "location");
    let r = c
        .patch(format!("{base}{location}"))
        .header("content-range", format!("0-{}", first.len() - 1))
        .body(first.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    stop(&mut berth);

    let berth = Berth::start(data.path());
    let base = format!("http://{}", berth.addr);
    let r = c.get(format!("{base}{location}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "range"), format!("0-{}", first.len() - 1));
    let r = c
        .patch(format!("{base}{location}"))
        .header(
            "content-range",
            format!("{}-{}", first.len(), first.len() + second.len() - 1),
        )
        .body(second.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let whole = [first, second].concat();
    let d = sha256(&whole);
    let r = c
        .put(format!("{base}{location}?digest={d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let got = c
        .get(format!("{base}/v2/r/blobs/{d}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(got.as_ref() == whole.as_slice(), "resumed blob differs");
}

#[tokio::test]
async fn chunked_upload_resumes_after_a_kill_9_restart() {
    resume_after(|b| b.kill()).await;
}

#[tokio::test]
async fn upload_in_flight_at_sigterm_resumes_after_restart() {
    resume_after(|b| assert!(b.terminate(), "berth did not exit cleanly on SIGTERM")).await;
}

#[tokio::test]
async fn completed_push_survives_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let mut berth = Berth::start(data.path());
    let c = Client::new();
    let base = format!("http://{}", berth.addr);
    let config = br#"{"os":"linux"}"#;
    let layer = vec![5u8; 1_000_000];
    let cd = push_blob(&c, &base, "crash/app", config).await;
    let ld = push_blob(&c, &base, "crash/app", &layer).await;
    let m = manifest(&(cd, config.len()), &[(ld.clone(), layer.len())]);
    let r = c
        .put(format!("{base}/v2/crash/app/manifests/v1"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(m.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    berth.kill();

    let berth = Berth::start(data.path());
    let base = format!("http://{}", berth.addr);
    let got = c
        .get(format!("{base}/v2/crash/app/manifests/v1"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(got.as_ref() == m.as_slice());
    let got = c
        .get(format!("{base}/v2/crash/app/blobs/{ld}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(got.as_ref() == layer.as_slice());
    let (code, report) = fsck(data.path());
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn eight_concurrent_clients_push_overlapping_content_and_fsck_is_clean() {
    let data = tempfile::tempdir().unwrap();
    let berth = Berth::start(data.path());
    let base = format!("http://{}", berth.addr);
    // Blobs every client pushes (overlap), plus one of its own.
    let shared: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 200_000 + i as usize]).collect();
    let mut tasks = Vec::new();
    for client in 0..8usize {
        let base = base.clone();
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let c = Client::new();
            let repo = if client % 2 == 0 {
                "shared/repo".to_string()
            } else {
                format!("own/repo{client}")
            };
            let mut layers = Vec::new();
            for (i, bytes) in shared.iter().enumerate() {
                let d = if (client + i) % 3 == 0 {
                    // Chunked in two PATCHes.
                    let r = c
                        .post(format!("{base}/v2/{repo}/blobs/uploads/"))
                        .send()
                        .await
                        .unwrap();
                    let loc = header(&r, "location");
                    let (a, b) = bytes.split_at(bytes.len() / 2);
                    for (start, part) in [(0, a), (a.len(), b)] {
                        let r = c
                            .patch(format!("{base}{loc}"))
                            .header(
                                "content-range",
                                format!("{start}-{}", start + part.len() - 1),
                            )
                            .body(part.to_vec())
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(r.status(), StatusCode::ACCEPTED);
                    }
                    let d = sha256(bytes);
                    let r = c
                        .put(format!("{base}{loc}?digest={d}"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), StatusCode::CREATED);
                    d
                } else {
                    push_blob(&c, &base, &repo, bytes).await
                };
                layers.push((d, bytes.len()));
            }
            let own = format!("client {client} layer").into_bytes();
            layers.push((push_blob(&c, &base, &repo, &own).await, own.len()));
            let config = format!("{{\"client\":{client}}}").into_bytes();
            let cd = push_blob(&c, &base, &repo, &config).await;
            let m = manifest(&(cd, config.len()), &layers);
            for tag in [format!("c{client}"), "latest".to_string()] {
                let r = c
                    .put(format!("{base}/v2/{repo}/manifests/{tag}"))
                    .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                    .body(m.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
            }
            (repo, client, m, layers)
        }));
    }
    let c = Client::new();
    for t in tasks {
        let (repo, client, m, layers) = tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .unwrap()
            .unwrap();
        let got = c
            .get(format!("{base}/v2/{repo}/manifests/c{client}"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(got.as_ref() == m.as_slice());
        for (d, size) in layers {
            let r = c
                .head(format!("{base}/v2/{repo}/blobs/{d}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(header(&r, "content-length"), size.to_string());
        }
    }
    // Each shared blob is stored once.
    for bytes in &shared {
        let d = sha256(bytes);
        let path = data
            .path()
            .join("blobs/sha256")
            .join(&d[7..9])
            .join(&d[7..]);
        assert_eq!(std::fs::metadata(path).unwrap().len(), bytes.len() as u64);
    }
    let (code, report) = fsck(data.path());
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn fsck_finds_corrupt_and_missing_blobs() {
    let data = tempfile::tempdir().unwrap();
    let berth = Berth::start(data.path());
    let c = Client::new();
    let base = format!("http://{}", berth.addr);
    let config = br#"{"os":"linux"}"#;
    let layer = b"original layer bytes";
    let cd = push_blob(&c, &base, "f", config).await;
    let ld = push_blob(&c, &base, "f", layer).await;
    let m = manifest(&(cd.clone(), config.len()), &[(ld.clone(), layer.len())]);
    c.put(format!("{base}/v2/f/manifests/v1"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(m)
        .send()
        .await
        .unwrap();
    let (code, _) = fsck(data.path());
    assert_eq!(code, 0);

    let path = |d: &str| {
        data.path()
            .join("blobs/sha256")
            .join(&d[7..9])
            .join(&d[7..])
    };
    std::fs::write(path(&ld), b"tampered layer bytes").unwrap();
    let (code, report) = fsck(data.path());
    assert_eq!(code, 1, "{report}");
    assert!(report.contains(&format!("blob {ld}: corrupt")), "{report}");
    assert!(report.contains("layer"), "{report}");

    std::fs::remove_file(path(&cd)).unwrap();
    let (code, report) = fsck(data.path());
    assert_eq!(code, 1);
    assert!(
        report.contains(&format!("blob {cd}: recorded but its bytes are missing")),
        "{report}"
    );
}
