//! Artifacts and their tags (Harbor `artifact` resource):
//! `GET …/artifacts`, `GET`/`DELETE …/artifacts/{reference}`,
//! `GET`/`POST …/artifacts/{reference}/tags`, `DELETE …/artifacts/{reference}/tags/{tag_name}`,
//! all under `/projects/{project_name}/repositories/{repository_name}`.
//! `{reference}` is a digest or a tag.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_oci::{Reference, RepositoryName, Tag as TagName};
use berth_registry::{ArtifactFilter, ArtifactInfo, AuditAction, TagCreated, TagMatch, TagRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::manage;
use super::pagination::PageParams;
use super::repositories::resolve;
use super::{query, rfc3339, rfc3339_or_zero, ApiJson, ApiPath, ApiQuery};
use crate::server::AppState;

/// Harbor's `Artifact`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Artifact {
    /// Artifact id.
    pub id: i64,
    /// `IMAGE`, `CHART`, `CNAB`, `WASM` or `UNKNOWN`, from the media types.
    #[serde(rename = "type")]
    pub kind: String,
    /// The config media type of an image manifest, else the manifest media type.
    pub media_type: String,
    /// The manifest's media type.
    pub manifest_media_type: String,
    /// `artifactType`, or the config media type of an image manifest.
    pub artifact_type: String,
    /// Id of the project (0 when the project is not stored, only implied by names).
    pub project_id: i64,
    /// Id of the repository.
    pub repository_id: i64,
    /// Full repository name.
    pub repository_name: String,
    /// Manifest digest.
    pub digest: String,
    /// Bytes: manifest, config and layers; for an index, the sum over its children too.
    pub size: u64,
    /// Push time, RFC 3339.
    pub push_time: String,
    /// Last pull, RFC 3339 (`0001-01-01T00:00:00.000Z` when never pulled).
    pub pull_time: String,
    /// Pulls counted (berth extension).
    pub pull_count: u64,
    /// For an image: `architecture`, `os`, `variant`, `os.version`, `created`,
    /// `author`, `config` of its config blob.
    #[schema(value_type = Object)]
    pub extra_attrs: serde_json::Value,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// For an index: its children, with platforms.
    pub references: Vec<ArtifactReference>,
    /// Tags (omitted with `with_tag=false`).
    pub tags: Vec<Tag>,
    /// Subject digest of a referrer (berth extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The SBOM's state (with `with_sbom_overview=true`, once one was asked
    /// for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbom_overview: Option<super::scans::SbomOverview>,
    /// Its accessories: signatures with their verdicts and SBOMs (with
    /// `with_accessory=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accessories: Option<Vec<super::signatures::Accessory>>,
    /// Harbor's vulnerability `scan_overview`, keyed by the report media
    /// type (with `with_scan_overview=true`, once the artifact was scanned).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub scan_overview: Option<BTreeMap<String, super::vulnerabilities::ReportSummary>>,
}

/// Harbor's `Reference`: a child of an index.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArtifactReference {
    /// Id of the index.
    pub parent_id: i64,
    /// Id of the child (0 when it is not in the repository).
    pub child_id: i64,
    /// Digest of the child.
    pub child_digest: String,
    /// The index entry's platform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The index entry's annotations.
    pub annotations: BTreeMap<String, String>,
    /// The index entry's URLs.
    pub urls: Vec<String>,
}

/// Harbor's `Platform` (image-spec `platform`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Platform {
    /// CPU architecture, e.g. `amd64`.
    pub architecture: String,
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU variant, e.g. `v8`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Operating system version.
    #[serde(rename = "os.version", skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
}

/// Harbor's `Tag`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tag {
    /// Tag id.
    pub id: i64,
    /// Id of the repository.
    pub repository_id: i64,
    /// Id of the artifact it is on.
    pub artifact_id: i64,
    /// Tag name.
    pub name: String,
    /// When the tag was put on the artifact, RFC 3339.
    pub push_time: String,
    /// Last pull by this tag, RFC 3339 (zero time when never).
    pub pull_time: String,
    /// Whether an immutability rule protects it (false: not evaluated here).
    pub immutable: bool,
}

