//! Vulnerabilities (docs/supply-chain.md "Vulnerabilities"): Harbor's
//! `…/artifacts/{reference}/additions/vulnerabilities` and `scan_overview`,
//! the system CVE allow-list (`/system/CVEAllowlist`), and berth's
//! `/vulnerability-database` (what was imported, when).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_registry::audit::AuditAction;
use berth_registry::vuln::{Severity, VulnReport, REPORT_MIME};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::artifacts::ArtifactPath;
use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::manage::{self, Target};
use super::{rfc3339, ApiJson, ApiPath, ApiQuery};
use crate::server::AppState;

/// Harbor's `Scanner`: who made a report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Scanner {
    /// `berth`, or the external scanner's name (`Trivy`).
    pub name: String,
    /// `berth`, or the external scanner's vendor.
    pub vendor: String,
    /// Its version.
    pub version: String,
}

/// Who made `report`: the external scanner it names, else berth.
fn scanner(report: Option<&VulnReport>) -> Scanner {
    match report.and_then(|r| r.scanner.as_ref()) {
        Some(s) => Scanner {
            name: s.name.clone(),
            vendor: s.vendor.clone(),
            version: s.version.clone(),
        },
        None => Scanner {
            name: berth_registry::vuln::SCANNER.into(),
            vendor: berth_registry::vuln::SCANNER.into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
    }
}

/// Harbor's `VulnerabilitySummary`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VulnerabilitySummary {
    /// Findings.
    pub total: usize,
    /// Findings with a fixed version.
    pub fixable: usize,
    /// Findings by level (`Critical`, `High`, …).
    pub summary: BTreeMap<String, usize>,
}

/// Harbor's `NativeReportSummary`, one entry of `scan_overview`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportSummary {
    /// `Pending`, `Running`, `Success` or `Error`.
    pub scan_status: String,
    /// The worst level found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    /// Counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<VulnerabilitySummary>,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// 100 once done.
    pub complete_percent: u8,
    /// Who scanned.
    pub scanner: Scanner,
    /// Why it failed (`Error` only; berth extension).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The database import matched against (berth extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<i64>,
}

fn summary_of(report: &VulnReport) -> VulnerabilitySummary {
    VulnerabilitySummary {
        total: report.findings.len(),
        fixable: report
            .findings
            .iter()
            .filter(|f| f.fix_version.is_some())
            .count(),
        summary: report
            .counts()
            .into_iter()
            .map(|(s, n)| (s.as_str().to_string(), n))
            .collect(),
    }
}

/// Harbor's `scan_overview` of `digest` in `repository`
/// (`{REPORT_MIME: summary}`); `None` when it was never scanned.
pub async fn scan_overview(
    state: &AppState,
    repository: &str,
    digest: &str,
) -> ApiResult<Option<BTreeMap<String, ReportSummary>>> {
    let (Ok(repo), Ok(digest)) = (
        berth_oci::RepositoryName::parse(repository),
        digest.parse::<berth_oci::Digest>(),
    ) else {
        return Ok(None);
    };
    let Some((task, report)) = state.registry.vuln_report(&repo, &digest).await? else {
        return Ok(None);
    };
    let status = match task.status.as_str() {
        "pending" => "Pending",
        "running" => "Running",
        "success" => "Success",
        _ => "Error",
    };
    let done = status == "Success" || status == "Error";
    let entry = ReportSummary {
        scan_status: status.into(),
        severity: report.as_ref().map(|r| r.severity.as_str().to_string()),
        duration: match (task.started_at, task.finished_at) {
            (Some(s), Some(f)) if done => Some((f - s).max(0) / 1000),
            _ => None,
        },
        summary: report.as_ref().map(summary_of),
        start_time: task.started_at.map(rfc3339),
        end_time: task.finished_at.filter(|_| done).map(rfc3339),
        complete_percent: if done { 100 } else { 0 },
        scanner: match (status, report.as_ref().and_then(|r| r.scanner.as_ref())) {
            // A scan still waiting for, or failed at, the default external
            // scanner is its, not berth's.
            ("Success", _) | (_, Some(_)) => scanner(report.as_ref()),
            _ => match state.registry.scanner_default().await? {
                Some(s) => Scanner {
                    name: s.name,
                    vendor: String::new(),
                    version: String::new(),
                },
                None => scanner(report.as_ref()),
            },
        },
        detail: if status == "Error" {
            task.detail
        } else {
            String::new()
        },
        database: report
            .as_ref()
            .filter(|r| r.scanner.is_none())
            .map(|r| r.database),
    };
    Ok(Some(BTreeMap::from([(REPORT_MIME.to_string(), entry)])))
}

