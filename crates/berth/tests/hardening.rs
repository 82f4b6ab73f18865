//! Hostile and unlucky conditions against the real binary: TLS (skopeo with a
//! test CA, HTTP/2 by ALPN), clients that trickle headers or stall mid-body, and a
//! disk that fills up mid-push.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

fn write_config(dir: &std::path::Path, text: &str) -> String {
    let p = dir.join("berth.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn skopeo_pushes_over_tls_with_a_test_ca_and_http2_is_offered() {
    let img = images();
    let dir = tempfile::tempdir().unwrap();
    // A CA, and a server certificate for 127.0.0.1 signed by it.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "berth test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("ca.crt"), ca.pem()).unwrap();
    std::fs::write(dir.path().join("tls.crt"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), key.serialize_pem()).unwrap();

    let data = dir.path().join("data");
    let berth = Berth::start_with(
        &data,
        &[
            "--tls-cert",
            dir.path().join("tls.crt").to_str().unwrap(),
            "--tls-key",
            dir.path().join("tls.key").to_str().unwrap(),
        ],
    );
    let reg = &berth.addr;
    let cert_dir = format!("--dest-cert-dir={}", certs.display());
    skopeo(&[
        "copy",
        &cert_dir,
        &format!("oci:{}:amd64", img.join("busybox").display()),
        &format!("docker://{reg}/tls/busybox:1"),
    ]);
    let digest = skopeo(&[
        "inspect",
        &format!("--cert-dir={}", certs.display()),
        "--format",
        "{{.Digest}}",
        &format!("docker://{reg}/tls/busybox:1"),
    ]);
    assert_eq!(digest.trim(), recorded_digest("oci:busybox:amd64"));

    // Plain HTTP to the TLS port is refused, HTTPS with the CA speaks HTTP/2.
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=true",
            &format!("docker://{reg}/tls/busybox:1"),
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "an untrusted certificate was accepted"
    );
    let version = run(Command::new("curl").args([
        "-sS",
        "--http2",
        "--cacert",
        certs.join("ca.crt").to_str().unwrap(),
        "-o",
        "/dev/null",
        "-w",
        "%{http_version}",
        &format!("https://{reg}/v2/"),
    ]));
    assert_eq!(version.trim(), "2");
}

#[test]
fn a_client_trickling_its_request_head_is_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "[server]\nheader_timeout_secs = 1\n");
    let berth = Berth::start_with(&dir.path().join("data"), &["--config", &cfg]);
    let mut s = TcpStream::connect(&berth.addr).unwrap();
    s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let waited = start.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "connection held for {waited:?}"
    );
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
    // The server still serves others.
    let mut s = TcpStream::connect(&berth.addr).unwrap();
    s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    assert!(buf.starts_with("HTTP/1.1 200"), "{buf}");
}

#[test]
fn an_upload_body_that_stalls_is_cut_off_and_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "[server]\nbody_idle_timeout_secs = 1\n");
    let berth = Berth::start_with(&dir.path().join("data"), &["--config", &cfg]);
    let request = |text: &str| {
        let mut s = TcpStream::connect(&berth.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(text.as_bytes()).unwrap();
        s
    };
    let mut s = request("POST /v2/slow/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let location = resp
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .expect("Location")
        .trim()
        .to_string();
    // Announce 100 bytes, send 10, then stall.
    let mut s = request(&format!(
        "PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\n0123456789"
    ));
    let start = Instant::now();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "stalled body held for {:?}",
        start.elapsed()
    );
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("BLOB_UPLOAD_INVALID"), "{resp}");
    let mut s = request(&format!(
        "GET {location} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ));
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 204"), "{resp}");
    assert!(
        resp.to_ascii_lowercase().contains("range: 0-0"),
        "the stalled chunk was kept: {resp}"
    );
}

/// A small tmpfs as the data directory; unmounted on drop.
struct SmallDisk(std::path::PathBuf);

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_fails_the_push_with_507_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("disk");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=12m", "tmpfs"])
        .arg(&mnt)
        .status()
        .expect("run mount");
    assert!(
        mounted.success(),
        "mounting a 12 MiB tmpfs needs root (CI runs as root)"
    );
    let _disk = SmallDisk(mnt.clone());
    let berth = Berth::start(&mnt.join("data"));
    let base = format!("http://{}", berth.addr);
    let c = reqwest::Client::new();
    let sha = |b: &[u8]| {
        format!(
            "sha256:{}",
            hex::encode(ring::digest::digest(&ring::digest::SHA256, b))
        )
    };

    let small = vec![3u8; 100_000];
    let d_small = sha(&small);
    let r = c
        .post(format!("{base}/v2/full/blobs/uploads/?digest={d_small}"))
        .body(small.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let big = vec![9u8; 20 << 20];
    let d_big = sha(&big);
    let r = c
        .post(format!("{base}/v2/full/blobs/uploads/?digest={d_big}"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 507, "{}", r.text().await.unwrap());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "UNKNOWN");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("disk is full"));

    // Nothing partial is visible or left behind, and the registry keeps serving.
    let leftovers = std::fs::read_dir(mnt.join("data/uploads")).unwrap().count();
    assert_eq!(
        leftovers, 0,
        "the failed monolithic upload left its session behind"
    );
    let r = c
        .head(format!("{base}/v2/full/blobs/{d_big}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .get(format!("{base}/v2/full/blobs/{d_small}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().as_ref() == small.as_slice());
    // The failed upload's bytes were released: a push that fits works again.
    let again = vec![4u8; 1 << 20];
    let r = c
        .post(format!(
            "{base}/v2/full/blobs/uploads/?digest={}",
            sha(&again)
        ))
        .body(again)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    drop(berth);
    let (code, report) = fsck(&mnt.join("data"));
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_toomanyrequests_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "[limits]\nrate_per_second = 1\nrate_burst = 3\n",
    );
    let berth = Berth::start_with(&dir.path().join("data"), &["--config", &cfg]);
    let c = reqwest::Client::new();
    let url = format!("http://{}/v2/", berth.addr);
    for _ in 0..3 {
        assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
    }
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "TOOMANYREQUESTS");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        c.get(&url).send().await.unwrap().status(),
        200,
        "the bucket refills"
    );
}

