//! One module per API resource. [`dispatch`] parses the path into a
//! [`Route`], checks the method, asks the access policy, and calls the handler.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use berth_registry::{Access, Action, ByteStream, Error};
use futures::{StreamExt, TryStreamExt};

use crate::error::ApiError;
use crate::route::{Route, RouteError};
use crate::server::AppState;

pub mod base;
pub mod blobs;
pub mod catalog;
pub mod manifests;
pub mod referrers;
pub mod tags;
pub mod uploads;

/// Result of a handler.
pub type ApiResult = Result<Response, ApiError>;

/// Query parameters, first value wins (the spec allows repeated `digest`; berth
/// verifies the first).
pub struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(q.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Drops every `key` parameter.
    pub fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }

    /// `key` as a page size; absent or not a number → `None`.
    pub fn page_size(&self, key: &str) -> Option<u32> {
        self.get(key).and_then(|v| v.parse().ok())
    }
}

/// A request body as a byte stream that fails when the client sends nothing for
/// `idle` (the storage layer then rolls the chunk back).
pub fn body_stream(body: Body, idle: std::time::Duration) -> ByteStream {
    let data = body.into_data_stream().map_err(std::io::Error::other);
    futures::stream::unfold(Some(data), move |state| async move {
        let mut data = state?;
        match tokio::time::timeout(idle, data.next()).await {
            Ok(Some(item)) => Some((item, Some(data))),
            Ok(None) => None,
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("the request body sent nothing for {} s", idle.as_secs()),
                )),
                None,
            )),
        }
    })
    .boxed()
}

/// The value of a header as text.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// True when the request carries a body: a non-zero `Content-Length` or a
/// chunked transfer encoding.
pub fn has_body(headers: &HeaderMap) -> bool {
    match header(headers, "content-length") {
        Some(n) => n.trim() != "0",
        None => headers.contains_key("transfer-encoding"),
    }
}

fn access(route: &Route, method: &Method) -> Access {
    let needs = |repo: &berth_oci::RepositoryName, actions: &[Action]| {
        Access::Repository(repo.clone(), actions.to_vec())
    };
    match route {
        Route::Base => Access::Base,
        Route::Catalog => Access::Catalog,
        Route::Tags(r) | Route::Referrers(r, _) => needs(r, &[Action::Pull]),
        Route::Manifest(r, _) | Route::InvalidTag(r, _) | Route::Blob(r, _) => match *method {
            Method::DELETE => needs(r, &[Action::Delete]),
            Method::PUT => needs(r, &[Action::Pull, Action::Push]),
            _ => needs(r, &[Action::Pull]),
        },
        Route::UploadStart(r) | Route::Upload(r, _) => needs(r, &[Action::Pull, Action::Push]),
    }
}

/// Entry point for every `/v2` request.
pub async fn dispatch(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let parsed = Route::parse(req.uri().path());
    let probe = match &parsed {
        Ok(r) => crate::audit::Probe::of(&state, r, &req),
        Err(_) => None,
    };
    let resp = match route(state.clone(), parsed, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    if let Some(p) = probe {
        p.finish(&state.audit, &resp);
    }
    resp
}

async fn route(state: Arc<AppState>, parsed: Result<Route, RouteError>, req: Request) -> ApiResult {
    let mut route = match parsed {
        Ok(r) => r,
        Err(RouteError::NotFound) => return Err(ApiError::NoRoute),
        Err(RouteError::Invalid(e)) => return Err(e.into()),
    };
    let method = req.method().clone();
    if matches!(method, Method::GET | Method::HEAD) {
        // A transparent mirror's request (docs/proxy.md): served by the
        // proxy project its `ns` (or the default mirror) names.
        // A blob HEAD is also a pusher's "do you have it?": without `ns`
        // it is never sent to the default mirror.
        let pull = !(method == Method::HEAD && matches!(route, Route::Blob(..)));
        if let Some(repo) = route.pulled_repository_mut() {
            let q = Query::parse(req.uri().query());
            if let Some(mirrored) = state.registry.mirror_route(repo, q.get("ns"), pull).await? {
                *repo = mirrored;
            }
        }
    }
    let client = crate::listener::peer(req.extensions()).map(|a| a.ip());
    if let (Some(ip), true) = (client, state.rate.enabled()) {
        if let Err(retry_after) = state.rate.check(ip) {
            return Err(ApiError::from(Error::TooManyRequests).with_header(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after),
            ));
        }
    }
    let needs = access(&route, &method);
    if !state.policy.allows(&needs) {
        return Err(ApiError::Unauthorized {
            challenge: None,
            detail: None,
        });
    }
    let mount_from = match (&route, &method) {
        (Route::UploadStart(_), &Method::POST) => {
            let q = Query::parse(req.uri().query());
            q.get("mount")
                .and(q.get("from"))
                .and_then(|f| berth_oci::RepositoryName::parse(f).ok())
        }
        _ => None,
    };
    let scope = crate::auth::challenge_scope(&needs, mount_from.as_ref());
    let caller =
        crate::auth::identify(&state, &needs, scope.as_deref(), req.headers(), client).await?;
    let actor = crate::auth::actor(&caller.principal);
    let result = authorized(state, route, method, req, caller, needs, scope).await;
    match result {
        Ok(mut resp) => {
            resp.extensions_mut().insert(actor);
            Ok(resp)
        }
        Err(e) => {
            let mut resp = e.into_response();
            resp.extensions_mut().insert(actor);
            Ok(resp)
        }
    }
}

