//! The web UI (docs/ui.md): static pages embedded in the binary and served at
//! `/` and `/ui/…`, and the browser sign-in that backs them.
//!
//! The pages are plain HTML, CSS and JavaScript modules under
//! `crates/berth-server/ui/`, embedded at build time with `rust-embed`: no
//! front-end toolchain, nothing fetched at build or run time. They call the
//! same `/api/v2.0` endpoints as every other client, with the same
//! authorization ([`crate::api::authz`]).
//!
//! Sign-in (Harbor's `/c/login` and `/c/log_out` paths):
//! - `POST /c/login` with `principal` and `password` (form or JSON) opens a
//!   session ([`berth_registry::auth::session`]) and sets the
//!   [`SESSION_COOKIE`]: `HttpOnly`, `SameSite=Strict`, `Path=/`, `Secure`
//!   when served over TLS (or behind a proxy that says
//!   `X-Forwarded-Proto: https`), `Max-Age` = `ui.session_ttl_secs`. It
//!   answers the CSRF token.
//! - `GET /c/session` tells the page who is signed in and the CSRF token.
//! - `POST /c/log_out` ends the session and clears the cookie.
//!
//! OpenID Connect (`auth.identity = "oidc"`,
//! [`berth_registry::auth::oidc`]):
//! - `GET /c/oidc/login` redirects to the provider (code flow, PKCE) and sets
//!   [`OIDC_COOKIE`] (`state`, `nonce`, PKCE verifier; `HttpOnly`,
//!   `SameSite=Lax` so the provider's redirect back carries it, `Path=/c/oidc`,
//!   10 minutes).
//! - `GET /c/oidc/callback` checks `state` against the cookie, lets the
//!   registry exchange the code and check the ID token, onboards the user,
//!   opens a session and redirects to the UI. Failures redirect to the
//!   sign-in page with the reason (`#/login?error=…`) and are audited.
//!
//! CSRF: a management API request authenticated by the cookie that changes
//! anything (any method but GET/HEAD/OPTIONS) must carry the session's token
//! in [`CSRF_HEADER`], else 403. Requests with an `Authorization` header never
//! use the cookie. A sign-in whose `Origin` names another host is refused
//! (login CSRF).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_registry::{Auth, Login, Outcome, Principal};
use rust_embed::Embed;
use serde::{Deserialize, Serialize};

use crate::api::error::ApiError;
use crate::server::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "berth_session";

/// The header a cookie-authenticated change must carry the CSRF token in.
pub const CSRF_HEADER: &str = "x-berth-csrf-token";

/// The cookie that carries a pending OpenID Connect sign-in.
pub const OIDC_COOKIE: &str = "berth_oidc";

/// How long a browser has to come back from the provider.
const OIDC_PENDING_SECS: u64 = 600;

/// Largest sign-in body, bytes.
const MAX_LOGIN_BODY: usize = 16 * 1024;

/// `[ui]` settings.
#[derive(Debug, Clone)]
pub struct UiSettings {
    /// Serve the pages at `/` (`ui.enabled`, default true). Sign-in stays
    /// available either way.
    pub enabled: bool,
    /// How long a session lasts after sign-in (`ui.session_ttl_secs`,
    /// default 8 hours).
    pub session_ttl: Duration,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            enabled: true,
            session_ttl: Duration::from_secs(8 * 3600),
        }
    }
}

#[derive(Embed)]
#[folder = "ui/"]
struct Assets;

/// The UI's routes: the pages (when `ui.enabled`) and sign-in.
pub fn router(state: &AppState) -> Router<Arc<AppState>> {
    let mut r = Router::new()
        .route("/c/login", post(login))
        .route("/c/log_out", post(log_out))
        .route("/c/session", get(session))
        .route("/c/oidc/login", get(oidc_login))
        .route("/c/oidc/callback", get(oidc_callback))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_LOGIN_BODY));
    if state.ui.enabled {
        r = r.route("/", get(index)).route("/ui/{*path}", get(asset));
    }
    r
}

/// The value of the [`SESSION_COOKIE`] among the request's `Cookie` headers.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
}

/// The value of cookie `wanted` among the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, wanted: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value.trim().to_string())
}

/// The principal of a management API request that carries only the session
/// cookie: 401 when the session is unknown, expired or its credential no
/// longer holds; 403 when the request changes something without the
/// session's CSRF token.
pub async fn session_principal(
    auth: &Auth,
    cookie: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    let Some(session) = auth.session(cookie).await? else {
        return Err(ApiError::Unauthorized(
            "the web UI session expired or was signed out; sign in again".into(),
        ));
    };
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = headers
            .get(CSRF_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !berth_registry::auth::constant_time_eq(sent, session.csrf_token.as_bytes()) {
            return Err(ApiError::Forbidden(format!(
                "CSRF token missing or wrong: a change made with the session cookie must send \
                 the token from /c/session in {CSRF_HEADER}"
            )));
        }
    }
    Ok(session.principal)
}

