//! The Prometheus metrics berth exports: their names, labels and help text,
//! in one place. The core records through the `metrics` facade (a no-op until
//! a recorder is installed); `berth serve` installs the Prometheus recorder
//! and serves the text exposition at `/metrics` (`berth_server::metrics`).
//!
//! Conventions (Prometheus "Metric and label naming"): every name has the
//! `berth_` prefix; counters end in `_total`, durations are `_seconds`,
//! sizes `_bytes`. Label values are bounded: route templates, methods,
//! status codes, project names (created by administrators), never digests,
//! tags, repositories or user names.
//!
//! docs/metrics.md lists them with examples; docs/grafana-dashboard.json
//! uses only these names (a test checks it against a live `/metrics`).

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

/// Requests answered, by `route` (template), `method` and `status`. Counter.
pub const HTTP_REQUESTS: &str = "berth_http_requests_total";
/// Time from a request's arrival to its response head, by `route` and
/// `method`. Histogram, seconds.
pub const HTTP_REQUEST_DURATION: &str = "berth_http_request_duration_seconds";
/// Request body bytes read, by `route`. Counter.
pub const HTTP_RECEIVED_BYTES: &str = "berth_http_received_bytes_total";
/// Response body bytes (the `Content-Length`, or the bytes streamed when a
/// response has none), by `route`. Counter.
pub const HTTP_SENT_BYTES: &str = "berth_http_sent_bytes_total";
/// Requests being handled now. Gauge.
pub const HTTP_IN_FLIGHT: &str = "berth_http_requests_in_flight";

/// Upload sessions open in the registry (all nodes), read at each scrape. Gauge.
pub const UPLOAD_SESSIONS: &str = "berth_upload_sessions";
/// Manifest cache lookups by `result` (`hit`, `miss`). Counter.
pub const MANIFEST_CACHE: &str = "berth_manifest_cache_requests_total";

/// Metadata database connections by `pool` (`read`, `write`) and `state`
/// (`idle`, `busy`), read at each scrape. Gauge.
pub const DB_CONNECTIONS: &str = "berth_db_connections";
/// Maximum connections of each `pool`. Gauge.
pub const DB_CONNECTIONS_MAX: &str = "berth_db_connections_max";
/// Time of metadata queries run on a pool (not inside a transaction), by
/// `pool`, including the wait for a connection. Histogram, seconds.
pub const DB_QUERY_DURATION: &str = "berth_db_query_duration_seconds";
/// Time to obtain a write transaction (a connection of the write pool and
/// `BEGIN`). Histogram, seconds.
pub const DB_BEGIN_DURATION: &str = "berth_db_begin_duration_seconds";
/// Time of each group-commit flush of the metadata database (`fdatasync` of
/// SQLite's WAL, a synchronous commit on PostgreSQL); each makes every
/// transaction committed before it durable. Histogram, seconds.
pub const DB_FLUSH_DURATION: &str = berth_meta::durable::FLUSH_DURATION;
/// Write transactions made durable by another's flush, with none of their
/// own. Counter.
pub const DB_GROUPED_COMMITS: &str = berth_meta::durable::GROUPED_COMMITS;

/// Bytes of the blobs a `project`'s repositories reference (its quota
/// usage), read at each scrape. Gauge.
pub const PROJECT_STORAGE: &str = "berth_project_storage_bytes";
/// Bytes of all blobs stored, each counted once. Gauge.
pub const STORAGE: &str = "berth_storage_bytes";
/// Projects. Gauge.
pub const PROJECTS: &str = "berth_projects";
/// Repositories. Gauge.
pub const REPOSITORIES: &str = "berth_repositories";

/// Manifest pushes by `project`. Counter.
pub const PUSHES: &str = "berth_manifest_pushes_total";
/// Manifest pulls (GET; HEAD is not a pull) by `project`. Counter.
pub const PULLS: &str = "berth_manifest_pulls_total";
/// Pull and push statistics dropped because their writer was behind. Counter.
pub const STATS_DROPPED: &str = "berth_stats_events_dropped_total";

/// Garbage-collection runs by `status` (`success`, `error`). Counter.
pub const GC_RUNS: &str = "berth_gc_runs_total";
/// Duration of garbage-collection runs. Histogram, seconds.
pub const GC_DURATION: &str = "berth_gc_duration_seconds";
/// Bytes of blobs deleted by garbage collection (dry runs excluded). Counter.
pub const GC_FREED_BYTES: &str = "berth_gc_freed_bytes_total";
/// Retention runs by `status` (`success`, `error`; dry runs excluded). Counter.
pub const RETENTION_RUNS: &str = "berth_retention_runs_total";
/// Duration of retention runs. Histogram, seconds.
pub const RETENTION_DURATION: &str = "berth_retention_duration_seconds";
/// Artifacts deleted by retention runs. Counter.
pub const RETENTION_DELETED: &str = "berth_retention_deleted_artifacts_total";

/// Failed logins (wrong password, unknown user, refused token). Counter.
pub const LOGIN_FAILURES: &str = "berth_login_failures_total";
/// Requests of proxy-cache projects by `project` and `result` (`hit`,
/// `miss`, `upstream_failure`). Counter.
pub const PROXY_REQUESTS: &str = "berth_proxy_requests_total";

