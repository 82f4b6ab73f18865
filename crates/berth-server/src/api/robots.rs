//! Robot accounts (Harbor `robot` resource, API v2): `GET|POST /robots`,
//! `GET|PUT|PATCH|DELETE /robots/{robot_id}`.
//!
//! A project robot (`level: "project"`, named `robot$<project>+<name>`) needs
//! [`berth_registry::Permissions::MANAGE`] on its project; a system robot
//! (`level: "system"`, `robot$<name>`) needs a system administrator.
//! Harbor's permissions (`{kind: "project", namespace, access: [{resource:
//! "repository", action}]}`) map to berth's [`RobotPermission`]s, one per
//! access entry; berth extension: an access entry may carry `repositories`
//! (globs relative to the project) limiting it.
//!
//! Harbor's UI and Terraform provider send many (resource, action) pairs;
//! [`berth_action`] maps those with a berth equivalent (`repository` pull,
//! push, delete; `artifact` delete; `tag` create → push, `tag` delete →
//! delete) and drops the rest (listings, reads of metadata, scans, helm
//! charts, …) rather than refusing the robot: a dropped entry never grants
//! more than asked.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_registry::auth::RobotPermission;
use berth_registry::{AuditAction, RobotRecord, TextMatch};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::manage::{self, Target};
use super::pagination::PageParams;
use super::{query, rfc3339, ApiJson, ApiPath, ApiQuery};
use crate::server::AppState;

const DAY_MS: i64 = 86_400_000;

/// Harbor's `Access`, with berth's `repositories`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Access {
    /// `repository` (or `artifact`); other resources are ignored.
    pub resource: String,
    /// `pull`, `push`, `delete` or `*`.
    pub action: String,
    /// Harbor's `effect` (berth only allows: ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    /// berth extension: repository globs relative to the project (absent = all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repositories: Option<Vec<String>>,
}

/// Harbor's `RobotPermission`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HarborRobotPermission {
    /// `project`.
    pub kind: String,
    /// Project name, or `*` for every project (system robots only).
    pub namespace: String,
    /// What it may do.
    pub access: Vec<Access>,
}

fn to_berth(perms: &[HarborRobotPermission]) -> ApiResult<Vec<RobotPermission>> {
    let mut out = Vec::new();
    for p in perms {
        if p.kind != "project" {
            return Err(ApiError::BadRequest(format!(
                "permission kind {:?} is not supported: use \"project\"",
                p.kind
            )));
        }
        for a in &p.access {
            let Some(action) = berth_action(&a.resource, &a.action) else {
                continue;
            };
            out.push(RobotPermission {
                project: p.namespace.clone(),
                repositories: a.repositories.clone().unwrap_or_default(),
                actions: vec![action.into()],
            });
        }
    }
    Ok(out)
}

/// berth's robot action for one of Harbor's (resource, action) access pairs;
/// `None` for pairs berth has no permission for (ignored).
fn berth_action(resource: &str, action: &str) -> Option<&'static str> {
    match (resource, action) {
        ("repository", "pull") | ("artifact", "pull") => Some("pull"),
        ("repository", "push") | ("artifact", "push") | ("tag", "create") => Some("push"),
        ("repository" | "artifact" | "tag", "delete") => Some("delete"),
        ("repository" | "artifact", "*") => Some("*"),
        _ => None,
    }
}

fn to_harbor(perms: &[RobotPermission]) -> Vec<HarborRobotPermission> {
    let mut by_project: BTreeMap<&str, Vec<Access>> = BTreeMap::new();
    for p in perms {
        for action in &p.actions {
            by_project.entry(&p.project).or_default().push(Access {
                resource: "repository".into(),
                action: action.clone(),
                effect: None,
                repositories: (!p.repositories.is_empty()).then(|| p.repositories.clone()),
            });
        }
    }
    by_project
        .into_iter()
        .map(|(ns, access)| HarborRobotPermission {
            kind: "project".into(),
            namespace: ns.into(),
            access,
        })
        .collect()
}

