//! Replication between two berth instances (docs/replication.md), end to
//! end: push-based and pull-based policies copy a multi-arch image with a
//! signature-like referrer, digests identical on both sides; a tag filter
//! excludes a tag; an execution killed half way (SIGKILL of the node running
//! it) resumes on restart and sends only the blobs still missing (counted at
//! a front before the target); an event-based policy copies each push.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::front::Front;
use support::http::{admin, created_id, send};
use support::*;

const CREDS: &str = "admin:admin-test-password";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

fn add_registry(on: &Berth, name: &str, addr: &str) -> i64 {
    created_id(&send(
        admin(http().post(on.url("/api/v2.0/registries"))).json(&json!({
            "name": name,
            "type": "harbor",
            "url": format!("http://{addr}"),
            "credential": {"type": "basic", "access_key": "admin", "access_secret": ADMIN_PASSWORD},
        })),
    ))
}

fn add_policy(on: &Berth, policy: Value) -> i64 {
    created_id(&send(
        admin(http().post(on.url("/api/v2.0/replication/policies"))).json(&policy),
    ))
}

fn start(on: &Berth, policy: i64) -> i64 {
    created_id(&send(
        admin(http().post(on.url("/api/v2.0/replication/executions")))
            .json(&json!({"policy_id": policy})),
    ))
}

/// Waits for execution `id` on `on` to end; returns it.
fn ended(on: &Berth, id: i64, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let e = send(admin(
            http().get(on.url(&format!("/api/v2.0/replication/executions/{id}"))),
        ))
        .json();
        if e["status"] != "InProgress" && !e["status"].is_null() {
            return e;
        }
        assert!(
            Instant::now() < deadline,
            "execution {id} still running: {e}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn tasks(on: &Berth, id: i64) -> Value {
    send(admin(http().get(on.url(&format!(
        "/api/v2.0/replication/executions/{id}/tasks"
    )))))
    .json()
}

/// The digest `reg` answers for `repo:reference`, or `None` (404).
fn digest_at(reg: &Berth, repo: &str, reference: &str) -> Option<String> {
    let r = send(
        admin(http().head(reg.url(&format!("/v2/{repo}/manifests/{reference}"))))
            .header("accept", format!("{INDEX}, {IMAGE}")),
    );
    match r.status {
        200 => Some(
            r.headers["docker-content-digest"]
                .to_str()
                .unwrap()
                .to_string(),
        ),
        404 => None,
        s => panic!("HEAD {repo}:{reference} answered {s}"),
    }
}

fn push_oci(reg: &Berth, image: &str, dest: &str) {
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--dest-creds",
        CREDS,
        &format!("oci:{}:{image}", images().join("busybox").display()),
        &format!("docker://{}/{dest}", reg.addr),
    ]);
}

/// Pushes a signature-like artifact whose subject is the index `subject`
/// into `repo`; returns its digest.
fn push_referrer(reg: &Berth, repo: &str, subject: &str, subject_size: usize) -> String {
    support::http::push_referrer(
        &format!("http://{}", reg.addr),
        repo,
        (INDEX, subject, subject_size),
        "application/vnd.dev.cosign.simplesigning.v1+json",
        &admin,
    )
}

