//! Projects (Harbor `project` resource): `GET /projects`,
//! `HEAD /projects?project_name=`, `GET /projects/{project_name}`, and the
//! write side `POST /projects`, `PUT|DELETE /projects/{project_name_or_id}`.
//!
//! A project is a stored one (created with `berth project create`, by a first
//! push, or `library`) or one implied by repository names; an implied project
//! has `project_id` 0 and no owner.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_registry::{AuditAction, ProjectInfo, ProjectSwitch, TextMatch};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::manage::{self, Target};
use super::pagination::PageParams;
use super::{query, rfc3339, ApiJson, ApiPath, ApiQuery, ZERO_TIME};
use crate::server::AppState;

/// Harbor's `Project`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Project {
    /// Project id (0 for a project implied by repository names only).
    pub project_id: i64,
    /// Project name.
    pub name: String,
    /// Owner's user id (0 when none).
    pub owner_id: i64,
    /// Owner's login name (empty when none).
    pub owner_name: String,
    /// Creation time, RFC 3339 (zero time for an implied project).
    pub creation_time: String,
    /// Last change, RFC 3339 (zero time for an implied project).
    pub update_time: String,
    /// Always false (deleted projects are gone).
    pub deleted: bool,
    /// Repositories in the project.
    pub repo_count: u64,
    /// Project metadata: `public`, `enable_content_trust_cosign` (pulls
    /// need a verified signature) with berth's `signature_each_child`,
    /// `auto_sbom_generation`, `prevent_vul`
    /// (pulls of vulnerable images refused) with `severity` (the lowest
    /// level refused), and berth's `prevent_unscanned`, each `"true"` or
    /// `"false"` but `severity` (`low`, `medium`, `high`, `critical`).
    pub metadata: BTreeMap<String, String>,
    /// The project's CVE allow-list (Harbor's `CVEAllowlist`).
    pub cve_allowlist: super::vulnerabilities::Allowlist,
    /// The upstream registry of a proxy project (pull-through cache), absent
    /// for a normal project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_id: Option<i64>,
    /// berth extension, proxy projects only: requests served from the
    /// cache, fetched from upstream, and upstream failures, summed over nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_stats: Option<ProxyStats>,
    /// berth extension, proxy projects with a cache size limit only: the
    /// limit in bytes; past it the least recently pulled artifacts are
    /// evicted (docs/proxy.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_cache_limit: Option<u64>,
}

/// A proxy project's counters.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProxyStats {
    /// Served from what was stored.
    pub hits: i64,
    /// Fetched from upstream.
    pub misses: i64,
    /// Upstream unreachable, rate limiting (429) or failing.
    pub upstream_failures: i64,
}

async fn project_of(state: &AppState, info: ProjectInfo) -> ApiResult<Project> {
    let public = match &info.record {
        Some(r) => r.public,
        None => authz::project_is_public(state, &info.name).await?,
    };
    let (id, owner, created, updated) = match &info.record {
        Some(r) => (
            r.id,
            r.owner_id.unwrap_or(0),
            rfc3339(r.created_at),
            rfc3339(r.updated_at),
        ),
        None => (0, 0, ZERO_TIME.to_string(), ZERO_TIME.to_string()),
    };
    let registry_id = info.record.as_ref().and_then(|r| r.registry_id);
    let require_signature = state.registry.require_signature(&info.name).await?;
    let each_child = state.registry.signature_each_child(&info.name).await?;
    let auto_sbom = state.registry.auto_sbom(&info.name).await?;
    let (prevent, deny_unscanned) = state.registry.vulnerability_gate(&info.name).await?;
    let mut cve_allowlist = super::vulnerabilities::allowlist_of(state, Some(&info.name)).await?;
    cve_allowlist.project_id = id;
    let (proxy_stats, proxy_cache_limit) = match registry_id {
        Some(_) => {
            let c = state.registry.proxy_counts(&info.name).await?;
            let stats = ProxyStats {
                hits: c.hits,
                misses: c.misses,
                upstream_failures: c.upstream_failures,
            };
            let limit = state.registry.proxy_cache_limit(&info.name).await?;
            (Some(stats), limit)
        }
        None => (None, None),
    };
    Ok(Project {
        registry_id,
        proxy_stats,
        proxy_cache_limit,
        project_id: id,
        name: info.name,
        owner_id: owner,
        owner_name: info.owner_name.unwrap_or_default(),
        creation_time: created,
        update_time: updated,
        deleted: false,
        repo_count: info.repo_count,
        metadata: BTreeMap::from([
            ("public".to_string(), public.to_string()),
            (COSIGN_GATE.to_string(), require_signature.to_string()),
            (EACH_CHILD.to_string(), each_child.to_string()),
            (AUTO_SBOM.to_string(), auto_sbom.to_string()),
            (PREVENT_VUL.to_string(), prevent.is_some().to_string()),
            (
                SEVERITY.to_string(),
                prevent
                    .unwrap_or(berth_registry::vuln::Severity::Low)
                    .as_str()
                    .to_ascii_lowercase(),
            ),
            (PREVENT_UNSCANNED.to_string(), deny_unscanned.to_string()),
        ]),
        cve_allowlist,
    })
}

