//! External scanners (docs/supply-chain.md "External scanners"), end to
//! end: a scanner adapter speaking Harbor's pluggable scanner API v1.1
//! (`tests/clients/fake_scanner_adapter.py`, written to the spec because
//! no real adapter can be installed here) registered through
//! `/api/v2.0/scanners` as the default replaces the built-in matcher: the
//! scan API hands it the image with the credentials of a robot made for
//! that one scan (the adapter really pulls the manifest with them from a
//! private project), berth polls the report through the adapter's 302s,
//! stores it as the artifact's report (overview, findings with CWE ids,
//! the vulnerability pull gate), and deletes the robot; a pushed image is
//! scanned by it unasked. A failing adapter
//! leaves the scan in `Error` with its answer.

mod support;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::json;
use support::http::{admin, send};
use support::*;

const REPORT: &str = "application/vnd.security.vulnerability.report; version=1.1";

/// The fake adapter, stopped when dropped.
struct Adapter {
    child: Child,
    url: String,
    log: std::path::PathBuf,
}

impl Adapter {
    fn start(dir: &Path) -> Adapter {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/fake_scanner_adapter.py");
        let port_file = dir.join("adapter.port");
        let log = dir.join("adapter.log");
        let child = Command::new("python3")
            .arg(script)
            .arg(&port_file)
            .arg(&log)
            .spawn()
            .expect("start the fake scanner adapter");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                break p;
            }
            assert!(Instant::now() < deadline, "the adapter did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        Adapter {
            child,
            url: format!("http://127.0.0.1:{}", port.trim()),
            log,
        }
    }
}

