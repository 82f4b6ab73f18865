//! Project policies over HTTP: tag immutability and tag naming rules answer
//! 403 DENIED with a message naming the rule (Harbor's behaviour for immutable
//! tags; the distribution spec's `DENIED` code).

mod common;

use berth_registry::{ImmutableRule, Limits, Registry};
use common::*;
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

/// Sets policies through a second handle on the server's data directory, as the
/// `berth immutable` / `berth tag-rule` CLI does; must run before the server
/// first loads the project's rules.
async fn admin(reg: &TestRegistry) -> Registry {
    Registry::open_on(
        reg.dir.path(),
        &reg.database,
        &reg.storage,
        Limits::default(),
    )
    .await
    .unwrap()
}

async fn denied_message(r: Response) -> String {
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], "DENIED");
    v["errors"][0]["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn immutable_tag_overwrite_and_deletes_are_403_denied_but_same_digest_push_is_201() {
    let reg = TestRegistry::start().await;
    let admin = admin(&reg).await;
    let id = admin
        .immutable_rule_add("prod", ImmutableRule::new("v*", "**"))
        .await
        .unwrap();
    let (m1, d1) = reg.push_image("prod/api", "v1.0", "one").await;

    // Same digest again under the same tag: allowed.
    let r = reg
        .put_manifest("prod/api", "v1.0", OCI_MANIFEST, &m1)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // Another digest under the protected tag: refused, naming the rule.
    let (_, d2) = reg.push_image("prod/api", "scratch", "two").await;
    let m2 = reg
        .req(Method::GET, "/v2/prod/api/manifests/scratch")
        .await
        .bytes()
        .await
        .unwrap();
    let msg = denied_message(
        reg.put_manifest("prod/api", "v1.0", OCI_MANIFEST, &m2)
            .await,
    )
    .await;
    assert!(msg.contains(&format!("immutable rule {id}")), "{msg}");
    assert!(msg.contains("\"v*\""), "{msg}");

    // Delete by tag and by digest (what `skopeo delete` sends): refused.
    let msg = denied_message(reg.req(Method::DELETE, "/v2/prod/api/manifests/v1.0").await).await;
    assert!(msg.contains(&format!("immutable rule {id}")), "{msg}");
    let msg = denied_message(
        reg.req(Method::DELETE, &format!("/v2/prod/api/manifests/{d1}"))
            .await,
    )
    .await;
    assert!(msg.contains("v1.0"), "{msg}");

    // The tag still points at the first digest; unprotected tags stay deletable.
    let r = reg.req(Method::HEAD, "/v2/prod/api/manifests/v1.0").await;
    assert_eq!(header(&r, "docker-content-digest"), Some(d1.to_string()));
    let r = reg
        .req(Method::DELETE, &format!("/v2/prod/api/manifests/{d2}"))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    admin.close().await;
}

#[tokio::test]
async fn tag_naming_rule_refuses_other_tags_with_the_pattern_in_the_message() {
    let reg = TestRegistry::start().await;
    let admin = admin(&reg).await;
    let pattern = r"v?\d+\.\d+\.\d+";
    admin
        .tag_naming_rule_set("team", Some(pattern))
        .await
        .unwrap();
    let (m, d) = reg.push_image("team/app", "1.2.3", "a").await;
    let msg = denied_message(
        reg.put_manifest("team/app", "latest", OCI_MANIFEST, &m)
            .await,
    )
    .await;
    assert!(msg.contains(pattern), "{msg}");
    // Pushing by digest carries no tag: allowed.
    let r = reg
        .put_manifest("team/app", d.as_str(), OCI_MANIFEST, &m)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Other projects have no rule.
    reg.push_image("other/app", "latest", "b").await;
    admin.close().await;
}
