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
