//! Project members (Harbor `member` resource): `GET|POST
//! /projects/{p}/members`, `GET|PUT|DELETE /projects/{p}/members/{mid}`.
//!
//! Members are users or user groups (`/usergroups`) with a role (Harbor's
//! role ids: 1 projectAdmin, 2 developer, 3 guest, 4 maintainer,
//! 5 limitedGuest); a user's effective permissions are the union of their
//! own role's and their groups'. Group memberships have ids from
//! [`GROUP_MEMBER_BASE`] up, so one `mid` space covers both. berth extension:
//! `repositories`, globs relative to the project that limit where the role
//! applies (absent = the whole project). Every route needs
//! [`berth_registry::Permissions::MANAGE`] on the project (project admin or
//! system administrator).

use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_registry::auth::Role;
use berth_registry::{AuditAction, Auth};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::manage::{self, Target};
use super::pagination::PageParams;
use super::projects::ProjectNameOrId;
use super::{ApiJson, ApiPath, ApiQuery};
use crate::server::AppState;

/// Where the `mid`s of group memberships start (2^40): their stored ids
/// plus this, so they never collide with user memberships'.
pub const GROUP_MEMBER_BASE: i64 = 1 << 40;

/// Harbor's `ProjectMemberEntity`, with berth's `repositories`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectMemberEntity {
    /// Membership id (`mid`).
    pub id: i64,
    /// Project id.
    pub project_id: i64,
    /// The user's name.
    pub entity_name: String,
    /// `u` (user) or `g` (user group).
    pub entity_type: String,
    /// The user's or group's id.
    pub entity_id: i64,
    /// Harbor's role id.
    pub role_id: i64,
    /// Harbor's role name (`projectAdmin`, `developer`, ...).
    pub role_name: String,
    /// berth extension: repository globs the role is limited to (null = all).
    pub repositories: Option<Vec<String>>,
}

fn entity(m: berth_registry::MemberRecord) -> ProjectMemberEntity {
    ProjectMemberEntity {
        id: m.id,
        project_id: m.project_id,
        entity_name: m.username,
        entity_type: "u".into(),
        entity_id: m.user_id,
        role_id: m.role_id,
        role_name: Role::from_id(m.role_id).map_or("", Role::name).into(),
        repositories: m.repositories,
    }
}

fn group_entity(m: berth_registry::GroupMemberRecord) -> ProjectMemberEntity {
    ProjectMemberEntity {
        id: GROUP_MEMBER_BASE + m.id,
        project_id: m.project_id,
        entity_name: m.group.group_name,
        entity_type: "g".into(),
        entity_id: m.group.id,
        role_id: m.role_id,
        role_name: Role::from_id(m.role_id).map_or("", Role::name).into(),
        repositories: None,
    }
}

/// Harbor's `UserEntity` in a [`ProjectMember`] request.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UserEntity {
    /// User id (used when `username` is absent).
    #[serde(default)]
    pub user_id: Option<i64>,
    /// Login name.
    #[serde(default)]
    pub username: Option<String>,
}

/// Harbor's `ProjectMember` (`POST /projects/{p}/members`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProjectMember {
    /// Harbor's role id (1–5).
    pub role_id: i64,
    /// The user to add.
    pub member_user: Option<UserEntity>,
    /// Or the group to add (by `id`, or an LDAP group by `ldap_group_dn`,
    /// or by `group_name`), which must exist in `/usergroups`.
    #[serde(default)]
    pub member_group: Option<super::usergroups::UserGroup>,
    /// berth extension: repository globs the role is limited to.
    #[serde(default)]
    pub repositories: Option<Vec<String>>,
}

/// Harbor's `RoleRequest` (`PUT /projects/{p}/members/{mid}`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleRequest {
    /// Harbor's role id (1–5).
    pub role_id: i64,
    /// berth extension: repository globs the role is limited to; absent keeps
    /// the current limit.
    #[serde(default)]
    pub repositories: Option<Vec<String>>,
}

fn role(id: i64) -> ApiResult<Role> {
    Role::from_id(id).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "unknown role_id {id}: use 1 projectAdmin, 2 developer, 3 guest, 4 maintainer, 5 limitedGuest"
        ))
    })
}

/// Query of `GET /projects/{p}/members`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Members whose name contains this.
    pub entityname: Option<String>,
    /// Page number, from 1.
    pub page: Option<i64>,
    /// Entries per page (default 10, at most 100).
    pub page_size: Option<i64>,
}

