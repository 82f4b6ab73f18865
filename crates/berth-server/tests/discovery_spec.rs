//! distribution-spec v1.1 §Content discovery: tags list and referrers; and the
//! Docker v2 catalog.

mod common;

use berth_oci::{Algorithm, Digest};
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

async fn tag_all(reg: &TestRegistry, repo: &str, tags: &[&str]) {
    let (m, _) = reg.push_image(repo, tags[0], "t").await;
    for t in &tags[1..] {
        assert_eq!(
            reg.put_manifest(repo, t, OCI_MANIFEST, &m).await.status(),
            StatusCode::CREATED
        );
    }
}

#[tokio::test]
async fn tags_list_is_in_lexical_order() {
    let reg = TestRegistry::start().await;
    tag_all(&reg, "a/b", &["v2", "latest", "V1", "1.0", "v10"]).await;
    let r = reg.req(Method::GET, "/v2/a/b/tags/list").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "link").is_none());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], "a/b");
    assert_eq!(
        v["tags"],
        serde_json::json!(["1.0", "V1", "latest", "v10", "v2"])
    );
}

#[tokio::test]
async fn tags_list_paginates_with_n_last_and_a_link_header() {
    let reg = TestRegistry::start().await;
    tag_all(&reg, "x", &["a", "b", "c", "d", "e"]).await;
    let r = reg.req(Method::GET, "/v2/x/tags/list?n=2").await;
    assert_eq!(
        header(&r, "link").as_deref(),
        Some("</v2/x/tags/list?n=2&last=b>; rel=\"next\"")
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["tags"], serde_json::json!(["a", "b"]));
    let r = reg.req(Method::GET, "/v2/x/tags/list?n=2&last=b").await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["tags"], serde_json::json!(["c", "d"]));
    let r = reg.req(Method::GET, "/v2/x/tags/list?n=2&last=d").await;
    assert!(header(&r, "link").is_none());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["tags"], serde_json::json!(["e"]));
    let r = reg.req(Method::GET, "/v2/x/tags/list?last=c").await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["tags"], serde_json::json!(["d", "e"]));
    let r = reg.req(Method::GET, "/v2/x/tags/list?n=0").await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["tags"], serde_json::json!([]));
}

#[tokio::test]
async fn tags_list_of_unknown_repository_is_404_name_unknown() {
    let reg = TestRegistry::start().await;
    let r = reg.req(Method::GET, "/v2/nobody/tags/list").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");
}

#[tokio::test]
async fn catalog_lists_repositories_with_pagination() {
    let reg = TestRegistry::start().await;
    for repo in ["zeta", "alpha/one", "alpha/two", "beta"] {
        reg.push_blob(repo, b"x").await;
    }
    let r = reg.req(Method::GET, "/v2/_catalog").await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["repositories"],
        serde_json::json!(["alpha/one", "alpha/two", "beta", "zeta"])
    );
    let r = reg.req(Method::GET, "/v2/_catalog?n=3").await;
    assert_eq!(
        header(&r, "link").as_deref(),
        Some("</v2/_catalog?n=3&last=beta>; rel=\"next\"")
    );
    let r = reg.req(Method::GET, "/v2/_catalog?n=3&last=beta").await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["repositories"], serde_json::json!(["zeta"]));
}

struct Referrers {
    subject: Digest,
    sbom: Digest,
    sig: Digest,
}

async fn push_referrers(reg: &TestRegistry) -> Referrers {
    let (m, subject) = reg.push_image("app", "v1", "s").await;
    let empty = reg.push_blob("app", b"{}").await;
    let sbom_layer = reg.push_blob("app", b"{\"spdx\":true}").await;
    let mut sbom: Value = serde_json::from_slice(&image_manifest(
        &empty,
        2,
        &[(&sbom_layer, 13)],
        Some("application/spdx+json"),
        Some((&subject, m.len())),
    ))
    .unwrap();
    sbom["config"]["mediaType"] = OCI_EMPTY.into();
    sbom["annotations"] =
        serde_json::json!({"org.opencontainers.image.created": "2026-01-01T00:00:00Z"});
    let sbom = serde_json::to_vec(&sbom).unwrap();
    let sbom_d = Digest::of(Algorithm::Sha256, &sbom);
    assert_eq!(
        reg.put_manifest("app", sbom_d.as_str(), OCI_MANIFEST, &sbom)
            .await
            .status(),
        StatusCode::CREATED
    );
    // A signature given as an image index with artifactType and subject.
    let sig = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "artifactType": "application/vnd.example.signature",
        "manifests": [], "subject": descriptor(OCI_MANIFEST, &subject, m.len())}))
    .unwrap();
    let sig_d = Digest::of(Algorithm::Sha256, &sig);
    let r = reg
        .put_manifest("app", sig_d.as_str(), OCI_INDEX, &sig)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "oci-subject"), Some(subject.to_string()));
    Referrers {
        subject,
        sbom: sbom_d,
        sig: sig_d,
    }
}

