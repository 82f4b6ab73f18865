//! `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>` (distribution-spec §Pulling
//! blobs, §Checking if content exists, §Deleting blobs).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_oci::{Digest, RepositoryName};
use berth_registry::{Error, Registry};

use super::{header, ApiResult};
use crate::error::ApiError;

fn blob_headers(resp: &mut Response, digest: &Digest, len: u64) {
    let h = resp.headers_mut();
    h.insert("content-length", HeaderValue::from(len));
    h.insert(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert("accept-ranges", HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(digest.as_str()) {
        h.insert("docker-content-digest", v.clone());
        if let Ok(etag) = HeaderValue::from_str(&format!("\"{digest}\"")) {
            h.insert("etag", etag);
        }
    }
    // Content-addressed: the bytes behind a digest never change.
    h.insert(
        "cache-control",
        HeaderValue::from_static("max-age=31536000"),
    );
}

/// HEAD: 200 with `Content-Length`, `Docker-Content-Digest`, `Accept-Ranges`; no body.
pub async fn head(reg: &Registry, repo: &RepositoryName, digest: &Digest) -> ApiResult {
    // HEAD also refreshes an ageing link (garbage collection's grace period).
    respond_head(digest, reg.blob_head(repo, digest).await?)
}

/// The answer to a blob `HEAD` of `size` bytes.
pub fn respond_head(digest: &Digest, size: u64) -> ApiResult {
    let mut resp = StatusCode::OK.into_response();
    blob_headers(&mut resp, digest, size);
    Ok(resp)
}

/// GET: the bytes; with a satisfiable `Range`, 206 and `Content-Range`; otherwise 416.
/// With `storage.redirect` on an object store: `307` to a presigned URL
/// (distribution-spec §Pulling blobs allows a redirect; clients follow it and
/// send their `Range` there).
pub async fn get(
    reg: &Registry,
    repo: &RepositoryName,
    digest: &Digest,
    headers: &HeaderMap,
) -> ApiResult {
    if let Some(url) = reg.blob_redirect(repo, digest).await? {
        let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&url) {
            h.insert("location", v);
        }
        if let Ok(v) = HeaderValue::from_str(digest.as_str()) {
            h.insert("docker-content-digest", v);
        }
        h.insert("content-length", HeaderValue::from(0u64));
        return Ok(resp);
    }
    respond(
        digest,
        reg.blob_read(repo, digest, header(headers, "range")).await,
    )
}

/// The answer to a blob `GET`: 200, 206 with `Content-Range`, or the error
/// (416 with `Content-Range: bytes */<size>`).
pub fn respond(
    digest: &Digest,
    read: berth_registry::Result<berth_registry::BlobRead>,
) -> ApiResult {
    let read = match read {
        Ok(r) => r,
        Err(e @ Error::RangeNotSatisfiable { size }) => {
            let v = HeaderValue::from_str(&format!("bytes */{size}"))
                .unwrap_or(HeaderValue::from_static("bytes */0"));
            return Err(ApiError::from(e).with_header(axum::http::header::CONTENT_RANGE, v));
        }
        Err(e) => return Err(e.into()),
    };
    let (status, len) = match read.range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, end - start),
        None => (StatusCode::OK, read.size),
    };
    let mut resp = (status, Body::from_stream(read.body)).into_response();
    blob_headers(&mut resp, digest, len);
    if let Some((start, end)) = read.range {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{}", end - 1, read.size)) {
            resp.headers_mut().insert("content-range", v);
        }
    }
    Ok(resp)
}

/// DELETE: 202 once the repository no longer links the blob.
pub async fn delete(reg: &Registry, repo: &RepositoryName, digest: &Digest) -> ApiResult {
    reg.blob_delete(repo, digest).await?;
    Ok((StatusCode::ACCEPTED, [("content-length", "0")]).into_response())
}