#[tokio::test]
async fn open_upload_sessions_per_client_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "[limits]\nmax_upload_sessions_per_client = 2\n");
    let berth = Berth::start_with(&dir.path().join("data"), &["--config", &cfg]);
    let c = reqwest::Client::new();
    let post = || {
        c.post(format!("http://{}/v2/capped/blobs/uploads/", berth.addr))
            .send()
    };
    let first = post().await.unwrap();
    assert_eq!(first.status(), 202);
    assert_eq!(post().await.unwrap().status(), 202);
    let r = post().await.unwrap();
    assert_eq!(r.status(), 429);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "TOOMANYREQUESTS");
    // Finishing (or cancelling) a session frees a place.
    let loc = first.headers()["location"].to_str().unwrap().to_string();
    let d = format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, b"x"))
    );
    let r = c
        .put(format!("http://{}{loc}?digest={d}", berth.addr))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(post().await.unwrap().status(), 202);
}

#[test]
fn a_request_head_over_the_limit_gets_431() {
    let dir = tempfile::tempdir().unwrap();
    let berth = Berth::start(&dir.path().join("data"));
    let mut s = TcpStream::connect(&berth.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let huge = "a".repeat(100 * 1024);
    let _ = s.write_all(
        format!("GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: {huge}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp);
    assert!(
        resp.starts_with("HTTP/1.1 431"),
        "{}",
        &resp[..resp.len().min(200)]
    );
}

#[tokio::test]
async fn an_upload_body_over_the_chunk_limit_is_refused_and_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "[limits]\nmax_chunk_bytes = 1000\n");
    let berth = Berth::start_with(&dir.path().join("data"), &["--config", &cfg]);
    let c = reqwest::Client::new();
    let base = format!("http://{}", berth.addr);
    let r = c
        .post(format!("{base}/v2/chunks/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let loc = format!("{base}{}", r.headers()["location"].to_str().unwrap());
    let r = c.patch(&loc).body(vec![1u8; 2000]).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "SIZE_INVALID");
    // Without a Content-Length (chunked transfer encoding) it is cut off while streaming.
    let parts: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(vec![2u8; 800]), Ok(vec![3u8; 800])];
    let r = c
        .patch(&loc)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(parts)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c.patch(&loc).body(vec![4u8; 1000]).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(
        r.headers()["range"],
        "0-999",
        "refused chunks left nothing behind"
    );
}

/// A `berth serve` whose stderr is kept (the harness only forwards it), for
/// the tests that read its warnings. Killed when dropped.
struct Logged {
    child: std::process::Child,
    addr: String,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Logged {
    fn start(data: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> Logged {
        use std::io::BufRead;
        let mut cmd = Command::new(berth_bin());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(extra)
            .env("BERTH_LOG_LEVEL", "info")
            .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env_remove("BERTH_TOKEN_SIGNING_KEY")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn berth");
        let stderr = child.stderr.take().expect("stderr");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let keep = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(i) = line.find("listening on ") {
                    let addr = line[i + 13..].split_whitespace().next().unwrap_or("");
                    let _ = tx.send(addr.to_string());
                }
                keep.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("berth did not start: {:?}", lines.lock().unwrap()));
        Logged { child, addr, lines }
    }

    fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(unix)]
fn mode_of(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Every directory and file under `root` (itself included), with its mode.
#[cfg(unix)]
fn modes_under(root: &std::path::Path) -> Vec<(std::path::PathBuf, bool, u32)> {
    let mut out = vec![(root.to_path_buf(), true, mode_of(root))];
    for entry in std::fs::read_dir(root).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(modes_under(&p));
        } else {
            out.push((p.clone(), false, mode_of(&p)));
        }
    }
    out
}

#[cfg(unix)]
#[tokio::test]
async fn secrets_on_disk_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let berth = Logged::start(&data, &["--auth-mode", "none"], &[]);
    let base = format!("http://{}", berth.addr);
    let c = reqwest::Client::new();
    let sha = |b: &[u8]| {
        format!(
            "sha256:{}",
            hex::encode(ring::digest::digest(&ring::digest::SHA256, b))
        )
    };
    // A whole push (blobs monolithic, the manifest through the staged put)...
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let layer = vec![7u8; 50_000];
    for blob in [&config, &layer] {
        let r = c
            .post(format!(
                "{base}/v2/secret/app/blobs/uploads/?digest={}",
                sha(blob)
            ))
            .body(blob.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha(&layer), "size": layer.len()}],
    })
    .to_string();
    let r = c
        .put(format!("{base}/v2/secret/app/manifests/v1"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // ...and an upload left open, so uploads/<id>/data exists.
    let r = c
        .post(format!("{base}/v2/secret/app/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let url = if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location
    };
    let r = c
        .patch(url)
        .header("content-type", "application/octet-stream")
        .body(vec![1u8; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    for name in [
        "meta.db",
        "meta.db-wal",
        "meta.db-shm",
        "token-signing-key.pem",
    ] {
        assert_eq!(mode_of(&data.join(name)), 0o600, "{name}");
    }
    assert_eq!(mode_of(&data), 0o700);
    let all = modes_under(&data);
    let (dirs, files): (Vec<_>, Vec<_>) = all.iter().partition(|(_, is_dir, _)| *is_dir);
    assert!(dirs.iter().any(|(p, ..)| p.ends_with("blobs/sha256")));
    assert!(files.iter().any(|(p, ..)| p.ends_with("data")), "{files:?}");
    assert!(files.len() >= 8, "{files:?}");
    for (p, is_dir, mode) in &all {
        let want = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{} has mode {mode:04o}", p.display());
    }
    let key = std::fs::read_to_string(data.join("token-signing-key.pem")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));

    // The key is not in the database.
    let out = run(Command::new("sqlite3")
        .arg(data.join("meta.db"))
        .arg("SELECT count(*) FROM settings WHERE key = 'token_signing_key_es256'"));
    assert_eq!(out.trim(), "0");
    // A fresh, private data directory draws no warning.
    assert!(
        !berth.log().iter().any(|l| l.contains("other local users")),
        "{:?}",
        berth.log()
    );
}

#[cfg(unix)]
#[test]
fn a_loose_data_dir_and_key_file_are_reported_at_start_and_left_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    // An operator-managed key, readable by everyone.
    let key = dir.path().join("operator-key.b64");
    std::fs::write(
        &key,
        berth_registry::auth::token::generate_key().expect("key"),
    )
    .unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "[auth]\nsigning_key_file = {:?}\n",
            key.display().to_string()
        ),
    );
    let berth = Logged::start(&data, &["--auth-mode", "none", "--config", &cfg], &[]);
    let log = berth.log();
    let warned = |path: &std::path::Path, mode: &str, fix: &str| {
        log.iter().any(|l| {
            l.contains("WARN")
                && l.contains(&format!("{} has mode {mode}", path.display()))
                && l.contains(&format!("chmod {fix} {}", path.display()))
        })
    };
    assert!(warned(&data, "0755", "700"), "{log:#?}");
    assert!(warned(&key, "0644", "600"), "{log:#?}");
    // Warned, not changed; the operator's key is used, none is generated.
    assert_eq!(mode_of(&data), 0o755);
    assert_eq!(mode_of(&key), 0o644);
    assert!(!data.join("token-signing-key.pem").exists());
    // What berth creates itself is still private.
    assert_eq!(mode_of(&data.join("meta.db")), 0o600);
    assert_eq!(mode_of(&data.join("blobs")), 0o700);
}

#[test]
fn an_unusable_signing_key_refuses_the_start_without_showing_it() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |extra: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(berth_bin());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(extra)
            .env_remove("BERTH_TOKEN_SIGNING_KEY")
            .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD);
        for (k, v) in env {
            cmd.env(k, v);
        }
        // A server that starts anyway would never exit: wait 30 s at most.
        let mut child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("berth serve started with an unusable signing key");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(!status.success(), "started with an unusable key");
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        err
    };
    let err = serve(&[], &[("BERTH_TOKEN_SIGNING_KEY", "not-a-key-S3CRET")]);
    assert!(err.contains("BERTH_TOKEN_SIGNING_KEY"), "{err}");
    assert!(!err.contains("S3CRET"), "the key was printed: {err}");
    let missing = dir.path().join("missing.pem");
    let cfg = write_config(
        dir.path(),
        &format!(
            "[auth]\nsigning_key_file = {:?}\n",
            missing.display().to_string()
        ),
    );
    let err = serve(&["--config", &cfg], &[]);
    assert!(
        err.contains(&format!("{} does not exist", missing.display())),
        "{err}"
    );
}
