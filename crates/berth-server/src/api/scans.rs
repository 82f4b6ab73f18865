//! Scans (docs/supply-chain.md "SBOMs"): Harbor's
//! `POST …/artifacts/{reference}/scan` (`scan_type: sbom`) and the
//! `sbom_overview` of an artifact.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use berth_registry::audit::AuditAction;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::artifacts::ArtifactPath;
use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::manage::{self, Target};
use super::{rfc3339, ApiPath};
use crate::server::AppState;

/// Body of `POST …/scan` (Harbor's `ScanType`).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ScanReq {
    /// `vulnerability` (the default, as in Harbor) or `sbom`.
    #[serde(default)]
    pub scan_type: Option<String>,
}

/// Harbor's `SBOMOverview` of an artifact (`with_sbom_overview=true`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SbomOverview {
    /// When the latest run started, RFC 3339 (absent while pending).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// When it ended, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// `Pending`, `Running`, `Success` or `Error`.
    pub scan_status: String,
    /// The SPDX referrer's manifest digest (Success with something found
    /// only: an image where nothing was found gets no documents).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbom_digest: Option<String>,
    /// The CycloneDX referrer's manifest digest (berth extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cyclonedx_digest: Option<String>,
    /// Packages found (berth extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package_count: Option<usize>,
    /// Seconds the run took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    /// Why it failed (Error only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// The SBOM overview of `digest` in `repository`; `None` when no SBOM was
/// ever asked for.
pub async fn sbom_overview(
    state: &AppState,
    repository: &str,
    digest: &str,
) -> ApiResult<Option<SbomOverview>> {
    let (Ok(repo), Ok(digest)) = (
        berth_oci::RepositoryName::parse(repository),
        digest.parse::<berth_oci::Digest>(),
    ) else {
        return Ok(None);
    };
    let Some(task) = state.registry.sbom_status(&repo, &digest).await? else {
        return Ok(None);
    };
    let report: Option<berth_registry::sbom::SbomReport> = task
        .report
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok());
    let status = match task.status.as_str() {
        "pending" => "Pending",
        "running" => "Running",
        "success" => "Success",
        _ => "Error",
    };
    let finished = task
        .finished_at
        .filter(|_| status != "Pending" && status != "Running");
    Ok(Some(SbomOverview {
        start_time: task.started_at.map(rfc3339),
        end_time: finished.map(rfc3339),
        scan_status: status.to_string(),
        sbom_digest: report.as_ref().and_then(|r| r.spdx.clone()),
        cyclonedx_digest: report.as_ref().and_then(|r| r.cyclonedx.clone()),
        package_count: report.as_ref().map(|r| r.packages),
        duration: match (task.started_at, finished) {
            (Some(s), Some(f)) => Some((f - s).max(0) / 1000),
            _ => None,
        },
        detail: if status == "Error" {
            task.detail
        } else {
            String::new()
        },
    }))
}