/// Harbor's project metadata key for the signature pull gate (cosign).
const COSIGN_GATE: &str = "enable_content_trust_cosign";
/// berth's: with the signature gate, every platform manifest needs its own
/// signature (an index's does not cover them).
const EACH_CHILD: &str = "signature_each_child";
/// Harbor's project metadata key for SBOMs made on push (on by default).
const AUTO_SBOM: &str = "auto_sbom_generation";
/// Harbor's: refuse pulls of images with vulnerabilities at `severity` or above.
const PREVENT_VUL: &str = "prevent_vul";
/// Harbor's: the lowest level `prevent_vul` refuses.
const SEVERITY: &str = "severity";
/// berth's: refuse pulls of images without a vulnerability report.
const PREVENT_UNSCANNED: &str = "prevent_unscanned";

/// The supply-chain settings a project request changes, checked before
/// anything is written.
#[derive(Debug, Default)]
struct Policies {
    /// `enable_content_trust_cosign`.
    signature: Option<bool>,
    /// `signature_each_child`.
    each_child: Option<bool>,
    /// `auto_sbom_generation`.
    auto_sbom: Option<bool>,
    /// `prevent_vul` + `severity`, `prevent_unscanned`: (lowest level
    /// refused or off, deny unscanned).
    vulnerability: Option<(Option<berth_registry::vuln::Severity>, bool)>,
}

/// Writes `p` and the CVE allow-list `allowlist` for `project`; returns
/// what changed, for the audit detail (each part led by a space).
async fn apply_policies(
    state: &AppState,
    project: &str,
    p: &Policies,
    allowlist: Option<&super::vulnerabilities::Allowlist>,
) -> ApiResult<String> {
    let mut detail = String::new();
    if let Some(on) = p.signature {
        state
            .registry
            .project_switch_set(project, ProjectSwitch::RequireSignature, on)
            .await?;
        detail.push_str(&format!(" {COSIGN_GATE}={on}"));
    }
    if let Some(on) = p.each_child {
        state
            .registry
            .project_switch_set(project, ProjectSwitch::SignatureEachChild, on)
            .await?;
        detail.push_str(&format!(" {EACH_CHILD}={on}"));
    }
    if let Some(on) = p.auto_sbom {
        state
            .registry
            .project_switch_set(project, ProjectSwitch::AutoSbom, on)
            .await?;
        detail.push_str(&format!(" {AUTO_SBOM}={on}"));
    }
    if let Some((level, unscanned)) = p.vulnerability {
        state
            .registry
            .vulnerability_gate_set(project, level, unscanned)
            .await?;
        let level = level.map_or("off", |l| l.as_str());
        detail.push_str(&format!(
            " {PREVENT_VUL}={level} {PREVENT_UNSCANNED}={unscanned}"
        ));
    }
    if let Some(list) = allowlist {
        let changed = super::vulnerabilities::allowlist_set(state, Some(project), list).await?;
        detail.push_str(&format!(" {changed}"));
    }
    Ok(detail)
}

