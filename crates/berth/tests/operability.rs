//! Operability against the real binary: project deletion with repositories,
//! read-only commands on a directory the user may only read, `serve` on one it
//! cannot write, the message for a push into a missing project, the
//! configuration file commands, and the audit trail failing closed.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::*;

fn oci(reference: &str) -> String {
    format!("oci:{}:{reference}", images().join("busybox").display())
}

fn push(server: &Berth, reference: &str, dest: &str, creds: Option<&str>) -> Output {
    let mut c = Command::new("skopeo");
    c.args(["--insecure-policy", "copy", "--dest-tls-verify=false"]);
    if let Some(creds) = creds {
        c.args(["--dest-creds", creds]);
    }
    c.arg(oci(reference))
        .arg(format!("docker://{}/{dest}", server.addr))
        .output()
        .expect("run skopeo")
}

fn pushed(server: &Berth, reference: &str, dest: &str, creds: Option<&str>) {
    let out = push(server, reference, dest, creds);
    assert!(
        out.status.success(),
        "push {dest}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `curl` answering (status, body).
fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Runs the binary as the unprivileged user `nobody` (root ignores file
/// modes, so a read-only directory needs another user).
fn berth_as_nobody(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(berth_bin())
        .args(args)
        .env_remove("BERTH_ADMIN_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("run setpriv");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Makes everything under `root` readable (not writable) by every user.
fn readable_by_all(root: &Path) {
    run(Command::new("chmod").args(["-R", "a+rX,go-w"]).arg(root));
}

#[test]
fn project_delete_refuses_repositories_unless_forced_and_takes_its_policies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    berth_ok(dir, &["project", "create", "team"], &[]);
    let server = Berth::start(dir);
    pushed(&server, "amd64", "team/busybox:1", None);
    pushed(&server, "arm64", "team/other:1", None);
    berth_ok(
        dir,
        &["immutable", "add", "--project", "team", "--tag", "v*"],
        &[],
    );

    let (code, out, err) = berth_cli(dir, &["project", "delete", "team", "--yes"], &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("still has 2 repositories") && err.contains("--force"),
        "{err}"
    );
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/team/busybox", server.addr),
    ]);
    assert!(
        tags.contains("\"1\""),
        "refused delete changed nothing: {tags}"
    );

    let out = berth_ok(dir, &["project", "delete", "team", "--force", "--yes"], &[]);
    assert!(
        out.contains("deleted project team and its 2 repositories"),
        "{out}"
    );
    let (code, body) = curl(&[&server.url("/v2/team/busybox/tags/list")]);
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("NAME_UNKNOWN"), "{body}");

    // A project made again under the name starts without the old rules.
    berth_ok(dir, &["project", "create", "team"], &[]);
    let rules = berth_ok(dir, &["immutable", "list", "--project", "team"], &[]);
    assert!(!rules.contains("v*"), "the old rule survived: {rules}");
    let trail = berth_ok(dir, &["audit", "export"], &[]);
    assert!(
        trail.contains("project deleted with --force and its 2 repositories"),
        "{trail}"
    );
}

#[test]
fn read_only_commands_work_on_a_data_dir_the_user_may_only_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut server = Berth::start(&dir);
    pushed(&server, "amd64", "team/busybox:1", None);
    assert!(server.terminate(), "clean stop");
    readable_by_all(tmp.path());
    let d = dir.to_str().unwrap();

    let (code, out, err) = berth_as_nobody(&["fsck", "--data-dir", d]);
    assert_eq!(code, 0, "fsck: {out}{err}");
    assert!(out.contains("0 problems"), "{out}");
    let (code, out, err) = berth_as_nobody(&["audit", "verify", "--data-dir", d]);
    assert_eq!(code, 0, "audit verify: {out}{err}");
    let (code, out, err) = berth_as_nobody(&["audit", "export", "--data-dir", d]);
    assert_eq!(code, 0, "audit export: {out}{err}");
    assert!(out.contains("\"push\""), "{out}");

    // A repair writes, so it is refused with the path named.
    let (code, out, err) = berth_as_nobody(&["fsck", "--repair", "--data-dir", d]);
    assert_ne!(code, 0, "fsck --repair on a read-only dir: {out}{err}");
    assert!(err.contains(d), "{err}");
}

