//! Prometheus metrics: the recorder, the per-request middleware and the
//! `/metrics` text exposition (Prometheus text format 0.0.4), built on the
//! `metrics` facade and `metrics-exporter-prometheus`.
//!
//! What is exported is listed in [`berth_registry::metrics`]
//! (docs/metrics.md). Figures that live in the database (storage per
//! project, repositories, open upload sessions) are read at a scrape, at
//! most once per [`SNAPSHOT_TTL`], so frequent scrapes by several
//! Prometheus servers cost one set of queries.
//!
//! Who may scrape: on the main listener a system administrator (HTTP Basic,
//! as Prometheus' `basic_auth`), unless `metrics.public = true`; on the
//! optional own listener (`metrics.listen`) anyone who can reach it, since
//! the operator chose that address for the scraper.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_registry::metrics as m;
use http_body_util::BodyExt;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::api::authz::Caller;
use crate::api::error::ApiError;
use crate::server::AppState;

/// How long database figures read at a scrape are reused.
pub const SNAPSHOT_TTL: Duration = Duration::from_secs(15);

/// Histogram buckets of every `_seconds` metric: 0.5 ms to 60 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// The metrics exporter of a running server.
pub struct Exporter {
    handle: PrometheusHandle,
    /// `metrics.public`: anyone may scrape the main listener's `/metrics`.
    public: bool,
    snapshot: Mutex<Option<Instant>>,
}

impl Exporter {
    /// Installs the process's Prometheus recorder (once per process; later
    /// calls share it) and describes every metric.
    ///
    /// Errors: another recorder is already installed in this process.
    pub fn install(public: bool) -> Result<Exporter, String> {
        let handle = HANDLE
            .get_or_init(|| {
                let recorder = PrometheusBuilder::new()
                    .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                    .map_err(|e| e.to_string())?
                    .build_recorder();
                let handle = recorder.handle();
                metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
                m::describe();
                Ok(handle)
            })
            .clone()?;
        Ok(Exporter {
            handle,
            public,
            snapshot: Mutex::new(None),
        })
    }

    /// Sets the gauges read from the database, unless they were set less
    /// than [`SNAPSHOT_TTL`] ago.
    async fn refresh(&self, state: &AppState) {
        {
            let mut at = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
            if at.is_some_and(|t| t.elapsed() < SNAPSHOT_TTL) {
                return;
            }
            *at = Some(Instant::now());
        }
        for (pool, open, idle, max) in state.registry.db_pool_usage() {
            let busy = open.saturating_sub(idle as u32);
            metrics::gauge!(m::DB_CONNECTIONS, "pool" => pool, "state" => "idle").set(idle as f64);
            metrics::gauge!(m::DB_CONNECTIONS, "pool" => pool, "state" => "busy").set(busy as f64);
            metrics::gauge!(m::DB_CONNECTIONS_MAX, "pool" => pool).set(max as f64);
        }
        match state.registry.statistics().await {
            Ok(stats) => {
                metrics::gauge!(m::UPLOAD_SESSIONS).set(stats.upload_sessions as f64);
                metrics::gauge!(m::STORAGE).set(stats.storage_bytes as f64);
                metrics::gauge!(m::PROJECTS).set(stats.projects.len() as f64);
                let repos: u64 = stats.projects.iter().map(|p| p.repositories).sum();
                metrics::gauge!(m::REPOSITORIES).set(repos as f64);
                for p in stats.projects {
                    metrics::gauge!(m::PROJECT_STORAGE, "project" => p.name)
                        .set(p.storage_bytes as f64);
                }
            }
            Err(e) => tracing::warn!(error = %e, "metrics: reading the registry's figures failed"),
        }
    }

    /// The text exposition, after refreshing the database figures.
    pub async fn render(&self, state: &AppState) -> String {
        self.refresh(state).await;
        self.handle.render()
    }
}

/// `GET /metrics` on the main listener: the exposition for a system
/// administrator, or anyone with `metrics.public`; 401 / 403 in Harbor's
/// error shape otherwise; 404 when metrics are off.
pub async fn scrape(
    State(state): State<Arc<AppState>>,
    caller: Result<Caller, ApiError>,
) -> Response {
    let Some(exporter) = &state.metrics else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !exporter.public {
        match caller {
            Ok(c) if c.is_administrator() => {}
            Ok(c) if c.principal.is_authenticated() => {
                return ApiError::Forbidden("metrics are for system administrators".into())
                    .into_response()
            }
            Ok(_) => {
                let mut resp = ApiError::Unauthorized(
                    "metrics need a system administrator's credentials (HTTP Basic)".into(),
                )
                .into_response();
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"berth metrics\""),
                );
                return resp;
            }
            Err(e) => return e.into_response(),
        }
    }
    exposition(exporter, &state).await
}

/// `GET /metrics` on `metrics.listen`: no authentication.
pub async fn scrape_open(State(state): State<Arc<AppState>>) -> Response {
    match &state.metrics {
        Some(exporter) => exposition(exporter, &state).await,
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn exposition(exporter: &Exporter, state: &AppState) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        exporter.render(state).await,
    )
        .into_response()
}

