//! Repositories (Harbor `repository` resource): `GET /repositories`,
//! `GET /projects/{project_name}/repositories`,
//! `GET`/`DELETE /projects/{project_name}/repositories/{repository_name}`.
//!
//! `{repository_name}` is relative to the project and double-URL-encoded when it
//! contains `/` (`team/a/b` is `/projects/team/repositories/a%252Fb`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_oci::RepositoryName;
use berth_registry::{RepositoryFilter, RepositoryRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::pagination::PageParams;
use super::{query, rfc3339, ApiPath, ApiQuery};
use crate::server::AppState;
use berth_registry::AuditAction;

/// Harbor's `Repository`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Repository {
    /// Repository id.
    pub id: i64,
    /// Id of its project (0 when the project is not stored, only implied by names).
    pub project_id: i64,
    /// Full name as pushed (`team/app`; a one-component name of `library` as pushed, `busybox`).
    pub name: String,
    /// Description (berth stores none: empty).
    pub description: String,
    /// Artifacts listed in the repository (index children and referrers are
    /// shown under their parent, not counted).
    pub artifact_count: u64,
    /// Pulls of its manifests.
    pub pull_count: u64,
    /// Creation time, RFC 3339.
    pub creation_time: String,
    /// Latest push or tag change, RFC 3339.
    pub update_time: String,
}

impl From<RepositoryRow> for Repository {
    fn from(r: RepositoryRow) -> Self {
        Repository {
            id: r.id,
            project_id: 0,
            name: r.name,
            description: String::new(),
            artifact_count: r.artifact_count,
            pull_count: r.pull_count,
            creation_time: rfc3339(r.created_at),
            update_time: rfc3339(r.updated_at),
        }
    }
}

/// Harbor `Repository`s with their projects' ids (looked up once per project;
/// 0 for a project that is not stored).
pub(crate) async fn with_project_ids(
    state: &AppState,
    rows: Vec<RepositoryRow>,
) -> ApiResult<Vec<Repository>> {
    let mut ids: HashMap<String, i64> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let project = RepositoryName::parse(&row.name)
            .map(|n| n.project().to_string())
            .unwrap_or_default();
        let id = match ids.get(&project) {
            Some(id) => *id,
            None => {
                let id = state.registry.project_id(&project).await?.unwrap_or(0);
                ids.insert(project, id);
                id
            }
        };
        let mut repo = Repository::from(row);
        repo.project_id = id;
        out.push(repo);
    }
    Ok(out)
}

/// Query of repository listings.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Filter, Harbor syntax; supported key: `name` (`name=x`, `name=~x`, `name=(x y)`).
    pub q: Option<String>,
    /// Page number, from 1.
    pub page: Option<i64>,
    /// Entries per page (default 10, at most 100).
    pub page_size: Option<i64>,
}

/// Path of one project.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    /// Project name.
    pub project_name: String,
}

/// Path of one repository.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RepositoryPath {
    /// Project name.
    pub project_name: String,
    /// Repository name within the project; `/` double-URL-encoded (`a%252Fb`).
    pub repository_name: String,
}

/// Resolves a repository path to its row, after the read checks: the project
/// ([`authz::can_read_project`]), then the repository itself with the `/v2`
/// pull rule ([`authz::can_read_repository`]), checked on the name asked for
/// before it is looked up (so a refusal does not depend on existence) and on
/// the stored name after.
pub(crate) async fn resolve(
    state: &AppState,
    caller: &Caller,
    project: &str,
    repository: &str,
) -> ApiResult<RepositoryRow> {
    authz::can_read_project(state, caller, project).await?;
    let relative = super::repository_param(repository);
    if RepositoryName::parse(&format!("{project}/{relative}")).is_ok() {
        authz::can_read_repository(state, caller, &format!("{project}/{relative}")).await?;
    }
    let row = state
        .registry
        .resolve_repository(project, &relative)
        .await?;
    authz::can_read_repository(state, caller, &row.name).await?;
    Ok(row)
}

/// Most repositories of one project filtered per repository in memory (for
/// callers whose access may differ between repositories).
const MAX_FILTERED: u64 = 100_000;

