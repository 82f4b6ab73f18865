//! distribution-spec v1.1 §Push: upload sessions (monolithic, chunked, streamed),
//! their errors, cross-repository mounts, and restart of a session.

mod common;

use berth_oci::{Algorithm, Digest};
use common::*;
use reqwest::{Method, StatusCode};

async fn open_session(reg: &TestRegistry, repo: &str) -> String {
    let r = reg
        .req(Method::POST, &format!("/v2/{repo}/blobs/uploads/"))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    header(&r, "location").expect("Location")
}

#[tokio::test]
async fn post_upload_is_202_with_location_uuid_and_empty_range() {
    let reg = TestRegistry::start().await;
    let r = reg.req(Method::POST, "/v2/a/b/blobs/uploads/").await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let loc = header(&r, "location").unwrap();
    let uuid = header(&r, "docker-upload-uuid").unwrap();
    assert_eq!(loc, format!("/v2/a/b/blobs/uploads/{uuid}"));
    assert_eq!(header(&r, "range").as_deref(), Some("0-0"));
    assert_eq!(header(&r, "content-length").as_deref(), Some("0"));
}

#[tokio::test]
async fn monolithic_post_with_digest_is_201() {
    let reg = TestRegistry::start().await;
    let d = Digest::of(Algorithm::Sha256, b"one shot");
    let r = reg
        .request(Method::POST, &format!("/v2/x/blobs/uploads/?digest={d}"))
        .body("one shot")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "location"), Some(format!("/v2/x/blobs/{d}")));
    assert_eq!(header(&r, "docker-content-digest"), Some(d.to_string()));
}

#[tokio::test]
async fn post_then_monolithic_put_is_201() {
    let reg = TestRegistry::start().await;
    let loc = open_session(&reg, "x").await;
    let d = Digest::of(Algorithm::Sha256, b"whole blob");
    let r = reg
        .request(Method::PUT, &format!("{loc}?digest={d}"))
        .body("whole blob")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "location"), Some(format!("/v2/x/blobs/{d}")));
    let r = reg.req(Method::GET, &format!("/v2/x/blobs/{d}")).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"whole blob");
}

#[tokio::test]
async fn chunked_upload_with_content_range_then_put_with_final_chunk() {
    let reg = TestRegistry::start().await;
    let loc = open_session(&reg, "x").await;
    let r = reg
        .request(Method::PATCH, &loc)
        .header("content-range", "0-4")
        .header("content-type", "application/octet-stream")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&r, "range").as_deref(), Some("0-4"));
    let loc = header(&r, "location").unwrap();
    let r = reg
        .request(Method::PATCH, &loc)
        .header("content-range", "5-10")
        .body(" world")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&r, "range").as_deref(), Some("0-10"));
    let d = Digest::of(Algorithm::Sha256, b"hello world!!");
    let r = reg
        .request(Method::PUT, &format!("{loc}?digest={d}"))
        .header("content-range", "11-12")
        .body("!!")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = reg.req(Method::GET, &format!("/v2/x/blobs/{d}")).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hello world!!");
}

#[tokio::test]
async fn chunk_out_of_order_is_416_with_current_range() {
    let reg = TestRegistry::start().await;
    let loc = open_session(&reg, "x").await;
    reg.request(Method::PATCH, &loc)
        .header("content-range", "0-2")
        .body("abc")
        .send()
        .await
        .unwrap();
    let r = reg
        .request(Method::PATCH, &loc)
        .header("content-range", "5-7")
        .body("xyz")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&r, "range").as_deref(), Some("0-2"));
    assert_eq!(header(&r, "location"), Some(loc.clone()));
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_INVALID");
    // Retrying the previous chunk is also out of order.
    let r = reg
        .request(Method::PATCH, &loc)
        .header("content-range", "0-2")
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
}

#[tokio::test]
async fn malformed_content_range_is_416() {
    let reg = TestRegistry::start().await;
    let loc = open_session(&reg, "x").await;
    let r = reg
        .request(Method::PATCH, &loc)
        .header("content-range", "garbage")
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
}

#[tokio::test]
async fn chunk_shorter_than_its_content_range_is_rejected_and_rolled_back() {
    let reg = TestRegistry::start().await;
    let loc = open_session(&reg, "x").await;
    let r = reg
        .request(Method::PATCH, &loc)
        .header("content-range", "0-9")
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_INVALID");
    let r = reg.req(Method::GET, &loc).await;
    assert_eq!(header(&r, "range").as_deref(), Some("0-0"));
}

#[tokio::test]
async fn streamed_patch_without_content_range_appends() {
    let reg = TestRegistry::start().await;
    let loc = open_session(&reg, "x").await;
    let body = vec![7u8; 3 * 1024 * 1024 + 5];
    let r = reg
        .request(Method::PATCH, &loc)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&r, "range"), Some(format!("0-{}", body.len() - 1)));
    let d = Digest::of(Algorithm::Sha256, &body);
    let loc = header(&r, "location").unwrap();
    let r = reg
        .request(Method::PUT, &format!("{loc}?digest={d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = reg.req(Method::HEAD, &format!("/v2/x/blobs/{d}")).await;
    assert_eq!(header(&r, "content-length"), Some(body.len().to_string()));
}

#[tokio::test]
async fn upload_status_is_204_with_range() {
    let reg = TestRegistry::start().await;
    let loc = open_session(&reg, "x").await;
    reg.request(Method::PATCH, &loc)
        .body("12345")
        .send()
        .await
        .unwrap();
    let r = reg.req(Method::GET, &loc).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "range").as_deref(), Some("0-4"));
    assert_eq!(header(&r, "location"), Some(loc.clone()));
    assert!(header(&r, "docker-upload-uuid").is_some());
}

