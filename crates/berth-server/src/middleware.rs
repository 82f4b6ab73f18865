//! Request middleware: one log line per request and the API version header.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

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

/// Logs `method path status bytes duration_ms` at INFO for each request; bytes is
/// the response's `Content-Length` when known (streamed bodies have one too).
pub async fn log_request(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
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
        "request"
    );
    resp
}
