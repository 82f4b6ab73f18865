//! Every access decision of the management API, in one file. Handlers extract a
//! [`Caller`] and ask one `can_*` function before they act; nothing else in
//! `api/` decides who may do what.
//!
//! Credentials: HTTP Basic (user password, personal access token or robot
//! secret, as `harbor-cli` and the Terraform provider send). A Bearer token
//! from `/v2/token` is refused here: registry tokens are what every docker
//! client and CI log holds, scoped to repositories, and must never act as the
//! account (docs/security.md). The web UI's session cookie is the third way
//! in ([`crate::ui::session_principal`]: a change needs the session's CSRF
//! token). The decisions are [`Auth`]'s: a project's role
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

/// The account service when authentication is on (not `auth.mode = none`).
pub(crate) fn auth_of(state: &AppState) -> Option<&Auth> {
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
            Credentials::None => match crate::ui::session_cookie(&parts.headers) {
                None => Principal::Anonymous,
                Some(cookie) => {
                    crate::ui::session_principal(auth, &cookie, &parts.method, &parts.headers)
                        .await?
                }
            },
            Credentials::Basic(user, pass) => match auth.login(&user, &pass, ip).await? {
                Login::Ok(p, _) => p,
                Login::Invalid => {
                    state
                        .audit
                        .record(failed_login(&user, ip, "incorrect username or password"));
                    return Err(invalid());
                }
                Login::Throttled(wait) => {
                    state.audit.record(failed_login(
                        &user,
                        ip,
                        "throttled after repeated failures",
                    ));
                    return Err(ApiError::TooManyRequests(crate::auth::throttled_text(
                        &user, wait,
                    )));
                }
            },
            Credentials::Bearer(_) => {
                return Err(ApiError::Unauthorized(
                    "registry tokens from /v2/token are not accepted by the management API; \
                     use HTTP Basic with a password, personal access token or robot secret"
                        .into(),
                ))
            }
            Credentials::Malformed => return Err(invalid()),
        };
        crate::middleware::LoggedUser::set(&parts.extensions, principal.name());
        Ok(Caller {
            principal,
            ip,
            enforced: true,
        })
    }
}

/// The audit entry of a failed management-API login (as on `/v2`).
fn failed_login(user: &str, ip: Option<IpAddr>, why: &str) -> berth_registry::AuditEntry {
    crate::auth::login_attempt(
        user,
        ip,
        berth_registry::Outcome::Failure,
        format!("HTTP Basic on /api/v2.0: {why}"),
    )
}

/// The one answer to an anonymous caller refused anything: the same text
/// whether or not the object exists, naming nothing.
pub const SIGN_IN: &str = "authentication required";

/// The one answer to an authenticated caller refused something it may not
/// see: the same whether or not the object exists, naming nothing.
pub const FORBIDDEN: &str =
    "forbidden: the caller lacks the permission, or the resource does not exist";

impl Caller {
    /// The refusal of `what`: 401 [`SIGN_IN`] for anonymous callers, 403
    /// [`FORBIDDEN`] for others. `what` is logged at debug level only (it may
    /// name a private project), never sent.
    fn refuse(&self, what: &str) -> ApiError {
        tracing::debug!(
            caller = self.principal.name(),
            what,
            "management API refusal"
        );
        if self.principal.is_authenticated() {
            ApiError::Forbidden(FORBIDDEN.into())
        } else {
            ApiError::Unauthorized(SIGN_IN.into())
        }
    }

    /// [`Caller::refuse`] for use outside this module (a handler that found
    /// the object out of the caller's reach after authorization).
    pub fn refusal(&self) -> ApiError {
        self.refuse("see this resource")
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

/// May `caller` read the repository's metadata (an artifact, a tag, the
/// repository itself)? Exactly what a `/v2` pull of it needs: pull permission
/// on that repository by [`Auth::permissions`], the function `/v2` uses
/// (repository-limited memberships and robots, the pull IP allow-list).
pub async fn can_read_repository(
    state: &AppState,
    caller: &Caller,
    repository: &str,
) -> ApiResult<()> {
    let held = on_repository(state, caller, repository).await?;
    require(caller, held, Permissions::PULL, "read a repository")
}

/// May `caller` list the repository's artifacts and tags (what the `/v2` tags
/// list needs: pull and list; limited guests may pull but not list)?
pub async fn can_list_repository(
    state: &AppState,
    caller: &Caller,
    repository: &str,
) -> ApiResult<()> {
    let held = on_repository(state, caller, repository).await?;
    require(
        caller,
        held,
        Permissions::PULL.union(Permissions::LIST),
        "list a repository",
    )
}

/// True when [`can_list_repository`] allows (for filtering listings and
/// search results); an unparseable name is not shown.
pub async fn repository_listed(state: &AppState, caller: &Caller, repository: &str) -> bool {
    if !caller.enforced {
        return true;
    }
    can_list_repository(state, caller, repository).await.is_ok()
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