/// `POST …/artifacts/{reference}/scan`: Harbor's scan of the artifact (each
/// platform manifest of an index). `{"scan_type": "vulnerability"}` (the
/// default) matches its packages against the vulnerability database now
/// (an image without an SBOM gets one first, off the request path);
/// `{"scan_type": "sbom"}` makes its SBOMs again. 202; the outcome shows in
/// `scan_overview` / `sbom_overview`. 400 for another scan type, an
/// accessory, or a vulnerability scan without a database. Those who may
/// push to the repository.
#[utoipa::path(post,
    path = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/scan",
    tag = "scan", params(ArtifactPath), request_body(content = ScanReq, description = "the scan type"),
    responses((status = 202, description = "Queued"), (status = 400, body = Errors),
        (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn scan(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ArtifactPath>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let mut repository = None;
    let result = async {
        let req: ScanReq = if body.iter().all(u8::is_ascii_whitespace) {
            ScanReq::default()
        } else {
            serde_json::from_slice(&body)
                .map_err(|e| ApiError::BadRequest(format!("invalid scan request: {e}")))?
        };
        let repo =
            super::repositories::resolve(&state, &caller, &p.project_name, &p.repository_name)
                .await?;
        repository = Some(repo.name.clone());
        authz::can_create_tag(&state, &caller, &repo.name).await?;
        let kind = req.scan_type.as_deref().unwrap_or("vulnerability");
        if kind != "sbom" && kind != "vulnerability" {
            return Err(ApiError::BadRequest(format!(
                "scan_type {kind:?} is not supported: vulnerability or sbom"
            )));
        }
        let reference = berth_oci::Reference::parse(&p.reference).map_err(|e| {
            ApiError::BadRequest(format!("invalid reference {:?}: {e}", p.reference))
        })?;
        let info = state.registry.artifact(&repo, &reference).await?;
        let name =
            berth_oci::RepositoryName::parse(&repo.name).map_err(berth_registry::Error::from)?;
        let queued = if kind == "sbom" {
            state.registry.sbom_request(&name, &info.row.digest).await?
        } else {
            state.registry.vuln_scan(&name, &info.row.digest).await?
        };
        Ok(format!(
            "{kind}: {}",
            queued
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        ))
    }
    .await;
    // The repository as named in the path when it was not resolved (a
    // request refused before): `project/name`, Harbor's `%2F` undone.
    let named = repository.unwrap_or_else(|| {
        format!(
            "{}/{}",
            p.project_name,
            p.repository_name.replace("%2F", "/").replace("%252F", "/")
        )
    });
    manage::audited(
        &state,
        &caller,
        AuditAction::ScanRequest,
        Target {
            project: Some(&named),
            account: Some(&p.reference),
            detail: match &result {
                Ok(d) => d.clone(),
                Err(_) => "scan".to_string(),
            },
        },
        result,
    )?;
    Ok(StatusCode::ACCEPTED)
}

/// The "scan all" schedule (`scan.schedule` of the configuration), Harbor's
/// `GET /system/scanAll/schedule`: `{"schedule": {"type": "Custom", "cron"}}`
/// or type `None`. System administrators.
#[utoipa::path(get, path = "/system/scanAll/schedule", tag = "scanAll",
    responses((status = 200, body = super::gc::GcSchedule), (status = 401, body = super::error::Errors),
        (status = 403, body = super::error::Errors)))]
pub async fn scan_all_schedule(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<crate::server::AppState>>,
    caller: super::authz::Caller,
) -> super::error::ApiResult<axum::Json<super::gc::GcSchedule>> {
    super::authz::can_administer(&caller, "read the scan-all schedule")?;
    let schedule = super::gc::ScheduleObj::configured(state.scan_schedule.as_ref());
    Ok(axum::Json(super::gc::GcSchedule {
        schedule,
        job_parameters: "{}".into(),
    }))
}

/// Harbor's `POST /system/scanAll/schedule` with `{"schedule": {"type":
/// "Manual"}}`: matches every image with an SBOM against the vulnerability
/// database again, in the background (201). Other schedule types are
/// refused with 400: the schedule is `scan.schedule` in the configuration.
/// System administrators; audited as `scan_request`.
#[utoipa::path(post, path = "/system/scanAll/schedule", tag = "scanAll",
    request_body = super::gc::GcScheduleRequest,
    responses((status = 201, description = "Started"), (status = 400, body = super::error::Errors),
        (status = 401, body = super::error::Errors), (status = 403, body = super::error::Errors)))]
pub async fn scan_all(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<crate::server::AppState>>,
    caller: super::authz::Caller,
    super::ApiJson(req): super::ApiJson<super::gc::GcScheduleRequest>,
) -> super::error::ApiResult<axum::http::StatusCode> {
    let started = async {
        super::authz::can_administer(&caller, "scan all artifacts")?;
        if !req.schedule.kind.eq_ignore_ascii_case("manual") {
            return Err(super::error::ApiError::BadRequest(format!(
                "schedule type {:?} cannot be set through the API: use \"Manual\" to scan now; \
                 the schedule is scan.schedule in the server's configuration",
                crate::clip(&req.schedule.kind)
            )));
        }
        Ok(())
    }
    .await;
    super::manage::audited(
        &state,
        &caller,
        berth_registry::AuditAction::ScanRequest,
        super::manage::Target {
            project: None,
            account: None,
            detail: "scan all: every image with an SBOM matched again".into(),
        },
        started,
    )?;
    let bg = state.clone();
    tokio::spawn(async move {
        match bg.registry.vuln_scan_all().await {
            Ok(n) => tracing::info!(images = n, "scan all finished"),
            Err(e) => tracing::warn!(error = %e, "scan all did not run"),
        }
    });
    Ok(axum::http::StatusCode::CREATED)
}