#[tokio::test]
async fn put_with_wrong_digest_is_400_digest_invalid_and_stores_nothing() {
    let reg = TestRegistry::start().await;
    let loc = open_session(&reg, "x").await;
    let wrong = Digest::of(Algorithm::Sha256, b"something else");
    let r = reg
        .request(Method::PUT, &format!("{loc}?digest={wrong}"))
        .body("actual")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    for d in [wrong, Digest::of(Algorithm::Sha256, b"actual")] {
        let r = reg.req(Method::HEAD, &format!("/v2/x/blobs/{d}")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let r = reg.req(Method::GET, &loc).await;
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "a failed upload's session is gone"
    );
}

#[tokio::test]
async fn put_without_or_with_malformed_digest_is_400_digest_invalid() {
    let reg = TestRegistry::start().await;
    let loc = open_session(&reg, "x").await;
    let r = reg
        .request(Method::PUT, &loc)
        .body("data")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let r = reg
        .request(Method::PUT, &format!("{loc}?digest=sha256:nothex"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let r = reg
        .request(
            Method::PUT,
            &format!("{loc}?digest=md5:d41d8cd98f00b204e9800998ecf8427e"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
}

#[tokio::test]
async fn delete_upload_cancels_it_and_then_it_is_unknown() {
    let reg = TestRegistry::start().await;
    let loc = open_session(&reg, "x").await;
    reg.request(Method::PATCH, &loc)
        .body("partial")
        .send()
        .await
        .unwrap();
    let r = reg.req(Method::DELETE, &loc).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = reg.req(Method::GET, &loc).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
    let r = reg
        .request(Method::PATCH, &loc)
        .body("more")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_or_foreign_upload_id_is_404_blob_upload_unknown() {
    let reg = TestRegistry::start().await;
    for id in [
        "00000000-0000-4000-8000-000000000000",
        "not-a-uuid",
        "7C9E6679-7425-40DE-944B-E07FC1F90AE7",
    ] {
        let r = reg
            .req(Method::GET, &format!("/v2/x/blobs/uploads/{id}"))
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{id}");
        assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
    }
    let loc = open_session(&reg, "owner").await;
    let other = loc.replace("/v2/owner/", "/v2/intruder/");
    let r = reg.req(Method::GET, &other).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn empty_blob_can_be_pushed_and_pulled() {
    let reg = TestRegistry::start().await;
    let d = reg.push_blob("x", b"").await;
    let r = reg.req(Method::GET, &format!("/v2/x/blobs/{d}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-length").as_deref(), Some("0"));
}

#[tokio::test]
async fn cross_repository_mount_is_201_when_the_source_has_the_blob() {
    let reg = TestRegistry::start().await;
    let d = reg.push_blob("src/repo", b"shared layer").await;
    let r = reg
        .req(
            Method::POST,
            &format!("/v2/dst/repo/blobs/uploads/?mount={d}&from=src/repo"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        header(&r, "location"),
        Some(format!("/v2/dst/repo/blobs/{d}"))
    );
    assert_eq!(header(&r, "docker-content-digest"), Some(d.to_string()));
    let r = reg
        .req(Method::GET, &format!("/v2/dst/repo/blobs/{d}"))
        .await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"shared layer");
}

#[tokio::test]
async fn mount_falls_back_to_a_202_session_when_the_source_lacks_the_blob() {
    let reg = TestRegistry::start().await;
    let d = reg.push_blob("elsewhere", b"layer").await;
    for q in [
        format!("mount={d}&from=nonexistent"),
        format!(
            "mount={}&from=elsewhere",
            Digest::of(Algorithm::Sha256, b"absent")
        ),
        "mount=sha256:bad&from=elsewhere".to_string(),
        format!("mount={d}&from=BAD..NAME"),
    ] {
        let r = reg
            .req(Method::POST, &format!("/v2/dst/blobs/uploads/?{q}"))
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED, "{q}");
        assert!(header(&r, "location")
            .unwrap()
            .starts_with("/v2/dst/blobs/uploads/"));
    }
}

#[tokio::test]
async fn mount_without_from_finds_the_blob_in_another_repository() {
    let reg = TestRegistry::start().await;
    let d = reg.push_blob("somewhere/else", b"layer").await;
    let r = reg
        .req(Method::POST, &format!("/v2/dst/blobs/uploads/?mount={d}"))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn the_same_blob_pushed_concurrently_is_stored_once() {
    let reg = TestRegistry::start().await;
    let data = vec![42u8; 2 * 1024 * 1024];
    let d = Digest::of(Algorithm::Sha256, &data);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let client = reg.client.clone();
        let url = reg.url(&format!("/v2/r{}/blobs/uploads/?digest={d}", i % 3));
        let body = data.clone();
        tasks.push(tokio::spawn(async move {
            client.post(url).body(body).send().await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    for i in 0..3 {
        let r = reg.req(Method::GET, &format!("/v2/r{i}/blobs/{d}")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().len(), data.len());
    }
    if reg.storage.url.is_some() {
        // On an object store the layout is the bucket's (berth-storage's
        // object_tests check that sessions leave no objects).
        return;
    }
    let hex = d.hex();
    let stored = reg
        .dir
        .path()
        .join("blobs/sha256")
        .join(&hex[..2])
        .join(hex);
    assert_eq!(std::fs::metadata(stored).unwrap().len(), data.len() as u64);
    let uploads = std::fs::read_dir(reg.dir.path().join("uploads"))
        .unwrap()
        .count();
    assert_eq!(uploads, 0, "no leftover upload files");
}
