//! [`AppState`] and the [`router`].

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::any;
use axum::Router;
use berth_registry::{AccessPolicy, Registry};

use crate::{handlers, middleware};

/// What every handler shares.
pub struct AppState {
    /// The registry core.
    pub registry: Registry,
    /// Who may do what.
    pub policy: AccessPolicy,
}

/// The distribution API router: everything under `/v2`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v2", any(handlers::dispatch))
        .route("/v2/", any(handlers::dispatch))
        .route("/v2/{*rest}", any(handlers::dispatch))
        .fallback(handlers::not_found)
        // Bodies are streamed, never buffered whole, except manifests, which are
        // read with their own limit (`Limits::max_manifest_bytes`).
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(middleware::api_version))
        .layer(axum::middleware::from_fn(middleware::log_request))
        .with_state(state)
}
