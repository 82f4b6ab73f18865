//! Garbage collection, quotas and statistics against the real binary: `berth gc`
//! as a separate process while `berth serve` serves the same data directory and
//! clients (skopeo and an HTTP pusher) keep pushing; the grace period protecting
//! a fresh upload; the scheduled in-server run; the quota over HTTP.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use support::*;

fn sha256(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
    )
}

/// Runs `berth <args>`; returns (exit code, stdout, stderr).
fn berth_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .output()
        .expect("run berth");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn gc_cli(data: &Path, extra: &[&str]) -> String {
    let dir = data.to_str().unwrap();
    let mut args = vec!["gc", "--data-dir", dir, "--yes"];
    args.extend_from_slice(extra);
    let (code, out, err) = berth_cli(&args);
    assert_eq!(code, 0, "berth gc failed: {out}\n{err}");
    out
}

async fn push_blob(c: &Client, base: &str, repo: &str, bytes: &[u8]) -> reqwest::Response {
    let d = sha256(bytes);
    c.post(format!("{base}/v2/{repo}/blobs/uploads/?digest={d}"))
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
}

fn manifest(config: &(String, usize), layers: &[(String, usize)]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1},
        "layers": layers.iter().map(|(d, s)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s})).collect::<Vec<_>>(),
    }))
    .unwrap()
}

/// A push that completed (manifest PUT answered 201): what must stay pullable.
#[derive(Clone, Debug)]
struct Completed {
    repo: String,
    tag: String,
    digest: String,
    blobs: Vec<(String, Vec<u8>)>,
}

