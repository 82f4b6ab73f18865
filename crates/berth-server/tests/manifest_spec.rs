//! distribution-spec v1.1 §Pushing Manifests, §Pulling manifests, §Deleting
//! Manifests, for OCI, Docker schema 2 and artifact manifests.

mod common;

use berth_oci::{Algorithm, Digest};
use berth_registry::Limits;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

#[tokio::test]
async fn manifest_put_by_tag_is_201_with_location_and_digest() {
    let reg = TestRegistry::start().await;
    let c = reg.push_blob("app", b"{}").await;
    let m = image_manifest(&c, 2, &[], None, None);
    let r = reg.put_manifest("app", "v1", OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let d = Digest::of(Algorithm::Sha256, &m);
    assert_eq!(header(&r, "docker-content-digest"), Some(d.to_string()));
    assert_eq!(
        header(&r, "location"),
        Some(format!("/v2/app/manifests/{d}"))
    );
    assert_eq!(header(&r, "oci-subject"), None);
}

#[tokio::test]
async fn manifest_get_by_tag_and_by_digest_returns_the_bytes_pushed() {
    let reg = TestRegistry::start().await;
    let (m, d) = reg.push_image("team/app", "latest", "a").await;
    for reference in ["latest".to_string(), d.to_string()] {
        let r = reg
            .req(Method::GET, &format!("/v2/team/app/manifests/{reference}"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type").as_deref(), Some(OCI_MANIFEST));
        assert_eq!(header(&r, "docker-content-digest"), Some(d.to_string()));
        assert_eq!(header(&r, "content-length"), Some(m.len().to_string()));
        assert_eq!(r.bytes().await.unwrap().as_ref(), m.as_slice());
        let r = reg
            .req(Method::HEAD, &format!("/v2/team/app/manifests/{reference}"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "docker-content-digest"), Some(d.to_string()));
        assert_eq!(header(&r, "content-length"), Some(m.len().to_string()));
    }
}

#[tokio::test]
async fn manifest_is_stored_byte_exact_whitespace_and_key_order_included() {
    let reg = TestRegistry::start().await;
    let c = reg.push_blob("x", b"{}").await;
    let m = format!(
        "{{\n   \"schemaVersion\" : 2,\n\t\"config\": {{\"size\": 2, \"digest\": \"{c}\", \"mediaType\": \"{OCI_CONFIG}\"}},\n \"layers\": [],\"mediaType\":\"{OCI_MANIFEST}\"   }}\n\n"
    );
    let r = reg
        .put_manifest("x", "odd", OCI_MANIFEST, m.as_bytes())
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = reg.req(Method::GET, "/v2/x/manifests/odd").await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), m.as_bytes());
}

#[tokio::test]
async fn manifest_referencing_a_missing_blob_is_400_manifest_blob_unknown() {
    let reg = TestRegistry::start().await;
    let c = reg.push_blob("x", b"{}").await;
    let missing = Digest::of(Algorithm::Sha256, b"not pushed");
    let m = image_manifest(&c, 2, &[(&missing, 10)], None, None);
    let r = reg.put_manifest("x", "v1", OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    let r = reg.req(Method::GET, "/v2/x/manifests/v1").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn manifest_referencing_a_blob_of_another_repository_is_manifest_blob_unknown() {
    let reg = TestRegistry::start().await;
    let c = reg.push_blob("other", b"{}").await;
    let m = image_manifest(&c, 2, &[], None, None);
    let r = reg.put_manifest("mine", "v1", OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
}

#[tokio::test]
async fn index_requires_its_child_manifests_in_the_repository() {
    let reg = TestRegistry::start().await;
    let (m, d) = reg.push_image("x", "amd64", "a").await;
    let missing = Digest::of(Algorithm::Sha256, b"no such manifest");
    let index = |children: Vec<serde_json::Value>| {
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}),
        )
        .unwrap()
    };
    let good = index(vec![
        json!({"mediaType": OCI_MANIFEST, "digest": d.as_str(), "size": m.len(),
        "platform": {"architecture": "amd64", "os": "linux"}}),
    ]);
    let r = reg.put_manifest("x", "multi", OCI_INDEX, &good).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let bad = index(vec![
        json!({"mediaType": OCI_MANIFEST, "digest": missing.as_str(), "size": 3}),
    ]);
    let r = reg.put_manifest("x", "broken", OCI_INDEX, &bad).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
}

#[tokio::test]
async fn docker_schema2_manifest_and_manifest_list_are_accepted() {
    let reg = TestRegistry::start().await;
    let c = reg.push_blob("d", b"{\"os\":\"linux\"}").await;
    let l = reg.push_blob("d", b"layer").await;
    let m = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": c.as_str(), "size": 14},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": l.as_str(), "size": 5}]}))
    .unwrap();
    let r = reg.put_manifest("d", "v2s2", DOCKER_MANIFEST, &m).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let md = Digest::of(Algorithm::Sha256, &m);
    let list = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
        {"mediaType": DOCKER_MANIFEST, "digest": md.as_str(), "size": m.len(),
         "platform": {"architecture": "arm", "os": "linux", "variant": "v7", "features": ["sse4"]}}]}))
    .unwrap();
    let r = reg.put_manifest("d", "list", DOCKER_LIST, &list).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = reg.req(Method::GET, "/v2/d/manifests/list").await;
    assert_eq!(header(&r, "content-type").as_deref(), Some(DOCKER_LIST));
}