/// Harbor's `VulnerabilityItem`, plus berth's `osv_id`, `aliases`,
/// `ecosystem` and `purl`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VulnerabilityItem {
    /// The CVE when the advisory names one, else the OSV id.
    pub id: String,
    /// The OSV record's id.
    pub osv_id: String,
    /// Every other id.
    pub aliases: Vec<String>,
    /// Installed package.
    pub package: String,
    /// Installed version (a Debian package's source version).
    pub version: String,
    /// First fixed version above it.
    pub fix_version: String,
    /// Level.
    pub severity: String,
    /// The advisory's summary.
    pub description: String,
    /// Links.
    pub links: Vec<String>,
    /// `{score_v3, vector_v3}` when known.
    #[schema(value_type = Object)]
    pub preferred_cvss: serde_json::Value,
    /// OSV ecosystem.
    pub ecosystem: String,
    /// The package's purl.
    pub purl: String,
    /// CWE ids (`CWE-79`) the advisory names (Harbor's `cwe_ids`).
    pub cwe_ids: Vec<String>,
}

/// Harbor's `Report`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Report {
    /// RFC 3339.
    pub generated_at: String,
    /// Who scanned.
    pub scanner: Scanner,
    /// The worst level found.
    pub severity: String,
    /// Findings, worst first.
    pub vulnerabilities: Vec<VulnerabilityItem>,
    /// The database import matched against (berth extension; absent for
    /// an external scanner's report).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<i64>,
}

/// Query of `…/additions/vulnerabilities`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `json` (default, Harbor's shape) or `csv` (berth: one line per
    /// finding).
    pub format: Option<String>,
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `GET …/artifacts/{reference}/additions/vulnerabilities`: the artifact's
/// report as `{REPORT_MIME: Report}` (Harbor), or CSV with `format=csv`.
/// 404 when it has none (never scanned, or its scan failed: see
/// `scan_overview`). Readers of the repository.
#[utoipa::path(get,
    path = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/additions/vulnerabilities",
    tag = "scan", params(ArtifactPath, ReportQuery),
    responses((status = 200, body = Object), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn report(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ArtifactPath>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let repo =
        super::repositories::resolve(&state, &caller, &p.project_name, &p.repository_name).await?;
    authz::can_read_repository(&state, &caller, &repo.name).await?;
    let reference = berth_oci::Reference::parse(&p.reference)
        .map_err(|e| ApiError::BadRequest(format!("invalid reference {:?}: {e}", p.reference)))?;
    let info = state.registry.artifact(&repo, &reference).await?;
    let name = berth_oci::RepositoryName::parse(&repo.name).map_err(berth_registry::Error::from)?;
    let report = match state.registry.vuln_report(&name, &info.row.digest).await? {
        Some((_, Some(r))) => r,
        _ => {
            return Err(ApiError::NotFound(format!(
                "{}@{} has no vulnerability report (see its scan_overview)",
                repo.name, info.row.digest
            )))
        }
    };
    let items: Vec<VulnerabilityItem> = report
        .findings
        .iter()
        .map(|f| VulnerabilityItem {
            id: f
                .aliases
                .iter()
                .find(|a| a.starts_with("CVE-"))
                .cloned()
                .unwrap_or_else(|| f.id.clone()),
            osv_id: f.id.clone(),
            aliases: f.aliases.clone(),
            package: f.package.clone(),
            version: f.version.clone(),
            fix_version: f.fix_version.clone().unwrap_or_default(),
            severity: f.severity.as_str().into(),
            description: f.summary.clone(),
            links: f.links.clone(),
            preferred_cvss: match (&f.score, &f.vector) {
                (Some(s), Some(v)) => serde_json::json!({"score_v3": s, "vector_v3": v}),
                _ => serde_json::json!({}),
            },
            ecosystem: f.ecosystem.clone(),
            purl: f.purl.clone(),
            cwe_ids: f.cwe_ids.clone(),
        })
        .collect();
    if q.format.as_deref() == Some("csv") {
        let mut out =
            String::from("id,osv_id,package,version,fix_version,severity,ecosystem,description\n");
        for i in &items {
            let line = [
                &i.id,
                &i.osv_id,
                &i.package,
                &i.version,
                &i.fix_version,
                &i.severity,
                &i.ecosystem,
                &i.description,
            ]
            .map(|s| csv_field(s))
            .join(",");
            out.push_str(&line);
            out.push('\n');
        }
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response());
    }
    let body = BTreeMap::from([(
        REPORT_MIME.to_string(),
        Report {
            generated_at: rfc3339(report.generated_at),
            scanner: scanner(Some(&report)),
            severity: report.severity.as_str().into(),
            vulnerabilities: items,
            database: report.scanner.is_none().then_some(report.database),
        },
    )]);
    Ok(Json(body).into_response())
}

/// One import of the vulnerability database.
#[derive(Debug, Serialize, ToSchema)]
pub struct VulnImport {
    /// Its id: the database's version.
    pub id: i64,
    /// RFC 3339.
    pub imported_at: String,
    /// The path imported.
    pub source: String,
    /// Records read.
    pub records: i64,
    /// New or changed.
    pub changed: i64,
    /// Images matched again.
    pub rematched: i64,
}

