//! `/v2/token`: the token endpoint of Docker token authentication.
//!
//! - `GET /v2/token?service=&scope=…&scope=…[&account=][&offline_token=true]`
//!   with optional HTTP Basic credentials (token spec §Requesting a Token);
//!   anonymous callers get a token for what anonymous may do (public pulls).
//! - `POST /v2/token` with an `application/x-www-form-urlencoded` body
//!   (`grant_type=password` + `username`/`password`, or
//!   `grant_type=refresh_token` + `refresh_token`; `service`, `scope`
//!   space-separated, `client_id`, `access_type=offline`) — the OAuth2 form
//!   (distribution `docs/spec/auth/oauth.md`).
//!
//! The answer: `{"token","access_token","expires_in","issued_at"[,"refresh_token"]}`;
//! the token holds only the requested actions the caller is permitted
//! (intersection, never an error for asking too much).

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_registry::auth::{AuthMode, Scope};
use berth_registry::{Actor, AuditAction, AuditEntry, Auth, Error, Login, Outcome, Principal};
use http_body_util::BodyExt;
use serde_json::json;

use crate::auth::{credentials, Credentials};
use crate::error::ApiError;
use crate::server::AppState;

/// Largest accepted POST form body.
const MAX_FORM_BYTES: usize = 64 * 1024;

fn pairs(text: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::Unauthorized {
        challenge: None,
        detail: Some(message.to_owned()),
    }
}

fn auth_of(state: &AppState) -> Result<&Auth, ApiError> {
    match state.auth.as_deref() {
        Some(a) if a.mode() == AuthMode::Token => Ok(a),
        _ => Err(ApiError::NoRoute),
    }
}

fn check_service(auth: &Auth, service: Option<&str>) -> Result<(), ApiError> {
    match service {
        Some(s) if s != auth.config().service => Err(ApiError::BadRequest(format!(
            "token requested for service {s:?}; this registry's service is {:?}",
            auth.config().service
        ))),
        _ => Ok(()),
    }
}

async fn answer(
    state: &AppState,
    auth: &Auth,
    who: &Principal,
    scopes: &[Scope],
    ip: Option<std::net::IpAddr>,
    want_refresh: bool,
) -> Result<Response, ApiError> {
    let granted = auth.grant(who, scopes, ip).await?;
    let scope_text = granted
        .iter()
        .map(Scope::to_scope_string)
        .collect::<Vec<_>>()
        .join(" ");
    let (token, claims) = auth
        .tokens()
        .issue(
            if who.is_authenticated() {
                who.name()
            } else {
                ""
            },
            granted,
        )
        .map_err(|e| Error::Unsupported(e.to_string()))?;
    let issued_at = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(claims.iat));
    let mut body = json!({
        "token": token,
        "access_token": token,
        "expires_in": claims.exp.saturating_sub(claims.iat),
        "issued_at": issued_at.to_string(),
        "scope": scope_text,
    });
    if want_refresh {
        if let Some(refresh) = auth.issue_refresh(who).await? {
            body["refresh_token"] = json!(refresh);
        }
    }
    tracing::debug!(sub = who.name(), scope = %scope_text, "token issued");
    state.audit.record(
        AuditEntry::new(
            crate::auth::actor(who),
            AuditAction::TokenIssue,
            Outcome::Success,
        )
        .ip(ip)
        .detail(if scope_text.is_empty() {
            "no scope".to_owned()
        } else {
            scope_text.clone()
        }),
    );
    Ok((
        StatusCode::OK,
        [
            ("content-type", "application/json"),
            ("cache-control", "no-store"),
        ],
        body.to_string(),
    )
        .into_response())
}