/// Query of `GET /projects`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Filter, Harbor syntax; keys: `name` (`x`, `~x`, `(x y)`), `public` (`true`/`false`).
    pub q: Option<String>,
    /// Projects whose name contains this.
    pub name: Option<String>,
    /// Only public (true) or private (false) projects.
    pub public: Option<bool>,
    /// Page number, from 1.
    pub page: Option<i64>,
    /// Entries per page (default 10, at most 100).
    pub page_size: Option<i64>,
}

fn text_matches(m: &TextMatch, v: &str) -> bool {
    match m {
        TextMatch::Exact(x) => v == x,
        TextMatch::Contains(x) => v.contains(x.as_str()),
        TextMatch::OneOf(xs) => xs.iter().any(|x| x == v),
    }
}

/// Projects the caller may read, by name.
#[utoipa::path(get, path = "/projects", tag = "project", params(ListQuery),
    responses(
        (status = 200, body = [Project], headers(("X-Total-Count" = u64), ("Link" = String))),
        (status = 400, body = Errors)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    let page = PageParams {
        page: q.page,
        page_size: q.page_size,
    }
    .page()?;
    let parsed = query::parse(q.q.as_deref())?;
    parsed.only(&["name", "public"])?;
    let name = parsed.text("name")?;
    let public = match parsed.get("public") {
        None => q.public,
        Some(query::QValue::Exact(v)) => Some(v.parse::<bool>().map_err(|_| {
            ApiError::BadRequest(format!("public must be true or false, not {v:?}"))
        })?),
        Some(_) => return Err(ApiError::BadRequest("public takes true or false".into())),
    };
    let mut all = Vec::new();
    for p in state.registry.projects().await? {
        if name.as_ref().is_some_and(|m| !text_matches(m, &p))
            || q.name.as_ref().is_some_and(|n| !p.contains(n.as_str()))
            || authz::can_read_project(&state, &caller, &p).await.is_err()
        {
            continue;
        }
        let Some(info) = state.registry.project_info(&p).await? else {
            continue;
        };
        let project = project_of(&state, info).await?;
        if public.is_some_and(|want| project.metadata["public"] != want.to_string()) {
            continue;
        }
        all.push(project);
    }
    let total = all.len() as u64;
    let body: Vec<Project> = all
        .into_iter()
        .skip(page.offset().min(usize::MAX as u64) as usize)
        .take(page.page_size as usize)
        .collect();
    Ok((page.headers(total, &uri), Json(body)).into_response())
}

/// Query of `HEAD /projects`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeadQuery {
    /// The project name to look for.
    pub project_name: Option<String>,
}

/// Whether a project name is taken: 200, or 404 (Harbor's check before
/// creating one). Signed-in callers only: anonymous callers learn nothing
/// about which projects exist (401).
#[utoipa::path(head, path = "/projects", tag = "project", params(HeadQuery),
    responses((status = 200, description = "The project exists"),
        (status = 401, description = "Not signed in"),
        (status = 404, description = "No such project")))]
pub async fn head(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<HeadQuery>,
) -> ApiResult<StatusCode> {
    if !caller.principal.is_authenticated() && !caller.is_administrator() {
        return Err(ApiError::Unauthorized(authz::SIGN_IN.into()));
    }
    let name = q
        .project_name
        .ok_or_else(|| ApiError::BadRequest("project_name is required".into()))?;
    if state.registry.project_exists(&name).await? {
        Ok(StatusCode::OK)
    } else {
        Err(ApiError::NotFound(format!("project {name} not found")))
    }
}

/// One project, by name.
#[utoipa::path(get, path = "/projects/{project_name}", tag = "project",
    params(super::repositories::ProjectPath),
    responses((status = 200, body = Project), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<super::repositories::ProjectPath>,
) -> ApiResult<Json<Project>> {
    authz::can_read_project(&state, &caller, &p.project_name).await?;
    let info = state
        .registry
        .project_info(&p.project_name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("project {} not found", p.project_name)))?;
    Ok(Json(project_of(&state, info).await?))
}

