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
    pub registry: Arc<Registry>,
    /// Who may do what when no [`Auth`] is configured (anonymous everything).
    pub policy: AccessPolicy,
    /// Authentication and authorization; `None` = anonymous (as `auth.mode = none`).
    pub auth: Option<Arc<Auth>>,
    /// `auth.realm`: the token endpoint URL put in challenges; `None` derives it
    /// from the request's `Host`.
    pub realm: Option<String>,
    /// Serving HTTPS (for the derived realm's scheme, and HSTS).
    pub tls: bool,
    /// The authority put in a derived realm when a request names none (no
    /// `Host`, no HTTP/2 `:authority`): the listen address.
    pub default_authority: String,
    /// A request body that sends nothing for this long is cut off (an
    /// upload's chunk is rolled back), so a stalled client cannot pin a
    /// connection or a session forever (`server.body_idle_timeout_secs`).
    pub body_idle_timeout: std::time::Duration,
    /// A buffered request body (management API JSON, token form, manifest)
    /// must arrive whole within this long; a streamed upload must, once it
    /// has run this long, average at least [`AppState::body_min_bytes_per_sec`]
    /// (`server.body_read_timeout_secs`). See [`crate::limits::guard_body`].
    pub body_read_timeout: std::time::Duration,
    /// The slowest average rate an upload body may trickle at, bytes per
    /// second (`server.body_min_bytes_per_sec`; 0 = no minimum).
    pub body_min_bytes_per_sec: u64,
    /// Largest management API request body, bytes (`limits.max_api_body_bytes`):
    /// a larger one is answered 413 before it is read past the limit.
    pub max_api_body_bytes: usize,
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
    /// `scan.schedule` (cron), shown by `GET /api/v2.0/system/scanAll/schedule`.
    pub scan_schedule: Option<String>,
    /// This process's node id (a random UUID per start, logged by `serve`),
    /// shown by the probes ([`crate::probes`]).
    pub node_id: String,
    /// The Prometheus exporter (`metrics.enabled`); `None` = `/metrics`
    /// answers 404 and requests are not counted.
    pub metrics: Option<Arc<crate::metrics::Exporter>>,
    /// The web UI and its sessions (`[ui]`, [`crate::ui`]).
    pub ui: crate::ui::UiSettings,
}

impl AppState {
    /// State with the defaults: body idle timeout 120 s, buffered bodies
    /// within 30 s, uploads at least 1 KiB/s after 30 s, management API bodies
    /// up to 1 MiB, no rate limit, 1000 open upload sessions per client,
    /// auditing off.
    pub fn new(registry: Registry, policy: AccessPolicy) -> AppState {
        AppState {
            audit: AuditLog::disabled(&registry),
            registry: Arc::new(registry),
            policy,
            auth: None,
            realm: None,
            tls: false,
            default_authority: "127.0.0.1:5000".into(),
            body_idle_timeout: std::time::Duration::from_secs(120),
            body_read_timeout: std::time::Duration::from_secs(30),
            body_min_bytes_per_sec: 1024,
            max_api_body_bytes: 1024 * 1024,
            rate: RateLimiter::new(0, 0),
            upload_quota: UploadQuota::new(1000, std::time::Duration::from_secs(3600)),
            max_chunk_bytes: 0,
            gc: berth_registry::GcOptions::default(),
            gc_schedule: None,
            scan_schedule: None,
            node_id: crate::probes::new_node_id(),
            metrics: None,
            ui: crate::ui::UiSettings::default(),
        }
    }
}

/// The distribution API router: everything under `/v2`, and the management
/// API under `/api/v2.0` ([`crate::api`]).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/livez", get(crate::probes::livez))
        .route("/readyz", get(crate::probes::readyz))
        .route("/v2/token", get(token::get).post(token::post))
        .route("/metrics", get(crate::metrics::scrape))
        .route("/v1/_ping", get(crate::docker_search::ping))
        .route("/v1/search", get(crate::docker_search::search))
        .route("/v2", any(handlers::dispatch))
        .route("/v2/", any(handlers::dispatch))
        .route("/v2/{*rest}", any(handlers::dispatch))
        .merge(crate::api::router(state.clone()))
        .merge(crate::ui::router(&state))
        .fallback(handlers::not_found)
        // Bodies are streamed, never buffered whole, except manifests, which are
        // read with their own limit (`Limits::max_manifest_bytes`), token
        // forms (64 KiB) and management API bodies (`max_api_body_bytes`,
        // set on that router).
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::audit_gate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::body_deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::security_headers,
        ))
        .layer(axum::middleware::from_fn(middleware::api_version))
        .layer(axum::middleware::from_fn(middleware::authority_host))
        .layer(axum::middleware::from_fn(middleware::log_request))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .with_state(state)
}