/// What `/c/login` and `/c/session` answer.
#[derive(Debug, Serialize)]
pub struct SessionInfo {
    /// Whether authentication is on; when off, everyone may do everything
    /// and there is nothing to sign in to.
    pub auth_enabled: bool,
    /// The signed-in user (empty when none).
    pub username: String,
    /// Whether they are a system administrator.
    pub sysadmin: bool,
    /// The token to send in `X-Berth-CSRF-Token` (empty without a session).
    pub csrf_token: String,
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    principal: String,
    password: String,
}

async fn login(State(state): State<Arc<AppState>>, req: axum::extract::Request) -> Response {
    match login_inner(&state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn login_inner(state: &AppState, req: axum::extract::Request) -> Result<Response, ApiError> {
    let Some(auth) = crate::api::authz::auth_of(state) else {
        return Err(ApiError::NotFound(
            "authentication is off (auth.mode = none): there is nothing to sign in to".into(),
        ));
    };
    let ip = crate::listener::peer(req.extensions()).map(|a| a.ip());
    let headers = req.headers().clone();
    if !same_origin(&headers) {
        return Err(ApiError::Forbidden(
            "sign-in from a page of another origin is refused".into(),
        ));
    }
    let body: Bytes = axum::body::to_bytes(req.into_body(), MAX_LOGIN_BODY)
        .await
        .map_err(|_| {
            ApiError::PayloadTooLarge(format!("sign-in body over {MAX_LOGIN_BODY} bytes"))
        })?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    let form: LoginForm = if json {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("sign-in body: {e}")))?
    } else {
        serde_urlencoded_form(&body)?
    };
    let user = form.principal.as_str();
    let attempt = |outcome, detail: &str| crate::auth::login_attempt(user, ip, outcome, detail);
    let (principal, cred) = match auth.login(user, &form.password, ip).await? {
        Login::Ok(p, cred) => (p, cred),
        Login::Invalid => {
            state.audit.record(attempt(
                Outcome::Failure,
                "web UI: incorrect username or password",
            ));
            return Err(ApiError::Unauthorized(
                "incorrect username or password".into(),
            ));
        }
        Login::Throttled(wait) => {
            state.audit.record(attempt(
                Outcome::Failure,
                "web UI: throttled after repeated failures",
            ));
            return Err(ApiError::TooManyRequests(crate::auth::throttled_text(
                user, wait,
            )));
        }
    };
    if let (Some(p), Some(uid)) = (auth.oidc(), principal.user_id()) {
        let oidc_user = auth
            .meta()
            .user_by_id(uid)
            .await
            .map_err(berth_registry::Error::from)?
            .is_some_and(|u| u.source == berth_registry::auth::OIDC_SOURCE);
        if oidc_user {
            // The CLI secret is for registry clients; the browser signs in
            // at the provider, which may ask for more (MFA, consent).
            state.audit.record(attempt(
                Outcome::Failure,
                "web UI: an OIDC user's CLI secret is not a web sign-in",
            ));
            return Err(ApiError::Forbidden(format!(
                "{} signs in through {}: use the \"Sign in with {}\" button",
                principal.name(),
                p.config().name,
                p.config().name
            )));
        }
    }
    let Some(opened) = auth
        .session_start(&principal, &cred, state.ui.session_ttl)
        .await?
    else {
        return Err(ApiError::Forbidden(
            "robot accounts cannot sign in to the web UI; they are for the registry API".into(),
        ));
    };
    state
        .audit
        .record(attempt(Outcome::Success, "web UI sign-in"));
    let info = SessionInfo {
        auth_enabled: true,
        username: principal.name().to_string(),
        sysadmin: principal.is_sysadmin(),
        csrf_token: opened.csrf_token.clone(),
    };
    let mut resp = Json(info).into_response();
    set_cookie(&mut resp, &session_set_cookie(state, &headers, &opened));
    no_store(&mut resp);
    Ok(resp)
}

/// The `Set-Cookie` value of a new session.
fn session_set_cookie(
    state: &AppState,
    headers: &HeaderMap,
    opened: &berth_registry::auth::NewSession,
) -> String {
    format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        opened.cookie,
        state.ui.session_ttl.as_secs(),
        if secure(state, headers) {
            "; Secure"
        } else {
            ""
        }
    )
}

