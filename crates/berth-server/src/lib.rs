//! berth's HTTP layer: the OCI Distribution v1.1 API (with Docker Registry HTTP
//! API v2 compatibility) as an axum [`Router`](axum::Router). Handlers are thin:
//! parse the request into a typed call, ask the access policy, call the core
//! (`berth-registry`), render the result. No SQL, paths or hashing here.
//!
//! Module map:
//! - [`route`] — `/v2/...` paths parsed into a [`route::Route`] (names with slashes
//!   are matched from the right, since `<name>` may itself contain `/`).
//! - [`handlers`] — one module per API resource: base, blobs, uploads, manifests,
//!   tags, catalog, referrers.
//! - [`auth`] — credentials, challenges, 401 vs 403: the `/v2` side of `berth_registry::auth`.
//! - [`token`] — `/v2/token`, the Docker token endpoint (GET and OAuth2 POST).
//! - [`error`] — [`error::ApiError`], the single place where failures become
//!   `{"errors":[{"code","message","detail"}]}` responses.
//! - [`limits`] — per-client rate limit and open-upload-session quota.
//! - [`listener`] — accepting connections: plain or TLS, header deadline, graceful shutdown.
//! - [`middleware`] — the per-request log line and the `Docker-Distribution-API-Version` header.
//! - [`audit`] — the audit trail hook: which requests are recorded, as what.
//! - [`server`] — [`AppState`] and [`router`].
//! - [`api`] — the Harbor-compatible management API under `/api/v2.0`.
//! - [`metrics`] — Prometheus `/metrics` and the per-request counters.
//! - [`docker_search`] — `/v1/search`, what `docker search` calls.

pub mod api;
pub mod audit;
pub mod auth;
pub mod docker_search;
pub mod error;
pub mod handlers;
pub mod limits;
pub mod listener;
pub mod metrics;
pub mod middleware;
pub mod probes;
pub mod route;
pub mod server;
pub mod token;
pub mod ui;

pub use server::{router, AppState};

/// Client-supplied text cut to at most 128 bytes (at a character boundary),
/// for log lines and error messages that echo it: a 40 KB user name must not
/// become a 40 KB log line.
pub fn clip(text: &str) -> &str {
    if text.len() <= 128 {
        return text;
    }
    let mut end = 128;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
