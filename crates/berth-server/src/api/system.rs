//! `/health`, `/systeminfo`, `/ping`, `/statistics` (Harbor's `health`, `systeminfo`, `ping`, `statistic`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::authz::{self, Caller};
use super::error::{ApiResult, Errors};
use crate::server::AppState;

/// Harbor's `OverallHealthStatus`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OverallHealthStatus {
    /// `healthy` when every component is, else `unhealthy`.
    pub status: String,
    /// Each component checked.
    pub components: Vec<ComponentHealthStatus>,
}

/// Harbor's `ComponentHealthStatus`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentHealthStatus {
    /// `core` (this server), `database` (the metadata store), `storage` (the blob store).
    pub name: String,
    /// `healthy` or `unhealthy`.
    pub status: String,
    /// What is wrong, when unhealthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn component(name: &str, check: &Result<(), String>) -> ComponentHealthStatus {
    ComponentHealthStatus {
        name: name.into(),
        status: if check.is_ok() {
            "healthy"
        } else {
            "unhealthy"
        }
        .into(),
        error: check.as_ref().err().cloned(),
    }
}

/// Health of berth's components: `core` answers, `database` runs a query on
/// the metadata store, `storage` checks the blob store's root, `audit` tells
/// whether audit entries are being written. Always 200; the `status` fields
/// tell.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "Health of each component", body = OverallHealthStatus)))]
pub async fn health(State(state): State<Arc<AppState>>) -> Json<OverallHealthStatus> {
    let report = state.registry.health().await;
    let components = vec![
        component("core", &Ok(())),
        component("database", &report.database),
        component("storage", &report.storage),
        component("audit", &audit_health(&state.audit)),
    ];
    let healthy = components.iter().all(|c| c.status == "healthy");
    Json(OverallHealthStatus {
        status: if healthy { "healthy" } else { "unhealthy" }.into(),
        components,
    })
}

/// The audit trail's component: unhealthy while changes are refused because
/// it cannot be written, or, with `audit.on_failure = continue`, while its
/// commits fail (with the count of failed commits since the start).
fn audit_health(audit: &berth_registry::AuditLog) -> Result<(), String> {
    if let Some(reason) = audit.refusal() {
        return Err(reason);
    }
    if audit.failing() {
        return Err(format!(
            "audit entries cannot be written; changes go on unrecorded (audit.on_failure = continue); {} commits failed since the start",
            audit.failed_writes()
        ));
    }
    Ok(())
}

/// Harbor's `GeneralInfo`, with the fields meaningful for berth.
#[derive(Debug, Serialize, ToSchema)]
pub struct GeneralInfo {
    /// berth's version, `v<semver>` (Harbor's version field, which clients show).
    pub harbor_version: String,
    /// berth's version (berth extension).
    pub berth_version: String,
    /// The registry's host (and port) as the client addressed it.
    pub registry_url: String,
    /// `<scheme>://<host>` as the client addressed it (`X-Forwarded-Proto`
    /// names the scheme behind a proxy; else `http`, or the request's own).
    pub external_url: String,
    /// How users authenticate: `db_auth` (berth's own user database).
    pub auth_mode: String,
    /// Whether an external identity provider is the primary sign-in (Harbor's
    /// OIDC primary mode); always false.
    pub primary_auth_mode: bool,
    /// With `auth_mode` `oidc_auth`: the provider's name, shown on the
    /// web UI's "Sign in with …" button.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc_provider_name: Option<String>,
    /// Who may create projects: `adminonly` or `everyone`.
    pub project_creation_restriction: String,
    /// Whether users may sign themselves up.
    pub self_registration: bool,
    /// Whether a CA certificate can be downloaded from the API.
    pub has_ca_root: bool,
    /// The blob store's driver: `filesystem`.
    pub registry_storage_provider_name: String,
    /// Whether the registry refuses writes.
    pub read_only: bool,
    /// Notary (content trust v1) is not part of berth.
    pub with_notary: bool,
    /// ChartMuseum is not part of berth (charts are OCI artifacts).
    pub with_chartmuseum: bool,
    /// Webhook notifications.
    pub notification_enable: bool,
    /// The server's time, RFC 3339.
    pub current_time: String,
}

