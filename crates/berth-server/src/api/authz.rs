//! Every access decision of the management API, in one file. Handlers extract a
//! [`Caller`] and ask one `can_*` function before they act; nothing else in
//! `api/` decides who may do what.
//!
//! Credentials are those of the `/v2` API ([`crate::auth::credentials`]): HTTP
//! Basic (user password, personal access token or robot secret, as `harbor-cli`
//! and the Terraform provider send) or a Bearer token from `/v2/token` (in
//! `auth.mode = token`). The decisions are [`Auth`]'s: a project's role
//! permissions ([`Auth::project_permissions`]) for project-wide reads, a
//! repository's ([`Auth::permissions`], which also applies the project's IP
//! allow-lists) for changes to one repository. A refusal is 401 `UNAUTHORIZED`
//! for an anonymous caller and 403 `FORBIDDEN` for an authenticated one, as in
//! Harbor. With `auth.mode = none` (or no [`Auth`]) every check allows.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use berth_oci::RepositoryName;
use berth_registry::auth::AuthMode;
use berth_registry::{Auth, Login, Permissions, Principal};

use super::error::{ApiError, ApiResult};
use crate::auth::Credentials;
use crate::server::AppState;

/// Who is calling, authenticated from the request's credentials.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The principal (anonymous without credentials).
    pub principal: Principal,
    /// Client address (for IP allow-lists).
    pub ip: Option<IpAddr>,
    /// False when authentication is off: every check allows.
    enforced: bool,
}

fn auth_of(state: &AppState) -> Option<&Auth> {
    state.auth.as_deref().filter(|a| a.mode() != AuthMode::None)
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let ip = crate::listener::peer(&parts.extensions).map(|a| a.ip());
        let Some(auth) = auth_of(state) else {
            return Ok(Caller {
                principal: Principal::Anonymous,
                ip,
                enforced: false,
            });
        };
        let invalid = || ApiError::Unauthorized("invalid credentials".into());
        let principal = match crate::auth::credentials(&parts.headers) {
            Credentials::None => Principal::Anonymous,
            Credentials::Basic(user, pass) => match auth.login(&user, &pass, ip).await? {
                Login::Ok(p) => p,
                Login::Invalid => return Err(invalid()),
                Login::Throttled(wait) => {
                    return Err(ApiError::TooManyRequests(format!(
                        "too many failed logins; retry in {} s",
                        wait.as_secs().max(1)
                    )))
                }
            },
            Credentials::Bearer(token) if auth.mode() == AuthMode::Token => {
                let claims = auth.verify_token(&token).map_err(|_| invalid())?;
                auth.principal_by_name(&claims.sub)
                    .await?
                    .ok_or_else(invalid)?
            }
            Credentials::Bearer(_) | Credentials::Malformed => return Err(invalid()),
        };
        Ok(Caller {
            principal,
            ip,
            enforced: true,
        })
    }
}

impl Caller {
    fn refuse(&self, what: &str) -> ApiError {
        if self.principal.is_authenticated() {
            ApiError::Forbidden(format!("{} may not {what}", self.principal.name()))
        } else {
            ApiError::Unauthorized(format!("sign in to {what}"))
        }
    }
}

async fn on_project(state: &AppState, caller: &Caller, project: &str) -> ApiResult<Permissions> {
    match auth_of(state) {
        Some(auth) if caller.enforced => {
            Ok(auth.project_permissions(&caller.principal, project).await?)
        }
        _ => Ok(Permissions::ALL),
    }
}

async fn on_repository(
    state: &AppState,
    caller: &Caller,
    repository: &str,
) -> ApiResult<Permissions> {
    match auth_of(state) {
        Some(auth) if caller.enforced => {
            let name = RepositoryName::parse(repository).map_err(berth_registry::Error::from)?;
            Ok(auth
                .permissions(&caller.principal, &name, caller.ip, false)
                .await?)
        }
        _ => Ok(Permissions::ALL),
    }
}

fn require(caller: &Caller, held: Permissions, needed: Permissions, what: &str) -> ApiResult<()> {
    if held.contains(needed) {
        Ok(())
    } else {
        Err(caller.refuse(what))
    }
}

