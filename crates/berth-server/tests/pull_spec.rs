//! distribution-spec v1.1 §Pull: base endpoint, blobs (HEAD/GET/Range), errors
//! for names and digests, and repository isolation of blobs.

mod common;

use berth_oci::{Algorithm, Digest};
use common::*;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn base_endpoint_is_200_with_api_version_header() {
    let reg = TestRegistry::start().await;
    let r = reg.req(Method::GET, "/v2/").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        header(&r, "docker-distribution-api-version").as_deref(),
        Some("registry/2.0")
    );
    let r = reg.req(Method::GET, "/v2").await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn blob_get_returns_bytes_length_digest_and_accept_ranges() {
    let reg = TestRegistry::start().await;
    let d = reg.push_blob("a/b", b"hello blob").await;
    let r = reg.req(Method::GET, &format!("/v2/a/b/blobs/{d}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-length").as_deref(), Some("10"));
    assert_eq!(header(&r, "docker-content-digest"), Some(d.to_string()));
    assert_eq!(header(&r, "accept-ranges").as_deref(), Some("bytes"));
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hello blob");
}

#[tokio::test]
async fn blob_head_has_length_and_digest_and_no_body() {
    let reg = TestRegistry::start().await;
    let d = reg.push_blob("x", b"0123456789abcdef").await;
    let r = reg.req(Method::HEAD, &format!("/v2/x/blobs/{d}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-length").as_deref(), Some("16"));
    assert_eq!(header(&r, "docker-content-digest"), Some(d.to_string()));
    assert!(r.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn blob_range_request_is_206_with_content_range() {
    let reg = TestRegistry::start().await;
    let d = reg.push_blob("x", b"0123456789").await;
    let r = reg
        .request(Method::GET, &format!("/v2/x/blobs/{d}"))
        .header("range", "bytes=2-5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&r, "content-range").as_deref(), Some("bytes 2-5/10"));
    assert_eq!(header(&r, "content-length").as_deref(), Some("4"));
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"2345");

    let r = reg
        .request(Method::GET, &format!("/v2/x/blobs/{d}"))
        .header("range", "bytes=-3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"789");

    let r = reg
        .request(Method::GET, &format!("/v2/x/blobs/{d}"))
        .header("range", "bytes=7-")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "content-range").as_deref(), Some("bytes 7-9/10"));
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"789");
}

#[tokio::test]
async fn blob_range_past_the_end_is_416_with_content_range_star() {
    let reg = TestRegistry::start().await;
    let d = reg.push_blob("x", b"0123456789").await;
    let r = reg
        .request(Method::GET, &format!("/v2/x/blobs/{d}"))
        .header("range", "bytes=10-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&r, "content-range").as_deref(), Some("bytes */10"));
}

#[tokio::test]
async fn unknown_blob_is_404_blob_unknown() {
    let reg = TestRegistry::start().await;
    let d = Digest::of(Algorithm::Sha256, b"never pushed");
    let r = reg.req(Method::GET, &format!("/v2/x/blobs/{d}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    let r = reg.req(Method::HEAD, &format!("/v2/x/blobs/{d}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn blob_of_another_repository_is_404_even_though_stored() {
    let reg = TestRegistry::start().await;
    let d = reg.push_blob("team/one", b"private bytes").await;
    let r = reg
        .req(Method::GET, &format!("/v2/team/two/blobs/{d}"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
}

#[tokio::test]
async fn blob_delete_is_202_then_the_blob_is_unknown() {
    let reg = TestRegistry::start().await;
    let d = reg.push_blob("x", b"to delete").await;
    let r = reg.req(Method::DELETE, &format!("/v2/x/blobs/{d}")).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = reg.req(Method::GET, &format!("/v2/x/blobs/{d}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = reg.req(Method::DELETE, &format!("/v2/x/blobs/{d}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
}

#[tokio::test]
async fn malformed_digest_is_400_digest_invalid() {
    let reg = TestRegistry::start().await;
    for bad in [
        "sha256:abc",
        "sha256:ZZZ",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha256:..%2f..%2fetc",
    ] {
        let r = reg.req(Method::GET, &format!("/v2/x/blobs/{bad}")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(error_code(r).await, "DIGEST_INVALID", "{bad}");
    }
}

#[tokio::test]
async fn invalid_repository_name_is_400_name_invalid() {
    let reg = TestRegistry::start().await;
    let long = "a".repeat(256);
    for bad in [
        "UPPER",
        "a..b",
        "%2e%2e/x",
        "a/%2e%2e/b",
        "a/../b",
        "..",
        "a%2f..%2fb",
        "a%00b",
        long.as_str(),
    ] {
        let (status, body) = raw_get(&reg.base, &format!("/v2/{bad}/tags/list")).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body.contains("NAME_INVALID"), "{bad}: {body}");
    }
}

#[tokio::test]
async fn traversal_in_a_digest_or_reference_never_reaches_storage() {
    let reg = TestRegistry::start().await;
    reg.push_image("x", "v1", "t").await;
    for path in [
        "/v2/x/blobs/sha256:..%2f..%2f..%2fmeta.db",
        "/v2/x/blobs/..%2f..%2fmeta.db",
        "/v2/x/manifests/..%2f..%2fmeta.db",
        "/v2/x/manifests/%2e%2e",
        "/v2/x/blobs/uploads/..%2f..%2fmeta.db",
        "/v2/x/referrers/sha256:%2e%2e",
    ] {
        let (status, body) = raw_get(&reg.base, path).await;
        assert!(status == 400 || status == 404, "{path}: {status}");
        assert!(body.contains("\"errors\""), "{path}: {body}");
    }
}

#[tokio::test]
async fn sha512_blobs_are_stored_and_served() {
    let reg = TestRegistry::start().await;
    let bytes = b"sha512 content";
    let d = Digest::of(Algorithm::Sha512, bytes);
    let r = reg
        .request(Method::POST, &format!("/v2/x/blobs/uploads/?digest={d}"))
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = reg.req(Method::GET, &format!("/v2/x/blobs/{d}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), bytes);
}

#[tokio::test]
async fn unknown_endpoint_is_404_and_wrong_method_is_405_unsupported() {
    let reg = TestRegistry::start().await;
    let r = reg.req(Method::GET, "/v3/").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = reg.req(Method::POST, "/v2/x/tags/list").await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(r).await, "UNSUPPORTED");
}