/// Webhook deliveries by `result` (`success`, `retry`, `error`: given up). Counter.
pub const WEBHOOK_DELIVERIES: &str = "berth_webhook_deliveries_total";
/// Webhook events dropped (the dispatcher or the delivery queue was full). Counter.
pub const WEBHOOK_EVENTS_DROPPED: &str = "berth_webhook_events_dropped_total";

/// Every name above, for tests and the dashboard check.
pub const ALL: &[&str] = &[
    HTTP_REQUESTS,
    HTTP_REQUEST_DURATION,
    HTTP_RECEIVED_BYTES,
    HTTP_SENT_BYTES,
    HTTP_IN_FLIGHT,
    UPLOAD_SESSIONS,
    MANIFEST_CACHE,
    DB_CONNECTIONS,
    DB_CONNECTIONS_MAX,
    DB_QUERY_DURATION,
    DB_BEGIN_DURATION,
    DB_FLUSH_DURATION,
    DB_GROUPED_COMMITS,
    PROJECT_STORAGE,
    STORAGE,
    PROJECTS,
    REPOSITORIES,
    PUSHES,
    PULLS,
    STATS_DROPPED,
    GC_RUNS,
    GC_DURATION,
    GC_FREED_BYTES,
    RETENTION_RUNS,
    RETENTION_DURATION,
    RETENTION_DELETED,
    LOGIN_FAILURES,
    PROXY_REQUESTS,
    WEBHOOK_DELIVERIES,
    WEBHOOK_EVENTS_DROPPED,
];

/// Registers help text and units of every metric with the installed recorder
/// (call once, after installing it), and starts the label-less counters at
/// 0 so a dashboard shows 0 rather than "no data" before the first event.
pub fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "Requests answered, by route template, method and status."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "Time from a request's arrival to its response head, by route template and method."
    );
    describe_counter!(
        HTTP_RECEIVED_BYTES,
        Unit::Bytes,
        "Request body bytes read, by route template."
    );
    describe_counter!(
        HTTP_SENT_BYTES,
        Unit::Bytes,
        "Response body bytes, by route template."
    );
    describe_gauge!(HTTP_IN_FLIGHT, "Requests being handled now.");
    describe_gauge!(
        UPLOAD_SESSIONS,
        "Upload sessions open in the registry (all nodes)."
    );
    describe_counter!(
        MANIFEST_CACHE,
        "Manifest cache lookups by result (hit, miss)."
    );
    describe_gauge!(
        DB_CONNECTIONS,
        "Metadata database connections by pool and state."
    );
    describe_gauge!(
        DB_CONNECTIONS_MAX,
        "Maximum connections of each metadata database pool."
    );
    describe_histogram!(
        DB_QUERY_DURATION,
        Unit::Seconds,
        "Metadata queries run on a pool, connection wait included, by pool."
    );
    describe_histogram!(
        DB_BEGIN_DURATION,
        Unit::Seconds,
        "Time to obtain a write transaction (connection and BEGIN)."
    );
    describe_histogram!(
        DB_FLUSH_DURATION,
        Unit::Seconds,
        "Group-commit flushes of the metadata database; each makes every earlier commit durable."
    );
    describe_counter!(
        DB_GROUPED_COMMITS,
        "Write transactions made durable by another transaction's flush."
    );
    describe_gauge!(
        PROJECT_STORAGE,
        Unit::Bytes,
        "Bytes of the blobs a project's repositories reference."
    );
    describe_gauge!(
        STORAGE,
        Unit::Bytes,
        "Bytes of all blobs stored, each counted once."
    );
    describe_gauge!(PROJECTS, "Projects.");
    describe_gauge!(REPOSITORIES, "Repositories.");
    describe_counter!(PUSHES, "Manifest pushes by project.");
    describe_counter!(PULLS, "Manifest pulls (GET) by project.");
    describe_counter!(
        STATS_DROPPED,
        "Pull and push statistics dropped because their writer was behind."
    );
    describe_counter!(GC_RUNS, "Garbage-collection runs by status.");
    describe_histogram!(
        GC_DURATION,
        Unit::Seconds,
        "Duration of garbage-collection runs."
    );
    describe_counter!(
        GC_FREED_BYTES,
        Unit::Bytes,
        "Bytes of blobs deleted by garbage collection."
    );
    describe_counter!(RETENTION_RUNS, "Retention runs by status.");
    describe_histogram!(
        RETENTION_DURATION,
        Unit::Seconds,
        "Duration of retention runs."
    );
    describe_counter!(RETENTION_DELETED, "Artifacts deleted by retention runs.");
    describe_counter!(LOGIN_FAILURES, "Failed logins.");
    describe_counter!(
        PROXY_REQUESTS,
        "Requests of proxy-cache projects by project and result."
    );
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook delivery attempts by result (success; retry: failed, another attempt follows; error: failed, given up)."
    );
    describe_counter!(
        WEBHOOK_EVENTS_DROPPED,
        "Webhook events dropped because a queue was full."
    );
    for name in [
        WEBHOOK_EVENTS_DROPPED,
        STATS_DROPPED,
        GC_FREED_BYTES,
        RETENTION_DELETED,
        LOGIN_FAILURES,
    ] {
        metrics::counter!(name).increment(0);
    }
}