/// The callback URL registered at the provider: `auth.oidc.redirect_url`,
/// else `<scheme>://<Host>/c/oidc/callback` of this request.
fn oidc_redirect_url(state: &AppState, headers: &HeaderMap, configured: &str) -> String {
    if !configured.is_empty() {
        return configured.to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if secure(state, headers) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}/c/oidc/callback")
}

/// A redirect to the sign-in page showing `reason`.
fn to_sign_in(reason: &str) -> Response {
    let encoded: String = form_urlencoded::byte_serialize(reason.as_bytes()).collect();
    let mut resp = redirect(&format!("/#/login?error={encoded}"));
    clear_oidc_cookie(&mut resp);
    resp
}

fn redirect(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    no_store(&mut resp);
    resp
}

fn clear_oidc_cookie(resp: &mut Response) {
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{OIDC_COOKIE}=; Path=/c/oidc; HttpOnly; SameSite=Lax; Max-Age=0"
    )) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// `GET /c/oidc/login`: starts a sign-in at the provider.
async fn oidc_login(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(provider) = crate::api::authz::auth_of(&state).and_then(|a| a.oidc()) else {
        return ApiError::NotFound(
            "OpenID Connect sign-in is not configured (auth.identity is not oidc)".into(),
        )
        .into_response();
    };
    let callback = oidc_redirect_url(&state, &headers, &provider.config().redirect_url);
    match provider.begin(&callback).await {
        Ok((url, pending)) => {
            let mut resp = redirect(&url);
            let cookie = format!(
                "{OIDC_COOKIE}={}; Path=/c/oidc; HttpOnly; SameSite=Lax; Max-Age={OIDC_PENDING_SECS}{}",
                pending.encode(),
                if secure(&state, &headers) { "; Secure" } else { "" }
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot start an OpenID Connect sign-in");
            to_sign_in(&format!(
                "{} cannot be reached to sign in; try again later",
                provider.config().name
            ))
        }
    }
}

/// Query of the provider's redirect back (OpenID Connect Core §3.1.2.5–6).
#[derive(Debug, Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /c/oidc/callback`: finishes a sign-in (see the module docs).
async fn oidc_callback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    req: axum::extract::Request,
) -> Response {
    let ip = crate::listener::peer(req.extensions()).map(|a| a.ip());
    let query: Callback = match serde_urlencoded_query(req.uri().query().unwrap_or_default()) {
        Some(q) => q,
        None => return to_sign_in("the provider's answer is malformed; start again"),
    };
    let Some(auth) = crate::api::authz::auth_of(&state) else {
        return to_sign_in("authentication is off: there is nothing to sign in to");
    };
    let Some(provider) = auth.oidc() else {
        return to_sign_in("OpenID Connect sign-in is not configured");
    };
    let name = provider.config().name.clone();
    let fail = |user: &str, detail: String, shown: &str| {
        state.audit.record(crate::auth::login_attempt(
            user,
            ip,
            Outcome::Failure,
            format!("web UI OIDC sign-in: {detail}"),
        ));
        to_sign_in(shown)
    };
    let Some(pending) = cookie(&headers, OIDC_COOKIE)
        .as_deref()
        .and_then(berth_registry::auth::oidc::PendingLogin::decode)
    else {
        return to_sign_in(&format!(
            "the sign-in with {name} took too long or began in another browser; start again"
        ));
    };
    let sent_state = query.state.unwrap_or_default();
    if !berth_registry::auth::constant_time_eq(sent_state.as_bytes(), pending.state.as_bytes()) {
        return fail(
            "",
            "state does not match".into(),
            "the sign-in answer does not belong to this browser's sign-in; start again",
        );
    }
    if let Some(err) = query.error {
        let why = match query.error_description {
            Some(d) => format!("{err}: {d}"),
            None => err,
        };
        return fail(
            "",
            format!("the provider answered {why}"),
            &format!("{name} refused the sign-in: {why}"),
        );
    }
    let Some(code) = query.code.filter(|c| !c.is_empty()) else {
        return to_sign_in("the provider's answer has no code; start again");
    };
    let callback = oidc_redirect_url(&state, &headers, &provider.config().redirect_url);
    let identity = match provider.finish(&code, &pending, &callback).await {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "OpenID Connect sign-in failed");
            let shown = match &e {
                berth_registry::auth::oidc::OidcError::Unavailable(_) => {
                    format!("{name} cannot be reached to finish the sign-in; try again later")
                }
                other => other.to_string(),
            };
            return fail("", e.to_string(), &shown);
        }
    };
    let (principal, cred) = match auth.oidc_sign_in(&identity).await {
        Ok(Ok(signed_in)) => signed_in,
        Ok(Err(reason)) => return fail(&identity.username, reason.clone(), &reason),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let opened = match auth
        .session_start(&principal, &cred, state.ui.session_ttl)
        .await
    {
        Ok(Some(o)) => o,
        Ok(None) => return to_sign_in("this account cannot sign in to the web UI"),
        Err(e) => return ApiError::from(e).into_response(),
    };
    state.audit.record(crate::auth::login_attempt(
        principal.name(),
        ip,
        Outcome::Success,
        format!("web UI sign-in through {name} (OpenID Connect)"),
    ));
    let mut resp = redirect("/#/projects");
    if let Ok(v) = HeaderValue::from_str(&session_set_cookie(&state, &headers, &opened)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    clear_oidc_cookie(&mut resp);
    resp
}

/// Decodes the callback's query string.
fn serde_urlencoded_query(q: &str) -> Option<Callback> {
    let mut c = Callback {
        code: None,
        state: None,
        error: None,
        error_description: None,
    };
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        if v.len() > 4096 {
            return None;
        }
        let v = Some(v.into_owned());
        match &*k {
            "code" => c.code = v,
            "state" => c.state = v,
            "error" => c.error = v,
            "error_description" => c.error_description = v,
            _ => {}
        }
    }
    Some(c)
}

