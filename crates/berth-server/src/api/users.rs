//! Users (Harbor `user` resource): `GET /users/current`; `GET|POST /users`,
//! `GET|PUT|DELETE /users/{user_id}`, `PUT /users/{user_id}/password`,
//! `PUT /users/{user_id}/sysadmin`, `PUT /users/{user_id}/cli_secret`. System administrators manage every user;
//! a user may read and change their own profile and password.

use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_registry::{AuditAction, TextMatch, UserRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::manage::{self, Target};
use super::pagination::PageParams;
use super::{query, rfc3339, ApiJson, ApiPath, ApiQuery};
use crate::server::AppState;

/// Harbor's `UserResp`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResp {
    /// User id.
    pub user_id: i64,
    /// Login name.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Full name.
    pub realname: String,
    /// Free text (berth stores none: empty).
    pub comment: String,
    /// System administrator.
    pub sysadmin_flag: bool,
    /// Creation time, RFC 3339.
    pub creation_time: String,
    /// Last change, RFC 3339.
    pub update_time: String,
    /// berth extension: where the user signs in, `local` or `ldap`
    /// (docs/identity.md).
    pub source: String,
}

/// The signed-in user. 401 for anonymous callers, 403 for robot accounts
/// (which are no users).
#[utoipa::path(get, path = "/users/current", tag = "user",
    responses((status = 200, body = UserResp), (status = 401, body = Errors),
        (status = 403, body = Errors)))]
pub async fn current(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<UserResp>> {
    let Some(id) = caller.principal.user_id() else {
        return Err(if caller.principal.is_authenticated() {
            ApiError::Forbidden(format!("{} is not a user", caller.principal.name()))
        } else {
            ApiError::Unauthorized("sign in to see the current user".into())
        });
    };
    let user = state
        .registry
        .meta()
        .user_by_id(id)
        .await
        .map_err(berth_registry::Error::from)?
        .ok_or_else(|| ApiError::NotFound(format!("user {id} not found")))?;
    Ok(Json(user_resp(user)))
}

fn user_resp(user: UserRecord) -> UserResp {
    UserResp {
        user_id: user.id,
        username: user.username,
        email: user.email,
        realname: user.realname,
        comment: String::new(),
        sysadmin_flag: user.sysadmin,
        creation_time: rfc3339(user.created_at),
        update_time: rfc3339(user.updated_at),
        source: user.source,
    }
}

/// Query of `GET /users`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Filter, Harbor syntax; key `username` (`x` exact, `~x` contains).
    pub q: Option<String>,
    /// Page number, from 1.
    pub page: Option<i64>,
    /// Entries per page (default 10, at most 100).
    pub page_size: Option<i64>,
}

