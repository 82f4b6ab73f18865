//! What the web UI's artifact page shows beyond the artifact itself:
//! Harbor's `…/additions/build_history`, and berth's `…/additions/layers`
//! and `…/referrers` (the OCI referrers of the artifact, as the
//! distribution API's referrers list gives them, for callers that hold no
//! registry token).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::artifacts::ArtifactPath;
use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::ApiPath;
use crate::server::AppState;

/// One layer of an image with the build step that made it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Layer {
    /// Layer digest.
    pub digest: String,
    /// Layer media type.
    pub media_type: String,
    /// Compressed size, bytes.
    pub size: u64,
    /// The config's history line of the step that made it (the n-th line
    /// that is not `empty_layer`), when recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// One line of the build history.
#[derive(Debug, Serialize, ToSchema)]
pub struct BuildStep {
    /// RFC 3339, when recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The step's command.
    pub created_by: String,
    /// Comment, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// True when the step made no layer.
    pub empty_layer: bool,
}

/// One referrer of an artifact (OCI dist-spec v1.1 §Listing Referrers: a
/// descriptor of a manifest whose `subject` is the artifact).
#[derive(Debug, Serialize, ToSchema)]
pub struct Referrer {
    /// Its digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its artifact type (e.g. `application/spdx+json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Manifest size, bytes.
    pub size: u64,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
}

async fn build_of(
    state: &AppState,
    caller: &Caller,
    p: &ArtifactPath,
) -> ApiResult<(berth_registry::ImageBuild, berth_registry::ArtifactInfo)> {
    let repo =
        super::repositories::resolve(state, caller, &p.project_name, &p.repository_name).await?;
    authz::can_read_repository(state, caller, &repo.name).await?;
    let reference = berth_oci::Reference::parse(&p.reference)
        .map_err(|e| ApiError::BadRequest(format!("invalid reference {:?}: {e}", p.reference)))?;
    let info = state.registry.artifact(&repo, &reference).await?;
    let build = state.registry.image_build(&info.row.digest).await?;
    Ok((build, info))
}

/// `GET …/artifacts/{reference}/additions/build_history` (Harbor): the
/// image config's `history`, in order; `[]` for an index or an artifact
/// without one. Readers of the repository.
#[utoipa::path(get,
    path = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/additions/build_history",
    tag = "artifact", params(ArtifactPath),
    responses((status = 200, body = [BuildStep]), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn build_history(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ArtifactPath>,
) -> ApiResult<Json<Vec<BuildStep>>> {
    let (build, _) = build_of(&state, &caller, &p).await?;
    Ok(Json(
        build
            .history
            .into_iter()
            .map(|h| BuildStep {
                created: h.created,
                created_by: h.created_by,
                comment: h.comment,
                empty_layer: h.empty_layer,
            })
            .collect(),
    ))
}

/// `GET …/artifacts/{reference}/additions/layers` (berth): the image's
/// layers in order, with sizes and the build step of each; `[]` for an
/// index. Readers of the repository.
#[utoipa::path(get,
    path = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/additions/layers",
    tag = "artifact", params(ArtifactPath),
    responses((status = 200, body = [Layer]), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn layers(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ArtifactPath>,
) -> ApiResult<Json<Vec<Layer>>> {
    let (build, _) = build_of(&state, &caller, &p).await?;
    Ok(Json(
        build
            .layers
            .into_iter()
            .map(|l| Layer {
                digest: l.digest,
                media_type: l.media_type,
                size: l.size,
                created_by: l.created_by,
            })
            .collect(),
    ))
}

/// `GET …/artifacts/{reference}/referrers` (berth): the manifests whose
/// `subject` is the artifact (signatures, SBOMs, attestations, any OCI 1.1
/// referrer), as `GET /v2/<name>/referrers/<digest>` lists them. Readers of
/// the repository.
#[utoipa::path(get,
    path = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/referrers",
    tag = "artifact", params(ArtifactPath),
    responses((status = 200, body = [Referrer]), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn referrers(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ArtifactPath>,
) -> ApiResult<Json<Vec<Referrer>>> {
    let repo =
        super::repositories::resolve(&state, &caller, &p.project_name, &p.repository_name).await?;
    authz::can_read_repository(&state, &caller, &repo.name).await?;
    let reference = berth_oci::Reference::parse(&p.reference)
        .map_err(|e| ApiError::BadRequest(format!("invalid reference {:?}: {e}", p.reference)))?;
    let info = state.registry.artifact(&repo, &reference).await?;
    let name = berth_oci::RepositoryName::parse(&repo.name).map_err(berth_registry::Error::from)?;
    let found = state
        .registry
        .referrers(&name, &info.row.digest, None)
        .await?;
    Ok(Json(
        found
            .into_iter()
            .map(|r| Referrer {
                digest: r.digest.to_string(),
                media_type: r.media_type,
                artifact_type: r.artifact_type,
                size: r.size,
                annotations: r
                    .annotations
                    .as_deref()
                    .and_then(|a| serde_json::from_str(a).ok())
                    .unwrap_or_default(),
            })
            .collect(),
    ))
}