/// The vulnerability database (berth).
#[derive(Debug, Serialize, ToSchema)]
pub struct VulnDatabase {
    /// Records held.
    pub records: i64,
    /// The latest import's time, RFC 3339 (absent before the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Imports, newest first (at most 20).
    pub imports: Vec<VulnImport>,
}

/// `GET /vulnerability-database`: what the offline vulnerability database
/// holds and when it was imported (`berth vuln-db import`). Any caller who
/// is logged in.
#[utoipa::path(get, path = "/vulnerability-database", tag = "scan",
    responses((status = 200, body = VulnDatabase), (status = 401, body = Errors)))]
pub async fn database(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<VulnDatabase>> {
    authz::can_read_system_info(&caller)?;
    let (imports, records) = state.registry.vuln_db_status().await?;
    Ok(Json(VulnDatabase {
        records,
        updated_at: imports.first().map(|i| rfc3339(i.imported_at)),
        imports: imports
            .into_iter()
            .map(|i| VulnImport {
                id: i.id,
                imported_at: rfc3339(i.imported_at),
                source: i.source,
                records: i.records,
                changed: i.changed,
                rematched: i.rematched,
            })
            .collect(),
    }))
}

/// Harbor's `CVEAllowlistItem`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AllowlistItem {
    /// A CVE id (or any advisory id or alias).
    pub cve_id: String,
}

/// Harbor's `CVEAllowlist`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Allowlist {
    /// Project id (0: the system's).
    #[serde(default)]
    pub project_id: i64,
    /// Unix seconds after which it no longer applies (`null`: never).
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// The ids.
    #[serde(default)]
    pub items: Vec<AllowlistItem>,
}

/// The allow-list of `project` (`None`: the system's) in Harbor's shape.
pub async fn allowlist_of(state: &AppState, project: Option<&str>) -> ApiResult<Allowlist> {
    let (items, expires_at) = state.registry.cve_allowlist(project).await?;
    Ok(Allowlist {
        project_id: 0,
        expires_at,
        items: items
            .into_iter()
            .map(|cve_id| AllowlistItem { cve_id })
            .collect(),
    })
}

/// Checks and stores an allow-list.
pub async fn allowlist_set(
    state: &AppState,
    project: Option<&str>,
    list: &Allowlist,
) -> ApiResult<String> {
    let ids: Vec<String> = list
        .items
        .iter()
        .map(|i| i.cve_id.trim().to_string())
        .collect();
    if let Some(bad) = ids.iter().find(|i| {
        i.is_empty()
            || i.len() > 64
            || !i
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
    }) {
        return Err(ApiError::BadRequest(format!(
            "invalid CVE id {bad:?}: letters, digits, - _ . : (e.g. CVE-2024-3094)"
        )));
    }
    state
        .registry
        .cve_allowlist_set(project, &ids, list.expires_at)
        .await?;
    Ok(format!(
        "cve allowlist: {} ids{}",
        ids.len(),
        list.expires_at
            .map(|e| format!(", expires {e}"))
            .unwrap_or_default()
    ))
}

/// `GET /system/CVEAllowlist`: the system CVE allow-list, which applies to
/// every project's vulnerability gate. Any caller who is logged in.
#[utoipa::path(get, path = "/system/CVEAllowlist", tag = "SystemCVEAllowlist",
    responses((status = 200, body = Allowlist), (status = 401, body = Errors)))]
pub async fn get_system_allowlist(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Allowlist>> {
    authz::can_read_system_info(&caller)?;
    Ok(Json(allowlist_of(&state, None).await?))
}

/// `PUT /system/CVEAllowlist`: replaces the system CVE allow-list. System
/// administrators.
#[utoipa::path(put, path = "/system/CVEAllowlist", tag = "SystemCVEAllowlist",
    request_body = Allowlist,
    responses((status = 200, description = "Replaced"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors)))]
pub async fn put_system_allowlist(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(list): ApiJson<Allowlist>,
) -> ApiResult<()> {
    let result = async {
        authz::can_administer(&caller, "change the system CVE allow-list")?;
        allowlist_set(&state, None, &list).await
    }
    .await;
    let detail = result
        .as_ref()
        .cloned()
        .unwrap_or_else(|_| "cve allowlist".into());
    manage::audited(
        &state,
        &caller,
        AuditAction::CveAllowlistChange,
        Target {
            detail,
            ..Target::default()
        },
        result,
    )?;
    Ok(())
}

/// Parses Harbor's `severity` metadata value.
pub fn severity_of(value: &str) -> ApiResult<Severity> {
    match Severity::parse(value) {
        Some(s) if s >= Severity::Low => Ok(s),
        _ => Err(ApiError::BadRequest(format!(
            "metadata.severity must be low, medium, high or critical, not {value:?}"
        ))),
    }
}
