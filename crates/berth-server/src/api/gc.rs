//! Garbage collection over the management API, in Harbor's `gc` shapes:
//! `GET /system/gc` (run history), `GET /system/gc/{gc_id}`,
//! `GET /system/gc/{gc_id}/log`, `GET /system/gc/schedule` and
//! `POST /system/gc/schedule` with `{"schedule":{"type":"Manual"}}` (run now).
//!
//! System administrators only, as in Harbor. A run started here uses the
//! server's `[gc]` settings (grace period, upload age) and the request's
//! `parameters.delete_untagged` and `parameters.dry_run`; it runs in the
//! background and the answer is `201` with `Location: /api/v2.0/system/gc/{id}`
//! at once. The schedule itself is `gc.schedule` in the configuration: this API
//! shows it but does not change it (a cluster of nodes would otherwise need to
//! agree on it; see docs/gc.md).

use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_registry::AuditAction;
use berth_registry::{GcTrigger, JobRunRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::pagination::PageParams;
use super::{rfc3339, ApiJson, ApiPath, ApiQuery};
use crate::server::AppState;

/// Harbor's `ScheduleObj`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleObj {
    /// `Manual` (a run started by hand), `Custom` (a cron schedule), `None`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Cron expression of a `Custom` schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
}

impl ScheduleObj {
    /// The schedule of a configured cron expression (`gc.schedule`,
    /// `scan.schedule`): `Custom` with it, or `None` when unset.
    pub fn configured(cron: Option<&String>) -> ScheduleObj {
        ScheduleObj {
            kind: if cron.is_some() { "Custom" } else { "None" }.into(),
            cron: cron.cloned(),
        }
    }
}

/// Harbor's `GCHistory`, with berth's counts of what the run deleted.
#[derive(Debug, Serialize, ToSchema)]
pub struct GcHistory {
    /// Run id.
    pub id: i64,
    /// Always `GARBAGE_COLLECTION`.
    pub job_name: String,
    /// `MANUAL` (API or `berth gc`) or `SCHEDULE`.
    pub job_kind: String,
    /// The run's parameters as JSON text (`delete_untagged`, `dry_run`,
    /// `grace_period_secs`, `upload_max_age_secs`).
    pub job_parameters: String,
    /// How it was started.
    pub schedule: ScheduleObj,
    /// `Running`, `Success` or `Error`.
    pub job_status: String,
    /// Harbor's flag for deleted history rows; always false.
    pub deleted: bool,
    /// Start, RFC 3339.
    pub creation_time: String,
    /// End (or start, while running), RFC 3339.
    pub update_time: String,
    /// berth: untagged manifests deleted (or, for a dry run, that would be).
    pub manifests_deleted: u64,
    /// berth: repository links expired.
    pub links_deleted: u64,
    /// berth: blobs deleted.
    pub blobs_deleted: u64,
    /// berth: bytes freed (blobs and upload sessions).
    pub bytes_deleted: u64,
    /// berth: upload sessions removed.
    pub uploads_deleted: u64,
    /// berth: `berth gc` on the command line started it (`job_kind` is `MANUAL`).
    pub cli: bool,
}

fn status_word(status: &str) -> String {
    match status {
        "running" => "Running",
        "success" => "Success",
        "error" => "Error",
        other => other,
    }
    .into()
}

fn history_of(r: &JobRunRecord) -> GcHistory {
    let scheduled = r.trigger == GcTrigger::Schedule.as_str();
    GcHistory {
        id: r.id,
        job_name: "GARBAGE_COLLECTION".into(),
        job_kind: if scheduled { "SCHEDULE" } else { "MANUAL" }.into(),
        job_parameters: r.parameters.clone(),
        schedule: ScheduleObj {
            kind: if scheduled { "Custom" } else { "Manual" }.into(),
            cron: None,
        },
        job_status: status_word(&r.status),
        deleted: false,
        creation_time: rfc3339(r.started_at),
        update_time: rfc3339(r.finished_at.unwrap_or(r.started_at)),
        manifests_deleted: r.manifests_deleted,
        links_deleted: r.links_deleted,
        blobs_deleted: r.blobs_deleted,
        bytes_deleted: r.bytes_deleted,
        uploads_deleted: r.uploads_deleted,
        cli: r.trigger == GcTrigger::Cli.as_str(),
    }
}