/// Harbor's `Robot`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Robot {
    /// Robot id.
    pub id: i64,
    /// Full name (`robot$<project>+<name>` or `robot$<name>`).
    pub name: String,
    /// Free text.
    pub description: String,
    /// `project` or `system`.
    pub level: String,
    /// Lifetime in days from creation; -1 = never expires.
    pub duration: i64,
    /// Always true (berth robots can be edited).
    pub editable: bool,
    /// Disabled robots cannot sign in.
    pub disable: bool,
    /// Expiry, Unix seconds; -1 = never.
    pub expires_at: i64,
    /// What it may do.
    pub permissions: Vec<HarborRobotPermission>,
    /// Creation time, RFC 3339.
    pub creation_time: String,
    /// Last change, RFC 3339.
    pub update_time: String,
}

fn robot_of(r: &RobotRecord) -> Robot {
    let perms: Vec<RobotPermission> = serde_json::from_str(&r.permissions).unwrap_or_default();
    Robot {
        id: r.id,
        name: r.name.clone(),
        description: r.description.clone(),
        level: if r.project_id.is_some() {
            "project"
        } else {
            "system"
        }
        .into(),
        duration: r
            .expires_at
            .map_or(-1, |e| (e - r.created_at + DAY_MS - 1).div_euclid(DAY_MS)),
        editable: true,
        disable: r.disabled,
        expires_at: r.expires_at.map_or(-1, |e| e.div_euclid(1000)),
        permissions: to_harbor(&perms),
        creation_time: rfc3339(r.created_at),
        update_time: rfc3339(r.updated_at),
    }
}

/// Expiry (Unix ms) of a robot created at `from` living `days` (≤ 0 = never).
fn expiry(from: i64, days: Option<i64>) -> Option<i64> {
    days.filter(|d| *d > 0)
        .map(|d| from.saturating_add(d.saturating_mul(DAY_MS)))
}

/// Harbor's `RobotCreate`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RobotCreate {
    /// Short name; the full name gets the `robot$[<project>+]` prefix.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Lifetime in days; -1 (or absent) = never expires.
    #[serde(default)]
    pub duration: Option<i64>,
    /// `project` (exactly one namespace in `permissions`) or `system`.
    pub level: String,
    /// Create disabled.
    #[serde(default)]
    pub disable: bool,
    /// The secret to use (at least 8 characters); absent = generated.
    #[serde(default)]
    pub secret: Option<String>,
    /// What it may do.
    #[serde(default)]
    pub permissions: Vec<HarborRobotPermission>,
}

/// Harbor's `RobotCreated`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RobotCreated {
    /// Robot id.
    pub id: i64,
    /// Full name.
    pub name: String,
    /// The secret, shown only here.
    pub secret: String,
    /// Creation time, RFC 3339.
    pub creation_time: String,
    /// Expiry, Unix seconds; -1 = never.
    pub expires_at: i64,
}

