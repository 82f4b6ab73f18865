//! End to end with skopeo and the `berth` CLI against the real binary: an
//! immutable tag refuses an overwrite and `skopeo delete`, but not a push of the
//! same digest; a tag naming rule refuses a non-conforming tag; a retention
//! dry run changes nothing and a run deletes what no rule keeps.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::*;

fn berth(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("run berth")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Runs skopeo expecting failure; returns its stderr.
fn skopeo_fails(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(!out.status.success(), "skopeo {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn skopeo_meets_immutable_tags_naming_rules_and_retention() {
    let img = images();
    let data = tempfile::tempdir().unwrap();
    let server = Berth::start(data.path());
    let reg = &server.addr;
    let oci = |r: &str| format!("oci:{}:{r}", img.join("busybox").display());
    let dest = |r: &str| format!("docker://{reg}/{r}");

    // Rules set on the data directory before the server first needs them; the
    // CLI refuses rules for a project that does not exist.
    ok(berth(data.path(), &["project", "create", "prod"]));
    ok(berth(data.path(), &["project", "create", "team"]));
    ok(berth(
        data.path(),
        &["immutable", "add", "--project", "prod", "--tag", "v*"],
    ));
    ok(berth(
        data.path(),
        &["tag-rule", "set", "--project", "team", "--pattern", r"v\d+"],
    ));

    // Immutability: first push and same-digest re-push succeed; overwrite and delete fail.
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &oci("amd64"),
        &dest("prod/busybox:v1"),
    ]);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &oci("amd64"),
        &dest("prod/busybox:v1"),
    ]);
    let err = skopeo_fails(&[
        "copy",
        "--dest-tls-verify=false",
        &oci("arm64"),
        &dest("prod/busybox:v1"),
    ]);
    assert!(err.contains("immutable rule 1"), "{err}");
    let err = skopeo_fails(&["delete", "--tls-verify=false", &dest("prod/busybox:v1")]);
    assert!(err.contains("immutable rule 1"), "{err}");
    let digest = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &dest("prod/busybox:v1"),
    ]);
    assert_eq!(digest.trim(), recorded_digest("oci:busybox:amd64"));

    // Naming: the refusal shows the pattern.
    let err = skopeo_fails(&[
        "copy",
        "--dest-tls-verify=false",
        &oci("amd64"),
        &dest("team/busybox:latest"),
    ]);
    assert!(err.contains("tags must match the pattern v"), "{err}");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &oci("amd64"),
        &dest("team/busybox:v7"),
    ]);

    // Retention: keep the last 1 version of dev.
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &oci("amd64"),
        &dest("dev/busybox:old"),
    ]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &oci("arm64"),
        &dest("dev/busybox:new"),
    ]);
    let policy = data.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"rules":[{"template":"latestPushedK","params":{"latestPushedK":1},
            "tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"**"}],
            "scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}}]}"#,
    )
    .unwrap();
    ok(berth(
        data.path(),
        &[
            "retention",
            "set",
            "--project",
            "dev",
            "--file",
            policy.to_str().unwrap(),
        ],
    ));
    let dry = ok(berth(
        data.path(),
        &["retention", "run", "--project", "dev", "--dry-run"],
    ));
    assert!(
        dry.contains("would delete") && dry.contains("tag old"),
        "{dry}"
    );
    let tags = skopeo(&["list-tags", "--tls-verify=false", &dest("dev/busybox")]);
    assert!(
        tags.contains("\"old\"") && tags.contains("\"new\""),
        "{tags}"
    );
    // Without --yes and without a terminal, nothing happens.
    assert!(
        !berth(data.path(), &["retention", "run", "--project", "dev"])
            .status
            .success()
    );
    let run = ok(berth(
        data.path(),
        &["retention", "run", "--project", "dev", "--yes"],
    ));
    assert!(run.contains("deleted"), "{run}");
    // Removing the policy asks too: refused without --yes, done with it.
    assert!(
        !berth(data.path(), &["retention", "delete", "--project", "dev"])
            .status
            .success()
    );
    ok(berth(
        data.path(),
        &["retention", "show", "--project", "dev"],
    ));
    ok(berth(
        data.path(),
        &["retention", "delete", "--project", "dev", "--yes"],
    ));
    assert!(
        !berth(data.path(), &["retention", "show", "--project", "dev"])
            .status
            .success()
    );
    let tags = skopeo(&["list-tags", "--tls-verify=false", &dest("dev/busybox")]);
    assert!(
        !tags.contains("\"old\"") && tags.contains("\"new\""),
        "{tags}"
    );
    skopeo_fails(&[
        "inspect",
        "--tls-verify=false",
        &format!(
            "{}@{}",
            dest("dev/busybox"),
            recorded_digest("oci:busybox:amd64")
        ),
    ]);

    let (code, out) = fsck(data.path());
    assert_eq!(code, 0, "{out}");
}