/// Harbor's `ProjectReq` (`POST /projects`, `PUT /projects/{p}`), with berth's
/// IP allow-lists.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ProjectReq {
    /// Project name (required to create; ignored on update).
    #[serde(default)]
    pub project_name: Option<String>,
    /// Deprecated in Harbor in favour of `metadata.public`; honoured when that is absent.
    #[serde(default)]
    pub public: Option<bool>,
    /// Project metadata; berth reads `public`, `enable_content_trust_cosign`
    /// and `auto_sbom_generation` (`"true"` or `"false"`).
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Storage quota in bytes at creation (Harbor's field): `-1` unlimited,
    /// absent = the configured default. Later changes: `PUT
    /// /projects/{p}/quota`.
    #[serde(default)]
    pub storage_limit: Option<i64>,
    /// berth extension: CIDRs (or addresses) allowed to pull; empty = any.
    #[serde(default)]
    pub pull_cidrs: Option<Vec<String>>,
    /// At creation: the upstream registry (`/registries`) this project
    /// proxies, making it a pull-through cache (docs/proxy.md).
    #[serde(default)]
    pub registry_id: Option<i64>,
    /// berth extension: CIDRs (or addresses) allowed to push and delete; empty = any.
    #[serde(default)]
    pub push_cidrs: Option<Vec<String>>,
    /// berth extension, proxy projects only: the cache size limit in bytes
    /// (`-1`: none); past it the least recently pulled artifacts are
    /// evicted (docs/proxy.md). Absent: unchanged (none at creation).
    #[serde(default)]
    pub proxy_cache_limit: Option<i64>,
    /// The project's CVE allow-list (Harbor's), replaced when given.
    #[serde(default)]
    pub cve_allowlist: Option<super::vulnerabilities::Allowlist>,
}

impl ProjectReq {
    /// The requested visibility: `metadata.public`, else `public`.
    fn visibility(&self) -> ApiResult<Option<bool>> {
        match self.metadata.as_ref().and_then(|m| m.get("public")) {
            Some(v) => v.parse::<bool>().map(Some).map_err(|_| {
                ApiError::BadRequest(format!(
                    "metadata.public must be \"true\" or \"false\", not {v:?}"
                ))
            }),
            None => Ok(self.public),
        }
    }

    /// The requested signature pull gate (`metadata.enable_content_trust_cosign`).
    /// Harbor's Notary v1 gate (`enable_content_trust`) is refused rather
    /// than ignored.
    fn signature_gate(&self) -> ApiResult<Option<bool>> {
        if self
            .metadata
            .as_ref()
            .and_then(|m| m.get("enable_content_trust"))
            .is_some_and(|v| v == "true")
        {
            return Err(ApiError::BadRequest(format!(
                "metadata.enable_content_trust (Notary v1) is not supported: use metadata.{COSIGN_GATE} (docs/supply-chain.md)"
            )));
        }
        self.flag(COSIGN_GATE)
    }

    /// Every supply-chain setting of the request; `current_gate` is the
    /// project's vulnerability gate as it is.
    fn policies(
        &self,
        current_gate: (Option<berth_registry::vuln::Severity>, bool),
    ) -> ApiResult<Policies> {
        Ok(Policies {
            signature: self.signature_gate()?,
            each_child: self.flag(EACH_CHILD)?,
            auto_sbom: self.flag(AUTO_SBOM)?,
            vulnerability: self.vulnerability_gate(current_gate)?,
        })
    }

