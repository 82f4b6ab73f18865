//! Authentication on the `/v2` API: reads credentials (Bearer token or HTTP
//! Basic), asks [`Auth`] what the caller may do, and turns a refusal into the
//! answer docker, containerd, podman and skopeo expect:
//!
//! - no or invalid credentials → 401 UNAUTHORIZED with a challenge naming the
//!   scope the request needs (`WWW-Authenticate: Bearer realm="<base>/v2/token",
//!   service="<service>",scope="repository:<name>:pull,push"`), and
//!   `error="insufficient_scope"` when a token lacks it (Docker token spec
//!   §How to authenticate);
//! - credentials that may not do it → 403 DENIED "requested access to the
//!   resource is denied", also for repositories in projects the caller cannot
//!   see (existence is not leaked).
//!
//! A token that lacks a scope its subject does hold gets the 401 challenge, not
//! 403, so a client that fetched a token for another scope fetches a new one.

use std::net::IpAddr;

use axum::http::HeaderMap;
use base64::Engine;
use berth_oci::RepositoryName;
use berth_registry::auth::{AuthMode, Scope};
use berth_registry::{Access, Action, Auth, Error, Login, Permissions, Principal};

use crate::error::ApiError;
use crate::server::AppState;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// The scopes of the bearer token the request carried, if any.
    pub token_scopes: Option<Vec<Scope>>,
    /// Client address.
    pub ip: Option<IpAddr>,
}

impl Caller {
    /// An anonymous caller without a token.
    pub fn anonymous(ip: Option<IpAddr>) -> Caller {
        Caller {
            principal: Principal::Anonymous,
            token_scopes: None,
            ip,
        }
    }
}

/// Credentials in an `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub enum Credentials {
    /// None sent.
    None,
    /// `Basic base64(user:password)`.
    Basic(String, String),
    /// `Bearer <token>`.
    Bearer(String),
    /// Something else, or undecodable.
    Malformed,
}

/// Reads the `Authorization` header (RFC 7617 Basic, RFC 6750 Bearer; scheme
/// names are case-insensitive).
pub fn credentials(headers: &HeaderMap) -> Credentials {
    let Some(value) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Credentials::None;
    };
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        return Credentials::Bearer(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        if let Some((user, pass)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
            return Credentials::Basic(user.to_owned(), pass.to_owned());
        }
    }
    Credentials::Malformed
}

/// The token endpoint's URL for challenges: `auth.realm` when configured, else
/// `<scheme>://<authority>/v2/token` from the request: its `Host`, or the
/// HTTP/2 `:authority` ([`crate::middleware::authority_host`] copies it into
/// `Host`), else the listen address ([`AppState::default_authority`]);
/// `X-Forwarded-Proto` honoured. Behind a proxy that rewrites `Host`, set
/// `auth.realm` (docs/security.md).
pub fn realm(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(r) = &state.realm {
        return r.clone();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic() && b != b'"'))
        .unwrap_or(&state.default_authority);
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or(if state.tls { "https" } else { "http" });
    format!("{scheme}://{host}/v2/token")
}

/// The scope a request needs, as challenge text (`None` for `/v2/`).
pub fn scope_of(access: &Access) -> Option<String> {
    match access {
        Access::Base => None,
        Access::Catalog => Some("registry:catalog:*".into()),
        Access::Repository(name, actions) => Some(format!(
            "repository:{}:{}",
            name,
            actions
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(",")
        )),
    }
}

/// A 401 with the challenge of the configured mode.
pub fn challenge(
    auth: &Auth,
    state: &AppState,
    headers: &HeaderMap,
    scope: Option<&str>,
    error: Option<&str>,
) -> ApiError {
    let text = match auth.mode() {
        AuthMode::Basic => format!("Basic realm=\"{}\"", auth.config().service),
        _ => {
            let mut c = format!(
                "Bearer realm=\"{}\",service=\"{}\"",
                realm(state, headers),
                auth.config().service
            );
            if let Some(s) = scope {
                c.push_str(&format!(",scope=\"{s}\""));
            }
            if let Some(e) = error {
                c.push_str(&format!(",error=\"{e}\""));
            }
            c
        }
    };
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(crate::clip)
        .unwrap_or(&state.default_authority);
    let login = format!("sign in first: `docker login {host}`");
    ApiError::Unauthorized {
        challenge: Some(text),
        detail: Some(match scope {
            Some(s) => format!("this request needs {s}; {login}"),
            None => login,
        }),
    }
}

/// The audit entry of one login attempt by the account name `user` (a robot
/// when the name says so), shared by `/v2`, the token endpoint and the
/// management API so every failed login reads alike.
pub fn login_attempt(
    user: &str,
    ip: Option<IpAddr>,
    outcome: berth_registry::Outcome,
    detail: impl Into<String>,
) -> berth_registry::AuditEntry {
    let actor = if user.starts_with("robot$") {
        berth_registry::Actor::robot(user)
    } else {
        berth_registry::Actor::user(user)
    };
    berth_registry::AuditEntry::new(actor, berth_registry::AuditAction::Login, outcome)
        .ip(ip)
        .detail(detail)
}