/// The rest of [`route`] once the caller is identified (their [`Actor`] is
/// put on the response for the audit trail, whatever the outcome).
async fn authorized(
    state: Arc<AppState>,
    route: Route,
    method: Method,
    req: Request,
    caller: crate::auth::Caller,
    needs: Access,
    scope: Option<String>,
) -> ApiResult {
    let client = caller.ip;
    crate::auth::check(&state, &caller, &needs, scope.as_deref(), req.headers()).await?;
    let mut query = Query::parse(req.uri().query());
    if let Route::Tags(repo) = &route {
        // Limited guests may pull but not list.
        let held = crate::auth::permissions(&state, &caller, repo).await?;
        if !held.contains(berth_registry::Permissions::LIST) {
            return Err(Error::Denied.into());
        }
    }
    if let (Route::UploadStart(_), Some(_)) = (&route, query.get("mount")) {
        // A mount reads the source: without pull on it (or without `from`,
        // which would mount from anywhere), fall back to a plain upload.
        let source_ok = match query.get("from").map(berth_oci::RepositoryName::parse) {
            Some(Ok(from)) => crate::auth::may_pull(&state, &caller, &from).await,
            _ => !crate::auth::enabled(&state),
        };
        if !source_ok {
            query.remove("mount");
        }
    }
    let (parts, body) = req.into_parts();
    let h = &parts.headers;
    let reg = &state.registry;
    let idle = state.body_idle_timeout;
    let max_chunk = state.max_chunk_bytes;
    if max_chunk > 0 && matches!(route, Route::UploadStart(_) | Route::Upload(..)) {
        let declared = header(h, "content-length").and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max_chunk) {
            return Err(Error::ChunkTooLarge { limit: max_chunk }.into());
        }
    }
    let body_stream = |body: Body, idle| limited(body_stream(body, idle), max_chunk);
    if let Some(repo) = proxied_repository(&route) {
        if let Some(up) = reg.upstream_of(repo.project()).await? {
            return proxied(reg, &up, route, method, h, &query).await;
        }
    }
    match (route, method) {
        (Route::Base, Method::GET | Method::HEAD) => base::get(),
        (Route::Catalog, Method::GET) => catalog::get(&state, &caller, &query).await,
        (Route::Tags(repo), Method::GET) => tags::list(reg, &repo, &query).await,
        (Route::Manifest(repo, r), Method::GET) => manifests::get(reg, &repo, &r, true).await,
        (Route::Manifest(repo, r), Method::HEAD) => manifests::get(reg, &repo, &r, false).await,
        (Route::Manifest(repo, r), Method::PUT) => manifests::put(reg, &repo, &r, h, body, caller.principal.name()).await,
        (Route::Manifest(repo, r), Method::DELETE) => manifests::delete(reg, &repo, &r).await,
        (Route::InvalidTag(_, tag), Method::GET | Method::HEAD | Method::DELETE) => {
            Err(Error::ManifestUnknown(tag).into())
        }
        (Route::InvalidTag(_, tag), Method::PUT) => Err(Error::ManifestInvalid(format!(
            "invalid tag {tag:?}: tags are 1-128 characters of [A-Za-z0-9_.-] and must not start with '.' or '-'"
        ))
        .into()),
        (Route::Blob(repo, d), Method::GET) => {
            shared_cache_only_if_public(&state, &repo, blobs::get(reg, &repo, &d, h).await).await
        }
        (Route::Blob(repo, d), Method::HEAD) => {
            shared_cache_only_if_public(&state, &repo, blobs::head(reg, &repo, &d).await).await
        }
        (Route::Blob(repo, d), Method::DELETE) => blobs::delete(reg, &repo, &d).await,
        (Route::UploadStart(repo), Method::POST) => uploads::start(&state, client, &repo, &query, h, body_stream(body, idle)).await,
        (Route::Upload(repo, id), Method::GET) => uploads::status(reg, &repo, &id).await,
        (Route::Upload(repo, id), Method::PATCH) => uploads::patch(reg, &repo, &id, h, body_stream(body, idle)).await,
        (Route::Upload(repo, id), Method::PUT) => {
            uploads::put(&state, &repo, &id, &query, h, body_stream(body, idle)).await
        }
        (Route::Upload(repo, id), Method::DELETE) => uploads::cancel(&state, &repo, &id).await,
        (Route::Referrers(repo, d), Method::GET) => referrers::get(reg, &repo, &d, &query).await,
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// The repository of a route a proxy project answers differently.
fn proxied_repository(route: &Route) -> Option<&berth_oci::RepositoryName> {
    match route {
        Route::Manifest(r, _)
        | Route::Blob(r, _)
        | Route::UploadStart(r)
        | Route::Upload(r, _)
        | Route::Tags(r) => Some(r),
        _ => None,
    }
}

/// A request to a proxy project (docs/proxy.md): pulls are served from what
/// is stored or fetched from upstream; pushes are refused (the project
/// mirrors its upstream); deletes remove what is cached.
async fn proxied(
    reg: &Arc<berth_registry::Registry>,
    up: &Arc<berth_registry::Upstream>,
    route: Route,
    method: Method,
    h: &HeaderMap,
    query: &Query,
) -> ApiResult {
    match (route, method) {
        (Route::Tags(repo), Method::GET) => {
            let all = reg.proxy_tags(up, &repo).await?;
            tags::list_of(reg, &repo, all, query)
        }
        (Route::Manifest(repo, r), m @ (Method::GET | Method::HEAD)) => {
            let with_body = m == Method::GET;
            let m = reg.proxy_manifest_get(up, &repo, &r, with_body).await?;
            let gate = match &m.body {
                Some(body) => reg.proxy_pull_gate(up, &repo, &m.digest, body).await,
                None => Ok(()),
            };
            manifests::answer(m, gate)
        }
        (Route::Manifest(repo, r), Method::DELETE) => manifests::delete(reg, &repo, &r).await,
        (Route::Blob(repo, d), Method::GET) => {
            let read = reg.proxy_blob_read(up, &repo, &d, header(h, "range")).await;
            blobs::respond(&d, read)
        }
        (Route::Blob(repo, d), Method::HEAD) => {
            let size = reg.proxy_blob_head(up, &repo, &d).await?;
            blobs::respond_head(&d, size)
        }
        (Route::Blob(repo, d), Method::DELETE) => blobs::delete(reg, &repo, &d).await,
        (Route::Manifest(..) | Route::UploadStart(_) | Route::Upload(..), _) => {
            Err(Error::PolicyDenied(format!(
                "this project is a pull-through cache of {} ({}): it takes no pushes",
                up.record().name,
                up.record().url
            ))
            .into())
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// Blobs are immutable (`Cache-Control: max-age=31536000`), but a shared
/// cache (a proxy or CDN in front of the registry) must not serve a private
/// project's bytes to others: those answers say `private`.
async fn shared_cache_only_if_public(
    state: &AppState,
    repo: &berth_oci::RepositoryName,
    result: ApiResult,
) -> ApiResult {
    let mut resp = result?;
    let public = match state.auth.as_deref() {
        Some(auth) if auth.mode() != berth_registry::AuthMode::None => auth
            .project(repo.project())
            .await
            .map_err(ApiError::from)?
            .is_some_and(|p| p.public),
        _ => true,
    };
    if !public {
        resp.headers_mut().insert(
            "cache-control",
            axum::http::HeaderValue::from_static("private, max-age=31536000"),
        );
    }
    Ok(resp)
}

/// Cuts a body off (failing it, so its chunk is rolled back) past `max` bytes;
/// `max == 0` passes it through. Catches bodies without a `Content-Length`.
fn limited(body: ByteStream, max: u64) -> ByteStream {
    if max == 0 {
        return body;
    }
    let mut seen = 0u64;
    body.map(move |item| {
        let bytes = item?;
        seen += bytes.len() as u64;
        if seen > max {
            return Err(std::io::Error::other(format!(
                "upload request body is larger than the {max}-byte chunk limit; send smaller chunks"
            )));
        }
        Ok(bytes)
    })
    .boxed()
}

/// A JSON listing page with `Link: <path?n=<n>&last=<last>>; rel="next"` when more
/// entries follow (tags list and catalog share this pagination).
pub fn page_response(
    body: serde_json::Value,
    path: &str,
    page: &berth_registry::Page,
) -> ApiResult {
    let mut resp = ([("content-type", "application/json")], body.to_string()).into_response();
    if let (Some(n), Some(last)) = (page.next_page_size, page.items.last()) {
        if let Ok(v) =
            axum::http::HeaderValue::from_str(&format!("<{path}?n={n}&last={last}>; rel=\"next\""))
        {
            resp.headers_mut().insert("link", v);
        }
    }
    Ok(resp)
}

/// Anything outside `/v2`.
pub async fn not_found() -> Response {
    ApiError::NoRoute.into_response()
}