    /// The requested vulnerability gate: `None` unchanged, else `(lowest
    /// level refused or off, deny unscanned)` merged over `current`.
    fn vulnerability_gate(
        &self,
        current: (Option<berth_registry::vuln::Severity>, bool),
    ) -> ApiResult<Option<(Option<berth_registry::vuln::Severity>, bool)>> {
        let prevent = self.flag(PREVENT_VUL)?;
        let unscanned = self.flag(PREVENT_UNSCANNED)?;
        let severity = match self.metadata.as_ref().and_then(|m| m.get(SEVERITY)) {
            Some(v) => Some(super::vulnerabilities::severity_of(v)?),
            None => None,
        };
        if prevent.is_none() && unscanned.is_none() && severity.is_none() {
            return Ok(None);
        }
        let level = match prevent {
            Some(false) => None,
            Some(true) => Some(
                severity
                    .or(current.0)
                    .unwrap_or(berth_registry::vuln::Severity::Low),
            ),
            // The level alone changes it while the gate is on.
            None => current.0.map(|on| severity.unwrap_or(on)),
        };
        Ok(Some((level, unscanned.unwrap_or(current.1))))
    }

    /// A `"true"`/`"false"` metadata value; `None` when absent.
    fn flag(&self, key: &str) -> ApiResult<Option<bool>> {
        match self.metadata.as_ref().and_then(|m| m.get(key)) {
            Some(v) => v.parse::<bool>().map(Some).map_err(|_| {
                ApiError::BadRequest(format!(
                    "metadata.{key} must be \"true\" or \"false\", not {v:?}"
                ))
            }),
            None => Ok(None),
        }
    }

    /// The requested cache size limit: `None` unchanged, `Some(None)` none.
    fn cache_limit(&self) -> ApiResult<Option<Option<u64>>> {
        match self.proxy_cache_limit {
            None => Ok(None),
            Some(-1) => Ok(Some(None)),
            Some(n) if n > 0 => Ok(Some(Some(n as u64))),
            Some(n) => Err(ApiError::BadRequest(format!(
                "proxy_cache_limit must be bytes (> 0) or -1 (no limit), not {n}"
            ))),
        }
    }
}