/// Body of `POST …/tags` (Harbor's `Tag`; only `name` is read).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TagReq {
    /// The new tag.
    pub name: String,
}

/// Harbor's artifact type from the media types.
pub fn artifact_kind(manifest_media_type: &str, artifact_type: Option<&str>) -> &'static str {
    use berth_oci::media_type as mt;
    match artifact_type {
        Some("application/vnd.oci.image.config.v1+json")
        | Some("application/vnd.docker.container.image.v1+json") => "IMAGE",
        Some("application/vnd.cncf.helm.config.v1+json") => "CHART",
        Some("application/vnd.cnab.manifest.v1") | Some("application/vnd.cnab.config.v1+json") => {
            "CNAB"
        }
        Some(t) if t.starts_with("application/vnd.wasm.") => "WASM",
        None if manifest_media_type == mt::OCI_INDEX
            || manifest_media_type == mt::DOCKER_MANIFEST_LIST =>
        {
            "IMAGE"
        }
        _ => "UNKNOWN",
    }
}

fn tag_of(t: TagRow, repository_id: i64, artifact_id: i64) -> Tag {
    Tag {
        id: t.id,
        repository_id,
        artifact_id,
        name: t.name,
        push_time: rfc3339(t.pushed_at),
        pull_time: rfc3339_or_zero(t.last_pulled_at),
        immutable: false,
    }
}

impl From<ArtifactInfo> for Artifact {
    fn from(a: ArtifactInfo) -> Self {
        let r = a.row;
        let kind = artifact_kind(&r.media_type, r.artifact_type.as_deref());
        let is_index = r.artifact_type.is_none()
            && (r.media_type == berth_oci::media_type::OCI_INDEX
                || r.media_type == berth_oci::media_type::DOCKER_MANIFEST_LIST);
        Artifact {
            id: r.id,
            kind: kind.into(),
            media_type: if is_index {
                r.media_type.clone()
            } else {
                r.artifact_type
                    .clone()
                    .unwrap_or_else(|| r.media_type.clone())
            },
            artifact_type: r
                .artifact_type
                .clone()
                .unwrap_or_else(|| r.media_type.clone()),
            manifest_media_type: r.media_type,
            project_id: 0,
            repository_id: r.repository_id,
            repository_name: a.repository_name,
            digest: r.digest.to_string(),
            size: a.size,
            push_time: rfc3339(r.pushed_at),
            pull_time: rfc3339_or_zero(r.last_pulled_at),
            pull_count: r.pull_count,
            extra_attrs: a
                .extra_attrs
                .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
            annotations: a.annotations,
            references: a
                .references
                .into_iter()
                .map(|c| ArtifactReference {
                    parent_id: r.id,
                    child_id: c.child_id.unwrap_or(0),
                    child_digest: c.digest.to_string(),
                    platform: c.platform.map(|p| Platform {
                        architecture: p.architecture,
                        os: p.os,
                        variant: p.variant,
                        os_version: p.os_version,
                    }),
                    annotations: c.annotations,
                    urls: c.urls,
                })
                .collect(),
            tags: a
                .tags
                .into_iter()
                .map(|t| tag_of(t, r.repository_id, r.id))
                .collect(),
            subject: r.subject.map(|s| s.to_string()),
            sbom_overview: None,
            accessories: None,
            scan_overview: None,
        }
    }
}

