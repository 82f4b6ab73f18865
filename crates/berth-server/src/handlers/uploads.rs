//! Upload sessions (distribution-spec §Pushing blobs): `POST`, `PATCH`, `PUT`,
//! `GET` and `DELETE` on `/v2/<name>/blobs/uploads/[<id>]`, including monolithic
//! `POST ?digest=` and cross-repository mounts `POST ?mount=&from=`.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_oci::{Digest, RepositoryName};
use berth_registry::{ByteStream, Error, Registry, UploadStatus};

use super::{has_body, header, ApiResult, Query};
use crate::error::ApiError;
use crate::server::AppState;

fn location(repo: &RepositoryName, id: &str) -> String {
    format!("/v2/{repo}/blobs/uploads/{id}")
}

/// `Range: 0-<last byte>`, as Distribution sends it (`0-0` for an empty upload).
fn range_value(offset: u64) -> String {
    format!("0-{}", offset.saturating_sub(1))
}

fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

fn session_response(status: StatusCode, repo: &RepositoryName, s: &UploadStatus) -> Response {
    let mut resp = status.into_response();
    let h = resp.headers_mut();
    set(h, "location", &location(repo, &s.id));
    set(h, "range", &range_value(s.offset));
    set(h, "docker-upload-uuid", &s.id);
    set(h, "blob-upload-session-id", &s.id);
    set(h, "content-length", "0");
    resp
}

fn created(repo: &RepositoryName, digest: &Digest) -> Response {
    let mut resp = StatusCode::CREATED.into_response();
    let h = resp.headers_mut();
    set(h, "location", &format!("/v2/{repo}/blobs/{digest}"));
    set(h, "docker-content-digest", digest.as_str());
    set(h, "content-length", "0");
    resp
}

/// The request's `Content-Length`, when given: the size a project quota can
/// check before any byte is stored.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    header(headers, "content-length").and_then(|v| v.trim().parse().ok())
}

/// Refuses an upload request before storing its body (a quota): the body is read
/// and discarded for a bounded time, so the client reads the refusal instead of a
/// reset connection.
async fn refuse(err: Error, mut body: ByteStream) -> ApiError {
    use futures::StreamExt;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(Ok(_)) = body.next().await {}
    })
    .await;
    err.into()
}

/// On 416, tell the client where the upload stands so it can resume.
fn out_of_order(repo: &RepositoryName, id: &str, err: Error) -> ApiError {
    let offset = match &err {
        Error::ChunkOutOfOrder { offset } => Some(*offset),
        _ => None,
    };
    let mut e = ApiError::from(err);
    if let Some(offset) = offset {
        for (name, value) in [
            ("location", location(repo, id)),
            ("range", range_value(offset)),
            ("docker-upload-uuid", id.to_string()),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                e = e.with_header(axum::http::HeaderName::from_static(name), v);
            }
        }
    }
    e
}

/// POST: mount (201) or monolithic upload (201) or a new session (202).
pub async fn start(
    state: &AppState,
    client: Option<std::net::IpAddr>,
    repo: &RepositoryName,
    q: &Query,
    headers: &HeaderMap,
    body: ByteStream,
) -> ApiResult {
    let reg = &state.registry;
    if let Some(mount) = q.get("mount") {
        // An invalid digest or source name falls back to a normal session (spec).
        if let Ok(digest) = Digest::parse(mount) {
            let from = match q.get("from") {
                Some(f) => match RepositoryName::parse(f) {
                    Ok(n) => Some(Some(n)),
                    Err(_) => None,
                },
                None => Some(None),
            };
            if let Some(from) = from {
                if reg
                    .blob_mount(repo, &digest, from.as_ref())
                    .await?
                    .is_some()
                {
                    return Ok(created(repo, &digest));
                }
            }
        }
    } else if let Some(digest) = q.get("digest") {
        if let (Some(len), Ok(d)) = (content_length(headers), Digest::parse(digest)) {
            if let Err(e) = reg.quota_admit(repo, Some(&d), len).await {
                return Err(refuse(e, body).await);
            }
        }
        let digest = reg.upload_monolithic(repo, Some(digest), body).await?;
        return Ok(created(repo, &digest));
    }
    if let Some(ip) = client {
        if !state.upload_quota.may_open(ip) {
            return Err(Error::TooManyRequests.into());
        }
    }
    let status = reg.upload_start(repo).await?;
    if let Some(ip) = client {
        state.upload_quota.opened(ip, &status.id);
    }
    Ok(session_response(StatusCode::ACCEPTED, repo, &status))
}

/// GET: 204 with the current `Range`.
pub async fn status(reg: &Registry, repo: &RepositoryName, id: &str) -> ApiResult {
    let s = reg.upload_status(repo, id).await?;
    Ok(session_response(StatusCode::NO_CONTENT, repo, &s))
}

/// PATCH: append a chunk (with `Content-Range`) or a stream (without); 202.
pub async fn patch(
    reg: &Registry,
    repo: &RepositoryName,
    id: &str,
    headers: &HeaderMap,
    body: ByteStream,
) -> ApiResult {
    if let Some(len) = content_length(headers) {
        if let Err(e) = reg.upload_quota_admit(repo, id, len).await {
            return Err(refuse(e, body).await);
        }
    }
    match reg
        .upload_append(repo, id, header(headers, "content-range"), body)
        .await
    {
        Ok(s) => Ok(session_response(StatusCode::ACCEPTED, repo, &s)),
        Err(e) => Err(out_of_order(repo, id, e)),
    }
}

/// PUT `?digest=`: optional final chunk, verify, link; 201.
pub async fn put(
    state: &AppState,
    repo: &RepositoryName,
    id: &str,
    q: &Query,
    headers: &HeaderMap,
    body: ByteStream,
) -> ApiResult {
    let reg = &state.registry;
    if let Some(len) = content_length(headers).filter(|n| *n > 0) {
        if let Err(e) = reg.upload_quota_admit(repo, id, len).await {
            return Err(refuse(e, body).await);
        }
    }
    let chunk = has_body(headers).then_some(body);
    let result = reg
        .upload_finish(
            repo,
            id,
            q.get("digest"),
            header(headers, "content-range"),
            chunk,
        )
        .await;
    // The session ends on success and on a digest mismatch; a bad request leaves it open.
    let ended = result.is_ok()
        || matches!(
            reg.upload_status(repo, id).await,
            Err(Error::UploadUnknown(_))
        );
    if ended {
        state.upload_quota.closed(id);
    }
    match result {
        Ok(digest) => Ok(created(repo, &digest)),
        Err(e) => Err(out_of_order(repo, id, e)),
    }
}

/// DELETE: cancel; 204.
pub async fn cancel(state: &AppState, repo: &RepositoryName, id: &str) -> ApiResult {
    state.registry.upload_cancel(repo, id).await?;
    state.upload_quota.closed(id);
    Ok(StatusCode::NO_CONTENT.into_response())
}