impl Drop for Adapter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_registered_adapter_replaces_the_built_in_scanner() {
    let tmp = tempfile::tempdir().unwrap();
    let b = Berth::start_with(&tmp.path().join("data"), &["--auth-mode", "token"]);
    let client = reqwest::Client::new();
    let api = |path: &str| format!("/api/v2.0{path}");
    let r =
        send(admin(client.post(b.url(&api("/projects")))).json(&json!({"project_name": "team"})));
    assert_eq!(r.status, 201, "{}", r.text());
    let creds = format!("admin:{ADMIN_PASSWORD}");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("oci:{}:amd64", images().join("busybox").display()),
        &format!("docker://{}/team/app:1", b.addr),
    ]);
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &creds,
        &format!("docker://{}/team/app:1", b.addr),
    ]);
    let digest = format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, raw.as_bytes()))
    );
    let adapter = Adapter::start(tmp.path());

    // Ping: the adapter wants its token.
    let ping = |credential: &str| {
        send(admin(client.post(b.url(&api("/scanners/ping")))).json(&json!({
            "name": "fake", "url": adapter.url, "auth": "Bearer", "access_credential": credential})))
    };
    let r = ping("wrong");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("401"), "{}", r.text());
    assert_eq!(ping("adapter-token").status, 200);
    // Nothing listening: the answer says why, not only that it failed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let r = send(
        admin(client.post(b.url(&api("/scanners/ping")))).json(&json!({
        "name": "gone", "url": closed_url})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().to_ascii_lowercase().contains("refused"),
        "{}",
        r.text()
    );

    // Without a database and without a scanner, a scan says so.
    let scan = || {
        send(admin(client.post(b.url(&api(
            "/projects/team/repositories/app/artifacts/1/scan",
        )))))
    };
    assert_eq!(scan().status, 400);

    // Registered as the default.
    let r = send(admin(client.post(b.url(&api("/scanners")))).json(&json!({
        "name": "fake", "description": "the test's adapter", "url": adapter.url,
        "auth": "Bearer", "access_credential": "adapter-token", "is_default": true})));
    assert_eq!(r.status, 201, "{}", r.text());
    let location = r.headers["location"].to_str().unwrap().to_string();
    let id = location.rsplit('/').next().unwrap().to_string();
    let listed = send(admin(client.get(b.url(&api("/scanners"))))).json();
    assert_eq!(listed[0]["uuid"], id.as_str(), "{listed}");
    assert_eq!(listed[0]["access_credential"], "*****", "never shown");
    assert_eq!(listed[0]["is_default"], true);
    let meta = send(admin(
        client.get(b.url(&api(&format!("/scanners/{id}/metadata")))),
    ))
    .json();
    assert_eq!(meta["scanner"]["name"], "FakeTrivy", "{meta}");
    let r = send(admin(client.post(b.url(&api("/scanners")))).json(&json!({
        "name": "fake", "url": adapter.url})));
    assert_eq!(r.status, 409, "names are unique");
    let r = send(admin(client.post(b.url(&api("/scanners")))).json(&json!({
        "name": "bad", "url": "ftp://x"})));
    assert_eq!(r.status, 400, "{}", r.text());
    let r = send(admin(client.post(b.url(&api("/scanners")))).json(&json!({
        "name": "bad", "url": adapter.url, "auth": "Bearer"})));
    assert_eq!(
        r.status,
        400,
        "a Bearer scheme needs its token: {}",
        r.text()
    );

    // The scan goes to the adapter, which pulls with a one-scan robot.
    let r = scan();
    assert_eq!(r.status, 202, "{}", r.text());
    let overview = |reference: &str| {
        send(admin(client.get(b.url(&api(&format!(
            "/projects/team/repositories/app/artifacts/{reference}?with_scan_overview=true"
        ))))))
        .json()["scan_overview"][REPORT]
            .clone()
    };
    // The overview of `reference` once its status is one of `done`.
    let wait_for = |reference: &str, done: &[&str]| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let o = overview(reference);
            if done.iter().any(|d| o["scan_status"] == *d) {
                return o;
            }
            assert!(Instant::now() < deadline, "{reference}: not {done:?}: {o}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let o = wait_for("1", &["Success", "Error"]);
    assert_eq!(o["scan_status"], "Success", "{o}");
    assert_eq!(o["scanner"]["name"], "FakeTrivy", "{o}");
    assert_eq!(o["severity"], "High", "{o}");
    let log = std::fs::read_to_string(&adapter.log).unwrap();
    assert!(
        log.contains(&format!("pull 200 Basic team/app@{digest}")),
        "the adapter pulled the private image with the robot's credentials: {log}"
    );
    let report = send(admin(client.get(b.url(&api(
        "/projects/team/repositories/app/artifacts/1/additions/vulnerabilities",
    )))))
    .json();
    let vulns = &report[REPORT]["vulnerabilities"];
    assert_eq!(vulns[0]["id"], "CVE-2099-9999", "{report}");
    assert_eq!(vulns[0]["fix_version"], "1.36.2");
    assert_eq!(vulns[0]["cwe_ids"], json!(["CWE-787"]));
    assert_eq!(report[REPORT]["scanner"]["name"], "FakeTrivy");
    let robots = send(admin(client.get(b.url(&api("/robots"))))).json();
    assert!(
        !robots.to_string().contains("scanner-"),
        "the scan's robot is deleted after it: {robots}"
    );

    // A push is scanned by the adapter too (after its SBOM task), unasked.
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("oci:{}:arm64", images().join("busybox").display()),
        &format!("docker://{}/team/app:2", b.addr),
    ]);
    let o = wait_for("2", &["Success"]);
    assert_eq!(o["scanner"]["name"], "FakeTrivy", "{o}");

    // The report gates pulls like the built-in one's.
    let r = send(
        admin(client.put(b.url(&api("/projects/team"))))
            .json(&json!({"metadata": {"prevent_vul": "true", "severity": "high"}})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // The pull skopeo makes of the scanned image must be refused; its error.
    let refused_pull = |why: &str| {
        let out = Command::new("skopeo")
            .args([
                "--insecure-policy",
                "inspect",
                "--raw",
                "--tls-verify=false",
                "--creds",
            ])
            .arg(&creds)
            .arg(format!("docker://{}/team/app:1", b.addr))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{why}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = refused_pull("the gate let a High image through");
    assert!(err.contains("CVE-2099-9999"), "{err}");

    // An adapter that refuses: the scan ends in Error with its answer.
    let r = send(
        admin(client.put(b.url(&api(&format!("/scanners/{id}")))))
            .json(&json!({"access_credential": "revoked"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(scan().status, 202);
    let o = wait_for("1", &["Error"]);
    assert!(o["detail"].as_str().unwrap().contains("401"), "{o}");
    // The failed rescan keeps the last report: the gate still refuses.
    assert_eq!(o["scanner"]["name"], "FakeTrivy", "{o}");
    let err = refused_pull("a failed rescan opened the gate");
    assert!(err.contains("CVE-2099-9999"), "{err}");

    // Removed, the built-in matcher is back (no database here: 400).
    let r = send(admin(
        client.delete(b.url(&api(&format!("/scanners/{id}")))),
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["name"], "fake");
    assert_eq!(scan().status, 400);
}