async fn login(
    state: &AppState,
    auth: &Auth,
    user: &str,
    pass: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<Principal, ApiError> {
    let attempt = |outcome: Outcome, detail: &str| {
        let actor = if user.starts_with("robot$") {
            Actor::robot(user)
        } else {
            Actor::user(user)
        };
        AuditEntry::new(actor, AuditAction::Login, outcome)
            .ip(ip)
            .detail(detail)
    };
    match auth.login(user, pass, ip).await? {
        Login::Ok(p) => {
            state
                .audit
                .record(attempt(Outcome::Success, "token endpoint"));
            Ok(p)
        }
        Login::Invalid => {
            tracing::info!(user, ip = ?ip, "login failed");
            state
                .audit
                .record(attempt(Outcome::Failure, "incorrect username or password"));
            Err(unauthorized("incorrect username or password"))
        }
        Login::Throttled(wait) => {
            state.audit.record(attempt(
                Outcome::Failure,
                "throttled after repeated failures",
            ));
            Err(ApiError::from(Error::TooManyRequests).with_header(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(wait.as_secs().max(1)),
            ))
        }
    }
}

/// `GET /v2/token`.
pub async fn get(State(state): State<Arc<AppState>>, req: Request) -> Response {
    get_inner(&state, req)
        .await
        .unwrap_or_else(|e| e.into_response())
}

async fn get_inner(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let auth = auth_of(state)?;
    let ip = crate::listener::peer(req.extensions()).map(|a| a.ip());
    let q = pairs(req.uri().query().unwrap_or(""));
    check_service(auth, first(&q, "service"))?;
    let scopes = Scope::parse_all(
        q.iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str()),
    );
    let who = match credentials(req.headers()) {
        Credentials::None => Principal::Anonymous,
        Credentials::Basic(user, pass) => login(state, auth, &user, &pass, ip).await?,
        Credentials::Bearer(_) | Credentials::Malformed => {
            return Err(unauthorized(
                "the token endpoint takes HTTP Basic credentials",
            ))
        }
    };
    let offline = first(&q, "offline_token").is_some_and(|v| v == "true");
    answer(state, auth, &who, &scopes, ip, offline).await
}

/// `POST /v2/token` (OAuth2 password and refresh-token grants).
pub async fn post(State(state): State<Arc<AppState>>, req: Request) -> Response {
    post_inner(&state, req)
        .await
        .unwrap_or_else(|e| e.into_response())
}

async fn read_form(headers: &HeaderMap, body: Body) -> Result<Vec<(String, String)>, ApiError> {
    let ct = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(Error::Unsupported(
            "the token endpoint takes an application/x-www-form-urlencoded body".into(),
        )
        .into());
    }
    let limited = http_body_util::Limited::new(body, MAX_FORM_BYTES);
    let bytes = limited.collect().await.map_err(|_| {
        ApiError::from(Error::SizeInvalid(format!(
            "token request body over {MAX_FORM_BYTES} bytes"
        )))
    })?;
    Ok(pairs(&String::from_utf8_lossy(&bytes.to_bytes())))
}

async fn post_inner(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let auth = auth_of(state)?;
    let ip = crate::listener::peer(req.extensions()).map(|a| a.ip());
    let (parts, body) = req.into_parts();
    let form = read_form(&parts.headers, body).await?;
    check_service(auth, first(&form, "service"))?;
    let scopes = Scope::parse_all(first(&form, "scope"));
    let who = match first(&form, "grant_type") {
        Some("password") => {
            let user = first(&form, "username").unwrap_or("");
            let pass = first(&form, "password").unwrap_or("");
            login(state, auth, user, pass, ip).await?
        }
        Some("refresh_token") => {
            let token = first(&form, "refresh_token").unwrap_or("");
            match auth.refresh(token).await? {
                Some(p) => p,
                None => return Err(unauthorized("invalid or expired refresh token")),
            }
        }
        other => {
            return Err(Error::Unsupported(format!(
                "grant_type {:?} is not supported: use password or refresh_token",
                other.unwrap_or("")
            ))
            .into())
        }
    };
    let offline = first(&form, "access_type") == Some("offline");
    answer(state, auth, &who, &scopes, ip, offline).await
}
