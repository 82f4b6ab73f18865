//! `GET /search?q=` (Harbor `search`): projects and repositories whose name
//! contains `q`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use berth_oci::RepositoryName;
use berth_registry::RepositoryFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::authz::{self, Caller};
use super::error::{ApiResult, Errors};
use super::{rfc3339, ApiQuery};
use crate::server::AppState;

/// Harbor's `Search`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Search {
    /// Matching projects.
    pub project: Vec<SearchProject>,
    /// Matching repositories.
    pub repository: Vec<SearchRepository>,
}

/// A project in search results (the fields of Harbor's `Project` berth knows).
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchProject {
    /// Project id (0 when the project is not stored).
    pub project_id: i64,
    /// Project name.
    pub name: String,
    /// Repositories in it.
    pub repo_count: u64,
    /// Project metadata: `public` is `"true"` or `"false"`.
    pub metadata: BTreeMap<String, String>,
}

/// Harbor's `SearchRepository`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchRepository {
    /// Project id (0 when the project is not stored).
    pub project_id: i64,
    /// Project name.
    pub project_name: String,
    /// Whether the project is public.
    pub project_public: bool,
    /// Full repository name.
    pub repository_name: String,
    /// Pulls of its manifests.
    pub pull_count: u64,
    /// Artifacts listed in it.
    pub artifact_count: u64,
    /// Creation time, RFC 3339 (berth extension).
    pub creation_time: String,
}

/// Query of `/search`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Text the names must contain.
    pub q: Option<String>,
}

/// Projects and repositories whose names contain `q` (case-sensitive, as names
/// are lowercase), those the caller may read.
#[utoipa::path(get, path = "/search", tag = "search", params(SearchQuery),
    responses((status = 200, body = Search), (status = 400, body = Errors)))]
pub async fn search(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<Search>> {
    let text = q.q.unwrap_or_default();
    let (projects, repos) = state.registry.search(&text).await?;
    let mut project = Vec::new();
    for name in projects {
        if authz::can_list_project(&state, &caller, &name)
            .await
            .is_err()
        {
            continue;
        }
        let filter = RepositoryFilter {
            project: Some(name.clone()),
            name: None,
        };
        let repo_count = state.registry.repositories(&filter, 0, 0).await?.total;
        let public = authz::project_is_public(&state, &name).await?;
        project.push(SearchProject {
            project_id: state.registry.project_id(&name).await?.unwrap_or(0),
            metadata: BTreeMap::from([("public".to_string(), public.to_string())]),
            name,
            repo_count,
        });
    }
    let mut repository = Vec::new();
    for r in repos {
        let Ok(parsed) = RepositoryName::parse(&r.name) else {
            continue;
        };
        let project_name = parsed.project().to_string();
        if authz::can_list_project(&state, &caller, &project_name)
            .await
            .is_err()
            || !authz::repository_listed(&state, &caller, &r.name).await
        {
            continue;
        }
        repository.push(SearchRepository {
            project_id: state.registry.project_id(&project_name).await?.unwrap_or(0),
            project_public: authz::project_is_public(&state, &project_name).await?,
            project_name,
            repository_name: r.name,
            pull_count: r.pull_count,
            artifact_count: r.artifact_count,
            creation_time: rfc3339(r.created_at),
        });
    }
    Ok(Json(Search {
        project,
        repository,
    }))
}