/// Every manifest digest of `repo:tag` on `reg`: the index, its children.
fn tree(reg: &Berth, repo: &str, tag: &str) -> Vec<String> {
    let index = send(
        admin(http().get(reg.url(&format!("/v2/{repo}/manifests/{tag}")))).header("accept", INDEX),
    );
    assert_eq!(index.status, 200, "{repo}:{tag}: {}", index.text());
    let mut out = vec![index.headers["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string()];
    for m in index.json()["manifests"].as_array().unwrap() {
        let d = m["digest"].as_str().unwrap();
        assert_eq!(digest_at(reg, repo, d).as_deref(), Some(d), "{repo}@{d}");
        out.push(d.to_string());
    }
    out
}

fn referrers(reg: &Berth, repo: &str, subject: &str) -> Vec<String> {
    let r = send(admin(
        http().get(reg.url(&format!("/v2/{repo}/referrers/{subject}"))),
    ));
    assert_eq!(r.status, 200);
    r.json()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect()
}

fn source(dir: &Path) -> (Berth, String, String) {
    let a = Berth::start_with(dir, &["--auth-mode", "token"]);
    push_oci(&a, "multi", "team/app:v1");
    push_oci(&a, "latest", "team/app:v2");
    let index = digest_at(&a, "team/app", "v1").unwrap();
    let size = send(admin(http().get(a.url("/v2/team/app/manifests/v1"))).header("accept", INDEX))
        .body
        .len();
    let sig = push_referrer(&a, "team/app", &index, size);
    (a, index, sig)
}

#[test]
fn push_and_pull_based_policies_copy_every_platform_and_referrer() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, index, sig) = source(&tmp.path().join("a"));
    let b = Berth::start_with(&tmp.path().join("b"), &["--auth-mode", "token"]);

    // Push-based, A → B, without v2.
    let to_b = add_registry(&a, "b", &b.addr);
    let policy = add_policy(
        &a,
        json!({
            "name": "to-b",
            "dest_registry": {"id": to_b},
            "filters": [
                {"type": "name", "value": "team/**"},
                {"type": "tag", "value": "v2", "decoration": "excludes"},
            ],
            "trigger": {"type": "manual"},
        }),
    );
    let exec = start(&a, policy);
    let e = ended(&a, exec, Duration::from_secs(60));
    assert_eq!(e["status"], "Succeed", "{e} {}", tasks(&a, exec));
    assert_eq!(e["total"], 1, "{e}");
    assert_eq!(tree(&b, "team/app", "v1"), tree(&a, "team/app", "v1"));
    assert_eq!(referrers(&b, "team/app", &index), vec![sig.clone()]);
    assert_eq!(
        digest_at(&b, "team/app", "v2"),
        None,
        "the excluded tag stayed home"
    );
    let listed = send(admin(http().get(a.url(&format!(
        "/api/v2.0/replication/executions?policy_id={policy}"
    )))))
    .json();
    assert_eq!(listed[0]["id"], exec);
    let t = tasks(&a, exec);
    assert_eq!(t[0]["status"], "Succeed", "{t}");
    assert!(t[0]["bytes"].as_i64().unwrap() > 1_000_000, "{t}");

    // Pull-based, A → C, under another namespace, by the CLI.
    let c_dir = tmp.path().join("c");
    let c = Berth::start_with(&c_dir, &["--auth-mode", "none"]);
    let from_a = add_registry(&c, "a", &a.addr);
    let pulled = add_policy(
        &c,
        json!({
            "name": "from-a",
            "src_registry": {"id": from_a},
            "filters": [{"type": "name", "value": "team/app"}],
            "dest_namespace": "mirror",
            "dest_namespace_replace_count": 1,
        }),
    );
    let out = berth_ok(&c_dir, &["replicate", "run", &pulled.to_string()], &[]);
    assert!(out.contains("Succeed"), "{out}");
    assert_eq!(tree(&c, "mirror/app", "v1"), tree(&a, "team/app", "v1"));
    assert_eq!(
        digest_at(&c, "mirror/app", "v2"),
        digest_at(&a, "team/app", "v2")
    );
    assert_eq!(referrers(&c, "mirror/app", &index), vec![sig]);
    let listed = berth_ok(&c_dir, &["replicate", "executions", "from-a"], &[]);
    assert!(listed.contains("Succeed"), "{listed}");
    // The namespace became a real (private) project, managed like any other.
    let mirror = send(admin(http().get(c.url("/api/v2.0/projects/mirror")))).json();
    assert!(mirror["project_id"].as_i64().unwrap() > 0, "{mirror}");
    assert_eq!(mirror["metadata"]["public"], "false", "{mirror}");

    // Nothing changed at the source: running again sends no blob.
    let again = start(&a, policy);
    assert_eq!(
        ended(&a, again, Duration::from_secs(60))["status"],
        "Succeed"
    );
    let t = tasks(&a, again);
    assert!(
        t[0]["bytes"].as_i64().unwrap() < 10_000,
        "only manifests again: {t}"
    );
    for dir in [tmp.path().join("b"), c_dir] {
        let (code, report) = fsck(&dir);
        assert_eq!(code, 0, "{report}");
    }
}

