//! Every state-changing route of the management API (`/api/v2.0`) leaves an
//! audit entry, proven end to end against the real binary.
//!
//! The routes come from the server's own OpenAPI document
//! (`GET /api/v2.0/openapi.json`): every path with a `post`, `put`, `patch` or
//! `delete` operation. The test holds one case per such route (a concrete
//! request that succeeds against a registry it prepares: project `team`, two
//! images pushed with skopeo, users, robots, rules it creates on the way) and
//! fails when the document lists a state-changing route without a case ("route
//! X has no audit coverage case; add one"), or when a case names a route the
//! document no longer lists. So a route added later without audit coverage
//! makes this test fail until someone writes its case and sees its entry.
//!
//! For each case, in order: the request is sent as `admin` (HTTP Basic) and
//! must answer 2xx; then `berth audit export` (which reads the database while
//! `serve` runs) must, within a few seconds (the server writes entries in
//! batches), show an entry after the ones that existed before the request, by
//! actor `admin`, with result `success`, the action that fits the change and
//! the object it acted on (the project, repository, user, robot or digest).

mod support;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

/// How long an entry may take to reach the database after its change.
const AUDIT_WAIT: Duration = Duration::from_secs(5);

/// An Ed25519 public key (`openssl genpkey -algorithm ed25519`, `openssl pkey
/// -pubout`) for the trusted-key cases.
const TRUSTED_KEY: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA2UGI0WGue9dNUsRzYeUiHMGRbTZ7illW7N5sspH7QQM=
-----END PUBLIC KEY-----";

/// Methods that change state.
const WRITES: [&str; 4] = ["post", "put", "patch", "delete"];

/// `POST` routes that change nothing, with why: not audited, not covered.
const POSTS_THAT_READ: [(&str, &str); 4] = [
    (
        "/registries/ping",
        "checks that an upstream answers; stores nothing",
    ),
    (
        "/scanners/ping",
        "checks that a scanner adapter answers its metadata; stores nothing",
    ),
    (
        "/ldap/ping",
        "checks that the LDAP directory answers; stores nothing",
    ),
    (
        "/system/oidc/ping",
        "checks that an OpenID Connect provider answers discovery; stores nothing",
    ),
];

/// State-changing routes that need an engine this test does not start,
/// with the test that proves their audit entry instead.
const COVERED_ELSEWHERE: [(&str, &str); 2] = [
    (
        "/ldap/users/import",
        "needs an LDAP directory: tests/ldap.rs checks its user_create entries",
    ),
    (
        "/users/{user_id}/cli_secret",
        "needs a user onboarded by an OpenID Connect provider: tests/oidc.rs checks its user_update entry",
    ),
];

/// One state-changing route and a request that exercises it.
struct Case {
    /// Upper-case HTTP method.
    method: &'static str,
    /// The path as the OpenAPI document lists it (relative to `/api/v2.0`).
    route: &'static str,
    /// The concrete path; `{key}` is replaced by a value learned earlier
    /// (see [`Case::learn`]) or prepared by the test.
    path: &'static str,
    /// JSON body, if any.
    body: Option<Value>,
    /// Keep the last segment of the answer's `Location` under this key.
    learn: Option<&'static str>,
    /// The audit action the change must be recorded as.
    action: &'static str,
    /// What the entry must name as its `repository`, `reference` or `digest`
    /// (with `{key}` filled in like `path`); `None`: not checked.
    target: Option<&'static str>,
}

fn case(
    method: &'static str,
    route: &'static str,
    path: &'static str,
    body: Option<Value>,
    action: &'static str,
    target: Option<&'static str>,
) -> Case {
    Case {
        method,
        route,
        path,
        body,
        learn: None,
        action,
        target,
    }
}

impl Case {
    fn learning(mut self, key: &'static str) -> Case {
        self.learn = Some(key);
        self
    }
}

