//! `/usergroups` (Harbor's `UserGroup`): groups from the directory that can
//! be made project members (`member_group` in `/projects/{p}/members`),
//! so that a user's effective role in a project is the highest of their own
//! and their groups' (docs/identity.md). System administrators manage them;
//! `/usergroups/search` is open to every signed-in user (what a project
//! admin needs to add a group).

use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_registry::audit::AuditAction;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::manage::{self, Target};
use super::pagination::PageParams;
use super::{ApiJson, ApiPath, ApiQuery};
use crate::server::AppState;

/// Harbor's `UserGroup`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UserGroup {
    /// Group id (ignored on create).
    #[serde(default)]
    pub id: i64,
    /// Display name; for an LDAP group without one, the value of its DN's
    /// first component (`cn=devs,…` → `devs`).
    #[serde(default)]
    pub group_name: String,
    /// 1 LDAP, 3 OIDC (default 1).
    #[serde(default)]
    pub group_type: i64,
    /// The LDAP group's DN (required for type 1).
    #[serde(default)]
    pub ldap_group_dn: String,
}

impl From<berth_registry::GroupRecord> for UserGroup {
    fn from(g: berth_registry::GroupRecord) -> Self {
        UserGroup {
            id: g.id,
            group_name: g.group_name,
            group_type: g.group_type,
            ldap_group_dn: g.ldap_group_dn,
        }
    }
}

/// Query of `GET /usergroups` and `/usergroups/search`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Groups whose name contains this (`group_name` on the list,
    /// `groupname` on search, as Harbor spells them).
    pub group_name: Option<String>,
    /// Same as `group_name` (Harbor's `/usergroups/search`).
    pub groupname: Option<String>,
    /// Page number, from 1.
    pub page: Option<i64>,
    /// Entries per page (default 10, at most 100).
    pub page_size: Option<i64>,
}

/// Path of one group.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct GroupPath {
    /// Group id.
    pub group_id: i64,
}

async fn page_of(state: &AppState, q: &ListQuery, uri: &axum::http::Uri) -> ApiResult<Response> {
    let page = PageParams {
        page: q.page,
        page_size: q.page_size,
    }
    .page()?;
    let part = q
        .group_name
        .as_deref()
        .or(q.groupname.as_deref())
        .unwrap_or("");
    let (groups, total) = manage::accounts(state)?
        .meta()
        .groups_list(part, page.page_size as i64, page.offset() as i64)
        .await
        .map_err(berth_registry::Error::from)?;
    let body: Vec<UserGroup> = groups.into_iter().map(UserGroup::from).collect();
    Ok((page.headers(total.max(0) as u64, uri), Json(body)).into_response())
}

/// `GET /usergroups`: every group, paged, filtered by `group_name`. System
/// administrators.
#[utoipa::path(get, path = "/usergroups", tag = "usergroup", params(ListQuery),
    responses((status = 200, body = [UserGroup], headers(("X-Total-Count" = u64))),
        (status = 401, body = Errors), (status = 403, body = Errors)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    authz::can_administer(&caller, "list user groups")?;
    page_of(&state, &q, &uri).await
}

/// `GET /usergroups/search?groupname=`: groups by name, for any signed-in
/// user (a project admin adding a group member).
#[utoipa::path(get, path = "/usergroups/search", tag = "usergroup", params(ListQuery),
    responses((status = 200, body = [UserGroup], headers(("X-Total-Count" = u64))),
        (status = 401, body = Errors)))]
pub async fn search(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    if !caller.principal.is_authenticated() && !caller.is_administrator() {
        return Err(caller.refusal());
    }
    page_of(&state, &q, &uri).await
}

/// `GET /usergroups/{group_id}`. System administrators.
#[utoipa::path(get, path = "/usergroups/{group_id}", tag = "usergroup", params(GroupPath),
    responses((status = 200, body = UserGroup), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<GroupPath>,
) -> ApiResult<Json<UserGroup>> {
    authz::can_administer(&caller, "read a user group")?;
    Ok(Json(found(&state, p.group_id).await?.into()))
}

async fn found(state: &AppState, id: i64) -> ApiResult<berth_registry::GroupRecord> {
    manage::accounts(state)?
        .meta()
        .group_by_id(id)
        .await
        .map_err(berth_registry::Error::from)?
        .ok_or_else(|| ApiError::NotFound(format!("user group {id} not found")))
}

/// The group a create request names: type 1 (LDAP) needs a DN; a missing
/// name is taken from the DN's first component.
fn checked(req: &UserGroup) -> ApiResult<UserGroup> {
    let group_type = if req.group_type == 0 {
        1
    } else {
        req.group_type
    };
    let dn = req.ldap_group_dn.trim().to_string();
    let mut name = req.group_name.trim().to_string();
    match group_type {
        1 => {
            if dn.is_empty() {
                return Err(ApiError::BadRequest(
                    "an LDAP group (group_type 1) needs its ldap_group_dn".into(),
                ));
            }
            if !dn.split(',').all(|rdn| {
                rdn.split_once('=')
                    .is_some_and(|(a, v)| !a.trim().is_empty() && !v.trim().is_empty())
            }) {
                return Err(ApiError::BadRequest(format!(
                    "ldap_group_dn {dn:?} is no DN (attribute=value pairs separated by commas)"
                )));
            }
            if name.is_empty() {
                name = dn
                    .split(',')
                    .next()
                    .and_then(|rdn| rdn.split_once('='))
                    .map(|(_, v)| v.trim().to_string())
                    .unwrap_or_default();
            }
        }
        3 => {
            if !dn.is_empty() {
                return Err(ApiError::BadRequest(
                    "an OIDC group (group_type 3) has no ldap_group_dn".into(),
                ));
            }
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "group_type {other} is not supported: 1 (LDAP) or 3 (OIDC)"
            )))
        }
    }
    if name.is_empty() || name.len() > 255 {
        return Err(ApiError::BadRequest(
            "group_name must have 1 to 255 bytes".into(),
        ));
    }
    Ok(UserGroup {
        id: 0,
        group_name: name,
        group_type,
        ldap_group_dn: dn,
    })
}

