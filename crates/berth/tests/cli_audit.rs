//! Every change made with the CLI (accounts, tokens, project policies,
//! quotas) is an audit entry with the OS user as a `system` actor, a `cli:`
//! detail, the object and the outcome; `berth audit export` shows one entry
//! per change, and no secret.

mod support;

use support::*;

/// The secret a `robot create`/`robot secret` printed.
fn secret_of(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .expect("secret line")
        .trim()
        .to_string()
}

#[test]
fn every_cli_change_is_one_audit_entry_without_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    const PW: &str = "cli-audit-user-password-1";
    const PW2: &str = "cli-audit-user-password-2";
    let me = [("USER", "ops-alice"), ("LOGNAME", "ignored")];
    let with_pw = |pw: &'static str| [("USER", "ops-alice"), ("BERTH_NEW_PASSWORD", pw)];
    let mut secrets: Vec<String> = vec![PW.into(), PW2.into(), ADMIN_PASSWORD.into()];
    // (action, result, repository, reference) of each change, in order.
    let mut want: Vec<(&str, &str, &str, &str)> = Vec::new();

    berth_ok(dir, &["user", "add", "alice"], &with_pw(PW));
    want.push(("user_create", "success", "", "alice"));
    berth_ok(dir, &["user", "passwd", "alice"], &with_pw(PW2));
    want.push(("user_update", "success", "", "alice"));
    let (code, _, _) = berth_cli(dir, &["user", "delete", "nobody", "--yes"], &me);
    assert_ne!(code, 0);
    want.push(("user_delete", "failure", "", "nobody"));
    berth_ok(dir, &["project", "create", "team"], &me);
    want.push(("project_create", "success", "team", ""));
    berth_ok(dir, &["project", "set", "team", "--public", "true"], &me);
    want.push(("project_update", "success", "team", ""));
    berth_ok(
        dir,
        &["project", "member", "team", "alice", "developer"],
        &me,
    );
    want.push(("member_add", "success", "team", "alice"));
    let out = berth_ok(
        dir,
        &[
            "robot",
            "create",
            "ci",
            "--project",
            "team",
            "--actions",
            "pull,push",
        ],
        &me,
    );
    secrets.push(secret_of(&out));
    want.push(("robot_create", "success", "team", "robot$team+ci"));
    berth_ok(dir, &["robot", "disable", "robot$team+ci"], &me);
    want.push(("robot_update", "success", "team", "robot$team+ci"));
    berth_ok(dir, &["robot", "enable", "robot$team+ci"], &me);
    want.push(("robot_update", "success", "team", "robot$team+ci"));
    let out = berth_ok(dir, &["robot", "secret", "robot$team+ci"], &me);
    secrets.push(secret_of(&out));
    want.push(("robot_update", "success", "team", "robot$team+ci"));
    let out = berth_ok(dir, &["token", "create", "alice", "laptop"], &me);
    secrets.push(out.trim().to_string());
    want.push(("access_token_create", "success", "", "alice"));
    berth_ok(dir, &["token", "revoke", "alice", "laptop"], &me);
    want.push(("access_token_revoke", "success", "", "alice"));

    let policy = dir.join("policy.json");
    std::fs::write(
        &policy,
        serde_json::json!({
            "algorithm": "or",
            "rules": [{
                "template": "latestPushedK",
                "params": {"latestPushedK": 3},
                "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
                "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}
            }],
            "trigger": {"kind": "Manual"}
        })
        .to_string(),
    )
    .unwrap();
    let policy = policy.to_str().unwrap();
    berth_ok(
        dir,
        &["retention", "set", "--project", "team", "--file", policy],
        &me,
    );
    want.push(("retention_change", "success", "team", ""));
    berth_ok(
        dir,
        &["retention", "run", "--project", "team", "--dry-run"],
        &me,
    );
    want.push(("retention_run", "success", "team", ""));
    berth_ok(
        dir,
        &["retention", "delete", "--project", "team", "--yes"],
        &me,
    );
    want.push(("retention_change", "success", "team", ""));
    let out = berth_ok(
        dir,
        &["immutable", "add", "--project", "team", "--tag", "v*"],
        &me,
    );
    let id = out.split_whitespace().nth(2).expect("rule id").to_string();
    want.push(("immutable_rule_change", "success", "team", "ID"));
    berth_ok(
        dir,
        &[
            "immutable",
            "remove",
            "--project",
            "team",
            "--id",
            &id,
            "--yes",
        ],
        &me,
    );
    want.push(("immutable_rule_change", "success", "team", "ID"));
    berth_ok(
        dir,
        &[
            "tag-rule",
            "set",
            "--project",
            "team",
            "--pattern",
            "v[0-9]+",
        ],
        &me,
    );
    want.push(("tag_rule_change", "success", "team", ""));
    let (code, _, _) = berth_cli(
        dir,
        &["tag-rule", "set", "--project", "team", "--pattern", "("],
        &me,
    );
    assert_ne!(code, 0);
    want.push(("tag_rule_change", "failure", "team", ""));
    berth_ok(
        dir,
        &["tag-rule", "clear", "--project", "team", "--yes"],
        &me,
    );
    want.push(("tag_rule_change", "success", "team", ""));
    berth_ok(
        dir,
        &["quota", "set", "--project", "team", "--bytes", "10MiB"],
        &me,
    );
    want.push(("quota_change", "success", "team", ""));
    let key = dir.join("cosign.pub");
    std::fs::write(
        &key,
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA2UGI0WGue9dNUsRzYeUiHMGRbTZ7illW7N5sspH7QQM=\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let key = key.to_str().unwrap();
    berth_ok(
        dir,
        &[
            "trust",
            "add",
            "--project",
            "team",
            "--name",
            "ci-key",
            "--key",
            key,
        ],
        &me,
    );
    want.push(("trusted_key_change", "success", "team", "ci-key"));
    let listed = berth_ok(dir, &["trust", "list", "--project", "team"], &me);
    assert!(listed.contains("ci-key\ted25519"), "{listed}");
    berth_ok(
        dir,
        &[
            "trust",
            "require",
            "--project",
            "team",
            "--signature",
            "true",
        ],
        &me,
    );
    want.push(("project_update", "success", "team", ""));
    berth_ok(
        dir,
        &["trust", "remove", "--project", "team", "--name", "ci-key"],
        &me,
    );
    want.push(("trusted_key_change", "success", "team", "ci-key"));
    berth_ok(dir, &["robot", "delete", "robot$team+ci", "--yes"], &me);
    want.push(("robot_delete", "success", "team", "robot$team+ci"));
    berth_ok(dir, &["gc", "--dry-run"], &me);
    want.push(("gc_run", "success", "", ""));
    berth_ok(dir, &["project", "delete", "team", "--yes"], &me);
    want.push(("project_delete", "success", "team", ""));
    berth_ok(dir, &["user", "delete", "alice", "--yes"], &me);
    want.push(("user_delete", "success", "", "alice"));
    let upstream_pw = [("USER", "ops-alice"), ("BERTH_REGISTRY_PASSWORD", PW)];
    berth_ok(
        dir,
        &[
            "registry",
            "add",
            "up",
            "--url",
            "http://127.0.0.1:9",
            "--username",
            "me",
        ],
        &upstream_pw,
    );
    want.push(("registry_create", "success", "", "up"));
    let (code, _, _) = berth_cli(dir, &["registry", "add", "bad", "--url", "ftp://x"], &me);
    assert_ne!(code, 0);
    want.push(("registry_create", "failure", "", "bad"));
    berth_ok(dir, &["registry", "remove", "up", "--yes"], &me);
    want.push(("registry_delete", "success", "", "up"));
    // Listings are not changes.
    berth_ok(dir, &["user", "list"], &me);
    berth_ok(dir, &["robot", "list"], &me);

    let export = berth_ok(dir, &["audit", "export"], &[]);
    let rows: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
            (s("action"), s("result"), s("repository"), s("reference"))
        })
        .collect();
    let want: Vec<(String, String, String, String)> = want
        .iter()
        .map(|(a, r, p, x)| {
            let x = if *x == "ID" { id.as_str() } else { x };
            (a.to_string(), r.to_string(), p.to_string(), x.to_string())
        })
        .collect();
    assert_eq!(got, want, "{export}");
    for e in &rows {
        assert_eq!(e["actor"], "ops-alice", "{e}");
        assert_eq!(e["actor_kind"], "system", "{e}");
        let detail = e["detail"].as_str().unwrap_or("");
        assert!(detail.starts_with("cli: "), "{e}");
        if e["result"] == "failure" {
            assert!(detail.contains("; error: "), "{e}");
        }
    }
    for s in &secrets {
        assert!(s.len() >= 8, "{s:?}");
        assert!(
            !export.contains(s.as_str()),
            "a secret is in the export: {export}"
        );
    }
    let verify = berth_ok(dir, &["audit", "verify"], &[]);
    assert!(verify.contains("audit trail intact"), "{verify}");
}