/// The cases, in the order they run: what a case acts on was made by an
/// earlier one or by the setup (project `team`; `team/app:v1` and `:v2`;
/// `team/sub/gone:v1`).
fn cases() -> Vec<Case> {
    let retention = json!({
        "algorithm": "or",
        "rules": [{
            "template": "latestPushedK",
            "params": {"latestPushedK": 5},
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}
        }],
        "trigger": {"kind": "Manual"}
    });
    let immutable = |pattern: &str| {
        json!({
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": pattern}],
            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
            "disabled": false
        })
    };
    let robot_perms = json!([{
        "kind": "project",
        "namespace": "team",
        "access": [{"resource": "repository", "action": "pull"}]
    }]);
    vec![
        // Users.
        case(
            "POST",
            "/users",
            "/users",
            Some(json!({
                "username": "auditee",
                "password": "Auditee-Password-1",
                "email": "auditee@example.com",
                "realname": "Audit Ee"
            })),
            "user_create",
            Some("auditee"),
        )
        .learning("user"),
        case(
            "PUT",
            "/users/{user_id}",
            "/users/{user}",
            Some(json!({"email": "changed@example.com", "realname": "Changed"})),
            "user_update",
            Some("auditee"),
        ),
        case(
            "PUT",
            "/users/{user_id}/password",
            "/users/{user}/password",
            Some(json!({"new_password": "Auditee-Password-2"})),
            "user_update",
            Some("auditee"),
        ),
        case(
            "PUT",
            "/users/{user_id}/sysadmin",
            "/users/{user}/sysadmin",
            Some(json!({"sysadmin_flag": true})),
            "user_update",
            Some("auditee"),
        ),
        // Projects: created, changed by id (Harbor's project_name_or_id), deleted by name.
        case(
            "POST",
            "/projects",
            "/projects",
            Some(json!({"project_name": "scratch", "metadata": {"public": "false"}})),
            "project_create",
            Some("scratch"),
        )
        .learning("scratch_id"),
        case(
            "PUT",
            "/projects/{project_name}",
            "/projects/{scratch_id}",
            Some(json!({"metadata": {"public": "true"}})),
            "project_update",
            Some("scratch"),
        ),
        case(
            "DELETE",
            "/projects/{project_name}",
            "/projects/scratch",
            None,
            "project_delete",
            Some("scratch"),
        ),
        // Members (the user made above).
        case(
            "POST",
            "/projects/{project_name}/members",
            "/projects/team/members",
            Some(json!({"role_id": 2, "member_user": {"username": "auditee"}})),
            "member_add",
            Some("auditee"),
        )
        .learning("member"),
        case(
            "PUT",
            "/projects/{project_name}/members/{mid}",
            "/projects/team/members/{member}",
            Some(json!({"role_id": 3})),
            "member_update",
            Some("auditee"),
        ),
        case(
            "DELETE",
            "/projects/{project_name}/members/{mid}",
            "/projects/team/members/{member}",
            None,
            "member_remove",
            Some("auditee"),
        ),
        case(
            "DELETE",
            "/users/{user_id}",
            "/users/{user}",
            None,
            "user_delete",
            Some("auditee"),
        ),
        // Scan all (docs/supply-chain.md).
        case(
            "POST",
            "/system/scanAll/schedule",
            "/system/scanAll/schedule",
            Some(json!({"schedule": {"type": "Manual"}})),
            "scan_request",
            None,
        ),
        // Webhook policies (docs/webhooks.md).
        case(
            "POST",
            "/projects/{project_name}/webhook/policies",
            "/projects/team/webhook/policies",
            Some(json!({"name": "hook", "event_types": ["PUSH_ARTIFACT"],
                "targets": [{"address": "http://127.0.0.1:9/hook"}]})),
            "webhook_policy_create",
            Some("hook"),
        )
        .learning("webhook"),
        case(
            "PUT",
            "/projects/{project_name}/webhook/policies/{webhook_policy_id}",
            "/projects/team/webhook/policies/{webhook}",
            Some(json!({"enabled": false})),
            "webhook_policy_update",
            Some("hook"),
        ),
        case(
            "DELETE",
            "/projects/{project_name}/webhook/policies/{webhook_policy_id}",
            "/projects/team/webhook/policies/{webhook}",
            None,
            "webhook_policy_delete",
            Some("hook"),
        ),
        // User groups (docs/identity.md).
        case(
            "POST",
            "/usergroups",
            "/usergroups",
            Some(json!({"group_type": 1, "ldap_group_dn": "cn=devs,ou=groups,dc=example,dc=org"})),
            "usergroup_create",
            Some("devs"),
        )
        .learning("usergroup"),
        case(
            "PUT",
            "/usergroups/{group_id}",
            "/usergroups/{usergroup}",
            Some(json!({"group_name": "developers"})),
            "usergroup_update",
            Some("developers"),
        ),
        case(
            "DELETE",
            "/usergroups/{group_id}",
            "/usergroups/{usergroup}",
            None,
            "usergroup_delete",
            Some("developers"),
        ),
        // Upstream registries (docs/proxy.md).
        case(
            "POST",
            "/registries",
            "/registries",
            Some(json!({"name": "upstream", "type": "docker-registry", "url": "http://127.0.0.1:9"})),
            "registry_create",
            Some("upstream"),
        )
        .learning("registry"),
        case(
            "PUT",
            "/registries/{id}",
            "/registries/{registry}",
            Some(json!({"description": "changed by the audit test"})),
            "registry_update",
            Some("upstream"),
        ),
        // External scanners (docs/supply-chain.md "External scanners").
        case(
            "POST",
            "/scanners",
            "/scanners",
            Some(json!({"name": "trivy", "url": "http://127.0.0.1:9"})),
            "scanner_create",
            Some("trivy"),
        )
        .learning("scanner"),
        case(
            "PUT",
            "/scanners/{registration_id}",
            "/scanners/{scanner}",
            Some(json!({"description": "changed by the audit test"})),
            "scanner_update",
            Some("trivy"),
        ),
        case(
            "PATCH",
            "/scanners/{registration_id}",
            "/scanners/{scanner}",
            Some(json!({"is_default": false})),
            "scanner_update",
            Some("trivy"),
        ),
        case(
            "DELETE",
            "/scanners/{registration_id}",
            "/scanners/{scanner}",
            None,
            "scanner_delete",
            Some("trivy"),
        ),
        // Replication (the registry above is the destination; id 1).
        case(
            "POST",
            "/replication/policies",
            "/replication/policies",
            Some(json!({"name": "to-upstream", "dest_registry": {"id": 1}})),
            "replication_policy_create",
            Some("to-upstream"),
        )
        .learning("policy"),
        case(
            "PUT",
            "/replication/policies/{id}",
            "/replication/policies/{policy}",
            Some(json!({"name": "to-upstream", "dest_registry": {"id": 1}, "enabled": false})),
            "replication_policy_update",
            Some("to-upstream"),
        ),
        case(
            "POST",
            "/replication/executions",
            "/replication/executions",
            Some(json!({"policy_id": 1})),
            "replication_run",
            Some("1"),
        )
        .learning("execution"),
        case(
            "PUT",
            "/replication/executions/{id}",
            "/replication/executions/{execution}",
            None,
            "replication_stop",
            Some("{execution}"),
        ),
        case(
            "DELETE",
            "/replication/policies/{id}",
            "/replication/policies/{policy}",
            None,
            "replication_policy_delete",
            Some("{policy}"),
        ),
        case(
            "DELETE",
            "/registries/{id}",
            "/registries/{registry}",
            None,
            "registry_delete",
            Some("{registry}"),
        ),
        // Robots.
        case(
            "POST",
            "/robots",
            "/robots",
            Some(json!({
                "name": "ci",
                "level": "project",
                "duration": -1,
                "permissions": robot_perms
            })),
            "robot_create",
            Some("robot$team+ci"),
        )
        .learning("robot"),
        case(
            "PUT",
            "/robots/{robot_id}",
            "/robots/{robot}",
            Some(json!({"description": "changed by the audit test", "disable": true})),
            "robot_update",
            Some("robot$team+ci"),
        ),
        case(
            "PATCH",
            "/robots/{robot_id}",
            "/robots/{robot}",
            Some(json!({})),
            "robot_update",
            Some("robot$team+ci"),
        ),
        case(
            "DELETE",
            "/robots/{robot_id}",
            "/robots/{robot}",
            None,
            "robot_delete",
            Some("robot$team+ci"),
        ),
        // Repository content (before any rule could refuse a tag).
        case(
            "POST",
            "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags",
            "/projects/team/repositories/app/artifacts/v1/tags",
            Some(json!({"name": "v1-copy"})),
            "tag_create",
            Some("v1-copy"),
        ),
        case(
            "DELETE",
            "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags/{tag_name}",
            "/projects/team/repositories/app/artifacts/v1/tags/v1-copy",
            None,
            "tag_delete",
            Some("v1-copy"),
        ),
        case(
            "POST",
            "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/scan",
            "/projects/team/repositories/app/artifacts/v1/scan",
            Some(json!({"scan_type": "sbom"})),
            "scan_request",
            Some("v1"),
        ),
        case(
            "DELETE",
            "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}",
            "/projects/team/repositories/app/artifacts/{arm64}",
            None,
            "delete",
            Some("{arm64}"),
        ),
        // `team/sub/gone`: the `/` of the name double-encoded, as Harbor's clients send it.
        case(
            "DELETE",
            "/projects/{project_name}/repositories/{repository_name}",
            "/projects/team/repositories/sub%252Fgone",
            None,
            "repository_delete",
            Some("team/sub/gone"),
        ),
        // Policies of `team`.
        case(
            "PUT",
            "/projects/{project_name}/retention",
            "/projects/team/retention",
            Some(retention),
            "retention_change",
            Some("team"),
        ),
        case(
            "POST",
            "/projects/{project_name}/retention/executions",
            "/projects/team/retention/executions",
            Some(json!({"dry_run": true})),
            "retention_run",
            Some("team"),
        ),
        case(
            "DELETE",
            "/projects/{project_name}/retention",
            "/projects/team/retention",
            None,
            "retention_change",
            Some("team"),
        ),
        case(
            "POST",
            "/projects/{project_name}/immutabletagrules",
            "/projects/team/immutabletagrules",
            Some(immutable("release-*")),
            "immutable_rule_change",
            Some("team"),
        )
        .learning("rule"),
        case(
            "PUT",
            "/projects/{project_name}/immutabletagrules/{immutable_rule_id}",
            "/projects/team/immutabletagrules/{rule}",
            Some(immutable("stable-*")),
            "immutable_rule_change",
            Some("{rule}"),
        ),
        case(
            "DELETE",
            "/projects/{project_name}/immutabletagrules/{immutable_rule_id}",
            "/projects/team/immutabletagrules/{rule}",
            None,
            "immutable_rule_change",
            Some("{rule}"),
        ),
        case(
            "PUT",
            "/projects/{project_name}/tag-naming-rule",
            "/projects/team/tag-naming-rule",
            Some(json!({"pattern": "^[a-z0-9][a-z0-9._-]*$"})),
            "tag_rule_change",
            Some("team"),
        ),
        case(
            "PUT",
            "/projects/{project_name}/quota",
            "/projects/team/quota",
            Some(json!({"storage": 10_737_418_240_i64})),
            "quota_change",
            Some("team"),
        ),
        case(
            "POST",
            "/projects/{project_name}/trusted-keys",
            "/projects/team/trusted-keys",
            Some(json!({"name": "ci-key", "public_key": TRUSTED_KEY})),
            "trusted_key_change",
            Some("ci-key"),
        ),
        case(
            "DELETE",
            "/projects/{project_name}/trusted-keys/{key_name}",
            "/projects/team/trusted-keys/ci-key",
            None,
            "trusted_key_change",
            Some("ci-key"),
        ),
        case(
            "PUT",
            "/system/CVEAllowlist",
            "/system/CVEAllowlist",
            Some(json!({"items": [{"cve_id": "CVE-2024-3094"}], "expires_at": null})),
            "cve_allowlist_change",
            None,
        ),
        case(
            "POST",
            "/audit-logs/checkpoint",
            "/audit-logs/checkpoint",
            None,
            "audit_checkpoint",
            None,
        ),
        // Garbage collection, a dry run. No action word exists for it yet
        // (when written, `gc::run` recorded nothing): `gc` accepts `gc` or any `gc_*`.
        case(
            "POST",
            "/system/gc/schedule",
            "/system/gc/schedule",
            Some(json!({"schedule": {"type": "Manual"}, "parameters": {"dry_run": true}})),
            "gc",
            None,
        ),
    ]
}

