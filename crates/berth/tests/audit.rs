//! The audit trail end to end: pushes with skopeo, pulls, HEADs and deletes
//! against the real binary; each action recorded exactly once with its actor,
//! client IP and result; a HEAD records nothing; `berth audit verify` passes on
//! the untouched trail and names the row an attacker edited in the SQLite file.
//! Floods of failed logins and anonymous token requests add a handful of
//! bounded rows; a trimmed trail verifies behind its checkpoint, and its archive
//! links up to the checkpoint's anchor.

mod support;

use std::process::Command;

use futures::StreamExt;

use support::*;

/// Runs `berth audit <args> --data-dir DIR`; returns (exit code, stdout, stderr).
fn berth_audit(data_dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("audit")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run berth audit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn sqlite(db: &std::path::Path, sql: &str) {
    // Waits up to 10 s for a running server's write lock.
    run(Command::new("sqlite3")
        .args(["-cmd", ".timeout 10000"])
        .arg(db)
        .arg(sql));
}

#[tokio::test]
async fn every_action_is_recorded_once_and_an_edited_row_fails_verify() {
    let img = images();
    let data = tempfile::tempdir().unwrap();
    let mut berth = Berth::start(data.path());
    let reg = berth.addr.clone();
    let src = format!("oci:{}:amd64", img.join("busybox").display());
    let digest = recorded_digest("oci:busybox:amd64");

    // Two pushes by tag (blobs are uploaded once; only manifest PUTs are pushes).
    for tag in ["1", "2"] {
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            &src,
            &format!("docker://{reg}/audit/busybox:{tag}"),
        ]);
    }
    // A pull by tag with a real client: one manifest GET.
    let out = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{reg}/audit/busybox:1"),
        &format!("oci:{}:pulled", out.path().join("layout").display()),
    ]);

    let c = reqwest::Client::new();
    let manifest = |r: &str| berth.url(&format!("/v2/audit/busybox/manifests/{r}"));
    // HEADs are existence checks, not pulls: nothing is recorded.
    for r in ["1", digest.as_str(), "absent"] {
        c.head(manifest(r)).send().await.unwrap();
    }
    let accept = "application/vnd.oci.image.manifest.v1+json";
    let s = |r: reqwest::Response| r.status().as_u16();
    let get = |r: &str| c.get(manifest(r)).header("accept", accept).send();
    assert_eq!(s(get(&digest).await.unwrap()), 200);
    assert_eq!(s(get("absent").await.unwrap()), 404);
    assert_eq!(s(c.delete(manifest("2")).send().await.unwrap()), 202);
    assert_eq!(s(c.delete(manifest(&digest)).send().await.unwrap()), 202);
    assert_eq!(s(c.delete(manifest(&digest)).send().await.unwrap()), 404);

    // A clean shutdown writes whatever the writer still held.
    assert!(berth.terminate(), "berth did not shut down cleanly");

    let (code, jsonl, err) = berth_audit(data.path(), &["export"]);
    assert_eq!(code, 0, "{err}");
    let entries: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let d = digest.as_str();
    let n = serde_json::Value::Null;
    let expected: Vec<(
        &str,
        serde_json::Value,
        serde_json::Value,
        &str,
        serde_json::Value,
    )> = vec![
        ("push", "1".into(), d.into(), "success", n.clone()),
        ("push", "2".into(), d.into(), "success", n.clone()),
        ("pull", "1".into(), d.into(), "success", n.clone()),
        ("pull", n.clone(), d.into(), "success", n.clone()),
        (
            "pull",
            "absent".into(),
            n.clone(),
            "failure",
            "HTTP 404".into(),
        ),
        ("tag_delete", "2".into(), n.clone(), "success", n.clone()),
        ("delete", n.clone(), d.into(), "success", n.clone()),
        ("delete", n.clone(), d.into(), "failure", "HTTP 404".into()),
    ];
    let got: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["reference"].clone(),
                e["digest"].clone(),
                e["result"].as_str().unwrap(),
                e["detail"].clone(),
            )
        })
        .collect();
    assert_eq!(got, expected, "{jsonl}");
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["seq"], i as i64 + 1);
        assert_eq!(e["actor"], "anonymous");
        assert_eq!(e["actor_kind"], "anonymous");
        assert_eq!(e["source_ip"], "127.0.0.1");
        assert_eq!(e["repository"], "audit/busybox");
    }

    // Time filters: everything is after 2020 and nothing is after 2200.
    let (_, all, _) = berth_audit(data.path(), &["export", "--since", "2020-01-01"]);
    assert_eq!(all.lines().count(), 8);
    let (_, none, _) = berth_audit(data.path(), &["export", "--since", "2200-01-01"]);
    assert_eq!(none.lines().count(), 0);

    let (code, out, err) = berth_audit(data.path(), &["verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("intact: 8 entries"), "{out}");

    // The table refuses edits; an attacker with the file drops the trigger first.
    let db = data.path().join("meta.db");
    let refused = Command::new("sqlite3")
        .arg(&db)
        .arg("UPDATE audit_log SET actor = 'admin' WHERE seq = 3")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    sqlite(
        &db,
        "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'admin' WHERE seq = 3",
    );
    let (code, out, err) = berth_audit(data.path(), &["verify"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("entry 3 was altered"), "{out}");

    // Undo the edit, then delete a row: the entry after it is named.
    sqlite(
        &db,
        "UPDATE audit_log SET actor = 'anonymous' WHERE seq = 3; DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 5",
    );
    let (code, out, _) = berth_audit(data.path(), &["verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entry 6 "), "{out}");
}

#[test]
fn verify_without_a_database_cannot_check_and_exits_2() {
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = berth_audit(empty.path(), &["verify"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no meta.db"), "{err}");
}

/// Rows of an export (JSON lines).
fn export_rows(data_dir: &std::path::Path) -> Vec<serde_json::Value> {
    let (code, jsonl, err) = berth_audit(data_dir, &["export"]);
    assert_eq!(code, 0, "{err}");
    jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// How many requests an entry stands for: N for a counted `N more identical
/// entries` entry, else 1.
fn stands_for(e: &serde_json::Value) -> u64 {
    e["detail"]
        .as_str()
        .and_then(|d| {
            d.split("; ")
                .find_map(|p| p.split_once(" more identical "))
                .and_then(|(n, _)| n.parse().ok())
        })
        .unwrap_or(1)
}

#[tokio::test]
async fn audit_trail_cannot_fill_the_disk() {
    let data = tempfile::tempdir().unwrap();
    let mut berth = Berth::start_with(data.path(), &["--auth-mode", "token"]);
    let c = reqwest::Client::new();
    let token_url = berth.url("/v2/token");
    let started = std::time::Instant::now();

    // 2000 anonymous token requests.
    let statuses: Vec<u16> = futures::stream::iter(0..2000)
        .map(|_| {
            let c = c.clone();
            let url = token_url.clone();
            async move { c.get(&url).send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    // 500 failed logins with a 40 KB user name (the OAuth2 form takes up to 64 KB).
    let user = "m".repeat(40 * 1024);
    let form = format!("grant_type=password&username={user}&password=wrong");
    let statuses: Vec<u16> = futures::stream::iter(0..500)
        .map(|_| {
            let c = c.clone();
            let url = token_url.clone();
            let form = form.clone();
            async move {
                c.post(&url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(
        // 400 invalid_grant (OAuth2) or 401 for the wrong password, 429 throttled.
        statuses.iter().all(|s| [400, 401, 429].contains(s)),
        "{statuses:?}"
    );
    let elapsed = started.elapsed();
    // A clean shutdown writes the counts of the windows still open.
    assert!(berth.terminate(), "berth did not shut down cleanly");

    let db = data.path().join("meta.db");
    let stats = run(Command::new("sqlite3").arg(&db).arg(
        "SELECT COUNT(*), COALESCE(SUM(LENGTH(actor) + COALESCE(LENGTH(repository), 0) \
         + COALESCE(LENGTH(reference), 0) + COALESCE(LENGTH(digest), 0) \
         + COALESCE(LENGTH(detail), 0) + LENGTH(prev_hash) + LENGTH(hash) + 64), 0), \
         MAX(LENGTH(actor)), MAX(LENGTH(detail)) \
         FROM audit_log WHERE action IN ('login', 'token_issue', 'audit_dropped')",
    ));
    let nums: Vec<i64> = stats
        .trim()
        .split('|')
        .map(|n| n.parse().unwrap_or(0))
        .collect();
    let (rows, bytes, longest_actor, longest_detail) = (nums[0], nums[1], nums[2], nums[3]);
    eprintln!("2500 requests in {elapsed:?}: {rows} rows, ~{bytes} bytes");
    // Before: 2500 rows and over 40 MB (each user name stored whole, and again
    // in the actor index). Now: the first of each kind plus one counted entry.
    assert!(rows <= 10, "{rows} rows");
    assert!(bytes <= 16 * 1024, "{bytes} bytes");
    assert!(longest_actor <= 256, "{longest_actor}");
    assert!(longest_detail <= 1024, "{longest_detail}");

    // Nothing was lost: the counted entries add up to every request.
    let entries = export_rows(data.path());
    let tokens: u64 = entries
        .iter()
        .filter(|e| e["action"] == "token_issue" && e["actor_kind"] == "anonymous")
        .map(stands_for)
        .sum();
    assert_eq!(tokens, 2000);
    let logins: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["action"] == "login" && e["result"] == "failure")
        .collect();
    assert_eq!(logins.iter().map(|e| stands_for(e)).sum::<u64>(), 500);
    for e in &logins {
        let actor = e["actor"].as_str().unwrap();
        assert!(
            actor.starts_with("mmmm") && actor.ends_with("…(truncated, 40960 bytes)"),
            "{actor}"
        );
        assert_eq!(e["source_ip"], "127.0.0.1");
    }
    let counted = entries
        .iter()
        .find(|e| e["action"] == "token_issue" && stands_for(e) > 1)
        .expect("a counted token_issue entry");
    assert!(
        counted["detail"]
            .as_str()
            .unwrap()
            .contains("more identical entries between "),
        "{counted}"
    );
    let (code, out, err) = berth_audit(data.path(), &["verify"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[tokio::test]
async fn trimmed_log_still_verifies_behind_its_checkpoint() {
    let data = tempfile::tempdir().unwrap();
    let keep = tempfile::tempdir().unwrap();
    let mut berth = Berth::start(data.path());
    let c = reqwest::Client::new();
    let pull = |r: String| {
        c.get(berth.url(&format!("/v2/trim/app/manifests/{r}")))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
    };
    // 20 recorded pulls (404s), one millisecond apart at least.
    for i in 0..20 {
        assert_eq!(pull(format!("t{i}")).await.unwrap().status().as_u16(), 404);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // Let the writer commit, then cut between the 10th and the 11th entry.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let rows = export_rows(data.path());
    assert_eq!(rows.len(), 20);
    let cut = rows[10]["at_ms"].as_i64().unwrap().to_string();
    let archive = keep.path().join("audit-1-10.jsonl");
    let archive_arg = archive.to_str().unwrap();

    // Without --yes: only the plan.
    let (code, out, err) = berth_audit(
        data.path(),
        &["trim", "--before", &cut, "--archive", archive_arg],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("would archive entries 1..10 (10 entries"),
        "{out}"
    );
    assert!(!archive.exists());

    // Trimmed while serve runs.
    let (code, out, err) = berth_audit(
        data.path(),
        &["trim", "--before", &cut, "--archive", archive_arg, "--yes"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("trimmed: entries 1..10 (10)"), "{out}");
    assert!(out.contains("recorded as entry 21"), "{out}");
    // An archive is never overwritten.
    let (code, _, err) = berth_audit(
        data.path(),
        &["trim", "--before", "1d", "--archive", archive_arg, "--yes"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("exists already"), "{err}");

    // The server keeps appending after the trim.
    assert_eq!(pull("after".into()).await.unwrap().status().as_u16(), 404);
    assert!(berth.terminate(), "berth did not shut down cleanly");

    let rows = export_rows(data.path());
    let seqs: Vec<i64> = rows.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (11..=22).collect::<Vec<_>>());
    assert_eq!(rows[10]["action"], "audit_trim");
    assert_eq!(rows[10]["reference"], "1..10");
    assert_eq!(rows[11]["reference"], "after");
    let archived: Vec<serde_json::Value> = std::fs::read_to_string(&archive)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(archived.len(), 10);
    assert_eq!(rows[0]["prev_hash"], archived[9]["hash"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&archive).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let (code, out, err) = berth_audit(data.path(), &["verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("intact: 12 entries"), "{out}");
    assert!(
        out.contains("starts at checkpoint: entries 1..10 (10) trimmed at "),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "anchor hash {}",
            archived[9]["hash"].as_str().unwrap()
        )),
        "{out}"
    );
    let (code, out, err) = berth_audit(data.path(), &["verify", "--archive", archive_arg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("intact: 10 entries 1..10, linked from genesis to the anchor of the checkpoint through entry 10; sha256"),
        "{out}"
    );
    assert!(out.contains("as recorded"), "{out}");

    // An edited archive fails.
    let edited = keep.path().join("edited.jsonl");
    let text = std::fs::read_to_string(&archive).unwrap();
    std::fs::write(&edited, text.replacen("\"t3\"", "\"t9\"", 1)).unwrap();
    let (code, out, _) = berth_audit(
        data.path(),
        &["verify", "--archive", edited.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("archive entry 4 was altered"), "{out}");

    // An edited remaining row fails, at that row; a broken trail is not trimmed.
    let db = data.path().join("meta.db");
    sqlite(
        &db,
        "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'admin' WHERE seq = 13",
    );
    let (code, out, _) = berth_audit(data.path(), &["verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entry 13 was altered"), "{out}");
    let second = keep.path().join("second.jsonl");
    let (code, out, err) = berth_audit(
        data.path(),
        &[
            "trim",
            "--before",
            "2200-01-01",
            "--archive",
            second.to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("nothing trimmed"), "{out}");
    assert!(!second.exists());
    sqlite(
        &db,
        "UPDATE audit_log SET actor = 'anonymous' WHERE seq = 13",
    );
    let (code, out, _) = berth_audit(data.path(), &["verify"]);
    assert_eq!(code, 0, "{out}");

    // An edited checkpoint: the chain no longer meets its anchor.
    sqlite(
        &db,
        "DROP TRIGGER audit_checkpoints_no_update; \
         UPDATE audit_checkpoints SET last_hash = '1111111111111111111111111111111111111111111111111111111111111111'",
    );
    let (code, out, _) = berth_audit(data.path(), &["verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("entry 11 does not link to the checkpoint"),
        "{out}"
    );
}

/// Signed checkpoints (docs/audit.md "Signed checkpoints"): one signed on
/// demand through the API proves later that the trail still extends it; a
/// forged or re-keyed checkpoint is refused; and a truncated trail, which
/// `berth audit verify` alone cannot tell from an intact one, fails it.
#[test]
fn a_signed_checkpoint_proves_the_trail_still_extends_it() {
    use support::http::{admin, send};
    let img = images();
    let data = tempfile::tempdir().unwrap();
    let mut berth = Berth::start_with(data.path(), &["--auth-mode", "token"]);
    let push = |tag: &str| {
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &format!("admin:{ADMIN_PASSWORD}"),
            &format!("oci:{}:amd64", img.join("busybox").display()),
            &format!("docker://{}/audit/busybox:{tag}", berth.addr),
        ]);
    };
    push("1");
    let client = reqwest::Client::new();
    let none = send(admin(
        client.get(berth.url("/api/v2.0/audit-logs/checkpoint")),
    ));
    assert_eq!(none.status, 404, "{}", none.text());
    let signed = send(admin(
        client.post(berth.url("/api/v2.0/audit-logs/checkpoint")),
    ));
    assert_eq!(signed.status, 201, "{}", signed.text());
    let cp = signed.json();
    assert_eq!(cp["format"], "berth-audit-checkpoint/1");
    let seq = cp["seq"].as_i64().unwrap();
    assert!(seq >= 2, "{cp}");
    let latest = send(admin(
        client.get(berth.url("/api/v2.0/audit-logs/checkpoint")),
    ));
    assert_eq!(
        latest.json(),
        cp,
        "the latest checkpoint is the one just signed"
    );
    let anonymous = send(client.get(berth.url("/api/v2.0/audit-logs/checkpoint")));
    assert_eq!(anonymous.status, 401);
    push("2");
    assert!(berth.terminate());

    let dir = data.path();
    let kept = dir.join("kept-checkpoint.json");
    std::fs::write(&kept, cp.to_string()).unwrap();
    let kept = kept.to_str().unwrap();
    let verify = |extra: &[&str]| {
        let mut args = vec!["audit", "verify", "--checkpoint", kept];
        args.extend(extra);
        berth_cli(dir, &args, &[])
    };
    let (code, out, err) = verify(&[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("checkpoint holds: entry {seq}")),
        "{out}"
    );

    // Pinned to the registry's key: holds; to another key: refused.
    let public = dir.join("registry.pub");
    run(Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(dir.join("token-signing-key.pem"))
        .arg("-out")
        .arg(&public));
    let (code, out, _) = verify(&["--key", public.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let other = dir.join("other.key");
    run(Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&other));
    let other_pub = dir.join("other.pub");
    run(Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&other)
        .arg("-out")
        .arg(&other_pub));
    let (code, out, _) = verify(&["--key", other_pub.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not by the key given"), "{out}");

    // A checkpoint edited after signing is refused.
    let mut forged = cp.clone();
    forged["seq"] = serde_json::json!(seq - 1);
    let forged_path = dir.join("forged.json");
    std::fs::write(&forged_path, forged.to_string()).unwrap();
    let (code, out, _) = berth_cli(
        dir,
        &[
            "audit",
            "verify",
            "--checkpoint",
            forged_path.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("altered or forged"), "{out}");

    // Rolled back to before the checkpoint: the chain that is left is
    // intact, so only the checkpoint shows what was removed.
    sqlite(
        &dir.join("meta.db"),
        &format!("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq >= {seq}"),
    );
    let (code, out, _) = berth_cli(dir, &["audit", "verify"], &[]);
    assert_eq!(code, 0, "a truncated chain is still a chain: {out}");
    let (code, out, _) = verify(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entries were removed"), "{out}");
}