#[tokio::test]
async fn artifact_manifests_with_any_config_media_type_are_accepted_unchanged() {
    let reg = TestRegistry::start().await;
    let empty = reg.push_blob("art", b"{}").await;
    let chart = reg.push_blob("art", b"chart tarball").await;
    for (config_type, artifact_type) in [
        (OCI_EMPTY, Some("application/vnd.example.sbom.v1")),
        ("application/vnd.cncf.helm.config.v1+json", None),
        ("application/vnd.unknown.config.v1+json", None),
    ] {
        let m = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": config_type, "digest": empty.as_str(), "size": 2},
            "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": chart.as_str(), "size": 13}]}))
        .unwrap();
        let m: Vec<u8> = if artifact_type.is_none() {
            // serde_json wrote "artifactType": null; real tools omit the field.
            String::from_utf8(m)
                .unwrap()
                .replace("\"artifactType\":null,", "")
                .into_bytes()
        } else {
            m
        };
        let r = reg.put_manifest("art", "x", OCI_MANIFEST, &m).await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{config_type}: {}",
            r.text().await.unwrap()
        );
    }
}

#[tokio::test]
async fn non_distributable_and_foreign_layers_need_not_exist() {
    let reg = TestRegistry::start().await;
    let c = reg.push_blob("w", b"{}").await;
    let absent = Digest::of(Algorithm::Sha256, b"windows base layer");
    let m = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": c.as_str(), "size": 2},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                    "digest": absent.as_str(), "size": 100, "urls": ["https://example.invalid/layer"]}]}))
    .unwrap();
    let r = reg.put_manifest("w", "win", DOCKER_MANIFEST, &m).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
}