/// `text` with every `{key}` of `made` replaced by its value; `Err` when a
/// `{key}` is left that nothing made (its earlier case failed, or a typo).
fn fill(text: &str, made: &HashMap<&str, String>) -> Result<String, String> {
    let mut out = text.to_string();
    for (k, v) in made {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    if out.contains('{') {
        return Err(format!(
            "{text}: needs a {{key}} no earlier case or the setup made (made: {:?})",
            made.keys().collect::<Vec<_>>()
        ));
    }
    Ok(out)
}

/// Whether concrete `path` is an instance of OpenAPI `template` (same
/// segments; a `{param}` segment matches any non-empty one).
fn instance_of(path: &str, template: &str) -> bool {
    let p: Vec<&str> = path.split('/').collect();
    let t: Vec<&str> = template.split('/').collect();
    p.len() == t.len()
        && p.iter().zip(&t).all(|(p, t)| {
            if t.starts_with('{') && t.ends_with('}') {
                !p.is_empty()
            } else {
                p == t
            }
        })
}

/// Whether a recorded action is the `expected` one (`gc` also takes `gc_*`).
fn action_fits(expected: &str, actual: &str) -> bool {
    actual == expected || (expected == "gc" && actual.starts_with("gc_"))
}

/// Every audit entry, oldest first, from `berth audit export`.
fn audit_entries(dir: &Path) -> Vec<Value> {
    berth_ok(dir, &["audit", "export"], &[])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("export line {l:?}: {e}")))
        .collect()
}