#[test]
fn the_actor_falls_back_to_logname_then_the_uid() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = std::process::Command::new(berth_bin())
        .args(["project", "create", "one", "--data-dir"])
        .arg(dir)
        .env_remove("USER")
        .env("LOGNAME", "ops-bob")
        .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = std::process::Command::new(berth_bin())
        .args(["project", "create", "two", "--data-dir"])
        .arg(dir)
        .env_remove("USER")
        .env_remove("LOGNAME")
        .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let export = berth_ok(dir, &["audit", "export"], &[]);
    let actors: Vec<String> = export
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["actor"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(actors.len(), 2, "{export}");
    assert_eq!(actors[0], "ops-bob");
    assert!(actors[1].starts_with("uid "), "{export}");
}

/// The leaf commands of `berth` (`user add`, `gc`, ...), read from its own
/// `--help` output, so a command added later is seen here.
fn leaf_commands() -> Vec<String> {
    fn commands_of(path: &[&str]) -> Vec<String> {
        let out = std::process::Command::new(berth_bin())
            .args(path)
            .arg("--help")
            .output()
            .expect("berth --help");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let Some(list) = text.split("Commands:\n").nth(1) else {
            return Vec::new();
        };
        list.lines()
            .take_while(|l| !l.trim().is_empty())
            .filter_map(|l| l.split_whitespace().next())
            .filter(|c| *c != "help")
            .map(str::to_string)
            .collect()
    }
    let mut leaves = Vec::new();
    for top in commands_of(&[]) {
        let subs = commands_of(&[top.as_str()]);
        if subs.is_empty() {
            leaves.push(top);
        } else {
            leaves.extend(subs.into_iter().map(|s| format!("{top} {s}")));
        }
    }
    leaves
}

