//! The management API under `/api/v2.0`: Harbor's resource paths and JSON
//! shapes for what berth covers, so Harbor's scripts, `harbor-cli` and the
//! Harbor Terraform provider carry over. berth adds fields or paths where it
//! goes beyond Harbor and never changes the meaning of Harbor's.
//!
//! Module map:
//! - [`error`] — [`error::ApiError`], Harbor's `{"errors":[{"code","message"}]}`.
//! - [`authz`] — the caller and every access decision.
//! - [`pagination`] — `page`/`page_size`, `X-Total-Count`, `Link`.
//! - [`query`] — Harbor's `q` filter syntax.
//! - [`system`] — `/health`, `/systeminfo`, `/ping`.
//! - [`projects`] — `/projects` (list, existence, one project, create, update, delete).
//! - [`members`] — `/projects/{p}/members[/{mid}]`.
//! - [`manage`] — the account service and the audit trail of changes.
//! - [`repositories`] — `/repositories`, `/projects/{p}/repositories[/{r}]`.
//! - [`artifacts`] — `…/artifacts[/{reference}]` and `…/artifacts/{reference}/tags[/{tag}]`.
//! - [`robots`] — `/robots[/{robot_id}]`.
//! - [`audit_logs`] — `/audit-logs`.
//! - [`gc`] — `/system/gc[/{gc_id}[/log]]`, `/system/gc/schedule`.
//! - [`policies`] — `/projects/{p}/retention`, `…/immutabletagrules`,
//!   `…/tag-naming-rule`, `…/summary`, `…/quota`.
//! - [`registries`] — `/registries[/{id}]`, `/registries/ping` (upstreams of proxy projects).
//! - [`scanners`] — `/scanners[/{registration_id}[/metadata]]`, `/scanners/ping` (external scanner adapters).
//! - [`replication`] — `/replication/policies`, `/replication/executions` and their tasks.
//! - [`additions`] — `…/additions/build_history`, `…/additions/layers`, `…/referrers`.
//! - [`scans`] — `…/artifacts/{reference}/scan` (SBOMs) and the `sbom_overview`.
//! - [`search`] — `/search`.
//! - [`vulnerabilities`] — `…/additions/vulnerabilities`, `scan_overview`,
//!   `/system/CVEAllowlist`, `/vulnerability-database`.
//! - [`configurations`] — `/configurations` (read-only identity settings, no secrets).
//! - [`ldap`] — `/ldap/ping`, `/ldap/users/search`, `/ldap/groups/search`, `/ldap/users/import`.
//! - [`oidc`] — `/system/oidc/ping`.
//! - [`usergroups`] — `/usergroups[/{group_id}]`, `/usergroups/search`.
//! - [`users`] — `/users`, `/users/current`, `/users/{user_id}[/password|/sysadmin|/cli_secret]`.
//! - [`openapi`] — the OpenAPI 3 document, generated from the handlers'
//!   annotations and served at `/api/v2.0/openapi.json`.
//!
//! Routes and document come from the same list ([`api_routes`]): each handler
//! is registered with `utoipa_axum::routes!`, which routes it and adds its
//! `#[utoipa::path]` to the document, so the two cannot drift apart.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::Router;
use serde::de::DeserializeOwned;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::server::AppState;
use error::ApiError;

pub mod additions;
pub mod artifacts;
pub mod audit_logs;
pub mod authz;
pub mod configurations;
pub mod error;
pub mod gc;
pub mod ldap;
pub mod manage;
pub mod members;
pub mod oidc;
pub mod openapi;
pub mod pagination;
pub mod policies;
pub mod projects;
pub mod query;
pub mod registries;
pub mod replication;
pub mod repositories;
pub mod robots;
pub mod scanners;
pub mod scans;
pub mod search;
pub mod signatures;
pub mod system;
pub mod usergroups;
pub mod users;
pub mod vulnerabilities;
pub mod webhooks;

/// Where the management API is mounted.
pub const BASE_PATH: &str = "/api/v2.0";

/// The management API router, mounted at [`BASE_PATH`]. Unknown paths below it
/// answer 404 and known paths with another method 405, both in Harbor's error shape.
///
/// `/projects/{project_name_or_id}/…`: Harbor takes a project's name or its
/// numeric id in every project path (the id is what `POST /projects` answers in
/// `Location`, and what the Terraform provider keeps). [`project_id_to_name`]
/// rewrites an id to the name before routing, so every handler sees names.
pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let (routes, _) = api_routes().split_for_parts();
    let api = routes
        .layer(axum::middleware::from_fn(crate::metrics::note_route))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(
            state.max_api_body_bytes,
        ))
        .with_state(state.clone());
    let api = tower::Layer::layer(
        &axum::middleware::from_fn_with_state(state.clone(), project_id_to_name),
        api,
    );
    let api = tower::Layer::layer(
        &axum::middleware::from_fn_with_state(state, before_the_body),
        api,
    );
    let api = tower::Layer::layer(&axum::middleware::from_fn(no_store), api);
    Router::new().nest_service(BASE_PATH, api)
}