#[tokio::test]
async fn referrers_lists_descriptors_with_artifact_type_and_annotations() {
    let reg = TestRegistry::start().await;
    let refs = push_referrers(&reg).await;
    let r = reg
        .req(Method::GET, &format!("/v2/app/referrers/{}", refs.subject))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type").as_deref(), Some(OCI_INDEX));
    assert!(header(&r, "oci-filters-applied").is_none());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["schemaVersion"], 2);
    assert_eq!(v["mediaType"], OCI_INDEX);
    let list = v["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let sbom = list
        .iter()
        .find(|d| d["digest"] == refs.sbom.as_str())
        .unwrap();
    assert_eq!(sbom["mediaType"], OCI_MANIFEST);
    assert_eq!(sbom["artifactType"], "application/spdx+json");
    assert_eq!(
        sbom["annotations"]["org.opencontainers.image.created"],
        "2026-01-01T00:00:00Z"
    );
    let sig = list
        .iter()
        .find(|d| d["digest"] == refs.sig.as_str())
        .unwrap();
    assert_eq!(sig["mediaType"], OCI_INDEX);
    assert_eq!(sig["artifactType"], "application/vnd.example.signature");
}

#[tokio::test]
async fn referrers_filter_by_artifact_type_sets_oci_filters_applied() {
    let reg = TestRegistry::start().await;
    let refs = push_referrers(&reg).await;
    let r = reg
        .req(
            Method::GET,
            &format!(
                "/v2/app/referrers/{}?artifactType=application%2Fspdx%2Bjson",
                refs.subject
            ),
        )
        .await;
    assert_eq!(
        header(&r, "oci-filters-applied").as_deref(),
        Some("artifactType")
    );
    let v: Value = r.json().await.unwrap();
    let list = v["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["digest"], refs.sbom.as_str());
}

#[tokio::test]
async fn referrer_without_artifact_type_reports_its_config_media_type() {
    let reg = TestRegistry::start().await;
    let (m, subject) = reg.push_image("app", "v1", "s").await;
    let c = reg.push_blob("app", b"{\"sig\":1}").await;
    let mut art: Value =
        serde_json::from_slice(&image_manifest(&c, 9, &[], None, Some((&subject, m.len()))))
            .unwrap();
    art["config"]["mediaType"] = "application/vnd.dev.cosign.artifact.sig.v1+json".into();
    let art = serde_json::to_vec(&art).unwrap();
    assert_eq!(
        reg.put_manifest("app", "sig", OCI_MANIFEST, &art)
            .await
            .status(),
        StatusCode::CREATED
    );
    let v: Value = reg
        .req(Method::GET, &format!("/v2/app/referrers/{subject}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["manifests"][0]["artifactType"],
        "application/vnd.dev.cosign.artifact.sig.v1+json"
    );
}

#[tokio::test]
async fn referrers_of_an_unknown_subject_is_200_with_an_empty_index() {
    let reg = TestRegistry::start().await;
    let d = Digest::of(Algorithm::Sha256, b"unknown");
    for repo in ["app", "never/pushed"] {
        let r = reg
            .req(Method::GET, &format!("/v2/{repo}/referrers/{d}"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["manifests"], serde_json::json!([]));
    }
}

#[tokio::test]
async fn referrers_with_an_invalid_digest_is_400() {
    let reg = TestRegistry::start().await;
    let r = reg.req(Method::GET, "/v2/app/referrers/sha256:xyz").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
}

#[tokio::test]
async fn deleting_a_referrer_removes_it_from_the_listing() {
    let reg = TestRegistry::start().await;
    let refs = push_referrers(&reg).await;
    let r = reg
        .req(Method::DELETE, &format!("/v2/app/manifests/{}", refs.sig))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let v: Value = reg
        .req(Method::GET, &format!("/v2/app/referrers/{}", refs.subject))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
}