#[test]
fn an_interrupted_execution_resumes_and_sends_only_the_missing_blobs() {
    let tmp = tempfile::tempdir().unwrap();
    let a_dir = tmp.path().join("a");
    let (mut a, _, _) = source(&a_dir);
    let b = Berth::start_with(&tmp.path().join("b"), &["--auth-mode", "token"]);
    let front = Front::start(&b.addr);
    let to_b = add_registry(&a, "b", &front.addr.to_string());
    // 128 KB/s: each ~1 MiB layer takes about eight seconds.
    let policy = add_policy(
        &a,
        json!({"name": "slow", "dest_registry": {"id": to_b},
               "filters": [{"type": "tag", "value": "v1"}], "speed": 128}),
    );
    let exec = start(&a, policy);
    // Kill the node running it once the first blob has arrived whole.
    let deadline = Instant::now() + Duration::from_secs(60);
    let blob_done = "answered 201 PUT@/v2/team/app/blobs/uploads/";
    while front.count(blob_done) == 0 {
        assert!(Instant::now() < deadline, "{:#?}", front.seen());
        std::thread::sleep(Duration::from_millis(50));
    }
    a.kill();
    let finished_before: Vec<String> = front
        .seen()
        .iter()
        .filter(|l| l.starts_with(blob_done))
        .cloned()
        .collect();
    assert_eq!(
        front.count("/manifests/v1"),
        0,
        "the kill came before the tag was copied: {:#?}",
        front.seen()
    );
    // Restarted, it resumes the execution by itself.
    let a = Berth::start_with(&a_dir, &["--auth-mode", "token"]);
    let e = ended(&a, exec, Duration::from_secs(90));
    assert_eq!(e["status"], "Succeed", "{e} {}", tasks(&a, exec));
    assert_eq!(tree(&b, "team/app", "v1"), tree(&a, "team/app", "v1"));
    // Each blob finished before the kill was sent once, never again.
    let digest_of = |line: &str| line.split("digest=").nth(1).unwrap_or("").to_string();
    for done in &finished_before {
        let d = digest_of(done);
        let sends = front
            .seen()
            .iter()
            .filter(|l| l.starts_with("PUT ") && l.contains(&format!("digest={d}")))
            .count();
        assert_eq!(sends, 1, "{d} was sent again: {:#?}", front.seen());
    }
    let blob_puts = front
        .seen()
        .iter()
        .filter(|l| l.starts_with("PUT ") && l.contains("/blobs/uploads/"))
        .count();
    let blobs: std::collections::BTreeSet<String> = front
        .seen()
        .iter()
        .filter(|l| l.starts_with("PUT ") && l.contains("/blobs/uploads/"))
        .map(|l| digest_of(l))
        .collect();
    assert!(
        blob_puts <= blobs.len() + 1,
        "at most the blob cut off by the kill is sent twice: {:#?}",
        front.seen()
    );
    let (code, report) = fsck(&tmp.path().join("b"));
    assert_eq!(code, 0, "{report}");
}

