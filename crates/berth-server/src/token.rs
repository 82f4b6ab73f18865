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
//! (intersection, never an error for asking too much). Asking for a push
//! scope never creates a project: only the push itself may
//! (`auth.auto_create_projects`).
//!
//! Errors carry both shapes in one body, so OAuth2 clients and Docker clients
//! each find theirs: RFC 6749 §5.2's `{"error","error_description"}` and the
//! registry's `{"errors":[{"code","message"}]}`:
//!
//! | status | `error` | when |
//! |---|---|---|
//! | 400 | `unsupported_grant_type` | `grant_type` other than `password` / `refresh_token` |
//! | 400 | `invalid_request` | missing parameter, wrong body type or size, wrong `service` |
//! | 400 | `invalid_grant` | wrong password or secret (POST), invalid, expired or revoked refresh token |
//! | 401 | `invalid_client` | wrong credentials on `GET` (HTTP Basic), or an `Authorization` scheme other than Basic |
//! | 429 | `temporarily_unavailable` | login throttled (`Retry-After`) |

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_registry::auth::{AuthMode, Scope};
use berth_registry::{AuditAction, AuditEntry, Auth, Credential, Error, Login, Outcome, Principal};
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

/// A refusal of the token endpoint (RFC 6749 §5.2 code + the registry's).
#[derive(Debug)]
pub enum TokenFailure {
    /// Not a token request: the registry's own error (no token endpoint in
    /// this mode, a metadata failure).
    Registry(ApiError),
    /// An OAuth2 error.
    OAuth {
        /// HTTP status.
        status: StatusCode,
        /// RFC 6749 §5.2 `error`.
        error: &'static str,
        /// `error_description` (and the registry error's detail).
        description: String,
        /// Seconds for `Retry-After`, when throttled.
        retry_after: Option<u64>,
    },
}

impl From<ApiError> for TokenFailure {
    fn from(e: ApiError) -> Self {
        TokenFailure::Registry(e)
    }
}

impl From<Error> for TokenFailure {
    fn from(e: Error) -> Self {
        TokenFailure::Registry(e.into())
    }
}

fn oauth(status: StatusCode, error: &'static str, description: impl Into<String>) -> TokenFailure {
    TokenFailure::OAuth {
        status,
        error,
        description: description.into(),
        retry_after: None,
    }
}

fn invalid_request(description: impl Into<String>) -> TokenFailure {
    oauth(StatusCode::BAD_REQUEST, "invalid_request", description)
}

impl IntoResponse for TokenFailure {
    fn into_response(self) -> Response {
        match self {
            TokenFailure::Registry(e) => e.into_response(),
            TokenFailure::OAuth {
                status,
                error,
                description,
                retry_after,
            } => {
                let code = match status {
                    StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
                    StatusCode::TOO_MANY_REQUESTS => "TOOMANYREQUESTS",
                    _ if error == "invalid_grant" => "DENIED",
                    _ => "UNSUPPORTED",
                };
                let body = json!({
                    "error": error,
                    "error_description": description,
                    "errors": [{"code": code, "message": description}],
                });
                let mut resp = (
                    status,
                    [
                        ("content-type", "application/json"),
                        ("cache-control", "no-store"),
                    ],
                    body.to_string(),
                )
                    .into_response();
                if let Some(secs) = retry_after {
                    resp.headers_mut().insert(
                        axum::http::header::RETRY_AFTER,
                        axum::http::HeaderValue::from(secs),
                    );
                }
                resp
            }
        }
    }
}

fn auth_of(state: &AppState) -> Result<&Auth, TokenFailure> {
    match state.auth.as_deref() {
        Some(a) if a.mode() == AuthMode::Token => Ok(a),
        _ => Err(ApiError::NoRoute.into()),
    }
}

fn check_service(auth: &Auth, service: Option<&str>) -> Result<(), TokenFailure> {
    match service {
        Some(s) if s != auth.config().service => Err(invalid_request(format!(
            "token requested for service {:?}; this registry's service is {:?}",
            crate::clip(s),
            auth.config().service
        ))),
        _ => Ok(()),
    }
}

