//! Lifecycle policies through the management API: immutable tag rules, the
//! tag naming rule, retention policies with dry-run and real executions, and
//! project usage with quotas.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const API: &str = "/api/v2.0";

async fn send(reg: &TestRegistry, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
    let r = reg
        .request(method, &format!("{API}{path}"))
        .json(&body)
        .send()
        .await
        .expect("send");
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn immutable_rules_and_naming_rules_are_managed_and_enforced() {
    let reg = TestRegistry::start().await;
    let (_, v1) = reg.push_image("team/app", "v1", "one").await;
    let rule = json!({
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
        "disabled": false
    });
    let r = reg
        .request(
            Method::POST,
            &format!("{API}/projects/team/immutabletagrules"),
        )
        .json(&rule)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = header(&r, "location").expect("location");
    assert!(
        location.starts_with("/api/v2.0/projects/team/immutabletagrules/"),
        "{location}"
    );
    let (s, list) = send(
        &reg,
        Method::GET,
        "/projects/team/immutabletagrules",
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().expect("array").len(), 1);
    assert_eq!(list[0]["tag_selectors"][0]["pattern"], "v*");
    // Enforced: v1 cannot be deleted by digest now.
    let r = reg
        .req(Method::DELETE, &format!("/v2/team/app/manifests/{v1}"))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A malformed rule is a 400 in Harbor's error shape.
    let (s, e) = send(
        &reg,
        Method::POST,
        "/projects/team/immutabletagrules",
        json!({"tag_selectors": "nope"}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["errors"][0]["code"], "BAD_REQUEST");
    // Delete the rule: the manifest can go.
    let id = list[0]["id"].as_i64().expect("id");
    let (s, _) = send(
        &reg,
        Method::DELETE,
        &format!("/projects/team/immutabletagrules/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // Tag naming rule.
    let (s, _) = send(
        &reg,
        Method::PUT,
        "/projects/team/tag-naming-rule",
        json!({"pattern": "^v[0-9]+$"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, got) = send(
        &reg,
        Method::GET,
        "/projects/team/tag-naming-rule",
        Value::Null,
    )
    .await;
    assert_eq!(got["pattern"], "^v[0-9]+$");
    let (m, _) = reg.push_image("team/app", "v2", "two").await;
    let r = reg
        .put_manifest("team/app", "latest", OCI_MANIFEST, &m)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (s, _) = send(
        &reg,
        Method::PUT,
        "/projects/team/tag-naming-rule",
        json!({"pattern": "("}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = send(
        &reg,
        Method::PUT,
        "/projects/team/tag-naming-rule",
        json!({"pattern": null}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        reg.put_manifest("team/app", "latest", OCI_MANIFEST, &m)
            .await
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn retention_policy_dry_run_then_run_and_project_summary_with_quota() {
    let reg = TestRegistry::start().await;
    for (tag, seed) in [("1", "a"), ("2", "b"), ("3", "c")] {
        reg.push_image("team/app", tag, seed).await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // No policy yet.
    let (s, _) = send(&reg, Method::GET, "/projects/team/retention", Value::Null).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // "keep the last 1 version".
    let policy = json!({
        "algorithm": "or",
        "rules": [{
            "template": "latestPushedK",
            "params": {"latestPushedK": 1},
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}
        }],
        "trigger": {"kind": "Manual"}
    });
    let (s, e) = send(&reg, Method::PUT, "/projects/team/retention", policy).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let (s, stored) = send(&reg, Method::GET, "/projects/team/retention", Value::Null).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(stored["rules"][0]["template"], "latestPushedK");
    let (s, report) = send(
        &reg,
        Method::POST,
        "/projects/team/retention/executions",
        json!({"dry_run": true}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    let tags = reg.req(Method::GET, "/v2/team/app/tags/list").await;
    let tags: Value = tags.json().await.expect("json");
    assert_eq!(
        tags["tags"],
        json!(["1", "2", "3"]),
        "a dry run deletes nothing: {report}"
    );
    let (s, report) = send(
        &reg,
        Method::POST,
        "/projects/team/retention/executions",
        json!({"dry_run": false}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    let tags: Value = reg
        .req(Method::GET, "/v2/team/app/tags/list")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(tags["tags"], json!(["3"]), "{report}");

    // Summary and quota.
    let (s, sum) = send(&reg, Method::GET, "/projects/team/summary", Value::Null).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(sum["repo_count"], 1);
    assert_eq!(sum["quota"]["hard"]["storage"], -1);
    assert!(sum["quota"]["used"]["storage"].as_u64().expect("used") > 0);
    let (s, _) = send(
        &reg,
        Method::PUT,
        "/projects/team/quota",
        json!({"storage": 10}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, sum) = send(&reg, Method::GET, "/projects/team/summary", Value::Null).await;
    assert_eq!(sum["quota"]["hard"]["storage"], 10);
    // Over quota: a new blob is refused.
    let r = reg
        .request(Method::POST, "/v2/team/app/blobs/uploads/?digest=sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae")
        .body("foo")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (s, _) = send(
        &reg,
        Method::PUT,
        "/projects/team/quota",
        json!({"storage": -5}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = send(&reg, Method::GET, "/projects/nope/summary", Value::Null).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// A second server over `reg`'s data directory with the audit trail on.
async fn audited_server(
    reg: &TestRegistry,
) -> (
    String,
    berth_registry::AuditLog,
    tokio::task::JoinHandle<()>,
) {
    let registry = berth_registry::Registry::open_on(
        reg.dir.path(),
        &reg.database,
        &reg.storage,
        Default::default(),
    )
    .await
    .unwrap();
    let audit = berth_registry::AuditLog::start(&registry, &berth_registry::AuditConfig::default());
    let mut state = berth_server::AppState::new(registry, berth_registry::AccessPolicy::Anonymous);
    state.audit = audit.clone();
    let app = berth_server::router(std::sync::Arc::new(state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    (format!("http://{addr}"), audit, task)
}

#[tokio::test]
async fn every_policy_change_through_the_api_is_audited() {
    let reg = TestRegistry::start().await;
    reg.push_image("team/app", "v1", "one").await;
    let (base, audit, task) = audited_server(&reg).await;
    let client = reqwest::Client::new();
    let call = |method: Method, path: &str, body: Value| {
        client
            .request(method, format!("{base}{API}{path}"))
            .json(&body)
            .send()
    };
    let policy = json!({
        "algorithm": "or",
        "rules": [{
            "template": "latestPushedK",
            "params": {"latestPushedK": 5},
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}
        }],
        "trigger": {"kind": "Manual"}
    });
    let rule = json!({
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
        "disabled": false
    });
    let s = call;
    let r = s(Method::PUT, "/projects/team/retention", policy)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = s(
        Method::POST,
        "/projects/team/retention/executions",
        json!({"dry_run": true}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = s(Method::DELETE, "/projects/team/retention", Value::Null)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = s(Method::PUT, "/projects/nope/retention", json!({}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s(
        Method::POST,
        "/projects/team/immutabletagrules",
        rule.clone(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = header(&r, "location")
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let r = s(
        Method::PUT,
        &format!("/projects/team/immutabletagrules/{id}"),
        rule,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = s(
        Method::DELETE,
        &format!("/projects/team/immutabletagrules/{id}"),
        Value::Null,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = s(
        Method::PUT,
        "/projects/team/tag-naming-rule",
        json!({"pattern": "^v[0-9]+$"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = s(
        Method::PUT,
        "/projects/team/tag-naming-rule",
        json!({"pattern": "("}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s(
        Method::PUT,
        "/projects/team/quota",
        json!({"storage": 4096}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = s(Method::PUT, "/projects/team/quota", json!({"storage": -5}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    audit.flush().await;
    let (rows, _) = audit
        .query(&berth_registry::audit::AuditFilter::default(), 1, 100)
        .await
        .unwrap();
    let mut got: Vec<(String, String, String, String, String)> = rows
        .iter()
        .rev()
        .filter(|r| r.action.as_str() != "push" && r.action.as_str() != "pull")
        .map(|r| {
            (
                r.action.as_str().to_string(),
                r.repository.clone().unwrap_or_default(),
                r.reference.clone().unwrap_or_default(),
                r.result.as_str().to_string(),
                r.detail.clone().unwrap_or_default(),
            )
        })
        .collect();
    for e in &mut got {
        // Keep the detail's start: what changed (failures append the error).
        e.4 = e.4.split(';').next().unwrap_or("").to_string();
    }
    let want = [
        (
            "retention_change",
            "team",
            "",
            "success",
            "retention policy set: 1 rules",
        ),
        (
            "retention_run",
            "team",
            "",
            "success",
            "dry run: 1 kept, 0 deleted, 0 errors",
        ),
        (
            "retention_change",
            "team",
            "",
            "success",
            "retention policy removed",
        ),
        (
            "retention_change",
            "nope",
            "",
            "failure",
            "retention policy set",
        ),
        ("immutable_rule_change", "team", id.as_str(), "success", ""),
        ("immutable_rule_change", "team", id.as_str(), "success", ""),
        (
            "immutable_rule_change",
            "team",
            id.as_str(),
            "success",
            "immutable rule removed",
        ),
        (
            "tag_rule_change",
            "team",
            "",
            "success",
            "tag naming rule set: ^v[0-9]+$",
        ),
        (
            "tag_rule_change",
            "team",
            "",
            "failure",
            "tag naming rule set: (",
        ),
        (
            "quota_change",
            "team",
            "",
            "success",
            "quota set: 4096 bytes",
        ),
        ("quota_change", "team", "", "failure", "quota set: -5 bytes"),
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(
            (g.0.as_str(), g.1.as_str(), g.2.as_str(), g.3.as_str()),
            (w.0, w.1, w.2, w.3),
            "{got:#?}"
        );
        if !w.4.is_empty() {
            assert_eq!(g.4, w.4, "{got:#?}");
        }
    }
    assert!(got[4].4.starts_with("immutable rule added: "), "{got:#?}");
    assert!(got[5].4.starts_with("immutable rule changed: "), "{got:#?}");
    // Failures say why.
    let failed = rows
        .iter()
        .find(|r| r.action.as_str() == "quota_change" && r.result.as_str() == "failure")
        .unwrap();
    assert!(
        failed
            .detail
            .as_deref()
            .unwrap()
            .contains("400 BAD_REQUEST"),
        "{:?}",
        failed.detail
    );
    assert!(rows
        .iter()
        .all(|r| r.actor_kind.as_str() == "anonymous" || r.action.as_str() == "push"));
    task.abort();
}
