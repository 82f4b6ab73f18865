//! Harbor's `/ldap` endpoints over the configured directory
//! (`auth.identity = "ldap"`, docs/identity.md): check it, search its users
//! and groups, and onboard users before their first sign-in so a project
//! admin can make them members. System administrators only; without a
//! directory every route answers 412 `PRECONDITION`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_registry::audit::AuditAction;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::manage::{self, Target};
use super::usergroups::UserGroup;
use super::{ApiJson, ApiQuery};
use crate::server::AppState;

/// Harbor's `LdapPingResult`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PingResult {
    /// Whether the directory answered and the service account could bind.
    pub success: bool,
    /// Why not.
    pub message: String,
}

/// Harbor's `LdapUser`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LdapUser {
    /// Login name.
    pub username: String,
    /// Display name.
    pub realname: String,
    /// E-mail.
    pub email: String,
}

/// Query of `GET /ldap/users/search`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserSearch {
    /// Part of the login name (empty: any; at most 100 answered).
    pub username: Option<String>,
}

/// Query of `GET /ldap/groups/search`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupSearch {
    /// Part of the group's `cn`.
    pub groupname: Option<String>,
    /// Or exactly this group's DN.
    pub groupdn: Option<String>,
}

/// Harbor's `LdapImportUsers`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ImportUsers {
    /// Login names to onboard.
    pub ldap_uid_list: Vec<String>,
}

/// Harbor's `LdapFailedImportUser`.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailedImport {
    /// The login name.
    pub uid: String,
    /// Why.
    pub error: String,
}

fn directory<'a>(
    state: &'a AppState,
    caller: &Caller,
    what: &str,
) -> ApiResult<(
    &'a berth_registry::Auth,
    &'a berth_registry::auth::ldap::Directory,
)> {
    authz::can_administer(caller, what)?;
    let auth = manage::accounts(state)?;
    let dir = auth.directory().ok_or_else(|| {
        ApiError::Precondition("no LDAP directory is configured (auth.identity is not ldap)".into())
    })?;
    Ok((auth, dir))
}

fn unavailable(e: berth_registry::auth::ldap::DirectoryError) -> ApiError {
    ApiError::Unavailable(e.to_string())
}

/// `POST /ldap/ping`: checks the configured directory (a request body is
/// ignored: berth tests only its own configuration).
#[utoipa::path(post, path = "/ldap/ping", tag = "ldap",
    responses((status = 200, body = PingResult), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 412, body = Errors)))]
pub async fn ping(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<PingResult>> {
    let (_, dir) = directory(&state, &caller, "ping the LDAP directory")?;
    Ok(Json(match dir.ping().await {
        Ok(()) => PingResult {
            success: true,
            message: String::new(),
        },
        Err(e) => PingResult {
            success: false,
            message: e.to_string(),
        },
    }))
}

/// `GET /ldap/users/search?username=`: directory users whose login name
/// contains the text (at most 100).
#[utoipa::path(get, path = "/ldap/users/search", tag = "ldap", params(UserSearch),
    responses((status = 200, body = [LdapUser]), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 412, body = Errors), (status = 503, body = Errors)))]
pub async fn search_users(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<UserSearch>,
) -> ApiResult<Json<Vec<LdapUser>>> {
    let (_, dir) = directory(&state, &caller, "search the LDAP directory")?;
    let found = dir
        .search_users(q.username.as_deref().unwrap_or(""), 100)
        .await
        .map_err(unavailable)?;
    Ok(Json(
        found
            .into_iter()
            .map(|u| LdapUser {
                username: u.username,
                realname: u.realname,
                email: u.email,
            })
            .collect(),
    ))
}

/// `GET /ldap/groups/search?groupname=|groupdn=`: directory groups under
/// `group_base` (by part of their `cn`) or the one at a DN, as `UserGroup`s
/// (`id` 0: not registered yet).
#[utoipa::path(get, path = "/ldap/groups/search", tag = "ldap", params(GroupSearch),
    responses((status = 200, body = [UserGroup]), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 412, body = Errors), (status = 503, body = Errors)))]
pub async fn search_groups(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<GroupSearch>,
) -> ApiResult<Json<Vec<UserGroup>>> {
    let (_, dir) = directory(&state, &caller, "search the LDAP directory")?;
    let found = dir
        .search_groups(
            q.groupname.as_deref().unwrap_or(""),
            q.groupdn.as_deref().filter(|d| !d.is_empty()),
        )
        .await
        .map_err(unavailable)?;
    Ok(Json(
        found
            .into_iter()
            .map(|(dn, name)| UserGroup {
                id: 0,
                group_name: name,
                group_type: 1,
                ldap_group_dn: dn,
            })
            .collect(),
    ))
}

/// `POST /ldap/users/import`: onboards directory users before their first
/// sign-in (each audited as `user_create`). 200 when all were; 404 with
/// Harbor's list of `{uid, error}` for those that were not (unknown to the
/// directory, or a local user has the name).
#[utoipa::path(post, path = "/ldap/users/import", tag = "ldap", request_body = ImportUsers,
    responses((status = 200, description = "Imported"), (status = 404, body = [FailedImport]),
        (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 412, body = Errors), (status = 503, body = Errors)))]
pub async fn import_users(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<ImportUsers>,
) -> ApiResult<Response> {
    let (auth, _) = directory(&state, &caller, "import LDAP users")?;
    let mut failed = Vec::new();
    for uid in &req.ldap_uid_list {
        let uid = &uid.to_ascii_lowercase();
        if !berth_registry::auth::accounts::valid_username(uid) {
            failed.push(FailedImport {
                uid: uid.clone(),
                error: format!("{uid:?} is no valid user name"),
            });
            continue;
        }
        let existed = auth
            .meta()
            .user_by_name(uid)
            .await
            .map_err(berth_registry::Error::from)?;
        let outcome: Result<(), String> = match auth.directory_import(uid).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(format!(
                "{uid}: not in the directory, or a local user has the name"
            )),
            // The directory is down: nothing more can be imported.
            Err(e @ berth_registry::Error::DirectoryUnavailable(_)) => return Err(e.into()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = &outcome {
            failed.push(FailedImport {
                uid: uid.clone(),
                error: error.clone(),
            });
        }
        if existed.is_none() || outcome.is_err() {
            manage::audited(
                &state,
                &caller,
                AuditAction::UserCreate,
                Target {
                    project: None,
                    account: Some(uid.as_str()),
                    detail: "imported from the LDAP directory".into(),
                },
                outcome.map_err(ApiError::NotFound),
            )
            .ok();
        }
    }
    if failed.is_empty() {
        Ok(StatusCode::OK.into_response())
    } else {
        Ok((StatusCode::NOT_FOUND, Json(failed)).into_response())
    }
}