/// What a throttled caller is told: for whom, and how long to wait, e.g.
/// `too many failed logins for "alice" from this address; try again in 4m 51s`.
pub fn throttled_text(user: &str, wait: std::time::Duration) -> String {
    format!(
        "too many failed logins for {:?} from this address; try again in {}",
        crate::clip(user),
        humantime::format_duration(std::time::Duration::from_secs(wait.as_secs().max(1)))
    )
}

fn throttled(user: &str, wait: std::time::Duration) -> ApiError {
    ApiError::from(Error::LoginThrottled(throttled_text(user, wait))).with_header(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(wait.as_secs().max(1)),
    )
}

/// The scope text a challenge for `access` names: [`scope_of`], plus
/// `repository:<from>:pull` for a cross-repository mount (`POST
/// …/blobs/uploads/?mount=<digest>&from=<from>`), space-separated as
/// Distribution's challenge does, so docker, containerd and the conformance
/// suite fetch one token that can read the mount's source.
pub fn challenge_scope(access: &Access, mount_from: Option<&RepositoryName>) -> Option<String> {
    let own = scope_of(access);
    match (own, mount_from) {
        (Some(own), Some(from)) if from.as_str() != own_name(access) => {
            Some(format!("{own} repository:{from}:pull"))
        }
        (own, _) => own,
    }
}

fn own_name(access: &Access) -> &str {
    match access {
        Access::Repository(name, _) => name.as_str(),
        _ => "",
    }
}

/// Identifies the caller of a `/v2` request and checks it may have `access`;
/// `scope` is the challenge's scope text ([`challenge_scope`]).
pub async fn authorize(
    state: &AppState,
    access: &Access,
    scope: Option<&str>,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    let caller = identify(state, access, scope, headers, ip).await?;
    check(state, &caller, access, scope, headers).await?;
    Ok(caller)
}

/// Who the credentials name. Errors: 401 with a challenge for invalid
/// credentials, 429 while the name or address is locked out.
pub async fn identify(
    state: &AppState,
    _access: &Access,
    scope: Option<&str>,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    let Some(auth) = state.auth.as_deref() else {
        return Ok(Caller::anonymous(ip));
    };
    if auth.mode() == AuthMode::None {
        return Ok(Caller::anonymous(ip));
    }
    let deny_unauth = |error: Option<&str>| challenge(auth, state, headers, scope, error);
    Ok(match credentials(headers) {
        Credentials::None => Caller::anonymous(ip),
        Credentials::Bearer(token) if auth.mode() == AuthMode::Token => {
            let Ok(claims) = auth.verify_token(&token) else {
                return Err(deny_unauth(Some("invalid_token")));
            };
            // The principal as it is now, by its bound credential: a deleted,
            // disabled, demoted or re-keyed account loses its tokens too.
            let Some(principal) = auth
                .token_principal(&claims)
                .await
                .map_err(ApiError::from)?
            else {
                return Err(deny_unauth(Some("invalid_token")));
            };
            Caller {
                principal,
                token_scopes: Some(claims.access),
                ip,
            }
        }
        Credentials::Basic(user, pass) => match auth.login(&user, &pass, ip).await? {
            Login::Ok(principal, _) => Caller {
                principal,
                token_scopes: None,
                ip,
            },
            Login::Invalid => {
                state.audit.record(login_attempt(
                    &user,
                    ip,
                    berth_registry::Outcome::Failure,
                    "HTTP Basic on /v2: incorrect username or password",
                ));
                return Err(deny_unauth(None));
            }
            Login::Throttled(wait) => {
                state.audit.record(login_attempt(
                    &user,
                    ip,
                    berth_registry::Outcome::Failure,
                    "HTTP Basic on /v2: throttled after repeated failures",
                ));
                return Err(throttled(&user, wait));
            }
        },
        Credentials::Bearer(_) | Credentials::Malformed => return Err(deny_unauth(None)),
    })
}

/// 403 DENIED for an authenticated caller. When the repository's project
/// does not exist ([`berth_registry::Registry::project_exists`]: neither
/// stored nor holding a repository), the message says so (and, for a push, who can create it),
/// as Harbor tells signed-in users: `project "x" does not exist; ...`. A
/// client pushing into it is refused on its first blob check already; a
/// `HEAD` has no body, so skopeo shows a bare 403 there, docker and the
/// upload requests show the message. Every other refusal is the spec's
/// "requested access to the resource is denied". Anonymous callers never get
/// here: they are challenged (401) and learn nothing about names.
async fn denied(state: &AppState, name: &RepositoryName, wants_push: bool) -> ApiError {
    let project = name.project();
    if matches!(state.registry.project_exists(project).await, Ok(false)) {
        let message = if wants_push {
            format!(
                "project \"{project}\" does not exist; a system administrator creates it \
                 (`berth project create {project}` or POST /api/v2.0/projects), \
                 or turns on auth.auto_create_projects"
            )
        } else {
            format!("project \"{project}\" does not exist")
        };
        return Error::PolicyDenied(message).into();
    }
    Error::Denied.into()
}