/// General information about the registry, for anyone.
#[utoipa::path(get, path = "/systeminfo", tag = "systeminfo",
    responses((status = 200, description = "General information", body = GeneralInfo),
        (status = 500, body = Errors)))]
pub async fn systeminfo(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> ApiResult<Json<GeneralInfo>> {
    authz::can_read_system_info(&caller)?;
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get("host"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.scheme_str().map(str::to_string))
        .unwrap_or_else(|| "http".into());
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    Ok(Json(GeneralInfo {
        harbor_version: version.clone(),
        berth_version: version,
        external_url: format!("{scheme}://{host}"),
        registry_url: host,
        auth_mode: auth_mode(&state).into(),
        primary_auth_mode: false,
        oidc_provider_name: state
            .auth
            .as_deref()
            .and_then(|a| a.oidc())
            .map(|p| p.config().name.clone()),
        project_creation_restriction: "adminonly".into(),
        self_registration: false,
        has_ca_root: false,
        registry_storage_provider_name: "filesystem".into(),
        read_only: false,
        with_notary: false,
        with_chartmuseum: false,
        notification_enable: false,
        current_time: super::rfc3339(berth_now_ms()),
    }))
}

/// Harbor's `auth_mode` of the identity in effect: `oidc_auth`,
/// `ldap_auth` or `db_auth` (local accounts only).
pub fn auth_mode(state: &AppState) -> &'static str {
    match state.auth.as_deref() {
        Some(a) if a.oidc().is_some() => "oidc_auth",
        Some(a) if a.directory().is_some() => "ldap_auth",
        _ => "db_auth",
    }
}

fn berth_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Liveness: answers `Pong`.
#[utoipa::path(get, path = "/ping", tag = "ping",
    responses((status = 200, description = "The server answers", body = String, content_type = "text/plain")))]
pub async fn ping() -> &'static str {
    "Pong"
}

/// Harbor's `Statistic`: project and repository counts the caller can see,
/// and, for a system administrator, the registry's totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct Statistic {
    /// Private projects the caller may read.
    pub private_project_count: u64,
    /// Repositories of those projects.
    pub private_repo_count: u64,
    /// Public projects.
    pub public_project_count: u64,
    /// Repositories of public projects.
    pub public_repo_count: u64,
    /// Every project (system administrators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_project_count: Option<u64>,
    /// Every repository (system administrators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_repo_count: Option<u64>,
    /// Bytes of all blobs stored, each counted once (system administrators
    /// only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_storage_consumption: Option<u64>,
}

/// Project and repository counts (Harbor's `GET /statistics`): public
/// projects count for everyone signed in, private ones where the caller may
/// read; the totals only for a system administrator. Anonymous callers get
/// 401 while authentication is on.
#[utoipa::path(get, path = "/statistics", tag = "statistic",
    responses((status = 200, body = Statistic), (status = 401, body = Errors)))]
pub async fn statistics(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Statistic>> {
    let admin = caller.is_administrator();
    if !admin && !caller.principal.is_authenticated() {
        return Err(caller.refusal());
    }
    let stats = state.registry.statistics().await?;
    let mut out = Statistic {
        private_project_count: 0,
        private_repo_count: 0,
        public_project_count: 0,
        public_repo_count: 0,
        total_project_count: admin.then_some(stats.projects.len() as u64),
        total_repo_count: admin.then(|| stats.projects.iter().map(|p| p.repositories).sum()),
        total_storage_consumption: admin.then_some(stats.storage_bytes),
    };
    for p in &stats.projects {
        if p.public {
            out.public_project_count += 1;
            out.public_repo_count += p.repositories;
        } else if admin
            || authz::can_read_project(&state, &caller, &p.name)
                .await
                .is_ok()
        {
            out.private_project_count += 1;
            out.private_repo_count += p.repositories;
        }
    }
    Ok(Json(out))
}