/// Query of `GET …/artifacts`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Filter, Harbor syntax; keys: `tags` (`*` tagged, `nil` untagged, `v1`,
    /// `~v`, `(v1 v2)`), `digest`, `media_type` (the manifest's).
    pub q: Option<String>,
    /// Page number, from 1.
    pub page: Option<i64>,
    /// Entries per page (default 10, at most 100).
    pub page_size: Option<i64>,
    /// Include tags (default true).
    pub with_tag: Option<bool>,
    /// Accepted and ignored (berth has no labels).
    pub with_label: Option<bool>,
    /// List index children and referrers as artifacts of their own too (berth extension; default false).
    pub with_children: Option<bool>,
    /// Include each artifact's `sbom_overview` (default false).
    pub with_sbom_overview: Option<bool>,
    /// Include each artifact's vulnerability `scan_overview` (default false).
    pub with_scan_overview: Option<bool>,
    /// Include each artifact's `accessories` (default false).
    pub with_accessory: Option<bool>,
}

/// Query of `GET …/artifacts/{reference}`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetQuery {
    /// Include tags (default true).
    pub with_tag: Option<bool>,
    /// Accepted and ignored (berth has no labels).
    pub with_label: Option<bool>,
    /// Include the `sbom_overview` (default false).
    pub with_sbom_overview: Option<bool>,
    /// Include the vulnerability `scan_overview` (default false).
    pub with_scan_overview: Option<bool>,
    /// Include the `accessories` (default false).
    pub with_accessory: Option<bool>,
}

/// Path of one artifact.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ArtifactPath {
    /// Project name.
    pub project_name: String,
    /// Repository name within the project; `/` double-URL-encoded (`a%252Fb`).
    pub repository_name: String,
    /// Digest or tag.
    pub reference: String,
}

/// Path of one tag of an artifact.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TagPath {
    /// Project name.
    pub project_name: String,
    /// Repository name within the project; `/` double-URL-encoded (`a%252Fb`).
    pub repository_name: String,
    /// Digest or tag of the artifact.
    pub reference: String,
    /// The tag.
    pub tag_name: String,
}

fn parse_reference(s: &str) -> ApiResult<Reference> {
    Reference::parse(s).map_err(|e| ApiError::BadRequest(format!("invalid reference {s:?}: {e}")))
}

fn parse_tag(s: &str) -> ApiResult<TagName> {
    TagName::parse(s).map_err(|e| ApiError::BadRequest(format!("invalid tag {s:?}: {e}")))
}

fn repo_name(name: &str) -> ApiResult<RepositoryName> {
    Ok(RepositoryName::parse(name).map_err(berth_registry::Error::from)?)
}

fn artifact_filter(q: &ListQuery) -> ApiResult<ArtifactFilter> {
    let parsed = query::parse(q.q.as_deref())?;
    parsed.only(&["tags", "digest", "media_type"])?;
    let tags = match parsed.get("tags") {
        None => None,
        Some(query::QValue::Exact(v)) if v == "*" => Some(TagMatch::Any),
        Some(query::QValue::Exact(v)) if v == "nil" => Some(TagMatch::None),
        Some(_) => parsed.text("tags")?.map(TagMatch::Text),
    };
    Ok(ArtifactFilter {
        tags,
        digest: parsed.text("digest")?,
        media_type: parsed.text("media_type")?,
        include_children: q.with_children.unwrap_or(false),
    })
}

