//! First-day behaviour of the binary: one `serve` per data directory, CLI
//! commands that refuse a missing data directory instead of making a new
//! registry, and the startup order around the first admin password.

mod support;

use std::process::{Command, Stdio};

use support::{berth_bin, berth_cli, berth_ok, exit_within, Berth, ADMIN_PASSWORD};

#[test]
fn a_second_serve_on_one_data_dir_refuses_to_start() {
    let tmp = tempfile::tempdir().expect("tmp");
    let _first = Berth::start_with(tmp.path(), &["--auth-mode", "token"]);
    let mut second = Command::new(berth_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path())
        .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("second serve");
    let status = exit_within(&mut second, std::time::Duration::from_secs(20))
        .expect("a second serve on the same data dir kept running");
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert!(err.contains("already running"), "{err}");
    assert!(err.contains("serve.lock"), "{err}");
    // The CLI documented as safe beside serve keeps working.
    let (code, out, err) = berth_cli(tmp.path(), &["project", "list"], &[]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn cli_commands_refuse_a_missing_data_dir() {
    let tmp = tempfile::tempdir().expect("tmp");
    let missing = tmp.path().join("not-here");
    let (code, _, err) = berth_cli(&missing, &["project", "create", "team2"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("no berth data directory at"), "{err}");
    assert!(!missing.exists(), "no registry was created");
    // A directory with other files and no meta.db is not taken for one either.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).expect("dir");
    std::fs::write(other.join("notes.txt"), "x").expect("file");
    let (code, _, err) = berth_cli(&other, &["user", "list"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("not a berth data directory"), "{err}");
}

#[test]
fn a_taken_port_fails_before_the_admin_password_is_generated() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let tmp = tempfile::tempdir().expect("tmp");
    let out = Command::new(berth_bin())
        .args(["serve", "--listen", &addr, "--data-dir"])
        .arg(tmp.path())
        .env_remove("BERTH_ADMIN_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("serve");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("binding"), "{err}");
    assert!(
        !err.contains("password"),
        "a password shown and lost: {err}"
    );
}

/// `berth completions SHELL` prints a completion script naming the
/// subcommands; an unknown shell is a usage error.
#[test]
fn completions_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef berth"),
        ("fish", "complete -c berth"),
    ] {
        let out = Command::new(berth_bin())
            .args(["completions", shell])
            .output()
            .expect("run berth");
        assert!(out.status.success(), "{shell}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(marker), "{shell}: {text}");
        for sub in ["serve", "fsck", "retention", "audit"] {
            assert!(text.contains(sub), "{shell} script lacks {sub}");
        }
    }
    let out = Command::new(berth_bin())
        .args(["completions", "tcsh-not-a-shell"])
        .output()
        .expect("run berth");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// The list commands print a header row above their tab-separated rows, and
/// `quota set` says what it changed.
#[test]
fn list_headers_and_quota_confirmation() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let (code, out, err) = berth_cli(dir, &["project", "create", "team"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = berth_cli(dir, &["project", "list"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.lines().next(),
        Some("ID\tNAME\tVISIBILITY\tPULL FROM\tPUSH FROM"),
        "{out}"
    );
    let (code, out, err) = berth_cli(dir, &["user", "list"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.lines().next(), Some("ID\tNAME\tROLE"), "{out}");
    let (code, out, err) = berth_cli(
        dir,
        &["quota", "set", "--project", "team", "--bytes", "10GiB"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.trim(),
        "project team: quota set: 10737418240 bytes",
        "{out}"
    );
}

/// Policies and quotas for a project that does not exist are refused with a
/// message naming it (they would be stored and never apply), and nothing is
/// stored: the project made afterwards starts without them.
#[test]
fn cli_refuses_policies_and_quotas_for_a_missing_project() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    berth_ok(dir, &["project", "create", "team"], &[]);
    let policy = dir.join("policy.json");
    std::fs::write(&policy, r#"{"rules":[],"trigger":{"kind":"Manual"}}"#).expect("write");
    let policy = policy.to_str().expect("utf-8 path");
    for args in [
        &["retention", "set", "--project", "nosuch", "--file", policy][..],
        &["retention", "show", "--project", "nosuch"],
        &["immutable", "add", "--project", "nosuch", "--tag", "v*"],
        &["immutable", "list", "--project", "nosuch"],
        &["tag-rule", "set", "--project", "nosuch", "--pattern", "v.*"],
        &["quota", "set", "--project", "nosuch", "--bytes", "1GiB"],
    ] {
        let (code, out, err) = berth_cli(dir, args, &[]);
        assert_eq!(code, 1, "{args:?} succeeded: {out}{err}");
        assert!(
            err.contains("project nosuch does not exist"),
            "{args:?}: {err}"
        );
    }
    let (code, out, err) = berth_cli(dir, &["project", "create", "nosuch"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = berth_cli(dir, &["immutable", "list", "--project", "nosuch"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("v*"), "a refused rule was stored: {out}");
    let (code, out, err) = berth_cli(dir, &["tag-rule", "show", "--project", "nosuch"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("v.*"), "a refused rule was stored: {out}");
}