/// Runs `berth serve` as `nobody` on `dir`; returns its exit code and stderr,
/// or panics when it is still running after 20 s (it must refuse at once).
fn serve_as_nobody(dir: &Path) -> (i32, String) {
    let mut child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(berth_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let status = exit_within(&mut child, std::time::Duration::from_secs(20)).unwrap_or_else(|| {
        panic!(
            "serve kept running on {} which it cannot write",
            dir.display()
        )
    });
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    (status.code().unwrap_or(-1), err)
}

#[test]
fn serve_refuses_a_data_dir_it_cannot_write_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut server = Berth::start(&dir);
    let (code, _) = curl(&[&server.url("/v2/")]);
    assert_eq!(code, 200);
    assert!(server.terminate(), "clean stop");
    readable_by_all(tmp.path());
    let (code, err) = serve_as_nobody(&dir);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains(dir.to_str().unwrap()), "names the path: {err}");
    assert!(!err.contains("created user"), "no password shown: {err}");

    // A directory it may write whose database it may not: refused at the
    // start, not on the first push.
    let db_only = tmp.path().join("db-read-only");
    let mut server = Berth::start(&db_only);
    let (code, _) = curl(&[&server.url("/v2/")]);
    assert_eq!(code, 200);
    assert!(server.terminate(), "clean stop");
    let db = db_only.join("meta.db");
    run(Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&db_only));
    run(Command::new("chown").arg("0:0").arg(&db));
    run(Command::new("chmod").arg("0644").arg(&db));
    let (code, err) = serve_as_nobody(&db_only);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains(db_only.to_str().unwrap()),
        "names the path: {err}"
    );
    assert!(err.contains("not writable"), "{err}");

    // A data dir to be made under a parent it cannot write.
    let (code, err) = serve_as_nobody(&tmp.path().join("new"));
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains(tmp.path().to_str().unwrap()),
        "names the path: {err}"
    );
    assert!(!err.contains("created user"), "no password shown: {err}");
}

#[test]
fn a_push_into_a_missing_project_names_it_and_a_created_one_is_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = Berth::start_with(dir, &["--auth-mode", "token"]);
    berth_ok(
        dir,
        &["user", "add", "alice"],
        &[("BERTH_NEW_PASSWORD", "alice-password")],
    );
    let out = push(
        &server,
        "amd64",
        "nosuch/busybox:1",
        Some("alice:alice-password"),
    );
    assert!(!out.status.success(), "alice may not create projects");
    // The upload request a push starts with carries the reason in its body
    // (skopeo's first request, a blob HEAD, can carry none: it shows a bare 403).
    let (code, body) = curl(&[
        "-u",
        "alice:alice-password",
        "-X",
        "POST",
        &server.url("/v2/nosuch/busybox/blobs/uploads/"),
    ]);
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("\"DENIED\""), "{body}");
    assert!(
        body.contains(r#"project \"nosuch\" does not exist"#),
        "{body}"
    );
    assert!(body.contains("berth project create nosuch"), "{body}");
    // Anonymous callers learn nothing: a challenge.
    let (code, body) = curl(&[
        "-X",
        "POST",
        &server.url("/v2/nosuch/busybox/blobs/uploads/"),
    ]);
    assert_eq!(code, 401, "{body}");
    assert!(!body.contains("does not exist"), "{body}");

    // A system administrator's first push creates it, on the record.
    let admin = format!("admin:{ADMIN_PASSWORD}");
    pushed(&server, "amd64", "fresh/busybox:1", Some(&admin));
    // The server writes its entries in batches: look until the push's is there.
    let find = || {
        berth_ok(dir, &["audit", "export"], &[])
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["action"] == "project_create" && e["repository"] == "fresh")
    };
    eventually("the project_create entry of the first push", || {
        find().is_some()
    });
    let created = find().expect("entry");
    assert_eq!(created["actor"], "admin", "{created}");
    assert_eq!(created["result"], "success", "{created}");
}

#[test]
fn config_example_is_a_valid_file_and_check_names_a_bad_key() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(berth_bin())
        .args(["config", "example"])
        .output()
        .expect("config example");
    assert!(out.status.success());
    let example = tmp.path().join("berth.toml");
    std::fs::write(&example, &out.stdout).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("on_failure = \"refuse\""));
    let out = Command::new(berth_bin())
        .args(["config", "check", "--config"])
        .arg(&example)
        .output()
        .expect("config check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each bad file is refused, naming what is wrong.
    for (text, named) in [
        ("[audit]\non_failur = \"continue\"\n", "on_failur"),
        (
            "[tls]\ncert = \"/nonexistent/tls.crt\"\nkey = \"/nonexistent/tls.key\"\n",
            "tls.cert = /nonexistent/tls.crt",
        ),
        ("[gc]\nschedule = \"daily\"\n", "use six fields"),
    ] {
        let bad = tmp.path().join("bad.toml");
        std::fs::write(&bad, text).unwrap();
        let out = Command::new(berth_bin())
            .args(["config", "check", "--config"])
            .arg(&bad)
            .output()
            .expect("config check");
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(named), "{text}: {err}");
    }
}

