//! Request middleware: one log line per request, the API version header, the
//! security headers, the deadline of every request body, and the audit gate
//! that refuses changes while the audit trail cannot be written.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// `Docker-Distribution-API-Version: registry/2.0` on every response, as Docker
/// clients check for it (Docker Registry HTTP API v2 §API Version Check).
pub async fn api_version(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

/// The authenticated caller of a request, for its log line: a slot the
/// request carries in its extensions ([`log_request`] puts it there), filled
/// by whatever authenticates the request where no `Actor` reaches the
/// response (the management API's caller extractor).
#[derive(Clone, Default)]
pub struct LoggedUser(Arc<std::sync::Mutex<Option<String>>>);

impl LoggedUser {
    /// Records the caller's name in the request's slot, if it has one.
    pub fn set(extensions: &axum::http::Extensions, name: &str) {
        if let Some(slot) = extensions.get::<LoggedUser>() {
            if let Ok(mut s) = slot.0.lock() {
                *s = Some(name.to_string());
            }
        }
    }

    fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|s| s.clone())
    }
}

/// Logs `method path status bytes duration_ms user client` at INFO for each
/// request; bytes is the response's `Content-Length` when known (streamed
/// bodies have one too); user is the authenticated principal (`anonymous`
/// without credentials) of `/v2` and `/api/v2.0` requests, `-` where none is
/// known (the token endpoint, probes); client the TCP peer.
pub async fn log_request(mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let client = crate::listener::peer(req.extensions())
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "-".into());
    let slot = LoggedUser::default();
    req.extensions_mut().insert(slot.clone());
    let resp = next.run(req).await;
    let user = resp
        .extensions()
        .get::<berth_registry::Actor>()
        .map(|a| a.name.clone())
        .or_else(|| slot.get())
        .map(|n| crate::clip(&n).to_owned())
        .unwrap_or_else(|| "-".into());
    let bytes = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| axum::body::HttpBody::size_hint(resp.body()).exact())
        .unwrap_or(0);
    tracing::info!(
        target: "berth::request",
        %method,
        path,
        status = resp.status().as_u16(),
        bytes,
        duration_ms = start.elapsed().as_secs_f64() * 1000.0,
        user,
        client,
        "request"
    );
    resp
}

/// Headers every response carries (docs/security.md):
/// - `X-Content-Type-Options: nosniff`: a browser never guesses a blob's type
///   (a pushed "layer" could be HTML);
/// - `Strict-Transport-Security: max-age=31536000` when serving TLS.
pub async fn security_headers(
    State(state): State<Arc<crate::server::AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if state.tls {
        h.insert(
            "strict-transport-security",
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    resp
}

/// Puts every request body that has one under [`crate::limits::guard_body`]:
/// uploads (`…/blobs/uploads/…`) are streamed and get the idle timeout and the
/// minimum rate; every other body is buffered and must arrive whole within
/// `body_read_timeout`.
pub async fn body_deadline(
    State(state): State<Arc<crate::server::AppState>>,
    req: Request,
    next: Next,
) -> Response {
    // A body known to be empty (no Content-Length and no chunking on
    // HTTP/1.1, END_STREAM with the head on HTTP/2) needs no deadline.
    if axum::body::HttpBody::is_end_stream(req.body()) && !crate::handlers::has_body(req.headers())
    {
        return next.run(req).await;
    }
    let upload = req.uri().path().contains("/blobs/uploads");
    let deadline = if upload {
        crate::limits::BodyDeadline {
            idle: state.body_idle_timeout,
            total: None,
            min_bytes_per_sec: state.body_min_bytes_per_sec,
            grace: state.body_read_timeout,
        }
    } else {
        crate::limits::BodyDeadline {
            idle: state.body_idle_timeout.min(state.body_read_timeout),
            total: Some(state.body_read_timeout),
            min_bytes_per_sec: 0,
            grace: state.body_read_timeout,
        }
    };
    let (parts, body) = req.into_parts();
    let body = crate::limits::guard_body(body, deadline);
    next.run(Request::from_parts(parts, body)).await
}

/// Copies an HTTP/2 request's `:authority` (the URI's authority) into `Host`
/// when the request has none, so everything that derives a URL from the
/// request (the challenge realm, upload `Location`s) sees the name the client
/// used, over HTTP/1.1 and HTTP/2 alike.
pub async fn authority_host(mut req: Request, next: Next) -> Response {
    if !req.headers().contains_key(axum::http::header::HOST) {
        if let Some(v) = req
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            req.headers_mut().insert(axum::http::header::HOST, v);
        }
    }
    next.run(req).await
}

/// Fails closed when the audit trail cannot be written (`audit.on_failure =
/// refuse`, the default; [`berth_registry::AuditLog::refusal`]): every request
/// that can change state (any method but GET, HEAD and OPTIONS; token requests
/// excepted, since a login changes nothing) is answered 503 before it is
/// handled, `UNAVAILABLE` in the OCI error body on `/v2`, Harbor's
/// `SERVICE_UNAVAILABLE` on `/api/v2.0`, with the reason. Reads go on.
pub async fn audit_gate(
    State(state): State<Arc<crate::server::AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method();
    let reads = [
        axum::http::Method::GET,
        axum::http::Method::HEAD,
        axum::http::Method::OPTIONS,
    ];
    let path = req.uri().path();
    if reads.contains(method) || path == "/v2/token" || path == "/service/token" {
        return next.run(req).await;
    }
    match state.audit.refusal() {
        None => next.run(req).await,
        Some(reason) => {
            tracing::error!(method = %method, path, "refused: {reason}");
            if path.starts_with("/api/") {
                crate::api::error::ApiError::Unavailable(reason).into_response()
            } else {
                crate::error::ApiError::from(berth_registry::Error::AuditUnavailable(reason))
                    .into_response()
            }
        }
    }
}