async fn listing(
    state: &AppState,
    caller: &Caller,
    project: Option<String>,
    q: &ListQuery,
    uri: &Uri,
) -> ApiResult<Response> {
    let page = PageParams {
        page: q.page,
        page_size: q.page_size,
    }
    .page()?;
    let filter = query::parse(q.q.as_deref())?;
    filter.only(&["name"])?;
    let filter = RepositoryFilter {
        project,
        name: filter.text("name")?,
    };
    if caller.is_administrator() {
        let list = state
            .registry
            .repositories(&filter, page.offset(), page.page_size)
            .await?;
        let body = with_project_ids(state, list.items).await?;
        return Ok((page.headers(list.total, uri), Json(body)).into_response());
    }
    // Members limited to repository patterns, robots limited to some
    // repositories, limited guests and callers outside an allow-list see only
    // what they could list on /v2: filter each repository, then page.
    let all = state
        .registry
        .repositories(&filter, 0, MAX_FILTERED)
        .await?;
    let mut visible = Vec::new();
    for r in all.items {
        if authz::repository_listed(state, caller, &r.name).await {
            visible.push(r);
        }
    }
    let total = visible.len() as u64;
    let items: Vec<RepositoryRow> = visible
        .into_iter()
        .skip(page.offset().min(usize::MAX as u64) as usize)
        .take(page.page_size as usize)
        .collect();
    let body = with_project_ids(state, items).await?;
    Ok((page.headers(total, uri), Json(body)).into_response())
}

/// Repositories of all projects, by name.
#[utoipa::path(get, path = "/repositories", tag = "repository", params(ListQuery),
    responses(
        (status = 200, body = [Repository], headers(("X-Total-Count" = u64), ("Link" = String))),
        (status = 400, body = Errors)))]
pub async fn list_all(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    authz::can_list_all_repositories(&caller)?;
    listing(&state, &caller, None, &q, &uri).await
}

/// Repositories of a project, by name.
#[utoipa::path(get, path = "/projects/{project_name}/repositories", tag = "repository",
    params(ProjectPath, ListQuery),
    responses(
        (status = 200, body = [Repository], headers(("X-Total-Count" = u64), ("Link" = String))),
        (status = 400, body = Errors), (status = 404, body = Errors)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ProjectPath>,
    ApiQuery(q): ApiQuery<ListQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    authz::can_list_project(&state, &caller, &p.project_name).await?;
    if !state.registry.project_exists(&p.project_name).await? {
        return Err(ApiError::NotFound(format!(
            "project {} not found",
            p.project_name
        )));
    }
    listing(&state, &caller, Some(p.project_name), &q, &uri).await
}

/// One repository.
#[utoipa::path(get, path = "/projects/{project_name}/repositories/{repository_name}",
    tag = "repository", params(RepositoryPath),
    responses((status = 200, body = Repository), (status = 404, body = Errors)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<RepositoryPath>,
) -> ApiResult<Json<Repository>> {
    let row = resolve(&state, &caller, &p.project_name, &p.repository_name).await?;
    let mut one = with_project_ids(&state, vec![row]).await?;
    one.pop()
        .map(Json)
        .ok_or_else(|| ApiError::Internal("repository vanished".into()))
}

/// Deletes a repository with all its artifacts and tags; blobs stay until
/// garbage collection.
#[utoipa::path(delete, path = "/projects/{project_name}/repositories/{repository_name}",
    tag = "repository", params(RepositoryPath),
    responses((status = 200, description = "Deleted"), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<RepositoryPath>,
) -> ApiResult<()> {
    let row = resolve(&state, &caller, &p.project_name, &p.repository_name).await?;
    let result = async {
        authz::can_delete_repository(&state, &caller, &row.name).await?;
        let name = RepositoryName::parse(&row.name).map_err(berth_registry::Error::from)?;
        state.registry.repository_delete(&name).await?;
        Ok(())
    }
    .await;
    super::manage::audited_content(
        &state,
        &caller,
        AuditAction::RepositoryDelete,
        &row.name,
        None,
        result,
    )
}