/// Runs SQL with the sqlite3 shell beside the server, waiting up to 10 s for
/// the server's write lock.
fn sqlite(db: &Path, sql: &str) {
    let out = Command::new("sqlite3")
        .args(["-cmd", ".timeout 10000"])
        .arg(db)
        .arg(sql)
        .output()
        .expect("run sqlite3");
    assert!(
        out.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits up to 10 s for `f` to hold.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn changes_are_refused_while_the_audit_trail_cannot_be_written_and_nothing_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = Berth::start(dir);
    pushed(&server, "amd64", "team/busybox:1", None);

    // The database now refuses every new audit entry.
    sqlite(
        &dir.join("meta.db"),
        "CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_log \
         BEGIN SELECT RAISE(ABORT, 'test: the audit table refuses writes'); END;",
    );
    // A pull is recorded; its entry cannot be written.
    let (code, _) = curl(&[&server.url("/v2/team/busybox/manifests/1")]);
    assert_eq!(code, 200);
    let uploads = server.url("/v2/team/busybox/blobs/uploads/");
    eventually("a change is refused", || {
        curl(&["-X", "POST", &uploads]).0 == 503
    });
    let (code, body) = curl(&["-X", "POST", &uploads]);
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("\"UNAVAILABLE\""), "{body}");
    assert!(
        body.contains("audit trail cannot be written") && body.contains("audit.on_failure"),
        "{body}"
    );
    let (code, body) = curl(&["-X", "DELETE", &server.url("/v2/team/busybox/manifests/1")]);
    assert_eq!(code, 503, "{body}");
    let (code, body) = curl(&[
        "-X",
        "POST",
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"project_name":"other"}"#,
        &server.url("/api/v2.0/projects"),
    ]);
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("SERVICE_UNAVAILABLE"), "{body}");
    // Pulls go on, and the health check tells.
    let (code, _) = curl(&[&server.url("/v2/team/busybox/manifests/1")]);
    assert_eq!(code, 200);
    let (_, health) = curl(&[&server.url("/api/v2.0/health")]);
    assert!(
        health.contains("\"audit\"") && health.contains("unhealthy"),
        "{health}"
    );

    // Once entries can be written again, so can changes; the held entry lands.
    sqlite(&dir.join("meta.db"), "DROP TRIGGER test_refuse_audit;");
    eventually("changes are accepted again", || {
        curl(&["-X", "POST", &uploads]).0 == 202
    });
    let trail = berth_ok(dir, &["audit", "export"], &[]);
    assert!(
        trail
            .lines()
            .any(|l| l.contains("\"pull\"") && l.contains("\"reference\":\"1\"")),
        "the entries held while failing were lost: {trail}"
    );
    pushed(&server, "arm64", "team/busybox:2", None);
    let (code, out, err) = berth_cli(dir, &["audit", "verify"], &[]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn livez_and_readyz_answer_without_credentials_and_readyz_names_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let server = Berth::start_with(&dir, &["--auth-mode", "token"]);
    let (code, live) = curl(&[&server.url("/livez")]);
    assert_eq!(code, 200, "{live}");
    let live: serde_json::Value = serde_json::from_str(&live).unwrap();
    assert_eq!(live["status"], "alive");
    let (code, ready) = curl(&[&server.url("/readyz")]);
    assert_eq!(code, 200, "{ready}");
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["node"], live["node"], "one node id");
    assert_eq!(live["node"].as_str().map(str::len), Some(36), "{live}");

    // The data directory loses its write bits: not ready, saying why; alive.
    let mode = |m: &str| {
        run(Command::new("chmod").arg(m).arg(&dir));
    };
    mode("0500");
    let (code, body) = curl(&[&server.url("/readyz")]);
    mode("0700");
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("not ready") && body.contains("storage: "),
        "{body}"
    );
    let (code, _) = curl(&[&server.url("/livez")]);
    assert_eq!(code, 200);
    let (code, _) = curl(&[&server.url("/readyz")]);
    assert_eq!(code, 200);
}

#[test]
fn migrate_dry_run_lists_what_would_run_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = berth_ok(dir, &["migrate", "--dry-run"], &[]);
    let would: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("would apply "))
        .collect();
    assert!(would.len() >= 6, "{out}");
    assert!(would[0].starts_with("would apply 0001 "), "{out}");
    assert!(
        !dir.join("meta.db").exists(),
        "a dry run created the database"
    );

    let out = berth_ok(dir, &["migrate"], &[]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("applied ")).count(),
        would.len(),
        "{out}"
    );
    let out = berth_ok(dir, &["migrate", "--dry-run"], &[]);
    assert!(out.starts_with("schema up to date"), "{out}");

    let (code, _, err) = berth_cli(&dir.join("missing"), &["migrate", "--dry-run"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("no berth data directory"), "{err}");
}