/// Query of `GET /system/gc`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GcListQuery {
    /// Page number, from 1.
    pub page: Option<i64>,
    /// Runs per page (default 10, at most 100).
    pub page_size: Option<i64>,
}

/// Garbage-collection runs, newest first.
#[utoipa::path(get, path = "/system/gc", tag = "gc", params(GcListQuery),
    responses((status = 200, body = [GcHistory],
            headers(("X-Total-Count" = u64), ("Link" = String))),
        (status = 401, body = Errors), (status = 403, body = Errors)))]
pub async fn history(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<GcListQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    authz::can_administer(&caller, "read garbage-collection runs")?;
    let page = PageParams {
        page: q.page,
        page_size: q.page_size,
    }
    .page()?;
    let offset = u32::try_from(page.offset()).unwrap_or(u32::MAX);
    let size = u32::try_from(page.page_size).unwrap_or(100);
    let rows = state.registry.gc_history(offset, size).await?;
    let total = state.registry.gc_history_len().await?;
    let body: Vec<GcHistory> = rows.iter().map(history_of).collect();
    Ok((page.headers(total, &uri), Json(body)).into_response())
}

/// Path of one run.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct GcPath {
    /// Run id.
    pub gc_id: i64,
}

async fn run_of(state: &AppState, id: i64) -> ApiResult<JobRunRecord> {
    state
        .registry
        .gc_run_by_id(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("garbage-collection run {id} not found")))
}

/// One garbage-collection run.
#[utoipa::path(get, path = "/system/gc/{gc_id}", tag = "gc", params(GcPath),
    responses((status = 200, body = GcHistory), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<GcPath>,
) -> ApiResult<Json<GcHistory>> {
    authz::can_administer(&caller, "read garbage-collection runs")?;
    Ok(Json(history_of(&run_of(&state, p.gc_id).await?)))
}