/// `POST /usergroups`: 201 with `Location: /api/v2.0/usergroups/{id}`; 409
/// when the same group exists. System administrators.
#[utoipa::path(post, path = "/usergroups", tag = "usergroup", request_body = UserGroup,
    responses((status = 201, description = "Created", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 409, body = Errors)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<UserGroup>,
) -> ApiResult<Response> {
    let mut name = req.group_name.clone();
    let result = async {
        authz::can_administer(&caller, "create a user group")?;
        let g = checked(&req)?;
        name = g.group_name.clone();
        let auth = manage::accounts(&state)?;
        if g.group_type == 1 {
            // One group per DN, whatever its spelling.
            let key = dn_key(&g.ldap_group_dn);
            let known = auth
                .meta()
                .groups_of_type(1)
                .await
                .map_err(berth_registry::Error::from)?;
            if let Some(same) = known.iter().find(|k| dn_key(&k.ldap_group_dn) == key) {
                return Err(ApiError::Conflict(format!(
                    "the LDAP group {} is registered already as {} (id {})",
                    g.ldap_group_dn, same.group_name, same.id
                )));
            }
            // With a directory, the DN must name one of its groups.
            if let Some(dir) = auth.directory() {
                let found = dir
                    .search_groups("", Some(&g.ldap_group_dn))
                    .await
                    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
                if found.is_empty() {
                    return Err(ApiError::BadRequest(format!(
                        "the directory has no group at {} (that matches auth.ldap.group_filter)",
                        g.ldap_group_dn
                    )));
                }
            }
        }
        let made = auth
            .meta()
            .group_create(&g.group_name, g.group_type, &g.ldap_group_dn)
            .await
            .map_err(|e| {
                if berth_meta_conflict(&e) {
                    ApiError::Conflict(format!("user group {} exists", g.group_name))
                } else {
                    berth_registry::Error::from(e).into()
                }
            })?;
        manage::accounts(&state)?.forget_cached();
        Ok((
            made.id,
            format!(
                "group {}: type {}, dn {:?}",
                made.id, made.group_type, made.ldap_group_dn
            ),
        ))
    }
    .await;
    let detail = result.as_ref().map(|(_, d)| d.clone()).unwrap_or_default();
    let (id, _) = manage::audited(
        &state,
        &caller,
        AuditAction::UserGroupCreate,
        Target {
            project: None,
            account: Some(name.as_str()).filter(|n| !n.is_empty()),
            detail,
        },
        result,
    )?;
    let location = format!("{}/usergroups/{id}", super::BASE_PATH);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

/// A DN compared without regard to case or the spaces around its commas
/// and equals signs.
pub(crate) fn dn_key(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| {
            rdn.split('=')
                .map(|p| p.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
                .join("=")
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn berth_meta_conflict(e: &berth_registry::MetaError) -> bool {
    berth_registry::is_conflict(e)
}

/// Body of `PUT /usergroups/{group_id}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct GroupRename {
    /// The new display name.
    pub group_name: String,
}

/// `PUT /usergroups/{group_id}`: renames a group (its type and DN stay).
/// System administrators.
#[utoipa::path(put, path = "/usergroups/{group_id}", tag = "usergroup", params(GroupPath),
    request_body = GroupRename,
    responses((status = 200, description = "Updated"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<GroupPath>,
    ApiJson(req): ApiJson<GroupRename>,
) -> ApiResult<StatusCode> {
    let name = req.group_name.trim().to_string();
    let result = async {
        authz::can_administer(&caller, "rename a user group")?;
        if name.is_empty() || name.len() > 255 {
            return Err(ApiError::BadRequest(
                "group_name must have 1 to 255 bytes".into(),
            ));
        }
        found(&state, p.group_id).await?;
        manage::accounts(&state)?
            .meta()
            .group_rename(p.group_id, &name)
            .await
            .map_err(berth_registry::Error::from)?;
        Ok(format!("group {} renamed", p.group_id))
    }
    .await;
    let detail = result.as_ref().ok().cloned().unwrap_or_default();
    manage::audited(
        &state,
        &caller,
        AuditAction::UserGroupUpdate,
        Target {
            project: None,
            account: Some(name.as_str()).filter(|n| !n.is_empty()),
            detail,
        },
        result,
    )?;
    Ok(StatusCode::OK)
}

/// `DELETE /usergroups/{group_id}`: the group with its project memberships.
/// System administrators.
#[utoipa::path(delete, path = "/usergroups/{group_id}", tag = "usergroup", params(GroupPath),
    responses((status = 200, description = "Deleted"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<GroupPath>,
) -> ApiResult<StatusCode> {
    let mut name = String::new();
    let result = async {
        authz::can_administer(&caller, "delete a user group")?;
        let g = found(&state, p.group_id).await?;
        name = g.group_name.clone();
        manage::accounts(&state)?
            .meta()
            .group_delete(p.group_id)
            .await
            .map_err(berth_registry::Error::from)?;
        manage::accounts(&state)?.forget_cached();
        Ok(format!("group {} deleted", p.group_id))
    }
    .await;
    let detail = result.as_ref().ok().cloned().unwrap_or_default();
    manage::audited(
        &state,
        &caller,
        AuditAction::UserGroupDelete,
        Target {
            project: None,
            account: Some(name.as_str()).filter(|n| !n.is_empty()),
            detail,
        },
        result,
    )?;
    Ok(StatusCode::OK)
}