/// The members of a project.
#[utoipa::path(get, path = "/projects/{project_name}/members", tag = "member",
    params(ProjectNameOrId, ListQuery),
    responses((status = 200, body = [ProjectMemberEntity],
            headers(("X-Total-Count" = u64), ("Link" = String))),
        (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(path): ApiPath<ProjectNameOrId>,
    ApiQuery(q): ApiQuery<ListQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    let page = PageParams {
        page: q.page,
        page_size: q.page_size,
    }
    .page()?;
    let auth = manage::accounts(&state)?;
    let name = manage::project_name_for(auth, &caller, &path.project_name).await?;
    authz::can_manage_project(&state, &caller, &name).await?;
    let p = auth.project_named(&name).await?;
    let all: Vec<ProjectMemberEntity> = auth
        .meta()
        .members_of_project(p.id)
        .await
        .map_err(berth_registry::Error::from)?
        .into_iter()
        .filter(|m| {
            q.entityname
                .as_ref()
                .is_none_or(|n| m.username.contains(n.as_str()))
        })
        .map(entity)
        .chain(
            auth.meta()
                .group_members_of_project(p.id)
                .await
                .map_err(berth_registry::Error::from)?
                .into_iter()
                .filter(|m| {
                    q.entityname
                        .as_ref()
                        .is_none_or(|n| m.group.group_name.contains(n.as_str()))
                })
                .map(group_entity),
        )
        .collect();
    let total = all.len() as u64;
    let body: Vec<ProjectMemberEntity> = all
        .into_iter()
        .skip(page.offset().min(usize::MAX as u64) as usize)
        .take(page.page_size as usize)
        .collect();
    Ok((page.headers(total, &uri), Json(body)).into_response())
}

/// Adds a user to a project with a role. 201 with `Location:
/// /api/v2.0/projects/{p}/members/{mid}`; 409 when already a member.
#[utoipa::path(post, path = "/projects/{project_name}/members", tag = "member",
    params(ProjectNameOrId), request_body = ProjectMember,
    responses((status = 201, description = "Created", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors),
        (status = 409, body = Errors)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(path): ApiPath<ProjectNameOrId>,
    ApiJson(req): ApiJson<ProjectMember>,
) -> ApiResult<Response> {
    let mut project = path.project_name.clone();
    let mut username = String::new();
    let result = async {
        let auth = manage::accounts(&state)?;
        project = manage::project_name_for(auth, &caller, &path.project_name).await?;
        authz::can_manage_project(&state, &caller, &project).await?;
        let role = role(req.role_id)?;
        if let (None, Some(g)) = (&req.member_user, &req.member_group) {
            let group = match group_named(auth, g).await {
                Err(ApiError::NotFound(_)) if oidc_group_by_name(auth, g) => {
                    oidc_group_create(&state, &caller, auth, g.group_name.trim()).await?
                }
                other => other?,
            };
            username = format!("group {}", group.group_name);
            let p = auth.project_named(&project).await?;
            let id = auth
                .meta()
                .group_member_add(p.id, group.id, role.id())
                .await
                .map_err(|e| {
                    if berth_registry::is_conflict(&e) {
                        ApiError::Conflict(format!(
                            "group {} is already a member of {project}",
                            group.group_name
                        ))
                    } else {
                        berth_registry::Error::from(e).into()
                    }
                })?;
            auth.forget_cached();
            return Ok((GROUP_MEMBER_BASE + id, format!("role={}", role.name())));
        }
        let user = req.member_user.as_ref().ok_or_else(|| {
            ApiError::BadRequest("member_user or member_group is required".into())
        })?;
        let user = match (&user.username, user.user_id) {
            (Some(n), _) => auth.user(n).await?,
            (None, Some(id)) => auth
                .meta()
                .user_by_id(id)
                .await
                .map_err(berth_registry::Error::from)?
                .ok_or_else(|| ApiError::NotFound(format!("user {id} not found")))?,
            (None, None) => {
                return Err(ApiError::BadRequest(
                    "member_user needs username or user_id".into(),
                ))
            }
        };
        username = user.username.clone();
        let p = auth.project_named(&project).await?;
        if auth
            .meta()
            .member_of(p.id, user.id)
            .await
            .map_err(berth_registry::Error::from)?
            .is_some()
        {
            return Err(ApiError::Conflict(format!(
                "{username} is already a member of {project}"
            )));
        }
        let m = auth
            .set_member(&project, &username, role, req.repositories.as_deref())
            .await?;
        Ok((m.id, format!("role={}", role.name())))
    }
    .await;
    let detail = result.as_ref().map(|(_, d)| d.clone()).unwrap_or_default();
    let (id, _) = manage::audited(
        &state,
        &caller,
        AuditAction::MemberAdd,
        Target {
            project: Some(&project),
            account: Some(&username)
                .filter(|u| !u.is_empty())
                .map(|u| u.as_str()),
            detail,
        },
        result,
    )?;
    let location = format!("{}/projects/{project}/members/{id}", super::BASE_PATH);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

/// Path of one membership.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MemberPath {
    /// Project name or id.
    pub project_name: String,
    /// Membership id.
    pub mid: i64,
}

/// The stored group a request names: by id, else an LDAP group by DN
/// (case-insensitively), else by name.
async fn group_named(
    auth: &Auth,
    g: &super::usergroups::UserGroup,
) -> ApiResult<berth_registry::GroupRecord> {
    let meta = auth.meta();
    let found = if g.id > 0 {
        meta.group_by_id(g.id)
            .await
            .map_err(berth_registry::Error::from)?
    } else {
        let (all, _) = meta
            .groups_list("", i64::MAX, 0)
            .await
            .map_err(berth_registry::Error::from)?;
        all.into_iter().find(|x| {
            if !g.ldap_group_dn.is_empty() {
                super::usergroups::dn_key(&x.ldap_group_dn)
                    == super::usergroups::dn_key(&g.ldap_group_dn)
            } else {
                !g.group_name.is_empty() && x.group_name == g.group_name
            }
        })
    };
    found.ok_or_else(|| {
        ApiError::NotFound(
            "no such user group: create it first with POST /api/v2.0/usergroups".into(),
        )
    })
}

/// Whether a group named in a membership that `/usergroups` does not
/// know is an OpenID Connect group to create on the way (as Harbor does):
/// named by `group_name` alone, with `group_type` 3, or with no type while
/// `auth.identity = "oidc"`. OIDC groups exist by name only; the provider's
/// groups claim fills them at sign-in.
fn oidc_group_by_name(auth: &Auth, g: &super::usergroups::UserGroup) -> bool {
    let name = g.group_name.trim();
    g.id <= 0
        && g.ldap_group_dn.trim().is_empty()
        && !name.is_empty()
        && name.len() <= 255
        && (g.group_type == berth_registry::GROUP_TYPE_OIDC
            || (g.group_type == 0 && auth.oidc().is_some()))
}

/// Creates OIDC group `name` for a membership, audited as
/// `usergroup_create` by the caller.
async fn oidc_group_create(
    state: &AppState,
    caller: &Caller,
    auth: &Auth,
    name: &str,
) -> ApiResult<berth_registry::GroupRecord> {
    let made = auth
        .meta()
        .group_create(name, berth_registry::GROUP_TYPE_OIDC, "")
        .await
        .map_err(berth_registry::Error::from);
    let detail = match &made {
        Ok(g) => format!("group {}: type 3, made for a project membership", g.id),
        Err(_) => String::new(),
    };
    let made = manage::audited(
        state,
        caller,
        AuditAction::UserGroupCreate,
        Target {
            project: None,
            account: Some(name),
            detail,
        },
        made.map_err(ApiError::from),
    )?;
    auth.forget_cached();
    Ok(made)
}

/// The project's name and the group membership `path.mid` (one of
/// [`GROUP_MEMBER_BASE`] and up), checking MANAGE on the project.
async fn group_membership(
    state: &AppState,
    caller: &Caller,
    path: &MemberPath,
) -> ApiResult<(String, berth_registry::GroupMemberRecord)> {
    let auth: &Auth = manage::accounts(state)?;
    let project = manage::project_name_for(auth, caller, &path.project_name).await?;
    authz::can_manage_project(state, caller, &project).await?;
    let p = auth.project_named(&project).await?;
    let m = auth
        .meta()
        .group_member_by_id(path.mid - GROUP_MEMBER_BASE)
        .await
        .map_err(berth_registry::Error::from)?
        .filter(|m| m.project_id == p.id)
        .ok_or_else(|| ApiError::NotFound(format!("member {} not found in {project}", path.mid)))?;
    Ok((project, m))
}

/// The project's name and the membership, checking MANAGE on the project.
async fn membership(
    state: &AppState,
    caller: &Caller,
    path: &MemberPath,
) -> ApiResult<(String, berth_registry::MemberRecord)> {
    let auth: &Auth = manage::accounts(state)?;
    let project = manage::project_name_for(auth, caller, &path.project_name).await?;
    authz::can_manage_project(state, caller, &project).await?;
    let p = auth.project_named(&project).await?;
    let m = auth
        .meta()
        .member_by_id(path.mid)
        .await
        .map_err(berth_registry::Error::from)?
        .filter(|m| m.project_id == p.id)
        .ok_or_else(|| ApiError::NotFound(format!("member {} not found in {project}", path.mid)))?;
    Ok((project, m))
}

/// One membership.
#[utoipa::path(get, path = "/projects/{project_name}/members/{mid}", tag = "member",
    params(MemberPath),
    responses((status = 200, body = ProjectMemberEntity), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(path): ApiPath<MemberPath>,
) -> ApiResult<Json<ProjectMemberEntity>> {
    if path.mid >= GROUP_MEMBER_BASE {
        let (_, m) = group_membership(&state, &caller, &path).await?;
        return Ok(Json(group_entity(m)));
    }
    let (_, m) = membership(&state, &caller, &path).await?;
    Ok(Json(entity(m)))
}

/// Changes a member's role (and berth's repository limit).
#[utoipa::path(put, path = "/projects/{project_name}/members/{mid}", tag = "member",
    params(MemberPath), request_body = RoleRequest,
    responses((status = 200, description = "Updated"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(path): ApiPath<MemberPath>,
    ApiJson(req): ApiJson<RoleRequest>,
) -> ApiResult<StatusCode> {
    let mut project = path.project_name.clone();
    let mut username = String::new();
    let result = async {
        if path.mid >= GROUP_MEMBER_BASE {
            let (p, m) = group_membership(&state, &caller, &path).await?;
            project = p;
            username = format!("group {}", m.group.group_name);
            let role = role(req.role_id)?;
            let auth = manage::accounts(&state)?;
            auth.meta()
                .group_member_set_role(m.id, role.id())
                .await
                .map_err(berth_registry::Error::from)?;
            auth.forget_cached();
            return Ok(format!("role={}", role.name()));
        }
        let (p, m) = membership(&state, &caller, &path).await?;
        project = p;
        username = m.username.clone();
        let role = role(req.role_id)?;
        let repos = req.repositories.clone().or(m.repositories);
        manage::accounts(&state)?
            .set_member(&project, &username, role, repos.as_deref())
            .await?;
        Ok(format!("role={}", role.name()))
    }
    .await;
    let detail = result.as_ref().ok().cloned().unwrap_or_default();
    manage::audited(
        &state,
        &caller,
        AuditAction::MemberUpdate,
        Target {
            project: Some(&project),
            account: Some(&username)
                .filter(|u| !u.is_empty())
                .map(|u| u.as_str()),
            detail,
        },
        result,
    )?;
    Ok(StatusCode::OK)
}

/// Removes a member from the project.
#[utoipa::path(delete, path = "/projects/{project_name}/members/{mid}", tag = "member",
    params(MemberPath),
    responses((status = 200, description = "Removed"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(path): ApiPath<MemberPath>,
) -> ApiResult<StatusCode> {
    let mut project = path.project_name.clone();
    let mut username = String::new();
    let result = async {
        if path.mid >= GROUP_MEMBER_BASE {
            let (p, m) = group_membership(&state, &caller, &path).await?;
            project = p;
            username = format!("group {}", m.group.group_name);
            let auth = manage::accounts(&state)?;
            auth.meta()
                .group_member_delete(m.id)
                .await
                .map_err(berth_registry::Error::from)?;
            auth.forget_cached();
            return Ok(());
        }
        let (p, m) = membership(&state, &caller, &path).await?;
        project = p;
        username = m.username.clone();
        manage::accounts(&state)?.remove_member(m.id).await?;
        Ok(())
    }
    .await;
    manage::audited(
        &state,
        &caller,
        AuditAction::MemberRemove,
        Target {
            project: Some(&project),
            account: Some(&username)
                .filter(|u| !u.is_empty())
                .map(|u| u.as_str()),
            detail: String::new(),
        },
        result,
    )?;
    Ok(StatusCode::OK)
}