#[test]
fn an_event_based_policy_copies_each_push_and_deletion() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Berth::start_with(&tmp.path().join("a"), &["--auth-mode", "token"]);
    let b = Berth::start_with(&tmp.path().join("b"), &["--auth-mode", "token"]);
    let to_b = add_registry(&a, "b", &b.addr);
    add_policy(
        &a,
        json!({"name": "on-push", "dest_registry": {"id": to_b},
               "filters": [{"type": "name", "value": "team/**"}],
               "trigger": {"type": "event_based"}, "replicate_deletion": true}),
    );
    push_oci(&a, "multi", "team/app:v3");
    push_oci(&a, "latest", "other/app:v1");
    let deadline = Instant::now() + Duration::from_secs(30);
    while digest_at(&b, "team/app", "v3").is_none() {
        assert!(Instant::now() < deadline, "the push was not replicated");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The whole tree arrives before the tag.
    assert_eq!(tree(&b, "team/app", "v3"), tree(&a, "team/app", "v3"));
    assert_eq!(digest_at(&b, "other/app", "v1"), None, "filtered out");

    // Deletions follow: a tag deleted here goes there (its manifest stays);
    // a manifest deleted here goes there with its tags.
    let wait_gone = |repo: &str, reference: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while digest_at(&b, repo, reference).is_some() {
            assert!(
                Instant::now() < deadline,
                "{repo}:{reference} is still at the destination"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    push_oci(&a, "latest", "team/app:v4");
    let v4 = loop {
        if let Some(d) = digest_at(&b, "team/app", "v4") {
            break d;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let r = send(admin(http().delete(a.url("/v2/team/app/manifests/v4"))));
    assert_eq!(r.status, 202, "{}", r.text());
    wait_gone("team/app", "v4");
    assert_eq!(
        digest_at(&b, "team/app", &v4),
        Some(v4.clone()),
        "a tag delete keeps the manifest"
    );
    let v3 = digest_at(&a, "team/app", "v3").unwrap();
    // The destination's own tag on other content is never deleted for it.
    push_oci(&b, "arm64", "team/app:theirs");
    let theirs = digest_at(&b, "team/app", "theirs").unwrap();
    let r = send(admin(
        http().delete(a.url(&format!("/v2/team/app/manifests/{v3}"))),
    ));
    assert_eq!(r.status, 202, "{}", r.text());
    wait_gone("team/app", &v3);
    assert_eq!(digest_at(&b, "team/app", "v3"), None);
    assert_eq!(digest_at(&b, "team/app", "theirs"), Some(theirs));

    // A signature pushed after its image (an untagged referrer) follows it.
    push_oci(&a, "latest", "team/app:v5");
    let v5 = digest_at(&a, "team/app", "v5").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while digest_at(&b, "team/app", "v5").is_none() {
        assert!(Instant::now() < deadline, "v5 was not replicated");
        std::thread::sleep(Duration::from_millis(200));
    }
    let v5_size =
        send(admin(http().get(a.url("/v2/team/app/manifests/v5"))).header("accept", IMAGE))
            .body
            .len();
    let late_sig = push_referrer(&a, "team/app", &v5, v5_size);
    while !referrers(&b, "team/app", &v5).contains(&late_sig) {
        assert!(
            Instant::now() < deadline,
            "the late signature was not replicated"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let execs = send(admin(
        http().get(a.url("/api/v2.0/replication/executions?policy_id=1")),
    ))
    .json();
    let deletions: Vec<&Value> = execs
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            let id = e["id"].as_i64().unwrap();
            tasks(&a, id)
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["operation"] == "deletion"))
        })
        .collect();
    assert_eq!(deletions.len(), 2, "{execs}");
    assert!(
        deletions.iter().all(|e| e["status"] == "Succeed"),
        "{execs}"
    );
    // Deletions replicate as they happen: only with an event trigger.
    let r = send(
        admin(http().post(a.url("/api/v2.0/replication/policies"))).json(&json!({
            "name": "manual-deletes", "dest_registry": {"id": to_b}, "replicate_deletion": true,
        })),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("event_based"), "{}", r.text());
    // The destination registry cannot go while a policy uses it.
    let r = send(admin(
        http().delete(a.url(&format!("/api/v2.0/registries/{to_b}"))),
    ));
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("on-push"), "{}", r.text());
    // Policies that cannot work are refused with the reason.
    let r = send(
        admin(http().post(a.url("/api/v2.0/replication/policies"))).json(&json!({
            "name": "on-push", "dest_registry": {"id": to_b},
        })),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    let r = send(
        admin(http().post(a.url("/api/v2.0/replication/policies"))).json(&json!({
            "name": "bad-ns", "dest_registry": {"id": to_b}, "dest_namespace": "Bad/NS!",
        })),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("dest_namespace"), "{}", r.text());
    let r = send(
        admin(http().post(a.url("/api/v2.0/replication/policies"))).json(&json!({
            "name": "bad", "dest_registry": {"id": to_b},
            "filters": [{"type": "label", "value": "x"}],
        })),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("label"), "{}", r.text());
}