/// Artifacts of a repository, newest push first.
#[utoipa::path(get, path = "/projects/{project_name}/repositories/{repository_name}/artifacts",
    tag = "artifact", params(super::repositories::RepositoryPath, ListQuery),
    responses(
        (status = 200, body = [Artifact], headers(("X-Total-Count" = u64), ("Link" = String))),
        (status = 400, body = Errors), (status = 404, body = Errors)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<super::repositories::RepositoryPath>,
    ApiQuery(q): ApiQuery<ListQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    let repo = resolve(&state, &caller, &p.project_name, &p.repository_name).await?;
    authz::can_list_repository(&state, &caller, &repo.name).await?;
    let page = PageParams {
        page: q.page,
        page_size: q.page_size,
    }
    .page()?;
    let filter = artifact_filter(&q)?;
    let list = state
        .registry
        .artifacts(
            &repo,
            &filter,
            page.offset(),
            page.page_size,
            q.with_tag.unwrap_or(true),
        )
        .await?;
    let project_id = state
        .registry
        .project_id(&p.project_name)
        .await?
        .unwrap_or(0);
    let mut body: Vec<Artifact> = list
        .items
        .into_iter()
        .map(|a| Artifact {
            project_id,
            ..Artifact::from(a)
        })
        .collect();
    for a in &mut body {
        mark_immutable(&state, &repo.name, &mut a.tags).await?;
        if q.with_sbom_overview.unwrap_or(false) {
            a.sbom_overview = super::scans::sbom_overview(&state, &repo.name, &a.digest).await?;
        }
        if q.with_scan_overview.unwrap_or(false) {
            a.scan_overview =
                super::vulnerabilities::scan_overview(&state, &repo.name, &a.digest).await?;
        }
        if q.with_accessory.unwrap_or(false) {
            a.accessories = Some(accessories(&state, &repo, a).await?);
        }
    }
    Ok((page.headers(list.total, &uri), Json(body)).into_response())
}

/// One artifact, by digest or tag.
#[utoipa::path(get, path = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}",
    tag = "artifact", params(ArtifactPath, GetQuery),
    responses((status = 200, body = Artifact), (status = 400, body = Errors), (status = 404, body = Errors)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ArtifactPath>,
    ApiQuery(q): ApiQuery<GetQuery>,
) -> ApiResult<Json<Artifact>> {
    let repo = resolve(&state, &caller, &p.project_name, &p.repository_name).await?;
    let reference = parse_reference(&p.reference)?;
    let mut info = state.registry.artifact(&repo, &reference).await?;
    if !q.with_tag.unwrap_or(true) {
        info.tags.clear();
    }
    let project_id = state
        .registry
        .project_id(&p.project_name)
        .await?
        .unwrap_or(0);
    let mut artifact = Artifact {
        project_id,
        ..Artifact::from(info)
    };
    mark_immutable(&state, &repo.name, &mut artifact.tags).await?;
    if q.with_sbom_overview.unwrap_or(false) {
        artifact.sbom_overview =
            super::scans::sbom_overview(&state, &repo.name, &artifact.digest).await?;
    }
    if q.with_scan_overview.unwrap_or(false) {
        artifact.scan_overview =
            super::vulnerabilities::scan_overview(&state, &repo.name, &artifact.digest).await?;
    }
    if q.with_accessory.unwrap_or(false) {
        artifact.accessories = Some(accessories(&state, &repo, &artifact).await?);
    }
    Ok(Json(artifact))
}

/// The accessories of listed artifact `a` (see
/// [`super::signatures::accessories_of`]).
async fn accessories(
    state: &AppState,
    repo: &berth_registry::RepositoryRow,
    a: &Artifact,
) -> ApiResult<Vec<super::signatures::Accessory>> {
    let Ok(digest) = a.digest.parse::<berth_oci::Digest>() else {
        return Ok(Vec::new());
    };
    super::signatures::accessories_of(state, repo, a.id, &digest).await
}

/// Sets Harbor's `immutable` flag of each tag from the project's immutable rules.
async fn mark_immutable(state: &AppState, repository: &str, tags: &mut [Tag]) -> ApiResult<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let repo = repo_name(repository)?;
    for t in tags {
        t.immutable = state.registry.tag_is_immutable(&repo, &t.name).await?;
    }
    Ok(())
}

/// Deletes an artifact and every tag on it (by tag: the artifact the tag is on).
#[utoipa::path(delete, path = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}",
    tag = "artifact", params(ArtifactPath),
    responses((status = 200, description = "Deleted"), (status = 403, body = Errors),
        (status = 404, body = Errors), (status = 412, body = Errors)))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ArtifactPath>,
) -> ApiResult<()> {
    let repo = resolve(&state, &caller, &p.project_name, &p.repository_name).await?;
    let result = async {
        authz::can_delete_artifact(&state, &caller, &repo.name).await?;
        let reference = parse_reference(&p.reference)?;
        state
            .registry
            .artifact_delete(&repo_name(&repo.name)?, &reference)
            .await?;
        Ok(())
    }
    .await;
    manage::audited_content(
        &state,
        &caller,
        AuditAction::Delete,
        &repo.name,
        Some(&p.reference),
        result,
    )
}