/// Checks what can be checked before a request body is read, so no caller can
/// make the server buffer a body it would refuse anyway:
/// - a state-changing request (any method but GET/HEAD/OPTIONS) without
///   credentials while authentication is on → 401, since no management
///   change is open to anonymous callers;
/// - a declared `Content-Length` over `limits.max_api_body_bytes` → 413 at
///   once (a body without one is cut at the limit by the JSON extractor). Credentials that are present are
///   verified by the [`authz::Caller`] extractor, which runs before the body
///   extractor of every handler.
async fn before_the_body(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let writes = !matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    let enforced = state
        .auth
        .as_deref()
        .is_some_and(|a| a.mode() != berth_registry::AuthMode::None);
    if writes
        && enforced
        && crate::auth::credentials(req.headers()) == crate::auth::Credentials::None
        && crate::ui::session_cookie(req.headers()).is_none()
    {
        return ApiError::Unauthorized(authz::SIGN_IN.into()).into_response();
    }
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.max_api_body_bytes as u64) {
        return ApiError::PayloadTooLarge(format!(
            "request body of {} bytes is over the management API's limit of {} bytes (limits.max_api_body_bytes)",
            declared.unwrap_or(0),
            state.max_api_body_bytes
        ))
        .into_response();
    }
    next.run(req).await
}

/// `Cache-Control: no-store` on every management API answer: they carry
/// account data and one-time secrets that no cache may keep.
async fn no_store(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    resp
}

/// Rewrites `/projects/<id>[/…]` to `/projects/<name>[/…]` when `<id>` is all
/// digits, no project has it as its name, a stored project has it as its id,
/// and the request does not say `X-Is-Resource-Name: true` (Harbor's header
/// for "this is a name"). Anything else passes unchanged (an unknown id then
/// answers 404 from its handler).
async fn project_id_to_name(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let is_name = req
        .headers()
        .get("x-is-resource-name")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !is_name {
        let uri = req.uri().clone();
        if let Some(uri) = rewritten_project_uri(&state, &uri).await {
            *req.uri_mut() = uri;
        }
    }
    next.run(req).await
}

async fn rewritten_project_uri(state: &AppState, uri: &axum::http::Uri) -> Option<axum::http::Uri> {
    let path = uri.path();
    let rest = path.strip_prefix("/projects/")?;
    let (segment, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let meta = state.auth.as_ref()?.meta();
    if meta.project_by_name(segment).await.ok()?.is_some() {
        return None;
    }
    let id: i64 = segment.parse().ok()?;
    let project = meta.project_by_id(id).await.ok()??;
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    format!("/projects/{}{tail}{query}", project.name)
        .parse()
        .ok()
}

/// The OpenAPI document of [`router`]; paths are relative to the server URL
/// [`BASE_PATH`], as in Harbor's swagger (`basePath: /api/v2.0`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().into_openapi()
}