/// Every command is either a change, exercised by
/// [`every_cli_change_is_one_audit_entry_without_secrets`] (or, for `audit
/// trim`, by `audit.rs`) and so shown to leave its entry, or a command that
/// changes nothing. A new command fails this test until it is put in one list
/// (and, if it changes state, given an audit entry and a case above).
#[test]
fn every_cli_command_is_audited_or_changes_nothing() {
    const CHANGES: &[&str] = &[
        "user add",
        "user passwd",
        "user delete",
        "project create",
        "project set",
        "project member",
        "project delete",
        "robot create",
        "robot disable",
        "robot enable",
        "robot secret",
        "robot delete",
        "token create",
        "token revoke",
        "retention set",
        "retention run",
        "retention delete",
        "immutable add",
        "immutable remove",
        "tag-rule set",
        "tag-rule clear",
        "quota set",
        "gc",
        "audit trim",
        "registry add",
        "registry remove",
        "replicate add",
        "replicate run",
        "replicate remove",
        "trust add",
        "trust remove",
        "trust require",
        "sbom generate",
        "vuln-db import",
    ];
    // `fsck` changes nothing unless given --repair, which forgets corrupt
    // blobs and is recorded as `blob_delete`; `serve` records what it serves;
    // `migrate` changes only the schema, as every command does when it opens
    // the data directory.
    const READS: &[&str] = &[
        "serve",
        "fsck",
        "completions",
        "migrate",
        "config example",
        "config check",
        "user list",
        "project list",
        "robot list",
        "token list",
        "audit verify",
        "audit export",
        "retention show",
        "immutable list",
        "tag-rule show",
        "quota show",
        "registry list",
        "registry ping",
        "replicate list",
        "replicate executions",
        "trust list",
        "sbom show",
        "vuln-db status",
    ];
    let leaves = leaf_commands();
    assert!(leaves.len() > 30, "too few commands found: {leaves:?}");
    for leaf in &leaves {
        assert!(
            CHANGES.contains(&leaf.as_str()) || READS.contains(&leaf.as_str()),
            "`berth {leaf}` is neither an audited change nor a read: classify it in this test"
        );
    }
    for known in CHANGES.iter().chain(READS) {
        assert!(
            leaves.iter().any(|l| l == known),
            "`berth {known}` is no longer a command: remove it from this test"
        );
    }
}