/// One image push the way clients do it: HEAD each blob, upload the missing
/// ones, PUT the manifest. `None` when the push failed (allowed while GC runs
/// with a short grace period: the client would retry; it must just never leave
/// a completed push broken).
async fn push_image(
    c: &Client,
    base: &str,
    repo: &str,
    tag: &str,
    blobs: &[Vec<u8>],
) -> Option<Completed> {
    let mut descs = Vec::new();
    for b in blobs {
        let d = sha256(b);
        let head = c
            .head(format!("{base}/v2/{repo}/blobs/{d}"))
            .send()
            .await
            .ok()?;
        if head.status() != StatusCode::OK {
            let r = push_blob(c, base, repo, b).await;
            if r.status() != StatusCode::CREATED {
                return None;
            }
        }
        descs.push((d, b.len()));
    }
    let body = manifest(&descs[0], &descs[1..]);
    let r = c
        .put(format!("{base}/v2/{repo}/manifests/{tag}"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(body.clone())
        .send()
        .await
        .ok()?;
    if r.status() != StatusCode::CREATED {
        return None;
    }
    Some(Completed {
        repo: repo.into(),
        tag: tag.into(),
        digest: sha256(&body),
        blobs: descs
            .into_iter()
            .map(|(d, _)| d)
            .zip(blobs.iter().cloned())
            .collect(),
    })
}

async fn assert_pullable(c: &Client, base: &str, p: &Completed) {
    let r = c
        .get(format!("{base}/v2/{}/manifests/{}", p.repo, p.tag))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{p:?}");
    assert_eq!(
        sha256(&r.bytes().await.unwrap()),
        p.digest,
        "{}:{}",
        p.repo,
        p.tag
    );
    for (d, bytes) in &p.blobs {
        let r = c
            .get(format!("{base}/v2/{}/blobs/{d}", p.repo))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}:{} blob {d}", p.repo, p.tag);
        assert!(
            r.bytes().await.unwrap().as_ref() == bytes.as_slice(),
            "blob {d} differs"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gc_process_racing_pushes_to_a_serving_registry_never_breaks_a_completed_push() {
    let img = images().to_path_buf();
    let data = tempfile::tempdir().unwrap();
    let berth = Berth::start(data.path());
    let base = format!("http://{}", berth.addr);
    let c = Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let run_for = Duration::from_secs(12);

    // `berth gc` in a loop, as a separate process, with a short grace period and
    // untagged deletion, so links of deleted images expire while pushes re-use them.
    let gc_loop = {
        let stop = stop.clone();
        let dir = data.path().to_path_buf();
        std::thread::spawn(move || {
            let mut runs = 0;
            let mut deleted = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let out = gc_cli(&dir, &["--grace-period", "1s", "--delete-untagged"]);
                runs += 1;
                deleted += out
                    .split("deleted ")
                    .nth(1)
                    .and_then(|s| s.split(' ').next())
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
                std::thread::sleep(Duration::from_millis(100));
            }
            (runs, deleted)
        })
    };

    // A real client: skopeo pushes the busybox image to new repositories; its
    // layers are shared, so each push races the sweep of the previous copy's
    // blobs once that copy was deleted.
    let skopeo_loop = {
        let stop = stop.clone();
        let addr = berth.addr.clone();
        std::thread::spawn(move || {
            let mut done = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let dest = format!("docker://{addr}/skopeo/bb{i}:v1");
                let status = Command::new("skopeo")
                    .args(["--insecure-policy", "copy", "--dest-tls-verify=false"])
                    .arg(format!("oci:{}:amd64", img.join("busybox").display()))
                    .arg(&dest)
                    .output()
                    .expect("run skopeo");
                if status.status.success() {
                    done.push(format!("skopeo/bb{i}"));
                }
                i += 1;
            }
            done
        })
    };

    // HTTP pushers: images sharing a base layer, half of them deleted right away
    // (garbage for the collector), the others kept. Worker 0 deletes every image
    // and pauses about as long as the grace period between pushes, so its
    // "churn" layer is swept again and again while it pushes it again: an
    // upload commit racing the sweep of the same blob.
    let completed = Arc::new(Mutex::new(Vec::new()));
    let mut pushers = Vec::new();
    for w in 0..3 {
        let (c, base, stop, completed) = (c.clone(), base.clone(), stop.clone(), completed.clone());
        pushers.push(tokio::spawn(async move {
            let base_layer = vec![42u8; 256 * 1024];
            let churn_layer = vec![7u8; 1024 * 1024];
            let mut n = 0;
            let started = Instant::now();
            while started.elapsed() < run_for {
                let churner = w == 0;
                let repo = if churner {
                    format!("http/w0-{n}")
                } else {
                    format!("http/w{w}-{}", n % 4)
                };
                let own = format!("worker {w} image {n} {:?}", Instant::now()).into_bytes();
                let config = format!("{{\"w\":{w},\"n\":{n}}}").into_bytes();
                let mut blobs = vec![config, base_layer.clone(), own];
                if churner {
                    blobs.push(churn_layer.clone());
                    tokio::time::sleep(Duration::from_millis(700 + (n * 131 % 900) as u64)).await;
                }
                let tag = format!("t{n}");
                if let Some(p) = push_image(&c, &base, &repo, &tag, &blobs).await {
                    if churner || n % 2 == 0 {
                        let r = c
                            .delete(format!("{base}/v2/{repo}/manifests/{}", p.digest))
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(r.status(), StatusCode::ACCEPTED);
                    } else {
                        completed.lock().unwrap().push(p);
                    }
                }
                n += 1;
            }
            let _ = stop;
            n
        }));
    }
    let mut attempts = 0;
    for p in pushers {
        attempts += p.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let (runs, deleted) = gc_loop.join().unwrap();
    let skopeo_done = skopeo_loop.join().unwrap();
    let completed = completed.lock().unwrap().clone();
    eprintln!(
        "gc runs: {runs} (deleting {deleted} blobs); HTTP pushes: {} of {attempts} completed and kept; skopeo pushes: {}",
        completed.len(),
        skopeo_done.len()
    );
    assert!(runs >= 2, "gc ran {runs} times");
    assert!(
        deleted > 0,
        "the collector never deleted anything: the race was not exercised"
    );
    assert!(
        completed.len() >= 5,
        "only {} of {attempts} HTTP pushes completed",
        completed.len()
    );
    assert!(!skopeo_done.is_empty(), "no skopeo push completed");

    // One more collection with the pushes over; then everything completed must pull.
    let out = gc_cli(data.path(), &["--grace-period", "0s", "--delete-untagged"]);
    assert!(out.contains("deleted"), "{out}");
    for p in &completed {
        assert_pullable(&c, &base, p).await;
    }
    let pulled = tempfile::tempdir().unwrap();
    for repo in &skopeo_done {
        let dest = format!(
            "oci:{}:{}",
            pulled.path().join("copy").display(),
            repo.replace('/', "-")
        );
        skopeo(&[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{}/{repo}:v1", berth.addr),
            &dest,
        ]);
    }
    let (code, report) = fsck(data.path());
    assert_eq!(code, 0, "fsck after gc: {report}");
    assert!(report.contains(" 0 unrecorded blob files"), "{report}");
}

#[tokio::test]
async fn a_blob_uploaded_but_not_yet_referenced_survives_gc_inside_its_grace_period() {
    let data = tempfile::tempdir().unwrap();
    let berth = Berth::start(data.path());
    let base = format!("http://{}", berth.addr);
    let c = Client::new();
    let bytes = vec![9u8; 100_000];
    let d = sha256(&bytes);
    assert_eq!(
        push_blob(&c, &base, "team/app", &bytes).await.status(),
        StatusCode::CREATED
    );

    let out = gc_cli(data.path(), &[]); // default grace period: 2h
    assert!(out.contains("deleted 0 blobs"), "{out}");
    let dry = gc_cli(data.path(), &["--dry-run", "--grace-period", "0s"]);
    assert!(dry.contains("would delete 1 blobs (97.66 KiB)"), "{dry}");
    let r = c
        .get(format!("{base}/v2/team/app/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "a dry run deletes nothing");
    assert!(r.bytes().await.unwrap().as_ref() == bytes.as_slice());

    let out = gc_cli(data.path(), &["--grace-period", "0s"]);
    assert!(out.contains("deleted 1 blobs (97.66 KiB)"), "{out}");
    let r = c
        .head(format!("{base}/v2/team/app/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Pushed again, it is stored again.
    assert_eq!(
        push_blob(&c, &base, "team/app", &bytes).await.status(),
        StatusCode::CREATED
    );
    let r = c
        .get(format!("{base}/v2/team/app/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert!(r.bytes().await.unwrap().as_ref() == bytes.as_slice());
    assert_eq!(fsck(data.path()).0, 0);
}

#[tokio::test]
async fn scheduled_gc_in_the_server_collects_expired_uploads() {
    let data = tempfile::tempdir().unwrap();
    let cfg = data.path().join("berth.toml");
    std::fs::write(
        &cfg,
        "[gc]\nschedule = \"* * * * * *\"\ngrace_period = \"1s\"\n",
    )
    .unwrap();
    let berth = Berth::start_with(
        &data.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
    );
    let base = format!("http://{}", berth.addr);
    let c = Client::new();
    let bytes = b"never referenced".to_vec();
    let d = sha256(&bytes);
    assert_eq!(
        push_blob(&c, &base, "team/app", &bytes).await.status(),
        StatusCode::CREATED
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // GET, not HEAD: a HEAD would refresh the link.
        let r = c
            .get(format!("{base}/v2/team/app/blobs/{d}"))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::NOT_FOUND {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the scheduled gc never removed the blob"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn quota_refuses_the_crossing_push_over_http_and_deletes_plus_gc_free_it() {
    let data = tempfile::tempdir().unwrap();
    let berth = Berth::start(data.path());
    let base = format!("http://{}", berth.addr);
    let dir = data.path().to_str().unwrap();
    // The CLI refuses a quota for a project that does not exist.
    let (code, _, err) = berth_cli(&["project", "create", "team", "--data-dir", dir]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = berth_cli(&[
        "quota",
        "set",
        "--data-dir",
        dir,
        "--project",
        "team",
        "--bytes",
        "1MiB",
    ]);
    assert_eq!(code, 0, "{err}");
    let c = Client::new();
    let first = vec![1u8; 600 * 1024];
    let second = vec![2u8; 600 * 1024];
    assert_eq!(
        push_blob(&c, &base, "team/app", &first).await.status(),
        StatusCode::CREATED
    );

    // Monolithic with a Content-Length: refused before the bytes are stored.
    let r = push_blob(&c, &base, "team/app", &second).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "DENIED");
    assert_eq!(
        body["errors"][0]["message"],
        "quota exceeded: the push would bring the project to 1.17 MiB of its 1 MiB quota"
    );

    // Chunked, streamed without a length: refused at commit, nothing left behind.
    let r = c
        .post(format!("{base}/v2/team/app/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let stream = futures::stream::iter(
        second
            .chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let r = c
        .patch(format!("{base}{location}"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let d2 = sha256(&second);
    let r = c
        .put(format!("{base}{location}?digest={d2}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c
        .head(format!("{base}/v2/team/app/blobs/{d2}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        std::fs::read_dir(data.path().join("uploads"))
            .unwrap()
            .count(),
        0,
        "upload left behind"
    );
    let hex = d2.trim_start_matches("sha256:");
    assert!(!data
        .path()
        .join("blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .exists());

    // Another project is not limited.
    assert_eq!(
        push_blob(&c, &base, "other/app", &second).await.status(),
        StatusCode::CREATED
    );

    // Usage is visible; delete + gc frees it; the push then fits.
    let (_, show, _) = berth_cli(&["quota", "show", "--data-dir", dir, "--project", "team"]);
    assert!(
        show.contains("storage used: 600 KiB (614400 bytes)")
            && show.contains("quota: 1 MiB (project)"),
        "{show}"
    );
    let d1 = sha256(&first);
    let r = c
        .delete(format!("{base}/v2/team/app/blobs/{d1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    gc_cli(data.path(), &["--grace-period", "0s"]);
    let (_, show, _) = berth_cli(&["quota", "show", "--data-dir", dir, "--project", "team"]);
    assert!(show.contains("storage used: 0 B"), "{show}");
    assert_eq!(
        push_blob(&c, &base, "team/app", &second).await.status(),
        StatusCode::CREATED
    );
}
