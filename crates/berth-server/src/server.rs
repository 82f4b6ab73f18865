//! [`AppState`] and the [`router`].

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get};
use axum::Router;
use berth_registry::{AccessPolicy, AuditLog, Auth, Registry};

use crate::limits::{RateLimiter, UploadQuota};
use crate::{handlers, middleware, token};

/// What every handler shares.
pub struct AppState {
    /// The registry core.
    pub registry: Registry,
    /// Who may do what when no [`Auth`] is configured (anonymous everything).
    pub policy: AccessPolicy,
    /// Authentication and authorization; `None` = anonymous (as `auth.mode = none`).
    pub auth: Option<Arc<Auth>>,
    /// `auth.realm`: the token endpoint URL put in challenges; `None` derives it
    /// from the request's `Host`.
    pub realm: Option<String>,
    /// Serving HTTPS (for the derived realm's scheme).
    pub tls: bool,
    /// An upload body that sends nothing for this long is cut off (its chunk is
    /// rolled back), so a stalled client cannot pin a session forever.
    pub body_idle_timeout: std::time::Duration,
    /// Requests per second per client (off by default).
    pub rate: RateLimiter,
    /// Open upload sessions per client.
    pub upload_quota: UploadQuota,
    /// Largest upload request body (one chunk, or a whole monolithic blob), bytes;
    /// 0 = unlimited (docker and skopeo stream a whole layer in one PATCH).
    pub max_chunk_bytes: u64,
    /// The audit trail (pushes, pulls, deletes; see [`crate::audit`]).
    pub audit: AuditLog,
    /// Settings of garbage-collection runs started through the management API
    /// (`[gc]`: grace period, upload age); each request sets `dry_run` and
    /// `delete_untagged`.
    pub gc: berth_registry::GcOptions,
    /// `gc.schedule` (cron), shown by `GET /api/v2.0/system/gc/schedule`.
    pub gc_schedule: Option<String>,
}

impl AppState {
    /// State with the defaults: body idle timeout 120 s, no rate limit, 1000 open
    /// upload sessions per client, auditing off.
    pub fn new(registry: Registry, policy: AccessPolicy) -> AppState {
        AppState {
            audit: AuditLog::disabled(&registry),
            registry,
            policy,
            auth: None,
            realm: None,
            tls: false,
            body_idle_timeout: std::time::Duration::from_secs(120),
            rate: RateLimiter::new(0, 0),
            upload_quota: UploadQuota::new(1000, std::time::Duration::from_secs(3600)),
            max_chunk_bytes: 0,
            gc: berth_registry::GcOptions::default(),
            gc_schedule: None,
        }
    }
}

/// The distribution API router: everything under `/v2`, and the management
/// API under `/api/v2.0` ([`crate::api`]).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v2/token", get(token::get).post(token::post))
        .route("/v2", any(handlers::dispatch))
        .route("/v2/", any(handlers::dispatch))
        .route("/v2/{*rest}", any(handlers::dispatch))
        .merge(crate::api::router(state.clone()))
        .fallback(handlers::not_found)
        // Bodies are streamed, never buffered whole, except manifests, which are
        // read with their own limit (`Limits::max_manifest_bytes`).
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(middleware::api_version))
        .layer(axum::middleware::from_fn(middleware::log_request))
        .with_state(state)
}