/// Creates a project (system administrators). 201 with `Location:
/// /api/v2.0/projects/{id}`; 409 when it exists.
#[utoipa::path(post, path = "/projects", tag = "project", request_body = ProjectReq,
    responses((status = 201, description = "Created", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 409, body = Errors),
        (status = 412, body = Errors, description = "Accounts are not enabled")))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<ProjectReq>,
) -> ApiResult<Response> {
    let name = req.project_name.clone().unwrap_or_default();
    let result = async {
        authz::can_administer(&caller, "create projects")?;
        let auth = manage::accounts(&state)?;
        if name.is_empty() {
            return Err(ApiError::BadRequest("project_name is required".into()));
        }
        let public = req.visibility()?.unwrap_or(false);
        let quota = match req.storage_limit {
            None | Some(0) => None,
            Some(-1) => Some(i64::MAX as u64),
            Some(n) if n > 0 => Some(n as u64),
            Some(n) => {
                return Err(ApiError::BadRequest(format!(
                    "storage_limit must be bytes or -1 (unlimited), not {n}"
                )))
            }
        };
        let cache_limit = req.cache_limit()?;
        let policies = req.policies((None, false))?;
        let proxy = req.registry_id.filter(|&id| id > 0);
        if let Some(id) = proxy {
            state.registry.registry(&id.to_string()).await?;
        } else if cache_limit.is_some() {
            return Err(ApiError::BadRequest(
                "proxy_cache_limit applies to proxy projects only: give registry_id too".into(),
            ));
        }
        let p = auth
            .create_project(&name, public, caller.principal.user_id())
            .await?;
        if let Some(id) = proxy {
            state.registry.project_bind(&name, Some(id)).await?;
            if let Some(limit) = cache_limit {
                state.registry.proxy_cache_limit_set(&name, limit).await?;
            }
        }
        if req.pull_cidrs.is_some() || req.push_cidrs.is_some() {
            auth.update_project(
                &name,
                public,
                req.pull_cidrs.as_deref().unwrap_or_default(),
                req.push_cidrs.as_deref().unwrap_or_default(),
            )
            .await?;
        }
        if let Some(bytes) = quota {
            state.registry.set_project_quota(&name, Some(bytes)).await?;
        }
        apply_policies(&state, &name, &policies, req.cve_allowlist.as_ref()).await?;
        Ok(p)
    }
    .await;
    let p = manage::audited(
        &state,
        &caller,
        AuditAction::ProjectCreate,
        Target {
            project: Some(&name),
            ..Target::default()
        },
        result,
    )?;
    let location = format!("{}/projects/{}", super::BASE_PATH, p.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

/// Path of a project by name or id (`/projects/{project_name}`; a project id
/// is accepted where no project has that name).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectNameOrId {
    /// Project name or id.
    pub project_name: String,
}

/// Changes a project's visibility (`metadata.public`), berth's IP
/// allow-lists (`pull_cidrs`, `push_cidrs`) and a proxy project's
/// `proxy_cache_limit`; absent fields keep their value.
/// Project admins and system administrators.
#[utoipa::path(put, path = "/projects/{project_name}", tag = "project",
    params(ProjectNameOrId), request_body = ProjectReq,
    responses((status = 200, description = "Updated"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(path): ApiPath<ProjectNameOrId>,
    ApiJson(req): ApiJson<ProjectReq>,
) -> ApiResult<StatusCode> {
    let mut name = path.project_name.clone();
    let result = async {
        let auth = manage::accounts(&state)?;
        name = manage::project_name_for(auth, &caller, &path.project_name).await?;
        authz::can_manage_project(&state, &caller, &name).await?;
        let current = auth.project_named(&name).await?;
        let public = req.visibility()?.unwrap_or(current.public);
        let pull = req.pull_cidrs.clone().unwrap_or(current.pull_cidrs);
        let push = req.push_cidrs.clone().unwrap_or(current.push_cidrs);
        let cache_limit = req.cache_limit()?;
        let policies = req.policies(state.registry.vulnerability_gate(&name).await?)?;
        if let Some(limit) = cache_limit {
            state.registry.proxy_cache_limit_set(&name, limit).await?;
        }
        let changed = apply_policies(&state, &name, &policies, req.cve_allowlist.as_ref()).await?;
        auth.update_project(&name, public, &pull, &push).await?;
        let mut detail = format!("public={public} pull_cidrs={pull:?} push_cidrs={push:?}");
        detail.push_str(&changed);
        if let Some(limit) = cache_limit {
            detail.push_str(&match limit {
                Some(n) => format!(" proxy_cache_limit={n}"),
                None => " proxy_cache_limit=none".to_string(),
            });
        }
        Ok(detail)
    }
    .await;
    let detail = result.as_ref().ok().cloned().unwrap_or_default();
    manage::audited(
        &state,
        &caller,
        AuditAction::ProjectUpdate,
        Target {
            project: Some(&name),
            account: None,
            detail,
        },
        result,
    )?;
    Ok(StatusCode::OK)
}

/// Deletes a project with its members and robots (system administrators).
/// 412 `PRECONDITION` while it still has repositories, as in Harbor.
#[utoipa::path(delete, path = "/projects/{project_name}", tag = "project",
    params(ProjectNameOrId),
    responses((status = 200, description = "Deleted"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors),
        (status = 412, body = Errors, description = "The project has repositories")))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(path): ApiPath<ProjectNameOrId>,
) -> ApiResult<StatusCode> {
    let mut name = path.project_name.clone();
    let result = async {
        authz::can_administer(&caller, "delete projects")?;
        let auth = manage::accounts(&state)?;
        name = manage::project_name_for(auth, &caller, &path.project_name).await?;
        let repos = state
            .registry
            .project_info(&name)
            .await?
            .map_or(0, |i| i.repo_count);
        if repos > 0 {
            return Err(ApiError::Precondition(format!(
                "project {name} still has {repos} repositories; delete them first"
            )));
        }
        auth.delete_project(&name).await?;
        Ok(())
    }
    .await;
    manage::audited(
        &state,
        &caller,
        AuditAction::ProjectDelete,
        Target {
            project: Some(&name),
            ..Target::default()
        },
        result,
    )?;
    Ok(StatusCode::OK)
}
