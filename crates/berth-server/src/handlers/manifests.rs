//! `PUT`/`GET`/`HEAD`/`DELETE /v2/<name>/manifests/<reference>`
//! (distribution-spec §Pushing Manifests, §Pulling manifests, §Deleting Manifests).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use berth_oci::{Reference, RepositoryName};
use berth_registry::{Error, Registry};
use http_body_util::{BodyExt, Limited};

use super::{header, ApiResult};

/// PUT: buffer the body up to the manifest limit, then push; 201 with `Location`,
/// `Docker-Content-Digest` and, for a manifest with a `subject`, `OCI-Subject`.
pub async fn put(
    reg: &Registry,
    repo: &RepositoryName,
    reference: &Reference,
    headers: &HeaderMap,
    body: Body,
    pusher: &str,
) -> ApiResult {
    let limit = reg.limits().max_manifest_bytes;
    let too_large = || Error::ManifestTooLarge { limit };
    if header(headers, "content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > limit as u64)
    {
        return Err(too_large().into());
    }
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large().into()),
        Err(e) => {
            return Err(
                Error::ManifestInvalid(format!("reading the manifest body failed: {e}")).into(),
            )
        }
    };
    let pushed = reg
        .manifest_put_as(
            repo,
            reference,
            header(headers, "content-type"),
            bytes,
            pusher,
        )
        .await?;
    let mut resp = StatusCode::CREATED.into_response();
    if let Some(v) = &pushed.signature {
        resp.extensions_mut().insert(v.clone());
    }
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("/v2/{repo}/manifests/{}", pushed.digest)) {
        h.insert("location", v);
    }
    if let Ok(v) = HeaderValue::from_str(pushed.digest.as_str()) {
        h.insert("docker-content-digest", v);
    }
    if let Some(subject) = &pushed.subject {
        if let Ok(v) = HeaderValue::from_str(subject.as_str()) {
            h.insert("oci-subject", v);
        }
    }
    h.insert("content-length", HeaderValue::from(0));
    Ok(resp)
}

/// GET/HEAD: the manifest byte-exact with its stored media type.
pub async fn get(
    reg: &Registry,
    repo: &RepositoryName,
    reference: &Reference,
    with_body: bool,
) -> ApiResult {
    gated(
        reg,
        repo,
        reg.manifest_get(repo, reference, with_body).await?,
    )
    .await
}

/// [`respond`] after the project's pull gates ([`Registry::pull_gate`]) for
/// a `GET`.
pub async fn gated(
    reg: &Registry,
    repo: &RepositoryName,
    m: berth_registry::ManifestContent,
) -> ApiResult {
    let gate = match &m.body {
        Some(body) => reg.pull_gate(repo, &m.digest, body).await,
        None => Ok(()),
    };
    answer(m, gate)
}

/// [`respond`], or the gate's refusal carrying an [`AuditNote`] with the
/// digest and the reason.
pub fn answer(m: berth_registry::ManifestContent, gate: Result<(), Error>) -> ApiResult {
    if let Err(e) = gate {
        let note = AuditNote {
            digest: Some(m.digest.to_string()),
            detail: e.to_string(),
        };
        let mut resp = crate::error::ApiError::from(e).into_response();
        resp.extensions_mut().insert(note);
        return Ok(resp);
    }
    respond(m)
}

/// What a handler adds to its request's audit entry (see [`crate::audit`]):
/// the digest when the path named a tag and the answer carries none, and
/// why it was refused.
#[derive(Debug, Clone)]
pub struct AuditNote {
    /// The manifest's digest.
    pub digest: Option<String>,
    /// Detail, e.g. the pull gate's reason.
    pub detail: String,
}

/// The answer to a manifest `GET` (with the body) or `HEAD`: the bytes and
/// their media type, digest and length.
pub fn respond(m: berth_registry::ManifestContent) -> ApiResult {
    let mut resp = match m.body {
        Some(b) => (StatusCode::OK, Body::from(b)).into_response(),
        None => StatusCode::OK.into_response(),
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&m.media_type) {
        h.insert("content-type", v);
    }
    if let Ok(v) = HeaderValue::from_str(m.digest.as_str()) {
        h.insert("docker-content-digest", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", m.digest)) {
        h.insert("etag", v);
    }
    h.insert("content-length", HeaderValue::from(m.size));
    Ok(resp)
}

/// DELETE: 202.
pub async fn delete(reg: &Registry, repo: &RepositoryName, reference: &Reference) -> ApiResult {
    reg.manifest_delete(repo, reference).await?;
    Ok((StatusCode::ACCEPTED, [("content-length", "0")]).into_response())
}