async fn answer(
    state: &AppState,
    auth: &Auth,
    who: &Principal,
    cred: Option<&Credential>,
    scopes: &[Scope],
    ip: Option<std::net::IpAddr>,
    want_refresh: bool,
) -> Result<Response, TokenFailure> {
    // A transparent mirror's client asks for the name it pulls; berth serves
    // it from a proxy project's repository, so pull is asked there too.
    let mut scopes = scopes.to_vec();
    for s in scopes.clone() {
        if s.kind != "repository" || !s.actions.iter().any(|a| a == "pull" || a == "*") {
            continue;
        }
        let Ok(repo) = berth_oci::RepositoryName::parse(&s.name) else {
            continue;
        };
        for target in state.registry.mirror_targets(&repo).await? {
            scopes.push(Scope {
                kind: "repository".into(),
                name: target.to_string(),
                actions: vec!["pull".into()],
            });
        }
    }
    let granted = auth.grant(who, &scopes, ip).await?;
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
            cred.cloned(),
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
    if let (true, Some(cred)) = (want_refresh, cred) {
        if let Some(refresh) = auth.issue_refresh(who, cred).await? {
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

/// How a wrong password is answered: `GET` (Docker token spec) 401
/// `invalid_client`, `POST` (OAuth2 password grant) 400 `invalid_grant`.
#[derive(Clone, Copy)]
enum Flow {
    Get,
    Post,
}

async fn login(
    state: &AppState,
    auth: &Auth,
    user: &str,
    pass: &str,
    ip: Option<std::net::IpAddr>,
    flow: Flow,
) -> Result<(Principal, Credential), TokenFailure> {
    let attempt =
        |outcome: Outcome, detail: &str| crate::auth::login_attempt(user, ip, outcome, detail);
    match auth.login(user, pass, ip).await? {
        Login::Ok(p, cred) => {
            state
                .audit
                .record(attempt(Outcome::Success, "token endpoint"));
            Ok((p, cred))
        }
        Login::Invalid => {
            tracing::info!(user = crate::clip(user), ip = ?ip, "login failed");
            state
                .audit
                .record(attempt(Outcome::Failure, "incorrect username or password"));
            Err(match flow {
                Flow::Get => oauth(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "incorrect username or password",
                ),
                Flow::Post => oauth(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "incorrect username or password",
                ),
            })
        }
        Login::Throttled(wait) => {
            state.audit.record(attempt(
                Outcome::Failure,
                "throttled after repeated failures",
            ));
            Err(TokenFailure::OAuth {
                status: StatusCode::TOO_MANY_REQUESTS,
                error: "temporarily_unavailable",
                description: crate::auth::throttled_text(user, wait),
                retry_after: Some(wait.as_secs().max(1)),
            })
        }
    }
}

/// `GET /v2/token`.
pub async fn get(State(state): State<Arc<AppState>>, req: Request) -> Response {
    get_inner(&state, req)
        .await
        .unwrap_or_else(|e| e.into_response())
}

async fn get_inner(state: &AppState, req: Request) -> Result<Response, TokenFailure> {
    let auth = auth_of(state)?;
    let ip = crate::listener::peer(req.extensions()).map(|a| a.ip());
    let q = pairs(req.uri().query().unwrap_or(""));
    check_service(auth, first(&q, "service"))?;
    let scopes = Scope::parse_all(
        q.iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str()),
    );
    let (who, cred) = match credentials(req.headers()) {
        Credentials::None => (Principal::Anonymous, None),
        Credentials::Basic(user, pass) => {
            let (p, c) = login(state, auth, &user, &pass, ip, Flow::Get).await?;
            (p, Some(c))
        }
        Credentials::Bearer(_) | Credentials::Malformed => {
            return Err(oauth(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "the token endpoint takes HTTP Basic credentials",
            ))
        }
    };
    let offline = first(&q, "offline_token").is_some_and(|v| v == "true");
    answer(state, auth, &who, cred.as_ref(), &scopes, ip, offline).await
}

/// `POST /v2/token` (OAuth2 password and refresh-token grants).
pub async fn post(State(state): State<Arc<AppState>>, req: Request) -> Response {
    post_inner(&state, req)
        .await
        .unwrap_or_else(|e| e.into_response())
}

async fn read_form(headers: &HeaderMap, body: Body) -> Result<Vec<(String, String)>, TokenFailure> {
    let ct = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(invalid_request(
            "the token endpoint takes an application/x-www-form-urlencoded body",
        ));
    }
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_FORM_BYTES) {
        return Err(invalid_request(format!(
            "token request body over {MAX_FORM_BYTES} bytes"
        )));
    }
    let limited = http_body_util::Limited::new(body, MAX_FORM_BYTES);
    let bytes = limited.collect().await.map_err(|_| {
        invalid_request(format!(
            "token request body over {MAX_FORM_BYTES} bytes, or not received in time"
        ))
    })?;
    Ok(pairs(&String::from_utf8_lossy(&bytes.to_bytes())))
}

async fn post_inner(state: &AppState, req: Request) -> Result<Response, TokenFailure> {
    let auth = auth_of(state)?;
    let ip = crate::listener::peer(req.extensions()).map(|a| a.ip());
    let (parts, body) = req.into_parts();
    let form = read_form(&parts.headers, body).await?;
    check_service(auth, first(&form, "service"))?;
    let scopes = Scope::parse_all(first(&form, "scope"));
    let (who, cred) = match first(&form, "grant_type") {
        Some("password") => {
            let (Some(user), Some(pass)) = (first(&form, "username"), first(&form, "password"))
            else {
                return Err(invalid_request(
                    "the password grant needs username and password",
                ));
            };
            login(state, auth, user, pass, ip, Flow::Post).await?
        }
        Some("refresh_token") => {
            let Some(token) = first(&form, "refresh_token") else {
                return Err(invalid_request(
                    "the refresh_token grant needs refresh_token",
                ));
            };
            match auth.refresh(token).await? {
                Some(found) => found,
                None => {
                    return Err(oauth(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "invalid, expired or revoked refresh token",
                    ))
                }
            }
        }
        None => return Err(invalid_request("grant_type is missing")),
        Some(other) => {
            return Err(oauth(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!(
                    "grant_type {:?} is not supported: use password or refresh_token",
                    crate::clip(other)
                ),
            ))
        }
    };
    let offline = first(&form, "access_type") == Some("offline");
    answer(state, auth, &who, Some(&cred), &scopes, ip, offline).await
}