/// The project of a project-level request: the one namespace of its permissions.
fn project_of_request(level: &str, perms: &[HarborRobotPermission]) -> ApiResult<Option<String>> {
    match level {
        "system" => Ok(None),
        "project" => {
            let mut names: Vec<&str> = perms.iter().map(|p| p.namespace.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            match names.as_slice() {
                [one] if *one != "*" => Ok(Some((*one).to_string())),
                _ => Err(ApiError::BadRequest(
                    "a project robot needs permissions on exactly one project".into(),
                )),
            }
        }
        other => Err(ApiError::BadRequest(format!(
            "level must be \"project\" or \"system\", not {other:?}"
        ))),
    }
}

/// Creates a robot account. 201 with its secret (shown once) and `Location:
/// /api/v2.0/robots/{id}`; 409 when the name is taken.
#[utoipa::path(post, path = "/robots", tag = "robot", request_body = RobotCreate,
    responses((status = 201, body = RobotCreated, headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors),
        (status = 409, body = Errors)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<RobotCreate>,
) -> ApiResult<Response> {
    let requested = project_of_request(&req.level, &req.permissions);
    let project = requested.as_ref().ok().cloned().flatten();
    let mut full = req.name.clone();
    let result = async {
        let project = requested?;
        match &project {
            Some(p) => authz::can_manage_project(&state, &caller, p).await?,
            None => authz::can_administer(&caller, "create system robots")?,
        }
        let auth = manage::accounts(&state)?;
        let perms = to_berth(&req.permissions)?;
        let expires = expiry(now_ms(), req.duration);
        let created = auth
            .create_robot(
                project.as_deref(),
                &req.name,
                &req.description,
                &perms,
                expires,
                req.secret.as_deref(),
            )
            .await?;
        full = created.robot.name.clone();
        let robot = if req.disable {
            auth.update_robot(
                created.robot.id,
                &created.robot.description,
                &serde_json::from_str::<Vec<RobotPermission>>(&created.robot.permissions)
                    .unwrap_or_default(),
                created.robot.expires_at,
                true,
            )
            .await?
        } else {
            created.robot
        };
        Ok((robot, created.secret))
    }
    .await;
    let (robot, secret) = manage::audited(
        &state,
        &caller,
        AuditAction::RobotCreate,
        Target {
            project: project.as_deref(),
            account: Some(&full),
            detail: format!("level={}", req.level),
        },
        result,
    )?;
    let body = RobotCreated {
        id: robot.id,
        name: robot.name.clone(),
        secret,
        creation_time: rfc3339(robot.created_at),
        expires_at: robot.expires_at.map_or(-1, |e| e.div_euclid(1000)),
    };
    let location = format!("{}/robots/{}", super::BASE_PATH, robot.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The project name of a robot (`None` for a system robot).
async fn robot_project(state: &AppState, r: &RobotRecord) -> ApiResult<Option<String>> {
    let Some(id) = r.project_id else {
        return Ok(None);
    };
    let p = manage::accounts(state)?
        .meta()
        .project_by_id(id)
        .await
        .map_err(berth_registry::Error::from)?
        .ok_or_else(|| ApiError::NotFound(format!("project {id} not found")))?;
    Ok(Some(p.name))
}

async fn can_manage_robot(
    state: &AppState,
    caller: &Caller,
    project: Option<&str>,
) -> ApiResult<()> {
    match project {
        Some(p) => authz::can_manage_project(state, caller, p).await,
        None => authz::can_administer(caller, "manage system robots"),
    }
}

/// Query of `GET /robots`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Filter, Harbor syntax; keys `Level` (`project`/`system`), `ProjectID`,
    /// `name` (full name: `x`, `~x`, `(x y)`).
    pub q: Option<String>,
    /// Page number, from 1.
    pub page: Option<i64>,
    /// Entries per page (default 10, at most 100).
    pub page_size: Option<i64>,
}

/// Robots the caller may manage (all for system administrators; those of the
/// projects they administer for others).
#[utoipa::path(get, path = "/robots", tag = "robot", params(ListQuery),
    responses((status = 200, body = [Robot], headers(("X-Total-Count" = u64), ("Link" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    if !caller.principal.is_authenticated() && !caller.is_administrator() {
        return Err(ApiError::Unauthorized(authz::SIGN_IN.into()));
    }
    let page = PageParams {
        page: q.page,
        page_size: q.page_size,
    }
    .page()?;
    let parsed = query::parse(q.q.as_deref())?;
    parsed.only(&["Level", "ProjectID", "name"])?;
    let name = parsed.text("name")?;
    let exact = |k: &str| -> ApiResult<Option<String>> {
        match parsed.get(k) {
            None => Ok(None),
            Some(query::QValue::Exact(v)) => Ok(Some(v.clone())),
            Some(_) => Err(ApiError::BadRequest(format!("{k} takes an exact value"))),
        }
    };
    let level = exact("Level")?;
    let project_id = exact("ProjectID")?
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| ApiError::BadRequest(format!("ProjectID must be a number, not {v:?}")))
        })
        .transpose()?;
    let auth = manage::accounts(&state)?;
    let mut all = Vec::new();
    for r in auth
        .meta()
        .robots_list(project_id)
        .await
        .map_err(berth_registry::Error::from)?
    {
        let robot = robot_of(&r);
        if level.as_ref().is_some_and(|l| *l != robot.level) {
            continue;
        }
        let name_matches = match &name {
            None => true,
            Some(TextMatch::Exact(v)) => robot.name == *v,
            Some(TextMatch::Contains(v)) => robot.name.contains(v.as_str()),
            Some(TextMatch::OneOf(vs)) => vs.contains(&robot.name),
        };
        if !name_matches {
            continue;
        }
        let project = robot_project(&state, &r).await.ok().flatten();
        if project.is_none() && r.project_id.is_some() {
            continue;
        }
        if can_manage_robot(&state, &caller, project.as_deref())
            .await
            .is_ok()
        {
            all.push(robot);
        }
    }
    let total = all.len() as u64;
    let body: Vec<Robot> = all
        .into_iter()
        .skip(page.offset().min(usize::MAX as u64) as usize)
        .take(page.page_size as usize)
        .collect();
    Ok((page.headers(total, &uri), Json(body)).into_response())
}

/// Path of one robot.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RobotPath {
    /// Robot id.
    pub robot_id: i64,
}

/// The robot, its project, after checking the caller may manage it.
async fn managed_robot(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> ApiResult<(RobotRecord, Option<String>)> {
    let auth = manage::accounts(state)?;
    if !caller.principal.is_authenticated() && !caller.is_administrator() {
        return Err(ApiError::Unauthorized(authz::SIGN_IN.into()));
    }
    // Existence is told to system administrators only: anyone else gets the
    // same refusal for an unknown robot as for another project's.
    let r = match auth.robot(&id.to_string()).await {
        Ok(r) => r,
        Err(_) if !caller.is_administrator() => return Err(caller.refusal()),
        Err(e) => return Err(e.into()),
    };
    let project = match robot_project(state, &r).await {
        Ok(p) => p,
        Err(_) if !caller.is_administrator() => return Err(caller.refusal()),
        Err(e) => return Err(e),
    };
    can_manage_robot(state, caller, project.as_deref()).await?;
    Ok((r, project))
}

/// One robot.
#[utoipa::path(get, path = "/robots/{robot_id}", tag = "robot", params(RobotPath),
    responses((status = 200, body = Robot), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(path): ApiPath<RobotPath>,
) -> ApiResult<Json<Robot>> {
    let (r, _) = managed_robot(&state, &caller, path.robot_id).await?;
    Ok(Json(robot_of(&r)))
}

/// Harbor's `Robot` as an update (`PUT /robots/{id}`): description, duration
/// (days from creation, -1 never), disable, permissions; absent fields keep
/// their value. `name` and `level` cannot change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RobotUpdate {
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Lifetime in days from creation; -1 = never expires.
    #[serde(default)]
    pub duration: Option<i64>,
    /// Disabled robots cannot sign in.
    #[serde(default)]
    pub disable: Option<bool>,
    /// What it may do (a project robot's stay in its project).
    #[serde(default)]
    pub permissions: Option<Vec<HarborRobotPermission>>,
}

async fn audit_robot<T>(
    state: &AppState,
    caller: &Caller,
    action: AuditAction,
    id: i64,
    detail: String,
    result: ApiResult<(T, RobotRecord, Option<String>)>,
) -> ApiResult<T> {
    let (name, project) = match &result {
        Ok((_, r, p)) => (r.name.clone(), p.clone()),
        Err(_) => match manage::accounts(state) {
            Ok(auth) => match auth.robot(&id.to_string()).await {
                Ok(r) => (
                    r.name.clone(),
                    robot_project(state, &r).await.ok().flatten(),
                ),
                Err(_) => (id.to_string(), None),
            },
            Err(_) => (id.to_string(), None),
        },
    };
    manage::audited(
        state,
        caller,
        action,
        Target {
            project: project.as_deref(),
            account: Some(&name),
            detail,
        },
        result.map(|(t, _, _)| t),
    )
}

/// What a robot update changes, for the audit trail: `disable=true duration=30
/// permissions`.
fn robot_change(req: &RobotUpdate) -> String {
    let mut parts = Vec::new();
    if let Some(d) = req.disable {
        parts.push(format!("disable={d}"));
    }
    if let Some(d) = req.duration {
        parts.push(format!("duration={d}"));
    }
    if req.description.is_some() {
        parts.push("description".to_string());
    }
    if req.permissions.is_some() {
        parts.push("permissions".to_string());
    }
    parts.join(" ")
}

/// Changes a robot.
#[utoipa::path(put, path = "/robots/{robot_id}", tag = "robot", params(RobotPath),
    request_body = RobotUpdate,
    responses((status = 200, description = "Updated"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(path): ApiPath<RobotPath>,
    ApiJson(req): ApiJson<RobotUpdate>,
) -> ApiResult<StatusCode> {
    let result = async {
        let (r, project) = managed_robot(&state, &caller, path.robot_id).await?;
        let perms = match &req.permissions {
            Some(p) => {
                let mut perms = to_berth(p)?;
                if let Some(name) = &project {
                    for perm in &mut perms {
                        perm.project = name.clone();
                    }
                }
                perms
            }
            None => serde_json::from_str(&r.permissions).unwrap_or_default(),
        };
        let expires = match req.duration {
            Some(d) => expiry(r.created_at, Some(d)),
            None => r.expires_at,
        };
        let updated = manage::accounts(&state)?
            .update_robot(
                r.id,
                req.description.as_deref().unwrap_or(&r.description),
                &perms,
                expires,
                req.disable.unwrap_or(r.disabled),
            )
            .await?;
        Ok(((), updated, project))
    }
    .await;
    audit_robot(
        &state,
        &caller,
        AuditAction::RobotUpdate,
        path.robot_id,
        robot_change(&req),
        result,
    )
    .await?;
    Ok(StatusCode::OK)
}

/// Harbor's `RobotSec`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct RobotSec {
    /// The secret: in a request, the one to set (absent or empty = generate);
    /// in the response, the new secret.
    #[serde(default)]
    pub secret: Option<String>,
}

/// Refreshes a robot's secret: the given one, or a generated one for an empty
/// body or secret. Answers the new secret.
#[utoipa::path(patch, path = "/robots/{robot_id}", tag = "robot", params(RobotPath),
    request_body = RobotSec,
    responses((status = 200, body = RobotSec), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn refresh(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(path): ApiPath<RobotPath>,
    body: Bytes,
) -> ApiResult<Json<RobotSec>> {
    let result = async {
        let req: RobotSec = if body.iter().all(u8::is_ascii_whitespace) {
            RobotSec::default()
        } else {
            serde_json::from_slice(&body)
                .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?
        };
        let (r, project) = managed_robot(&state, &caller, path.robot_id).await?;
        let given = req.secret.as_deref().filter(|s| !s.is_empty());
        let secret = manage::accounts(&state)?
            .refresh_robot_secret(r.id, given)
            .await?;
        Ok((secret, r, project))
    }
    .await;
    let secret = audit_robot(
        &state,
        &caller,
        AuditAction::RobotUpdate,
        path.robot_id,
        "secret".into(),
        result,
    )
    .await?;
    Ok(Json(RobotSec {
        secret: Some(secret),
    }))
}

/// Deletes a robot.
#[utoipa::path(delete, path = "/robots/{robot_id}", tag = "robot", params(RobotPath),
    responses((status = 200, description = "Deleted"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(path): ApiPath<RobotPath>,
) -> ApiResult<StatusCode> {
    let result = async {
        let (r, project) = managed_robot(&state, &caller, path.robot_id).await?;
        manage::accounts(&state)?.delete_robot(r.id).await?;
        Ok(((), r, project))
    }
    .await;
    audit_robot(
        &state,
        &caller,
        AuditAction::RobotDelete,
        path.robot_id,
        String::new(),
        result,
    )
    .await?;
    Ok(StatusCode::OK)
}
