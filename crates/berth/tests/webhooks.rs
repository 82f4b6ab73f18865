//! Webhooks against the real binary and a real HTTP receiver on loopback:
//! skopeo pushes and pulls, the management API deletes, scans, runs
//! retention and refuses a push over quota; each event reaches the
//! receiver in Harbor's default JSON and in CloudEvents, signed with the
//! policy's secret; a failing receiver is retried with backoff; a dead one
//! does not slow pushes.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::http::{admin, send};
use support::*;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    answered: u16,
}

impl Hit {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A minimal HTTP/1.1 receiver: records every request; `/flaky` answers
/// 500 to its first `fail` requests, `/slow` never answers.
struct Receiver {
    addr: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    fn start(fail: usize) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let failing = Arc::new(AtomicUsize::new(fail));
        let seen = hits.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (seen, failing) = (seen.clone(), failing.clone());
                std::thread::spawn(move || serve(conn, seen, failing));
            }
        });
        Receiver { addr, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits until `pred` holds over the hits (30 s at most).
    fn wait_for(&self, what: &str, pred: impl Fn(&[Hit]) -> bool) -> Vec<Hit> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let hits = self.hits();
            if pred(&hits) {
                return hits;
            }
            assert!(
                Instant::now() < deadline,
                "waited 30 s for {what}; got {hits:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn serve(conn: std::net::TcpStream, seen: Arc<Mutex<Vec<Hit>>>, failing: Arc<AtomicUsize>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if path == "/slow" {
            std::thread::sleep(Duration::from_secs(3600));
        }
        let answered = if path == "/flaky"
            && failing
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            500
        } else {
            200
        };
        seen.lock().unwrap().push(Hit {
            path,
            headers,
            body,
            answered,
        });
        let reply = format!("HTTP/1.1 {answered} X\r\ncontent-length: 0\r\n\r\n");
        if conn.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn hmac_hex(key: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    ring::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn start(dir: &std::path::Path, webhook: &str) -> Berth {
    let config = dir.join("berth.toml");
    std::fs::write(&config, format!("[webhook]\n{webhook}\n")).unwrap();
    Berth::start_with(
        dir,
        &["--auth-mode", "token", "--config", config.to_str().unwrap()],
    )
}

fn push(b: &Berth, image_ref: &str, dest: &str) -> std::process::Output {
    std::process::Command::new("skopeo")
        .args([
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &format!("admin:{ADMIN_PASSWORD}"),
            &format!("oci:{}:{image_ref}", images().join("busybox").display()),
            &format!("docker://{}/{dest}", b.addr),
        ])
        .output()
        .expect("spawn skopeo")
}

fn create_policy(b: &Berth, project: &str, policy: Value) -> i64 {
    let client = reqwest::Client::new();
    let r = send(
        admin(client.post(b.url(&format!("/api/v2.0/projects/{project}/webhook/policies"))))
            .json(&policy),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    support::http::location_id(&r.headers)
}

#[test]
fn every_event_reaches_the_receiver_once_signed_in_both_formats() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    berth_ok(dir, &["project", "create", "team"], &[]);
    let recv = Receiver::start(0);
    let b = start(
        dir,
        "retry_base_ms = 200\nregistry_host = \"registry.example:5000\"",
    );
    let client = reqwest::Client::new();
    let events = [
        "PUSH_ARTIFACT",
        "PULL_ARTIFACT",
        "DELETE_ARTIFACT",
        "QUOTA_EXCEED",
        "QUOTA_WARNING",
        "SCANNING_COMPLETED",
        "TAG_RETENTION",
    ];
    let id = create_policy(
        &b,
        "team",
        json!({
            "name": "ci",
            "event_types": events,
            "targets": [
                {"type": "http", "address": recv.url("/default"), "payload_format": "Default"},
                {"type": "http", "address": recv.url("/cloud"), "payload_format": "CloudEvents",
                 "auth_header": "Bearer t0ken"},
            ],
            "secret": "s3cret",
        }),
    );
    // The secret is never answered.
    let got = send(admin(
        client.get(b.url(&format!("/api/v2.0/projects/team/webhook/policies/{id}"))),
    ))
    .json();
    assert_eq!(got["secret"], "*****");
    assert_eq!(got["enabled"], true);
    assert_eq!(got["targets"][1]["payload_format"], "CloudEvents");
    assert_eq!(got["targets"][1]["auth_header"], "*****", "write-only");
    // An update that sends the masks back keeps the stored values (the
    // deliveries below carry the real header and signature).
    let r = send(
        admin(client.put(b.url(&format!("/api/v2.0/projects/team/webhook/policies/{id}"))))
            .json(&json!({"targets": got["targets"], "secret": "*****"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let supported = send(admin(
        client.get(b.url("/api/v2.0/projects/team/webhook/events")),
    ))
    .json();
    for e in events {
        assert!(supported["event_type"]
            .as_array()
            .unwrap()
            .contains(&json!(e)));
    }

    // Push and pull with skopeo; delete through the API.
    let out = push(&b, "latest", "team/app:1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pulled = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &format!("admin:{ADMIN_PASSWORD}"),
        &format!("docker://{}/team/app:1", b.addr),
        &format!("dir:{}", pulled.path().display()),
    ]);
    let digest = recorded_digest("oci:busybox:latest");
    // A vulnerability scan once the image's SBOM is made (needs a database).
    let osv = dir.join("osv");
    std::fs::create_dir_all(&osv).unwrap();
    std::fs::write(
        osv.join("TEST-1.json"),
        r#"{"id":"TEST-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"nothing-here"},"versions":["1.0.0"]}]}"#,
    )
    .unwrap();
    berth_ok(dir, &["vuln-db", "import", osv.to_str().unwrap()], &[]);
    let scan = b.url("/api/v2.0/projects/team/repositories/app/artifacts/1/scan");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = send(admin(client.post(&scan)).json(&json!({"scan_type": "vulnerability"})));
        assert_eq!(r.status, 202, "{}", r.text());
        if recv
            .hits()
            .iter()
            .any(|h| h.path == "/default" && h.json()["type"] == "SCANNING_COMPLETED")
        {
            break;
        }
        assert!(Instant::now() < deadline, "no scan event");
        std::thread::sleep(Duration::from_millis(300));
    }
    // A push that takes the project past 85% of its quota raises
    // QUOTA_WARNING: a quota of (usage + the arm64 image) / 0.9.
    let quota = b.url("/api/v2.0/projects/team/quota");
    let used = send(admin(client.get(b.url("/api/v2.0/projects/team/summary")))).json()["quota"]
        ["used"]["storage"]
        .as_u64()
        .unwrap();
    let limit = (used + image_bytes("arm64")) * 10 / 9;
    assert_eq!(
        send(admin(client.put(&quota)).json(&json!({"storage": limit}))).status,
        200
    );
    let out = push(&b, "arm64", "team/near:1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A push over the project's quota is refused and raises QUOTA_EXCEED.
    assert_eq!(
        send(admin(client.put(&quota)).json(&json!({"storage": 1024}))).status,
        200
    );
    assert!(!push(&b, "whiteout", "team/other:1").status.success());
    assert_eq!(
        send(admin(client.put(&quota)).json(&json!({"storage": -1}))).status,
        200
    );
    // Retention that keeps nothing but the newest push: nothing to delete
    // in team/app, and the run is reported.
    let r = send(
        admin(client.put(b.url("/api/v2.0/projects/team/retention"))).json(&json!({"rules": [{
            "template": "latestPushedK", "params": {"latestPushedK": 1},
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}]})),
    );
    assert!(r.status < 300, "{}", r.text());
    let r = send(
        admin(client.post(b.url("/api/v2.0/projects/team/retention/executions")))
            .json(&json!({"dry_run": false})),
    );
    assert!(r.status < 300, "{}", r.text());
    let r = send(admin(client.delete(
        b.url("/api/v2.0/projects/team/repositories/app/artifacts/1"),
    )));
    assert_eq!(r.status, 200, "{}", r.text());

    recv.wait_for("every event in both formats", |hits| {
        events.iter().all(|e| {
            hits.iter()
                .filter(|h| h.path == "/default")
                .any(|h| h.json()["type"] == *e)
        }) && hits.iter().filter(|h| h.path == "/cloud").count()
            >= hits.iter().filter(|h| h.path == "/default").count()
    });
    // Give late duplicates a moment to show up before counting.
    std::thread::sleep(Duration::from_millis(1500));
    let hits = recv.hits();
    let of = |path: &str, kind: &str| -> Vec<Hit> {
        hits.iter()
            .filter(|h| {
                h.path == path && (h.json()["type"] == kind || h.json()["type"] == cloud_type(kind))
            })
            .cloned()
            .collect()
    };
    // Push, pull and delete: once each, per target.
    // (team/near was pushed too, for the quota warning.)
    let app = |hs: Vec<Hit>| -> usize {
        hs.iter()
            .filter(|h| {
                let v = h.json();
                let data = if v["data"].is_null() {
                    &v["event_data"]
                } else {
                    &v["data"]
                };
                data["repository"]["repo_full_name"] == "team/app"
            })
            .count()
    };
    for kind in ["PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT"] {
        assert_eq!(app(of("/default", kind)), 1, "{kind}: {hits:#?}");
        assert_eq!(app(of("/cloud", kind)), 1, "{kind}");
    }
    assert_eq!(of("/default", "PUSH_ARTIFACT").len(), 2);
    // Every request: signed with the policy's secret, typed, named.
    for h in &hits {
        let sig = h.header("x-berth-signature-256").expect("signature header");
        assert_eq!(sig, format!("sha256={}", hmac_hex("s3cret", &h.body)));
        assert!(h.header("x-berth-delivery").is_some());
        match h.path.as_str() {
            "/default" => {
                assert_eq!(h.header("content-type"), Some("application/json"));
                assert_eq!(h.header("authorization"), None);
            }
            _ => {
                assert_eq!(
                    h.header("content-type"),
                    Some("application/cloudevents+json")
                );
                assert_eq!(h.header("authorization"), Some("Bearer t0ken"));
            }
        }
    }
    // Harbor's default payload.
    let pushed = of("/default", "PUSH_ARTIFACT")
        .into_iter()
        .map(|h| h.json())
        .find(|v| v["event_data"]["repository"]["name"] == "app")
        .unwrap();
    assert_eq!(pushed["operator"], "admin");
    assert!(pushed["occur_at"].as_i64().unwrap() > 1_700_000_000);
    let r = &pushed["event_data"]["resources"][0];
    assert_eq!(r["tag"], "1");
    assert_eq!(r["digest"], digest);
    assert_eq!(r["resource_url"], "registry.example:5000/team/app:1");
    let repo = &pushed["event_data"]["repository"];
    assert_eq!(
        (
            &repo["name"],
            &repo["namespace"],
            &repo["repo_full_name"],
            &repo["repo_type"]
        ),
        (
            &json!("app"),
            &json!("team"),
            &json!("team/app"),
            &json!("private")
        )
    );
    let pulled = of("/default", "PULL_ARTIFACT")[0].json();
    assert_eq!(pulled["event_data"]["resources"][0]["digest"], digest);
    let deleted = of("/default", "DELETE_ARTIFACT")[0].json();
    assert_eq!(
        deleted["event_data"]["repository"]["repo_full_name"],
        "team/app"
    );
    let scanned = of("/default", "SCANNING_COMPLETED")[0].json();
    let overview = &scanned["event_data"]["resources"][0]["scan_overview"]
        ["application/vnd.security.vulnerability.report; version=1.1"];
    assert_eq!(overview["scan_status"], "Success");
    assert_eq!(overview["summary"]["total"], 0);
    let quota = of("/default", "QUOTA_EXCEED")[0].json();
    assert!(quota["event_data"]["custom_attributes"]["Details"]
        .as_str()
        .unwrap()
        .contains("quota exceeded"));
    let warned = of("/default", "QUOTA_WARNING");
    assert_eq!(warned.len(), 1, "one warning per crossing");
    assert!(
        warned[0].json()["event_data"]["custom_attributes"]["Details"]
            .as_str()
            .unwrap()
            .contains("quota near")
    );
    let retention = of("/default", "TAG_RETENTION")[0].json();
    assert_eq!(retention["event_data"]["retention"]["project_name"], "team");
    assert_eq!(retention["event_data"]["retention"]["result"], "SUCCESS");
    // CloudEvents: the same data, Harbor's type names.
    let cloud = of("/cloud", "PUSH_ARTIFACT")
        .into_iter()
        .map(|h| h.json())
        .find(|v| v["data"]["repository"]["name"] == "app")
        .unwrap();
    assert_eq!(cloud["specversion"], "1.0");
    assert_eq!(cloud["type"], "harbor.artifact.pushed");
    assert_eq!(
        cloud["source"],
        format!("/projects/team/webhook/policies/{id}")
    );
    assert_eq!(cloud["data"], pushed["event_data"]);

    // The deliveries are Harbor executions with one task and a log.
    let base = format!("/api/v2.0/projects/team/webhook/policies/{id}/executions");
    let r = send(admin(client.get(b.url(&format!("{base}?page_size=100")))));
    let total: usize = r.headers["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(total, hits.len());
    let execs = r.json();
    let first = &execs.as_array().unwrap()[0];
    assert_eq!(first["status"], "Success");
    let eid = first["id"].as_i64().unwrap();
    let tasks = send(admin(client.get(b.url(&format!("{base}/{eid}/tasks"))))).json();
    assert_eq!(tasks[0]["run_count"], 1);
    let log = send(admin(
        client.get(b.url(&format!("{base}/{eid}/tasks/{eid}/log"))),
    ))
    .text();
    assert!(log.contains("attempt 1: HTTP 200"), "{log}");
    // Creating the policy is in the audit trail; a guest may not see it.
    let audit = send(admin(
        client.get(b.url("/api/v2.0/audit-logs?q=action%3Dwebhook_policy_create")),
    ))
    .json();
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(
        send(client.get(b.url("/api/v2.0/projects/team/webhook/policies"))).status,
        401
    );
}

/// Bytes an image of the test layout stores: manifest, config, layers.
fn image_bytes(reference: &str) -> u64 {
    let layout = images().join("busybox");
    let read = |p: std::path::PathBuf| -> Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let index = read(layout.join("index.json"));
    let desc = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == reference)
        .unwrap()
        .clone();
    let blob = |d: &Value| {
        layout
            .join("blobs/sha256")
            .join(d["digest"].as_str().unwrap().trim_start_matches("sha256:"))
    };
    let manifest = read(blob(&desc));
    let layers: u64 = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .sum();
    desc["size"].as_u64().unwrap() + manifest["config"]["size"].as_u64().unwrap() + layers
}

fn cloud_type(kind: &str) -> &'static str {
    match kind {
        "PUSH_ARTIFACT" => "harbor.artifact.pushed",
        "PULL_ARTIFACT" => "harbor.artifact.pulled",
        "DELETE_ARTIFACT" => "harbor.artifact.deleted",
        "QUOTA_EXCEED" => "harbor.quota.exceeded",
        "QUOTA_WARNING" => "harbor.quota.warned",
        "SCANNING_COMPLETED" => "harbor.scan.completed",
        "TAG_RETENTION" => "harbor.tag_retention.finished",
        _ => "?",
    }
}

#[test]
fn a_failing_receiver_is_retried_and_a_dead_one_does_not_slow_pushes() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    berth_ok(dir, &["project", "create", "team"], &[]);
    let recv = Receiver::start(2);
    let b = start(
        dir,
        "retry_base_ms = 300\ntimeout_secs = 2\nmax_attempts = 5",
    );
    let policy = create_policy(
        &b,
        "team",
        json!({"name": "flaky", "event_types": ["PUSH_ARTIFACT"],
               "targets": [{"address": recv.url("/flaky")}]}),
    );
    assert!(push(&b, "latest", "team/app:1").status.success());
    // Fails twice (500), then succeeds: three attempts, backing off.
    let hits = recv.wait_for("three attempts", |h| h.len() >= 3);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(recv.hits().len(), 3, "{hits:#?}");
    assert_eq!(
        hits.iter().map(|h| h.answered).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    assert!(
        hits.iter().all(|h| h.body == hits[0].body),
        "the same body each time"
    );
    let client = reqwest::Client::new();
    let base = format!("/api/v2.0/projects/team/webhook/policies/{policy}/executions");
    let execs = send(admin(client.get(b.url(&base)))).json();
    let eid = execs[0]["id"].as_i64().unwrap();
    let tasks = send(admin(client.get(b.url(&format!("{base}/{eid}/tasks"))))).json();
    assert_eq!(tasks[0]["run_count"], 3);
    assert_eq!(tasks[0]["status"], "Success");
    let log = send(admin(
        client.get(b.url(&format!("{base}/{eid}/tasks/{eid}/log"))),
    ))
    .text();
    assert_eq!(log.lines().count(), 3, "{log}");
    assert!(
        log.contains("attempt 1: HTTP 500") && log.contains("retrying in"),
        "{log}"
    );
    assert!(log.contains("attempt 3: HTTP 200"), "{log}");

    // A receiver that never answers and one that refuses connections: the
    // pushes take as long as without webhooks (measured: the same image
    // into new repositories, before and after).
    let timed = |n: usize, prefix: &str| {
        let t = Instant::now();
        for i in 0..n {
            assert!(push(&b, "latest", &format!("team/{prefix}{i}:1"))
                .status
                .success());
        }
        t.elapsed()
    };
    let baseline = timed(5, "base");
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    create_policy(
        &b,
        "team",
        json!({"name": "dead", "event_types": ["PUSH_ARTIFACT", "PULL_ARTIFACT"],
               "targets": [{"address": recv.url("/slow")}, {"address": format!("http://{dead_addr}/")}]}),
    );
    let with_dead = timed(5, "dead");
    eprintln!("5 pushes: {baseline:?} without a dead receiver, {with_dead:?} with one");
    assert!(
        with_dead < baseline * 2 + Duration::from_secs(1),
        "pushes slowed down by a dead receiver: {with_dead:?} against {baseline:?}"
    );
    // The dead receivers' deliveries are queued (two per push) and
    // retried, not lost and not delivered.
    let url = b.url(&format!(
        "/api/v2.0/projects/team/webhook/policies/{}/executions",
        policy + 1
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let statuses: Vec<String> = send(admin(client.get(&url)))
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["status"].as_str().unwrap().to_string())
            .collect();
        assert!(statuses.iter().all(|s| s != "Success"), "{statuses:?}");
        if statuses.len() == 10 {
            break;
        }
        assert!(Instant::now() < deadline, "{statuses:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_replication_execution_raises_replication_in_its_local_project() {
    let data = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (data.path().join("a"), data.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    berth_ok(&a_dir, &["project", "create", "team"], &[]);
    let recv = Receiver::start(0);
    let a = start(&a_dir, "retry_base_ms = 200");
    let b = Berth::start_with(&b_dir, &["--auth-mode", "token"]);
    assert!(push(&a, "latest", "team/app:1").status.success());
    create_policy(
        &a,
        "team",
        json!({"name": "replicated", "event_types": ["REPLICATION"],
               "targets": [{"address": recv.url("/replication"), "payload_format": "CloudEvents"}]}),
    );
    let client = reqwest::Client::new();
    let registry = support::http::created_id(&send(
        admin(client.post(a.url("/api/v2.0/registries"))).json(&json!({
            "name": "b", "type": "harbor", "url": format!("http://{}", b.addr),
            "credential": {"type": "basic", "access_key": "admin", "access_secret": ADMIN_PASSWORD},
        })),
    ));
    let policy = support::http::created_id(&send(
        admin(client.post(a.url("/api/v2.0/replication/policies"))).json(&json!({
            "name": "to-b", "dest_registry": {"id": registry},
            "filters": [{"type": "name", "value": "team/**"}],
            "trigger": {"type": "manual"},
        })),
    ));
    let exec = support::http::created_id(&send(
        admin(client.post(a.url("/api/v2.0/replication/executions")))
            .json(&json!({"policy_id": policy})),
    ));
    let hits = recv.wait_for("the replication event", |h| !h.is_empty());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(recv.hits().len(), 1, "once, for the one local project");
    let v = hits[0].json();
    assert_eq!(v["type"], "harbor.replication.status.changed");
    assert_eq!(
        v["source"].as_str().unwrap().split('/').nth(2),
        Some("team")
    );
    let r = &v["data"]["replication"];
    assert_eq!(r["execution_id"], exec);
    assert_eq!(r["policy_id"], policy);
    assert_eq!(r["job_status"], "Succeed", "{v}");
    assert_eq!(r["successful_artifact"][0]["name_tag"], "team/app:1", "{v}");
    assert_eq!(r["failed_artifact"], json!([]));
}

#[test]
fn scan_all_runs_on_its_schedule_and_on_demand() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    berth_ok(dir, &["project", "create", "team"], &[]);
    let osv = dir.join("osv");
    std::fs::create_dir_all(&osv).unwrap();
    std::fs::write(
        osv.join("TEST-1.json"),
        r#"{"id":"TEST-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"nothing-here"},"versions":["1.0.0"]}]}"#,
    )
    .unwrap();
    berth_ok(dir, &["vuln-db", "import", osv.to_str().unwrap()], &[]);
    let recv = Receiver::start(0);
    let config = dir.join("berth.toml");
    std::fs::write(
        &config,
        "[scan]\nschedule = \"*/2 * * * * *\"\n[webhook]\nretry_base_ms = 200\n",
    )
    .unwrap();
    let b = Berth::start_with(
        dir,
        &["--auth-mode", "token", "--config", config.to_str().unwrap()],
    );
    create_policy(
        &b,
        "team",
        json!({"name": "scans", "event_types": ["SCANNING_COMPLETED"],
               "targets": [{"address": recv.url("/scans")}]}),
    );
    assert!(push(&b, "latest", "team/app:1").status.success());
    // Matched at its SBOM, then again every 2 s by the schedule: no request asks.
    recv.wait_for("scheduled scans", |h| h.len() >= 3);
    let client = reqwest::Client::new();
    let got = send(admin(
        client.get(b.url("/api/v2.0/system/scanAll/schedule")),
    ))
    .json();
    assert_eq!(got["schedule"]["type"], "Custom");
    assert_eq!(got["schedule"]["cron"], "*/2 * * * * *");
    // On demand: 201, and another match follows.
    let before = recv.hits().len();
    let r = send(
        admin(client.post(b.url("/api/v2.0/system/scanAll/schedule")))
            .json(&json!({"schedule": {"type": "Manual"}})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    recv.wait_for("a scan after the request", |h| h.len() > before);
    let r = send(
        admin(client.post(b.url("/api/v2.0/system/scanAll/schedule")))
            .json(&json!({"schedule": {"type": "Custom", "cron": "0 0 * * * *"}})),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("scan.schedule"), "{}", r.text());
    let r = send(
        client
            .post(b.url("/api/v2.0/system/scanAll/schedule"))
            .json(&json!({"schedule": {"type": "Manual"}})),
    );
    assert_eq!(r.status, 401);
}