/// Checks an identified caller may have `access`: 401 with a challenge
/// (anonymous, or a token without the scope its subject holds), 403 DENIED.
pub async fn check(
    state: &AppState,
    caller: &Caller,
    access: &Access,
    scope: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let Some(auth) = state.auth.as_deref() else {
        return Ok(());
    };
    if auth.mode() == AuthMode::None {
        return Ok(());
    }
    let ip = caller.ip;
    let deny_unauth = |error: Option<&str>| challenge(auth, state, headers, scope, error);
    match access {
        Access::Base => {
            if caller.principal.is_authenticated() || caller.token_scopes.is_some() {
                Ok(())
            } else {
                Err(deny_unauth(None))
            }
        }
        Access::Catalog => match &caller.token_scopes {
            Some(scopes)
                if !scopes
                    .iter()
                    .any(|s| s.kind == "registry" && s.name == "catalog") =>
            {
                Err(deny_unauth(Some("insufficient_scope")))
            }
            None if !caller.principal.is_authenticated() => Err(deny_unauth(None)),
            _ => Ok(()),
        },
        Access::Repository(name, actions) => {
            let needed = Permissions::of_actions(actions);
            let wants_push = actions.contains(&Action::Push);
            if let Some(scopes) = &caller.token_scopes {
                // A token's scopes are what it was granted; what it allows now is
                // their intersection with what its principal holds now (roles,
                // robot permissions, public flag, IP allow-lists), so revocation
                // reaches tokens already issued. A push may create the project.
                let held = auth
                    .permissions(&caller.principal, name, ip, wants_push)
                    .await?;
                if token_allows(scopes, name, actions) {
                    if held.contains(needed) {
                        return Ok(());
                    }
                    if caller.principal.is_authenticated() {
                        return Err(denied(state, name, wants_push).await);
                    }
                    return Err(deny_unauth(None));
                }
                if held.contains(needed) || !caller.principal.is_authenticated() {
                    return Err(deny_unauth(Some("insufficient_scope")));
                }
                return Err(denied(state, name, wants_push).await);
            }
            let held = auth
                .permissions(&caller.principal, name, ip, wants_push)
                .await?;
            if held.contains(needed) {
                Ok(())
            } else if caller.principal.is_authenticated() {
                Err(denied(state, name, wants_push).await)
            } else {
                Err(deny_unauth(None))
            }
        }
    }
}

/// True when the token's scopes hold every action on `name`.
fn token_allows(scopes: &[Scope], name: &RepositoryName, actions: &[Action]) -> bool {
    actions.iter().all(|a| {
        scopes.iter().any(|s| {
            s.kind == "repository"
                && s.name == name.as_str()
                && s.actions.iter().any(|x| x == a.as_str() || x == "*")
        })
    })
}

/// What the caller may do on `name` beyond the token's scopes: used for tag
/// listing (limited guests may pull but not list) and catalog filtering.
pub async fn permissions(
    state: &AppState,
    caller: &Caller,
    name: &RepositoryName,
) -> Result<Permissions, ApiError> {
    match state.auth.as_deref() {
        Some(auth) if auth.mode() != AuthMode::None => Ok(auth
            .permissions(&caller.principal, name, caller.ip, false)
            .await?),
        _ => Ok(Permissions::ALL),
    }
}

/// True when the caller may read `from` (a cross-repository mount source): by
/// token scope, or by permission when authenticated with Basic.
pub async fn may_pull(state: &AppState, caller: &Caller, from: &RepositoryName) -> bool {
    let Some(auth) = state.auth.as_deref() else {
        return true;
    };
    if auth.mode() == AuthMode::None {
        return true;
    }
    if let Some(scopes) = &caller.token_scopes {
        if !token_allows(scopes, from, &[Action::Pull]) {
            return false;
        }
    }
    auth.permissions(&caller.principal, from, caller.ip, false)
        .await
        .map(|p| p.contains(Permissions::PULL))
        .unwrap_or(false)
}

/// The audit trail's name for a principal.
pub fn actor(p: &Principal) -> berth_registry::Actor {
    match p {
        Principal::Anonymous => berth_registry::Actor::anonymous(),
        Principal::User { name, .. } => berth_registry::Actor::user(name.clone()),
        Principal::Robot { name, .. } => berth_registry::Actor::robot(name.clone()),
    }
}

/// True when auth is on (mode token or basic).
pub fn enabled(state: &AppState) -> bool {
    state
        .auth
        .as_deref()
        .is_some_and(|a| a.mode() != AuthMode::None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_basic_and_bearer_credentials() {
        let mut h = HeaderMap::new();
        assert_eq!(credentials(&h), Credentials::None);
        h.insert(
            "authorization",
            "Basic YWxpY2U6cHc6eA==".parse().expect("hv"),
        );
        assert_eq!(
            credentials(&h),
            Credentials::Basic("alice".into(), "pw:x".into())
        );
        h.insert("authorization", "bearer abc.def".parse().expect("hv"));
        assert_eq!(credentials(&h), Credentials::Bearer("abc.def".into()));
        h.insert("authorization", "Basic !!!".parse().expect("hv"));
        assert_eq!(credentials(&h), Credentials::Malformed);
    }
}