/// The router of the metrics listener (`metrics.listen`): `/metrics` only.
pub fn router(state: Arc<AppState>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(scrape_open))
        .with_state(state)
}

/// Counts and times every request: `berth_http_requests_total`,
/// `berth_http_request_duration_seconds` (to the response head), bytes in
/// and out, requests in flight. Labelled by route template (axum's matched
/// route, or [`crate::route::template`] for `/v2`), never by the path.
pub async fn track(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if state.metrics.is_none() {
        return next.run(req).await;
    }
    let start = Instant::now();
    let path = req.uri().path();
    let api = path.starts_with(crate::api::BASE_PATH);
    let mut slot = None;
    let mut route: &'static str =
        if path == "/v2" || path.starts_with("/v2/") && path != "/v2/token" {
            crate::route::template(path)
        } else if api {
            "/api/v2.0/{other}"
        } else {
            match req.extensions().get::<MatchedPath>() {
                Some(p) => intern(p.as_str()),
                None => "other",
            }
        };
    let mut req = req;
    if api {
        // The management API is a nested service: its route is known only
        // inside it, where `note_route` writes it here.
        let s = RouteSlot::default();
        req.extensions_mut().insert(s.clone());
        slot = Some(s);
    }
    let method = method_label(req.method());
    // Bytes in: counted as they are read. A management API body is read
    // whole before its handler answers, and its route is known only then:
    // its bytes are added up here and counted under that route after.
    let api_bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let req = if axum::body::HttpBody::is_end_stream(req.body()) {
        req
    } else if api {
        let bytes = api_bytes.clone();
        req.map(|body| {
            counted(body, move |n| {
                bytes.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            })
        })
    } else {
        let received = metrics::counter!(m::HTTP_RECEIVED_BYTES, "route" => route);
        req.map(|body| counted(body, move |n| received.increment(n)))
    };
    let in_flight = metrics::gauge!(m::HTTP_IN_FLIGHT);
    in_flight.increment(1.0);
    let resp = next.run(req).await;
    in_flight.decrement(1.0);
    if let Some(matched) = slot.and_then(|s| s.0.get().copied()) {
        route = matched;
    }
    let api_read = api_bytes.load(std::sync::atomic::Ordering::Relaxed);
    if api_read > 0 {
        metrics::counter!(m::HTTP_RECEIVED_BYTES, "route" => route).increment(api_read);
    }
    metrics::histogram!(m::HTTP_REQUEST_DURATION, "route" => route, "method" => method)
        .record(start.elapsed());
    metrics::counter!(m::HTTP_REQUESTS, "route" => route, "method" => method,
        "status" => status_label(resp.status()))
    .increment(1);
    let sent = metrics::counter!(m::HTTP_SENT_BYTES, "route" => route);
    match axum::body::HttpBody::size_hint(resp.body()).exact() {
        Some(n) => {
            sent.increment(n);
            resp
        }
        None => resp.map(|body| counted(body, move |n| sent.increment(n))),
    }
}

/// `body`, telling `count` the length of each data frame as it passes.
fn counted(
    body: axum::body::Body,
    count: impl Fn(u64) + Send + Sync + 'static,
) -> axum::body::Body {
    axum::body::Body::new(body.map_frame(move |frame| {
        if let Some(data) = frame.data_ref() {
            count(data.len() as u64);
        }
        frame
    }))
}

/// The standard methods as static labels; anything else is `other`, so a
/// client cannot mint label values.
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_label(s: StatusCode) -> &'static str {
    // Every status a server sends is 100..=599; a static table keeps
    // labels allocation-free.
    static CODES: OnceLock<Vec<&'static str>> = OnceLock::new();
    let codes = CODES.get_or_init(|| {
        (0..600u16)
            .map(|c| &*Box::leak(c.to_string().into_boxed_str()))
            .collect()
    });
    codes.get(s.as_u16() as usize).copied().unwrap_or("other")
}

/// Where the management API's router writes the route a request matched,
/// for [`track`] (the API is a nested service: the outer router does not
/// know its routes).
#[derive(Clone, Default)]
pub struct RouteSlot(Arc<OnceLock<&'static str>>);

/// Notes the matched route template of a management API request in its
/// [`RouteSlot`]; a layer of the API's own router.
pub async fn note_route(req: Request, next: Next) -> Response {
    if let (Some(slot), Some(matched)) = (
        req.extensions().get::<RouteSlot>(),
        req.extensions().get::<MatchedPath>(),
    ) {
        let _ = slot.0.set(intern(matched.as_str()));
    }
    next.run(req).await
}

/// Route templates are a fixed set (the router's routes), so each is
/// leaked once and reused as a `'static` label.
fn intern(template: &str) -> &'static str {
    static SEEN: OnceLock<Mutex<std::collections::HashSet<&'static str>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = seen.get(template) {
        return s;
    }
    let leaked: &'static str = Box::leak(template.to_string().into_boxed_str());
    seen.insert(leaked);
    leaked
}
