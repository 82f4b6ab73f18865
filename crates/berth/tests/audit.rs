//! The audit trail end to end: pushes with skopeo, pulls, HEADs and deletes
//! against the real binary; each action recorded exactly once with its actor,
//! client IP and result; a HEAD records nothing; `berth audit verify` passes on
//! the untouched trail and names the row an attacker edited in the SQLite file.

mod support;

use std::process::Command;

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
    run(Command::new("sqlite3").arg(db).arg(sql));
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