/// Whether anyone, signed in or not, may read the project (Harbor's `public`
/// project metadata): a stored project's flag; without authentication every
/// project is public.
pub async fn project_is_public(state: &AppState, project: &str) -> ApiResult<bool> {
    match auth_of(state) {
        Some(auth) => Ok(auth.project(project).await?.is_some_and(|p| p.public)),
        None => Ok(true),
    }
}

/// May `caller` see the project and read its repositories and artifacts (pull)?
pub async fn can_read_project(state: &AppState, caller: &Caller, project: &str) -> ApiResult<()> {
    let held = on_project(state, caller, project).await?;
    require(
        caller,
        held,
        Permissions::PULL,
        &format!("read project {project}"),
    )
}

/// May `caller` list the project's repositories, artifacts and tags (every role
/// but limited guest)?
pub async fn can_list_project(state: &AppState, caller: &Caller, project: &str) -> ApiResult<()> {
    let held = on_project(state, caller, project).await?;
    require(
        caller,
        held,
        Permissions::PULL.union(Permissions::LIST),
        &format!("list project {project}"),
    )
}

/// May `caller` list repositories across all projects (`GET /repositories`)?
/// With authentication, system administrators only (others list per project).
pub fn can_list_all_repositories(caller: &Caller) -> ApiResult<()> {
    if !caller.enforced || caller.principal.is_sysadmin() {
        Ok(())
    } else {
        Err(caller.refuse("list the repositories of all projects"))
    }
}

/// May `caller` delete the repository (delete permission on it)?
pub async fn can_delete_repository(
    state: &AppState,
    caller: &Caller,
    repository: &str,
) -> ApiResult<()> {
    let held = on_repository(state, caller, repository).await?;
    require(
        caller,
        held,
        Permissions::DELETE,
        &format!("delete {repository}"),
    )
}

/// May `caller` delete an artifact of the repository?
pub async fn can_delete_artifact(
    state: &AppState,
    caller: &Caller,
    repository: &str,
) -> ApiResult<()> {
    let held = on_repository(state, caller, repository).await?;
    require(
        caller,
        held,
        Permissions::DELETE,
        &format!("delete artifacts of {repository}"),
    )
}

/// May `caller` add a tag to an artifact of the repository (push permission)?
pub async fn can_create_tag(state: &AppState, caller: &Caller, repository: &str) -> ApiResult<()> {
    let held = on_repository(state, caller, repository).await?;
    require(
        caller,
        held,
        Permissions::PUSH,
        &format!("tag in {repository}"),
    )
}

/// May `caller` remove a tag in the repository (delete permission)?
pub async fn can_delete_tag(state: &AppState, caller: &Caller, repository: &str) -> ApiResult<()> {
    let held = on_repository(state, caller, repository).await?;
    require(
        caller,
        held,
        Permissions::DELETE,
        &format!("delete tags of {repository}"),
    )
}

/// May `caller` read the system information (`GET /systeminfo`)? Harbor answers
/// anyone.
pub fn can_read_system_info(_caller: &Caller) -> ApiResult<()> {
    Ok(())
}

/// May `caller` act as system administrator (create or delete projects, manage
/// users and system robots, read the audit trail)? With authentication off,
/// everyone may.
pub fn can_administer(caller: &Caller, what: &str) -> ApiResult<()> {
    if !caller.enforced || caller.principal.is_sysadmin() {
        Ok(())
    } else {
        Err(caller.refuse(what))
    }
}

/// May `caller` manage the project: change its settings, members and robots
/// (project admin or system administrator, [`Permissions::MANAGE`])?
pub async fn can_manage_project(state: &AppState, caller: &Caller, project: &str) -> ApiResult<()> {
    let held = on_project(state, caller, project).await?;
    require(
        caller,
        held,
        Permissions::MANAGE,
        &format!("manage project {project}"),
    )
}

/// May `caller` act on the user account `user_id` (self-service: their own
/// account; a system administrator: any)?
pub fn can_act_on_user(caller: &Caller, user_id: i64, what: &str) -> ApiResult<()> {
    if !caller.enforced
        || caller.principal.is_sysadmin()
        || caller.principal.user_id() == Some(user_id)
    {
        Ok(())
    } else {
        Err(caller.refuse(what))
    }
}

impl Caller {
    /// True when the caller is a system administrator or authentication is off.
    pub fn is_administrator(&self) -> bool {
        !self.enforced || self.principal.is_sysadmin()
    }
}