/// The log of one run (text): its parameters, outcome and counts.
#[utoipa::path(get, path = "/system/gc/{gc_id}/log", tag = "gc", params(GcPath),
    responses((status = 200, description = "The run's log", body = String, content_type = "text/plain"),
        (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn log(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<GcPath>,
) -> ApiResult<Response> {
    authz::can_administer(&caller, "read garbage-collection runs")?;
    let r = run_of(&state, p.gc_id).await?;
    let mut text = format!(
        "{} garbage collection {} ({}{}) with {}\n",
        rfc3339(r.started_at),
        r.id,
        r.trigger,
        if r.dry_run { ", dry run" } else { "" },
        r.parameters
    );
    match (r.status.as_str(), r.finished_at) {
        ("running", _) | (_, None) => text.push_str("running\n"),
        (status, Some(end)) => {
            let verb = if r.dry_run { "would delete" } else { "deleted" };
            text.push_str(&format!(
                "{} {status}: {verb} {} manifests, {} repository links, {} blobs, \
                 {} upload sessions; {} bytes\n",
                rfc3339(end),
                r.manifests_deleted,
                r.links_deleted,
                r.blobs_deleted,
                r.uploads_deleted,
                r.bytes_deleted
            ));
            if let Some(e) = &r.error {
                text.push_str(&format!("error: {e}\n"));
            }
        }
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// Harbor's `GCHistory` of the schedule (`GET /system/gc/schedule`).
#[derive(Debug, Serialize, ToSchema)]
pub struct GcSchedule {
    /// `Custom` with the cron expression of `gc.schedule`, or `None`.
    pub schedule: ScheduleObj,
    /// The parameters scheduled runs use, JSON text.
    pub job_parameters: String,
}

/// The garbage-collection schedule (`gc.schedule` of the configuration).
#[utoipa::path(get, path = "/system/gc/schedule", tag = "gc",
    responses((status = 200, body = GcSchedule), (status = 401, body = Errors),
        (status = 403, body = Errors)))]
pub async fn get_schedule(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<GcSchedule>> {
    authz::can_administer(&caller, "read the garbage-collection schedule")?;
    let schedule = ScheduleObj::configured(state.gc_schedule.as_ref());
    Ok(Json(GcSchedule {
        schedule,
        job_parameters: serde_json::json!({
            "delete_untagged": state.gc.delete_untagged,
            "grace_period_secs": state.gc.grace_period.as_secs(),
            "upload_max_age_secs": state.gc.upload_max_age.as_secs(),
        })
        .to_string(),
    }))
}

/// Parameters of a run (Harbor's `parameters` object; others are ignored).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct GcParameters {
    /// Also delete untagged manifests older than the grace period.
    #[serde(default)]
    pub delete_untagged: Option<bool>,
    /// Report only.
    #[serde(default)]
    pub dry_run: Option<bool>,
    /// berth: also list the whole blob storage for files no row records (a
    /// run does so anyway on its first run and once every 7 days).
    #[serde(default)]
    pub scan_storage: Option<bool>,
}

/// Harbor's `Schedule` request body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct GcScheduleRequest {
    /// `{"type": "Manual"}` runs now.
    pub schedule: ScheduleObj,
    /// Run parameters.
    #[serde(default)]
    pub parameters: Option<GcParameters>,
}

/// Starts a run now (`schedule.type` = `Manual`): `201` with `Location:
/// /api/v2.0/system/gc/{id}`; the run goes on in the background. Other
/// schedule types are refused with 400: the schedule is `gc.schedule` in the
/// configuration.
#[utoipa::path(post, path = "/system/gc/schedule", tag = "gc", request_body = GcScheduleRequest,
    responses((status = 201, description = "Started", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors),
        (status = 403, body = Errors)))]
pub async fn run(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<GcScheduleRequest>,
) -> ApiResult<Response> {
    let params = req.parameters.unwrap_or_default();
    let mut opts = state.gc.clone();
    opts.trigger = GcTrigger::Manual;
    if let Some(d) = params.delete_untagged {
        opts.delete_untagged = d;
    }
    opts.dry_run = params.dry_run.unwrap_or(false);
    opts.scan_storage = params.scan_storage.unwrap_or(false);
    let mut detail = format!(
        "garbage collection started{}{}",
        if opts.dry_run { " (dry run)" } else { "" },
        if opts.delete_untagged {
            ", deleting untagged manifests"
        } else {
            ""
        }
    );
    let started = async {
        authz::can_administer(&caller, "run garbage collection")?;
        if !req.schedule.kind.eq_ignore_ascii_case("manual") {
            return Err(ApiError::BadRequest(format!(
                "schedule type {:?} cannot be set through the API: use \"Manual\" to run now; \
                 the schedule is gc.schedule in the server's configuration",
                req.schedule.kind
            )));
        }
        Ok(state.registry.gc_record_start(&opts).await?)
    }
    .await;
    if let Ok(id) = &started {
        detail = format!("run {id}: {detail}");
    }
    let id = super::manage::audited(
        &state,
        &caller,
        AuditAction::GcRun,
        super::manage::Target {
            project: None,
            account: None,
            detail,
        },
        started,
    )?;
    let bg = state.clone();
    tokio::spawn(async move {
        match bg.registry.gc_recorded(id, &opts, &|_| {}).await {
            Ok(r) => tracing::info!(
                run = id,
                blobs = r.blobs_deleted,
                bytes = r.bytes_deleted,
                "garbage collection finished"
            ),
            Err(e) => tracing::error!(run = id, "garbage collection failed: {e}"),
        }
    });
    let location = format!("{}/system/gc/{id}", super::BASE_PATH);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}