/// Tags of an artifact, by name.
#[utoipa::path(get, path = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags",
    tag = "artifact", params(ArtifactPath, PageParams),
    responses(
        (status = 200, body = [Tag], headers(("X-Total-Count" = u64), ("Link" = String))),
        (status = 404, body = Errors)))]
pub async fn list_tags(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ArtifactPath>,
    ApiQuery(pq): ApiQuery<PageParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    let repo = resolve(&state, &caller, &p.project_name, &p.repository_name).await?;
    authz::can_list_repository(&state, &caller, &repo.name).await?;
    let page = pq.page()?;
    let reference = parse_reference(&p.reference)?;
    let info = state.registry.artifact(&repo, &reference).await?;
    let total = info.tags.len() as u64;
    let mut body: Vec<Tag> = info
        .tags
        .into_iter()
        .skip(page.offset().min(usize::MAX as u64) as usize)
        .take(page.page_size as usize)
        .map(|t| tag_of(t, repo.id, info.row.id))
        .collect();
    mark_immutable(&state, &repo.name, &mut body).await?;
    Ok((page.headers(total, &uri), Json(body)).into_response())
}

/// Puts a tag on an artifact (Harbor's retag / roll back). 409 when the tag exists.
#[utoipa::path(post, path = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags",
    tag = "artifact", params(ArtifactPath), request_body = TagReq,
    responses((status = 201, description = "Created", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 404, body = Errors),
        (status = 409, body = Errors), (status = 412, body = Errors)))]
pub async fn create_tag(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ArtifactPath>,
    OriginalUri(uri): OriginalUri,
    ApiJson(body): ApiJson<TagReq>,
) -> ApiResult<Response> {
    let repo = resolve(&state, &caller, &p.project_name, &p.repository_name).await?;
    let result = async {
        authz::can_create_tag(&state, &caller, &repo.name).await?;
        let reference = parse_reference(&p.reference)?;
        let tag = parse_tag(&body.name)?;
        match state
            .registry
            .tag_create(&repo_name(&repo.name)?, &reference, &tag)
            .await?
        {
            TagCreated::Created => {
                let location = format!("{}/{}", uri.path().trim_end_matches('/'), tag.as_str());
                Ok((StatusCode::CREATED, [("location", location)]).into_response())
            }
            TagCreated::AlreadyExists(d) => Err(ApiError::Conflict(format!(
                "the tag {tag} already exists on the artifact {d}"
            ))),
        }
    }
    .await;
    manage::audited_content(
        &state,
        &caller,
        AuditAction::TagCreate,
        &repo.name,
        Some(&body.name),
        result,
    )
}

/// Removes a tag from an artifact; the artifact stays.
#[utoipa::path(delete, path = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags/{tag_name}",
    tag = "artifact", params(TagPath),
    responses((status = 200, description = "Deleted"), (status = 404, body = Errors),
        (status = 412, body = Errors)))]
pub async fn delete_tag(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<TagPath>,
) -> ApiResult<()> {
    let repo = resolve(&state, &caller, &p.project_name, &p.repository_name).await?;
    let result = async {
        authz::can_delete_tag(&state, &caller, &repo.name).await?;
        let reference = parse_reference(&p.reference)?;
        let tag = parse_tag(&p.tag_name)?;
        state
            .registry
            .tag_delete(&repo_name(&repo.name)?, &reference, &tag)
            .await?;
        Ok(())
    }
    .await;
    manage::audited_content(
        &state,
        &caller,
        AuditAction::TagDelete,
        &repo.name,
        Some(&p.tag_name),
        result,
    )
}