/// Users, by id (system administrators).
#[utoipa::path(get, path = "/users", tag = "user", params(ListQuery),
    responses((status = 200, body = [UserResp], headers(("X-Total-Count" = u64), ("Link" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors),
        (status = 403, body = Errors)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    authz::can_administer(&caller, "list users")?;
    let auth = manage::accounts(&state)?;
    let page = PageParams {
        page: q.page,
        page_size: q.page_size,
    }
    .page()?;
    let parsed = query::parse(q.q.as_deref())?;
    parsed.only(&["username"])?;
    let (users, total) = match parsed.text("username")? {
        None => {
            auth.meta()
                .users_list("", page.offset(), page.page_size)
                .await
        }
        Some(TextMatch::Contains(x)) => {
            auth.meta()
                .users_list(&x, page.offset(), page.page_size)
                .await
        }
        Some(TextMatch::Exact(x)) => auth.meta().user_by_name(&x).await.map(|u| {
            let all: Vec<UserRecord> = u.into_iter().collect();
            let n = all.len() as u64;
            (
                all.into_iter()
                    .skip(page.offset().min(usize::MAX as u64) as usize)
                    .collect(),
                n,
            )
        }),
        Some(TextMatch::OneOf(_)) => {
            return Err(ApiError::BadRequest(
                "username takes x (exact) or ~x (contains)".into(),
            ))
        }
    }
    .map_err(berth_registry::Error::from)?;
    let body: Vec<UserResp> = users.into_iter().map(user_resp).collect();
    Ok((page.headers(total, &uri), Json(body)).into_response())
}

/// Harbor's `UserCreationReq`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UserCreationReq {
    /// Login name: 1–255 of `a-z 0-9 . _ - @`, starting with a letter or digit.
    pub username: String,
    /// E-mail address.
    #[serde(default)]
    pub email: String,
    /// Full name.
    #[serde(default)]
    pub realname: String,
    /// Password, at least 8 characters.
    pub password: String,
    /// Free text (not stored).
    #[serde(default)]
    pub comment: Option<String>,
}

/// Creates a user (system administrators). 201 with `Location:
/// /api/v2.0/users/{user_id}`; 409 when the name is taken.
#[utoipa::path(post, path = "/users", tag = "user", request_body = UserCreationReq,
    responses((status = 201, description = "Created", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 409, body = Errors)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<UserCreationReq>,
) -> ApiResult<Response> {
    let result = async {
        authz::can_administer(&caller, "create users")?;
        let auth = manage::accounts(&state)?;
        Ok(auth
            .create_user(
                &req.username,
                &req.password,
                &req.email,
                &req.realname,
                false,
            )
            .await?)
    }
    .await;
    let user = manage::audited(
        &state,
        &caller,
        AuditAction::UserCreate,
        Target {
            account: Some(&req.username),
            ..Target::default()
        },
        result,
    )?;
    let location = format!("{}/users/{}", super::BASE_PATH, user.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

/// Path of one user.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    /// User id.
    pub user_id: i64,
}

async fn user_by_id(state: &AppState, id: i64) -> ApiResult<UserRecord> {
    manage::accounts(state)?
        .meta()
        .user_by_id(id)
        .await
        .map_err(berth_registry::Error::from)?
        .ok_or_else(|| ApiError::NotFound(format!("user {id} not found")))
}

/// One user (system administrators, or the user themself).
#[utoipa::path(get, path = "/users/{user_id}", tag = "user", params(UserPath),
    responses((status = 200, body = UserResp), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(path): ApiPath<UserPath>,
) -> ApiResult<Json<UserResp>> {
    authz::can_act_on_user(&caller, path.user_id, "read other users")?;
    Ok(Json(user_resp(user_by_id(&state, path.user_id).await?)))
}

/// Harbor's `UserProfile`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UserProfile {
    /// E-mail address (absent: unchanged).
    #[serde(default)]
    pub email: Option<String>,
    /// Full name (absent: unchanged).
    #[serde(default)]
    pub realname: Option<String>,
    /// Free text (not stored).
    #[serde(default)]
    pub comment: Option<String>,
}

/// The name of user `id` for the audit trail (its id when unknown).
async fn name_of(state: &AppState, id: i64) -> String {
    match user_by_id(state, id).await {
        Ok(u) => u.username,
        Err(_) => id.to_string(),
    }
}

/// Changes a user's e-mail and full name (system administrators, or the user themself).
#[utoipa::path(put, path = "/users/{user_id}", tag = "user", params(UserPath),
    request_body = UserProfile,
    responses((status = 200, description = "Updated"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(path): ApiPath<UserPath>,
    ApiJson(req): ApiJson<UserProfile>,
) -> ApiResult<StatusCode> {
    let name = name_of(&state, path.user_id).await;
    let result = async {
        authz::can_act_on_user(&caller, path.user_id, "change other users")?;
        let u = user_by_id(&state, path.user_id).await?;
        let auth = manage::accounts(&state)?;
        let email = req.email.clone().unwrap_or(u.email);
        let realname = req.realname.clone().unwrap_or(u.realname);
        auth.meta()
            .user_update(u.id, &email, &realname, u.sysadmin)
            .await
            .map_err(berth_registry::Error::from)?;
        auth.invalidate().await;
        Ok(())
    }
    .await;
    manage::audited(
        &state,
        &caller,
        AuditAction::UserUpdate,
        Target {
            account: Some(&name),
            detail: "profile".into(),
            ..Target::default()
        },
        result,
    )?;
    Ok(StatusCode::OK)
}

/// Deletes a user with their memberships and tokens (system administrators;
/// the `admin` user cannot be deleted: 400).
#[utoipa::path(delete, path = "/users/{user_id}", tag = "user", params(UserPath),
    responses((status = 200, description = "Deleted"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(path): ApiPath<UserPath>,
) -> ApiResult<StatusCode> {
    let name = name_of(&state, path.user_id).await;
    let result = async {
        authz::can_administer(&caller, "delete users")?;
        Ok(manage::accounts(&state)?.delete_user(path.user_id).await?)
    }
    .await;
    manage::audited(
        &state,
        &caller,
        AuditAction::UserDelete,
        Target {
            account: Some(&name),
            ..Target::default()
        },
        result,
    )?;
    Ok(StatusCode::OK)
}

/// Harbor's `PasswordReq`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordReq {
    /// The current password (required when changing one's own password).
    #[serde(default)]
    pub old_password: Option<String>,
    /// The new password, at least 8 characters.
    pub new_password: String,
}

/// Changes a password. A user changes their own with the old password (wrong:
/// 400); a system administrator sets anyone else's without it.
#[utoipa::path(put, path = "/users/{user_id}/password", tag = "user", params(UserPath),
    request_body = PasswordReq,
    responses((status = 200, description = "Changed"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn set_password(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(path): ApiPath<UserPath>,
    ApiJson(req): ApiJson<PasswordReq>,
) -> ApiResult<StatusCode> {
    let name = name_of(&state, path.user_id).await;
    let result = async {
        authz::can_act_on_user(&caller, path.user_id, "change other users' passwords")?;
        let u = user_by_id(&state, path.user_id).await?;
        let own = caller.principal.user_id() == Some(u.id);
        if own || !caller.is_administrator() {
            // Throttled like a login (per name and address): a stolen session
            // or PAT cannot brute-force the password through this check.
            let old = req.old_password.clone().unwrap_or_default();
            let auth = manage::accounts(&state)?;
            match auth.check_password(&u.username, &old, caller.ip).await? {
                Ok(Some(_)) => {}
                Ok(None) => return Err(ApiError::BadRequest("old_password is wrong".into())),
                Err(wait) => {
                    return Err(ApiError::TooManyRequests(format!(
                        "too many wrong passwords for {:?} from this address; try again in {}",
                        crate::clip(&u.username),
                        humantime::format_duration(std::time::Duration::from_secs(
                            wait.as_secs().max(1)
                        ))
                    )))
                }
            }
        }
        Ok(manage::accounts(&state)?
            .set_password(u.id, &req.new_password)
            .await?)
    }
    .await;
    manage::audited(
        &state,
        &caller,
        AuditAction::UserUpdate,
        Target {
            account: Some(&name),
            detail: "password".into(),
            ..Target::default()
        },
        result,
    )?;
    Ok(StatusCode::OK)
}

/// Harbor's `OIDCCliSecretReq`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CliSecretReq {
    /// The new CLI secret, at least 8 characters.
    pub secret: String,
}

/// Sets the CLI secret of a user who signs in through OpenID Connect: the
/// password `docker login` and other registry clients use for them (the
/// user themself or a system administrator). berth keeps only its argon2id
/// hash, so it cannot be read back: the web UI generates one and shows it
/// once. Registry tokens issued on the previous secret stop working. 400 for
/// users who are not OIDC users or a secret under 8 characters.
#[utoipa::path(put, path = "/users/{user_id}/cli_secret", tag = "user", params(UserPath),
    request_body = CliSecretReq,
    responses((status = 200, description = "Set"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn set_cli_secret(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(path): ApiPath<UserPath>,
    ApiJson(req): ApiJson<CliSecretReq>,
) -> ApiResult<StatusCode> {
    let name = name_of(&state, path.user_id).await;
    let result = async {
        authz::can_act_on_user(&caller, path.user_id, "set other users' CLI secrets")?;
        Ok(manage::accounts(&state)?
            .set_cli_secret(path.user_id, &req.secret)
            .await?)
    }
    .await;
    manage::audited(
        &state,
        &caller,
        AuditAction::UserUpdate,
        Target {
            account: Some(&name),
            detail: "CLI secret".into(),
            ..Target::default()
        },
        result,
    )?;
    Ok(StatusCode::OK)
}

/// Harbor's `UserSysAdminFlag`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UserSysAdminFlag {
    /// Whether the user is a system administrator.
    pub sysadmin_flag: bool,
}

/// Grants or revokes system administration (system administrators).
#[utoipa::path(put, path = "/users/{user_id}/sysadmin", tag = "user", params(UserPath),
    request_body = UserSysAdminFlag,
    responses((status = 200, description = "Changed"), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn set_sysadmin(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(path): ApiPath<UserPath>,
    ApiJson(req): ApiJson<UserSysAdminFlag>,
) -> ApiResult<StatusCode> {
    let name = name_of(&state, path.user_id).await;
    let result = async {
        authz::can_administer(&caller, "change administrators")?;
        Ok(manage::accounts(&state)?
            .set_sysadmin(path.user_id, req.sysadmin_flag)
            .await?)
    }
    .await;
    manage::audited(
        &state,
        &caller,
        AuditAction::UserUpdate,
        Target {
            account: Some(&name),
            detail: format!("sysadmin={}", req.sysadmin_flag),
            ..Target::default()
        },
        result,
    )?;
    Ok(StatusCode::OK)
}
