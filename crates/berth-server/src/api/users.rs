//! Users, read side (Harbor `user` resource): `GET /users/current`.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::authz::Caller;
use super::error::{ApiError, ApiResult, Errors};
use super::rfc3339;
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
    Ok(Json(UserResp {
        user_id: user.id,
        username: user.username,
        email: user.email,
        realname: user.realname,
        comment: String::new(),
        sysadmin_flag: user.sysadmin,
        creation_time: rfc3339(user.created_at),
        update_time: rfc3339(user.updated_at),
    }))
}