fn last_seq(dir: &Path) -> i64 {
    audit_entries(dir)
        .last()
        .and_then(|e| e["seq"].as_i64())
        .unwrap_or(0)
}

/// Waits up to [`AUDIT_WAIT`] for an entry after `seq` that records `expected`
/// by `admin`, successful, naming `target`; `Err` with the entries that did appear.
async fn entry_after(
    dir: &Path,
    seq: i64,
    expected: &str,
    target: Option<&str>,
) -> Result<(), String> {
    let deadline = Instant::now() + AUDIT_WAIT;
    loop {
        let new: Vec<Value> = audit_entries(dir)
            .into_iter()
            .filter(|e| e["seq"].as_i64().unwrap_or(0) > seq)
            .collect();
        let found = new.iter().find(|e| {
            e["actor"] == "admin"
                && e["result"] == "success"
                && action_fits(expected, e["action"].as_str().unwrap_or(""))
                && target.is_none_or(|t| {
                    ["repository", "reference", "digest"]
                        .iter()
                        .any(|k| e[*k].as_str() == Some(t))
                })
        });
        if found.is_some() {
            return Ok(());
        }
        if Instant::now() > deadline {
            let seen: Vec<String> = new
                .iter()
                .map(|e| {
                    format!(
                        "{} by {} ({}) repository={} reference={} digest={}",
                        e["action"],
                        e["actor"],
                        e["result"],
                        e["repository"],
                        e["reference"],
                        e["digest"]
                    )
                })
                .collect();
            return Err(format!(
                "no {expected} entry by admin{} within {AUDIT_WAIT:?}; new entries: {seen:?}",
                target.map(|t| format!(" naming {t}")).unwrap_or_default()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every (METHOD, path) with a state-changing operation in the document.
fn documented_writes(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("openapi.json has paths");
    let mut out = BTreeSet::new();
    for (path, ops) in paths {
        for m in WRITES {
            let reads = m == "post" && POSTS_THAT_READ.iter().any(|(p, _)| p == path)
                || COVERED_ELSEWHERE.iter().any(|(p, _)| p == path);
            if ops.get(m).is_some() && !reads {
                out.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

fn push(b: &Berth, image: &str, dest: &str) {
    let creds = format!("admin:{ADMIN_PASSWORD}");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("oci:{}:{image}", images().join("busybox").display()),
        &format!("docker://{}/{dest}", b.addr),
    ]);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_state_changing_api_route_is_audited() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    berth_ok(dir, &["project", "create", "team"], &[]);
    let b = Berth::start_with(dir, &["--auth-mode", "token"]);
    push(&b, "amd64", "team/app:v1");
    push(&b, "arm64", "team/app:v2");
    push(&b, "amd64", "team/sub/gone:v1");
    let http = reqwest::Client::new();

    // The routes, from the server's own document.
    let doc: Value = http
        .get(b.url("/api/v2.0/openapi.json"))
        .send()
        .await
        .expect("openapi.json")
        .error_for_status()
        .expect("openapi.json status")
        .json()
        .await
        .expect("openapi.json is JSON");
    assert_eq!(
        doc["servers"][0]["url"], "/api/v2.0",
        "the document's paths are no longer relative to /api/v2.0"
    );
    let documented = documented_writes(&doc);
    let cases = cases();
    let mut covered = BTreeSet::new();
    for c in &cases {
        let route = (c.method.to_string(), c.route.to_string());
        assert!(
            documented.contains(&route),
            "case {} {} names a route the OpenAPI document no longer lists; remove or update it",
            c.method,
            c.route
        );
        assert!(
            covered.insert(route),
            "two cases for {} {}; keep one",
            c.method,
            c.route
        );
    }
    for (method, path) in &documented {
        assert!(
            covered.contains(&(method.clone(), path.clone())),
            "route {method} {path} has no audit coverage case; add one"
        );
    }

    // Each change, in order, and its entry.
    let mut made: HashMap<&str, String> = HashMap::new();
    made.insert("arm64", recorded_digest("oci:busybox:arm64"));
    let mut failures = Vec::new();
    for c in &cases {
        let name = format!("{} {}", c.method, c.route);
        let (path, target) = match (fill(c.path, &made), c.target.map(|t| fill(t, &made))) {
            (Ok(p), None) => (p, None),
            (Ok(p), Some(Ok(t))) => (p, Some(t)),
            (Err(e), _) | (_, Some(Err(e))) => {
                failures.push(format!("{name}: not run: {e}"));
                continue;
            }
        };
        assert!(
            instance_of(&path, c.route),
            "{name}: the case's path {path} is not an instance of the route"
        );
        let before = last_seq(dir);
        let method = reqwest::Method::from_bytes(c.method.as_bytes()).expect("method");
        let mut req = http
            .request(method, b.url(&format!("/api/v2.0{path}")))
            .basic_auth("admin", Some(ADMIN_PASSWORD));
        if let Some(body) = &c.body {
            req = req.json(body);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            failures.push(format!("{name} ({path}): answered {status}: {text}"));
            continue;
        }
        if let Some(key) = c.learn {
            let id = location
                .as_deref()
                .and_then(|l| l.rsplit('/').next())
                .unwrap_or_else(|| panic!("{name}: no Location in the answer"));
            made.insert(key, id.to_string());
        }
        if let Err(why) = entry_after(dir, before, c.action, target.as_deref()).await {
            failures.push(format!("{name} ({path}): {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} state-changing routes left no fitting audit entry:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