/// Every route with its documentation.
fn api_routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(system::health))
        .routes(routes!(system::systeminfo))
        .routes(routes!(system::ping))
        .routes(routes!(system::statistics))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(search::search))
        .routes(routes!(registries::list, registries::create))
        .routes(routes!(
            registries::get,
            registries::update,
            registries::delete
        ))
        .routes(routes!(registries::ping))
        .routes(routes!(scanners::list, scanners::create))
        .routes(routes!(
            scanners::get,
            scanners::update,
            scanners::set_default,
            scanners::delete
        ))
        .routes(routes!(scanners::metadata))
        .routes(routes!(scanners::ping))
        .routes(routes!(
            replication::list_policies,
            replication::create_policy
        ))
        .routes(routes!(
            replication::get_policy,
            replication::update_policy,
            replication::delete_policy
        ))
        .routes(routes!(replication::list, replication::start))
        .routes(routes!(replication::get, replication::stop))
        .routes(routes!(replication::tasks))
        .routes(routes!(replication::task_log))
        .routes(routes!(users::current))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update, users::delete))
        .routes(routes!(users::set_password))
        .routes(routes!(users::set_cli_secret))
        .routes(routes!(users::set_sysadmin))
        .routes(routes!(usergroups::list, usergroups::create))
        .routes(routes!(configurations::get))
        .routes(routes!(ldap::ping))
        .routes(routes!(oidc::ping))
        .routes(routes!(ldap::search_users))
        .routes(routes!(ldap::search_groups))
        .routes(routes!(ldap::import_users))
        .routes(routes!(usergroups::search))
        .routes(routes!(
            usergroups::get,
            usergroups::update,
            usergroups::delete
        ))
        .routes(routes!(projects::list, projects::head, projects::create))
        .routes(routes!(projects::get, projects::update, projects::delete))
        .routes(routes!(members::list, members::create))
        .routes(routes!(members::get, members::update, members::delete))
        .routes(routes!(robots::list, robots::create))
        .routes(routes!(
            robots::get,
            robots::update,
            robots::refresh,
            robots::delete
        ))
        .routes(routes!(repositories::list_all))
        .routes(routes!(repositories::list))
        .routes(routes!(repositories::get, repositories::delete))
        .routes(routes!(artifacts::list))
        .routes(routes!(artifacts::get, artifacts::delete))
        .routes(routes!(artifacts::list_tags, artifacts::create_tag))
        .routes(routes!(artifacts::delete_tag))
        .routes(routes!(
            policies::get_retention,
            policies::put_retention,
            policies::delete_retention
        ))
        .routes(routes!(policies::run_retention))
        .routes(routes!(policies::list_immutable, policies::add_immutable))
        .routes(routes!(
            policies::update_immutable,
            policies::delete_immutable
        ))
        .routes(routes!(policies::get_naming, policies::put_naming))
        .routes(routes!(signatures::list_keys, signatures::add_key))
        .routes(routes!(signatures::remove_key))
        .routes(routes!(signatures::accessories))
        .routes(routes!(additions::build_history))
        .routes(routes!(additions::layers))
        .routes(routes!(additions::referrers))
        .routes(routes!(scans::scan))
        .routes(routes!(scans::scan_all_schedule, scans::scan_all))
        .routes(routes!(vulnerabilities::report))
        .routes(routes!(vulnerabilities::database))
        .routes(routes!(
            vulnerabilities::get_system_allowlist,
            vulnerabilities::put_system_allowlist
        ))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::events))
        .routes(routes!(webhooks::executions))
        .routes(routes!(webhooks::tasks))
        .routes(routes!(webhooks::task_log))
        .routes(routes!(policies::summary))
        .routes(routes!(policies::put_quota))
        .routes(routes!(audit_logs::list))
        .routes(routes!(audit_logs::checkpoint, audit_logs::sign_checkpoint))
        .routes(routes!(gc::history))
        .routes(routes!(gc::get))
        .routes(routes!(gc::log))
        .routes(routes!(gc::get_schedule, gc::run))
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint in the management API".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("method not allowed on this endpoint".into())
}

/// `axum::extract::Path` with a Harbor error body on rejection.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// `axum::extract::Query` with a Harbor error body on rejection.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// `axum::Json` with a Harbor error body on rejection.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|j| ApiJson(j.0))
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(format!(
                        "request body too large for the management API ({})",
                        e.body_text()
                    ))
                } else {
                    ApiError::BadRequest(e.body_text())
                }
            })
    }
}

/// A repository name from a path segment. Harbor's clients encode the `/` of a
/// name twice (`a%252Fb`); the router decodes once (`a%2Fb`), this decodes the
/// second time (`a/b`). A name encoded once (`a%2Fb`) arrives decoded and is
/// unchanged by the second pass, since names cannot contain `%`.
pub fn repository_param(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

/// Harbor's "never" time, for an artifact or tag never pulled.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00.000Z";

/// Unix milliseconds as RFC 3339 UTC with milliseconds (`2024-05-01T12:00:00.000Z`).
pub fn rfc3339(ms: i64) -> String {
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// [`rfc3339`] of an optional time, [`ZERO_TIME`] when absent.
pub fn rfc3339_or_zero(ms: Option<i64>) -> String {
    ms.map_or_else(|| ZERO_TIME.to_string(), rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_767_225_599_999), "2025-12-31T23:59:59.999Z");
        assert_eq!(rfc3339_or_zero(None), ZERO_TIME);
    }

    #[test]
    fn double_encoded_names_decode_once_more() {
        assert_eq!(repository_param("a%2Fb"), "a/b");
        assert_eq!(repository_param("a/b"), "a/b");
        assert_eq!(repository_param("app"), "app");
    }
}