#[tokio::test]
async fn manifest_put_by_digest_must_match_the_body() {
    let reg = TestRegistry::start().await;
    let c = reg.push_blob("x", b"{}").await;
    let m = image_manifest(&c, 2, &[], None, None);
    let d = Digest::of(Algorithm::Sha256, &m);
    let r = reg.put_manifest("x", d.as_str(), OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let wrong = Digest::of(Algorithm::Sha256, b"other");
    let r = reg
        .put_manifest("x", wrong.as_str(), OCI_MANIFEST, &m)
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let d512 = Digest::of(Algorithm::Sha512, &m);
    let r = reg.put_manifest("x", d512.as_str(), OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = reg
        .req(Method::GET, &format!("/v2/x/manifests/{d512}"))
        .await;
    assert_eq!(header(&r, "docker-content-digest"), Some(d512.to_string()));
}

#[tokio::test]
async fn manifest_over_the_size_limit_is_413() {
    let reg = TestRegistry::start_with(Limits {
        max_manifest_bytes: 1024,
        ..Limits::default()
    })
    .await;
    let c = reg.push_blob("x", b"{}").await;
    let mut m: serde_json::Value =
        serde_json::from_slice(&image_manifest(&c, 2, &[], None, None)).unwrap();
    m["annotations"] = json!({"pad": "x".repeat(2000)});
    let r = reg
        .put_manifest("x", "big", OCI_MANIFEST, &serde_json::to_vec(&m).unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.json::<serde_json::Value>().await.unwrap()["errors"][0]["code"].is_string());
}

#[tokio::test]
async fn default_limit_accepts_manifests_up_to_4_mib() {
    let reg = TestRegistry::start().await;
    let c = reg.push_blob("x", b"{}").await;
    let mut m: serde_json::Value =
        serde_json::from_slice(&image_manifest(&c, 2, &[], None, None)).unwrap();
    m["annotations"] = json!({"pad": "x".repeat(3 * 1024 * 1024)});
    let r = reg
        .put_manifest("x", "big", OCI_MANIFEST, &serde_json::to_vec(&m).unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    m["annotations"] = json!({"pad": "x".repeat(4 * 1024 * 1024)});
    let r = reg
        .put_manifest(
            "x",
            "bigger",
            OCI_MANIFEST,
            &serde_json::to_vec(&m).unwrap(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn invalid_manifests_are_400_manifest_invalid() {
    let reg = TestRegistry::start().await;
    let c = reg.push_blob("x", b"{}").await;
    let good = image_manifest(&c, 2, &[], None, None);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (OCI_MANIFEST, b"not json".to_vec()),
        (OCI_MANIFEST, b"{\"schemaVersion\":1}".to_vec()),
        (OCI_INDEX, good.clone()),
        (
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            b"{\"schemaVersion\":1}".to_vec(),
        ),
    ];
    for (ct, body) in cases {
        let r = reg.put_manifest("x", "bad", ct, &body).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{ct}");
        assert_eq!(error_code(r).await, "MANIFEST_INVALID", "{ct}");
    }
}

#[tokio::test]
async fn reading_or_deleting_an_invalid_tag_is_404_manifest_unknown() {
    let reg = TestRegistry::start().await;
    reg.push_image("x", "v1", "a").await;
    for method in [Method::GET, Method::HEAD, Method::DELETE] {
        let r = reg
            .req(method.clone(), "/v2/x/manifests/.INVALID_MANIFEST_NAME")
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method}");
        if method != Method::HEAD {
            assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
        }
    }
}

#[tokio::test]
async fn pushing_to_an_invalid_tag_is_400_manifest_invalid() {
    let reg = TestRegistry::start().await;
    let long = "t".repeat(129);
    for tag in [".hidden", "-dash", long.as_str()] {
        let r = reg.put_manifest("x", tag, OCI_MANIFEST, b"{}").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{tag}");
        assert_eq!(error_code(r).await, "MANIFEST_INVALID");
    }
}

#[tokio::test]
async fn unknown_manifest_is_404_manifest_unknown_and_unknown_repository_name_unknown() {
    let reg = TestRegistry::start().await;
    reg.push_image("x", "v1", "a").await;
    let r = reg.req(Method::GET, "/v2/x/manifests/v2").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    let r = reg.req(Method::GET, "/v2/nope/manifests/v1").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");
    let r = reg.req(Method::HEAD, "/v2/x/manifests/v2").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn retagging_moves_the_tag_to_the_new_digest() {
    let reg = TestRegistry::start().await;
    let (_, first) = reg.push_image("x", "prod", "one").await;
    let (_, second) = reg.push_image("x", "prod", "two").await;
    assert_ne!(first, second);
    let r = reg.req(Method::HEAD, "/v2/x/manifests/prod").await;
    assert_eq!(
        header(&r, "docker-content-digest"),
        Some(second.to_string())
    );
    // Rollback: push the first manifest's bytes again under the tag.
    let old = reg
        .req(Method::GET, &format!("/v2/x/manifests/{first}"))
        .await
        .bytes()
        .await
        .unwrap();
    let r = reg.put_manifest("x", "prod", OCI_MANIFEST, &old).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = reg.req(Method::HEAD, "/v2/x/manifests/prod").await;
    assert_eq!(header(&r, "docker-content-digest"), Some(first.to_string()));
}

#[tokio::test]
async fn delete_by_digest_is_202_and_removes_the_manifest_and_its_tags() {
    let reg = TestRegistry::start().await;
    let (m, d) = reg.push_image("x", "v1", "a").await;
    reg.put_manifest("x", "v1-alias", OCI_MANIFEST, &m).await;
    let r = reg
        .req(Method::DELETE, &format!("/v2/x/manifests/{d}"))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    for reference in ["v1".to_string(), "v1-alias".to_string(), d.to_string()] {
        let r = reg
            .req(Method::GET, &format!("/v2/x/manifests/{reference}"))
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{reference}");
    }
    let r = reg
        .req(Method::DELETE, &format!("/v2/x/manifests/{d}"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn delete_by_tag_removes_only_the_tag() {
    let reg = TestRegistry::start().await;
    let (m, d) = reg.push_image("x", "v1", "a").await;
    reg.put_manifest("x", "keep", OCI_MANIFEST, &m).await;
    let r = reg.req(Method::DELETE, "/v2/x/manifests/v1").await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        reg.req(Method::GET, "/v2/x/manifests/v1").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        reg.req(Method::GET, "/v2/x/manifests/keep").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        reg.req(Method::GET, &format!("/v2/x/manifests/{d}"))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn manifest_with_subject_answers_oci_subject_even_if_the_subject_is_absent() {
    let reg = TestRegistry::start().await;
    let e = reg.push_blob("x", b"{}").await;
    let subject = Digest::of(Algorithm::Sha256, b"an image not pushed yet");
    let m = image_manifest(
        &e,
        2,
        &[],
        Some("application/vnd.example.signature"),
        Some((&subject, 123)),
    );
    let r = reg
        .put_manifest(
            "x",
            &Digest::of(Algorithm::Sha256, &m).to_string(),
            OCI_MANIFEST,
            &m,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "oci-subject"), Some(subject.to_string()));
}

#[tokio::test]
async fn manifests_are_readable_as_blobs_of_their_repository() {
    let reg = TestRegistry::start().await;
    let (m, d) = reg.push_image("x", "v1", "a").await;
    let r = reg.req(Method::GET, &format!("/v2/x/blobs/{d}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), m.as_slice());
}

#[tokio::test]
async fn cached_manifests_never_outlive_a_delete_or_a_tag_move() {
    let reg = TestRegistry::start().await;
    let (m, d) = reg.push_image("x", "v1", "a").await;
    reg.put_manifest("x", "alias", OCI_MANIFEST, &m).await;
    for reference in ["v1".to_string(), "alias".to_string(), d.to_string()] {
        let r = reg
            .req(Method::GET, &format!("/v2/x/manifests/{reference}"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(
        reg.req(Method::DELETE, &format!("/v2/x/manifests/{d}"))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    for reference in ["v1".to_string(), "alias".to_string(), d.to_string()] {
        let r = reg
            .req(Method::HEAD, &format!("/v2/x/manifests/{reference}"))
            .await;
        assert_eq!(
            r.status(),
            StatusCode::NOT_FOUND,
            "{reference} still served after delete"
        );
    }
    let (_, second) = reg.push_image("x", "v1", "b").await;
    let r = reg.req(Method::GET, "/v2/x/manifests/v1").await;
    assert_eq!(
        header(&r, "docker-content-digest"),
        Some(second.to_string())
    );
    assert_eq!(
        reg.req(Method::DELETE, "/v2/x/manifests/v1").await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        reg.req(Method::GET, "/v2/x/manifests/v1").await.status(),
        StatusCode::NOT_FOUND
    );
}