/// Form decoding of `principal=…&password=…`.
fn serde_urlencoded_form(body: &[u8]) -> Result<LoginForm, ApiError> {
    let mut principal = None;
    let mut password = None;
    for (k, v) in form_urlencoded::parse(body) {
        match &*k {
            "principal" => principal = Some(v.into_owned()),
            "password" => password = Some(v.into_owned()),
            _ => {}
        }
    }
    match (principal, password) {
        (Some(principal), Some(password)) => Ok(LoginForm {
            principal,
            password,
        }),
        _ => Err(ApiError::BadRequest(
            "sign-in needs principal and password".into(),
        )),
    }
}

async fn session(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(auth) = crate::api::authz::auth_of(&state) else {
        let mut resp = Json(SessionInfo {
            auth_enabled: false,
            username: String::new(),
            sysadmin: true,
            csrf_token: String::new(),
        })
        .into_response();
        no_store(&mut resp);
        return resp;
    };
    let found = match session_cookie(&headers) {
        Some(c) => match auth.session(&c).await {
            Ok(s) => s,
            Err(e) => return ApiError::from(e).into_response(),
        },
        None => None,
    };
    let Some(s) = found else {
        let mut resp = ApiError::Unauthorized("not signed in".into()).into_response();
        if session_cookie(&headers).is_some() {
            // An ended session's cookie: the browser forgets it.
            set_cookie(
                &mut resp,
                &format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
            );
        }
        return resp;
    };
    let mut resp = Json(SessionInfo {
        auth_enabled: true,
        username: s.principal.name().to_string(),
        sysadmin: s.principal.is_sysadmin(),
        csrf_token: s.csrf_token,
    })
    .into_response();
    no_store(&mut resp);
    resp
}

async fn log_out(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let (Some(auth), Some(cookie)) =
        (crate::api::authz::auth_of(&state), session_cookie(&headers))
    {
        match session_principal(auth, &cookie, &Method::POST, &headers).await {
            Ok(_) => {
                if let Err(e) = auth.session_end(&cookie).await {
                    return ApiError::from(e).into_response();
                }
            }
            // An unknown or expired session: nothing to end.
            Err(ApiError::Unauthorized(_)) => {}
            Err(e) => return e.into_response(),
        }
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    set_cookie(
        &mut resp,
        &format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    no_store(&mut resp);
    resp
}

/// True unless the request names an `Origin` whose host differs from its
/// `Host`.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(origin);
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.tls
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

fn set_cookie(resp: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
}

fn no_store(resp: &mut Response) {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The page's Content-Security-Policy: only the binary's own scripts,
/// styles and API; no frames.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(
    axum::extract::Path(path): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&path, &headers)
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "no such page").into_response();
    };
    let etag = format!("\"{}\"", hex_of(&file.metadata.sha256_hash()[..16]));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, file.metadata.mimetype().to_string())],
            file.data.into_owned(),
        )
            .into_response()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; berth_session=abc ; b=2"),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("x=1"));
        h.append(
            header::COOKIE,
            HeaderValue::from_static("berth_session=def"),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("def"));
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }

    #[test]
    fn a_sign_in_from_another_origin_is_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:5000"));
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:5000"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h));
    }

    #[test]
    fn every_page_the_index_loads_is_embedded() {
        let index = Assets::get("index.html").expect("index.html embedded");
        let text = String::from_utf8_lossy(&index.data).to_string();
        for part in text.split("/ui/").skip(1) {
            let path: String = part
                .chars()
                .take_while(|c| *c != '"' && *c != '\'')
                .collect();
            assert!(Assets::get(&path).is_some(), "{path} is not embedded");
        }
    }
}
