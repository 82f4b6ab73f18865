//! Harbor's webhook API (`/projects/{p}/webhook/...`): policies, the event
//! types, and each policy's deliveries as executions with one task each
//! (docs/webhooks.md). Project admins and system administrators.

use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_registry::webhook::{EventType, Target as HookTarget};
use berth_registry::{AuditAction, WebhookPolicyRow};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::manage::{self, Target};
use super::pagination::PageParams;
use super::repositories::ProjectPath;
use super::{rfc3339, ApiJson, ApiPath, ApiQuery};
use crate::server::AppState;

/// What a stored secret or `auth_header` is answered as.
const MASK: &str = "*****";

/// Longest policy name or description, characters.
const MAX_TEXT: usize = 1024;

/// Harbor's `WebhookTargetObject`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookTarget {
    /// `http` (berth sends no `slack` or `teams` messages).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// URL POSTed to (`http://` or `https://`).
    pub address: String,
    /// Sent as `Authorization` when set.
    #[serde(default)]
    pub auth_header: Option<String>,
    /// Accept any TLS certificate from the target.
    #[serde(default)]
    pub skip_cert_verify: Option<bool>,
    /// `Default` (Harbor's JSON) or `CloudEvents`.
    #[serde(default)]
    pub payload_format: Option<String>,
}

/// Harbor's `WebhookPolicy`, with berth's `secret`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookPolicy {
    /// Id (answers only).
    #[serde(default)]
    pub id: Option<i64>,
    /// Name, unique in the project.
    #[serde(default)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// The project's id (answers only).
    #[serde(default)]
    pub project_id: Option<i64>,
    /// Where to send.
    #[serde(default)]
    pub targets: Option<Vec<WebhookTarget>>,
    /// Harbor event types (`PUSH_ARTIFACT`, ...; `GET …/webhook/events`).
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Who created it (answers only).
    #[serde(default)]
    pub creator: Option<String>,
    /// RFC 3339 (answers only).
    #[serde(default)]
    pub creation_time: Option<String>,
    /// RFC 3339 (answers only).
    #[serde(default)]
    pub update_time: Option<String>,
    /// Delivers only when true (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// berth: the HMAC-SHA256 key of the `X-Berth-Signature-256` header.
    /// Write-only: answered as `*****` when set; on update, absent or
    /// `*****` keeps the stored one and `""` removes it.
    #[serde(default)]
    pub secret: Option<String>,
}

fn policy_of(row: &WebhookPolicyRow, project_id: i64) -> WebhookPolicy {
    let targets: Vec<HookTarget> = serde_json::from_str(&row.targets).unwrap_or_default();
    WebhookPolicy {
        id: Some(row.id),
        name: Some(row.name.clone()),
        description: Some(row.description.clone()),
        project_id: Some(project_id),
        targets: Some(
            targets
                .into_iter()
                .map(|t| WebhookTarget {
                    kind: Some(t.kind),
                    address: t.address,
                    auth_header: Some(if t.auth_header.is_empty() {
                        String::new()
                    } else {
                        MASK.into()
                    }),
                    skip_cert_verify: Some(t.skip_cert_verify),
                    payload_format: Some(t.payload_format),
                })
                .collect(),
        ),
        event_types: serde_json::from_str(&row.event_types).ok(),
        creator: Some(row.creator.clone()),
        creation_time: Some(rfc3339(row.created_at)),
        update_time: Some(rfc3339(row.updated_at)),
        enabled: Some(row.enabled),
        secret: (!row.secret.is_empty()).then(|| MASK.into()),
    }
}

/// The checked fields of a policy request, as stored.
struct Checked {
    name: String,
    description: String,
    enabled: bool,
    event_types: String,
    targets: String,
    secret: String,
}

fn check(req: &WebhookPolicy, old: Option<&WebhookPolicyRow>) -> ApiResult<Checked> {
    let bad = |m: String| Err(ApiError::BadRequest(m));
    let name = match (&req.name, old) {
        (Some(n), _) => n.trim().to_string(),
        (None, Some(o)) => o.name.clone(),
        (None, None) => return bad("name is required".into()),
    };
    if name.is_empty() || name.chars().count() > MAX_TEXT {
        return bad(format!("name must have 1 to {MAX_TEXT} characters"));
    }
    let description = match (&req.description, old) {
        (Some(d), _) => d.clone(),
        (None, Some(o)) => o.description.clone(),
        (None, None) => String::new(),
    };
    if description.chars().count() > MAX_TEXT {
        return bad(format!(
            "description must have at most {MAX_TEXT} characters"
        ));
    }
    let event_types = match (&req.event_types, old) {
        (Some(types), _) => {
            if types.is_empty() {
                return bad("event_types must name at least one event type".into());
            }
            let mut out: Vec<&'static str> = Vec::new();
            for t in types {
                let Some(kind) = EventType::parse(t) else {
                    let known: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
                    return bad(format!(
                        "unknown event type {:?}; known: {}",
                        crate::clip(t),
                        known.join(", ")
                    ));
                };
                if !out.contains(&kind.as_str()) {
                    out.push(kind.as_str());
                }
            }
            serde_json::to_string(&out).unwrap_or_default()
        }
        (None, Some(o)) => o.event_types.clone(),
        (None, None) => return bad("event_types is required".into()),
    };
    let targets = match (&req.targets, old) {
        (Some(targets), _) => {
            if targets.is_empty() {
                return bad("targets must have at least one target".into());
            }
            let mut out = Vec::new();
            for t in targets {
                let kind = t.kind.clone().unwrap_or_else(|| "http".into());
                if kind != "http" {
                    return bad(format!(
                        "target type {:?} is not supported: berth sends http targets only",
                        crate::clip(&kind)
                    ));
                }
                match reqwest_url(&t.address) {
                    Some(scheme) if scheme == "http" || scheme == "https" => {}
                    _ => {
                        return bad(format!(
                            "target address {:?} is not an http:// or https:// URL",
                            crate::clip(&t.address)
                        ))
                    }
                }
                let format = match t.payload_format.as_deref().unwrap_or("") {
                    "" | "Default" => "Default",
                    "CloudEvents" => "CloudEvents",
                    other => {
                        return bad(format!(
                            "payload_format {:?} is not supported: Default or CloudEvents",
                            crate::clip(other)
                        ))
                    }
                };
                // `*****` keeps the stored header of the target at this address.
                let auth_header = match t.auth_header.as_deref() {
                    Some(MASK) => old
                        .and_then(|o| serde_json::from_str::<Vec<HookTarget>>(&o.targets).ok())
                        .and_then(|ts| ts.into_iter().find(|o| o.address == t.address))
                        .map(|o| o.auth_header)
                        .unwrap_or_default(),
                    other => other.unwrap_or_default().to_string(),
                };
                out.push(HookTarget {
                    kind,
                    address: t.address.clone(),
                    auth_header,
                    skip_cert_verify: t.skip_cert_verify.unwrap_or(false),
                    payload_format: format.into(),
                });
            }
            serde_json::to_string(&out).unwrap_or_default()
        }
        (None, Some(o)) => o.targets.clone(),
        (None, None) => return bad("targets is required".into()),
    };
    let secret = match (&req.secret, old) {
        (Some(s), Some(o)) if s == MASK => o.secret.clone(),
        (Some(s), _) => s.clone(),
        (None, Some(o)) => o.secret.clone(),
        (None, None) => String::new(),
    };
    Ok(Checked {
        name,
        description,
        enabled: req.enabled.or(old.map(|o| o.enabled)).unwrap_or(true),
        event_types,
        targets,
        secret,
    })
}

impl Checked {
    /// The row to store for `project`.
    fn row<'a>(
        &'a self,
        project: &'a str,
        creator: &'a str,
    ) -> berth_registry::NewWebhookPolicy<'a> {
        berth_registry::NewWebhookPolicy {
            project,
            name: &self.name,
            description: &self.description,
            enabled: self.enabled,
            event_types: &self.event_types,
            targets: &self.targets,
            secret: &self.secret,
            creator,
        }
    }
}

/// The scheme of `url` when it parses as an absolute URL with a host.
fn reqwest_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Some(scheme.to_ascii_lowercase())
}

async fn project_id(state: &AppState, project: &str) -> ApiResult<i64> {
    state
        .registry
        .project_id(project)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("project {project} not found")))
}

/// Path of one policy.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PolicyPath {
    /// Project name.
    pub project_name: String,
    /// Policy id.
    pub webhook_policy_id: i64,
}

/// Path of one execution (delivery).
#[derive(Debug, Deserialize, IntoParams)]
pub struct ExecutionPath {
    /// Project name.
    pub project_name: String,
    /// Policy id.
    pub webhook_policy_id: i64,
    /// Execution id (the delivery's).
    pub execution_id: i64,
}

/// Path of one task.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TaskPath {
    /// Project name.
    pub project_name: String,
    /// Policy id.
    pub webhook_policy_id: i64,
    /// Execution id.
    pub execution_id: i64,
    /// Task id (the same as the execution's: one task each).
    pub task_id: i64,
}

/// The project's webhook policies, by id.
#[utoipa::path(get, path = "/projects/{project_name}/webhook/policies", tag = "webhook",
    params(ProjectPath, PageParams),
    responses((status = 200, body = [WebhookPolicy], headers(("X-Total-Count" = u64))),
        (status = 401, body = Errors), (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ProjectPath>,
    ApiQuery(q): ApiQuery<PageParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    authz::can_manage_project(&state, &caller, &p.project_name).await?;
    let page = q.page()?;
    let pid = project_id(&state, &p.project_name).await?;
    let rows = state.registry.webhook_policies(&p.project_name).await?;
    let total = rows.len() as u64;
    let body: Vec<WebhookPolicy> = rows
        .iter()
        .skip(page.offset().min(usize::MAX as u64) as usize)
        .take(page.page_size as usize)
        .map(|r| policy_of(r, pid))
        .collect();
    Ok((page.headers(total, &uri), Json(body)).into_response())
}

/// One policy.
#[utoipa::path(get, path = "/projects/{project_name}/webhook/policies/{webhook_policy_id}",
    tag = "webhook", params(PolicyPath),
    responses((status = 200, body = WebhookPolicy), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<PolicyPath>,
) -> ApiResult<Json<WebhookPolicy>> {
    authz::can_manage_project(&state, &caller, &p.project_name).await?;
    let row = stored(&state, &p.project_name, p.webhook_policy_id).await?;
    let pid = project_id(&state, &p.project_name).await?;
    Ok(Json(policy_of(&row, pid)))
}

async fn stored(state: &AppState, project: &str, id: i64) -> ApiResult<WebhookPolicyRow> {
    state
        .registry
        .webhook_policy(project, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("webhook policy {id} not found in {project}")))
}

fn describe(c: &Checked) -> String {
    let events: Vec<String> = serde_json::from_str(&c.event_types).unwrap_or_default();
    let targets: Vec<HookTarget> = serde_json::from_str(&c.targets).unwrap_or_default();
    let addresses: Vec<&str> = targets.iter().map(|t| t.address.as_str()).collect();
    format!(
        "events {}; targets {}; {}{}",
        events.join(","),
        addresses.join(","),
        if c.enabled { "enabled" } else { "disabled" },
        if c.secret.is_empty() { "" } else { "; signed" }
    )
}

fn name_taken(e: berth_registry::Error, name: &str) -> ApiError {
    match &e {
        berth_registry::Error::Meta(m) if berth_registry::is_conflict(m) => ApiError::Conflict(
            format!("a webhook policy named {name:?} exists in this project"),
        ),
        _ => e.into(),
    }
}

/// Creates a policy: 201 with `Location`; 409 when the name is taken.
#[utoipa::path(post, path = "/projects/{project_name}/webhook/policies", tag = "webhook",
    params(ProjectPath), request_body = WebhookPolicy,
    responses((status = 201, description = "Created", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors), (status = 409, body = Errors)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ProjectPath>,
    ApiJson(req): ApiJson<WebhookPolicy>,
) -> ApiResult<Response> {
    let name = req.name.clone().unwrap_or_default();
    let result = async {
        authz::can_manage_project(&state, &caller, &p.project_name).await?;
        project_id(&state, &p.project_name).await?;
        let c = check(&req, None)?;
        let id = state
            .registry
            .webhook_policy_create(&c.row(&p.project_name, caller.principal.name()))
            .await
            .map_err(|e| name_taken(e, &c.name))?;
        Ok((id, describe(&c)))
    }
    .await;
    let detail = match &result {
        Ok((id, d)) => format!("policy {id}: {d}"),
        Err(_) => String::new(),
    };
    let (id, _) = manage::audited(
        &state,
        &caller,
        AuditAction::WebhookPolicyCreate,
        Target {
            project: Some(&p.project_name),
            account: Some(name.as_str()).filter(|n| !n.is_empty()),
            detail,
        },
        result,
    )?;
    let location = format!(
        "{}/projects/{}/webhook/policies/{id}",
        super::BASE_PATH,
        p.project_name
    );
    Ok((StatusCode::CREATED, [("location", location)]).into_response())
}

/// Changes a policy; absent fields keep their value.
#[utoipa::path(put, path = "/projects/{project_name}/webhook/policies/{webhook_policy_id}",
    tag = "webhook", params(PolicyPath), request_body = WebhookPolicy,
    responses((status = 200, description = "Changed"), (status = 400, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors),
        (status = 409, body = Errors)))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<PolicyPath>,
    ApiJson(req): ApiJson<WebhookPolicy>,
) -> ApiResult<StatusCode> {
    let mut name = req.name.clone().unwrap_or_default();
    let result = async {
        authz::can_manage_project(&state, &caller, &p.project_name).await?;
        let old = stored(&state, &p.project_name, p.webhook_policy_id).await?;
        let c = check(&req, Some(&old))?;
        name = c.name.clone();
        state
            .registry
            .webhook_policy_update(p.webhook_policy_id, &c.row(&p.project_name, ""))
            .await
            .map_err(|e| name_taken(e, &c.name))?;
        Ok(describe(&c))
    }
    .await;
    let detail = match &result {
        Ok(d) => format!("policy {}: {d}", p.webhook_policy_id),
        Err(_) => format!("policy {}", p.webhook_policy_id),
    };
    manage::audited(
        &state,
        &caller,
        AuditAction::WebhookPolicyUpdate,
        Target {
            project: Some(&p.project_name),
            account: Some(name.as_str()).filter(|n| !n.is_empty()),
            detail,
        },
        result,
    )?;
    Ok(StatusCode::OK)
}

/// Deletes a policy with its deliveries.
#[utoipa::path(delete, path = "/projects/{project_name}/webhook/policies/{webhook_policy_id}",
    tag = "webhook", params(PolicyPath),
    responses((status = 200, description = "Deleted"), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<PolicyPath>,
) -> ApiResult<StatusCode> {
    let mut name = String::new();
    let result = async {
        authz::can_manage_project(&state, &caller, &p.project_name).await?;
        let old = stored(&state, &p.project_name, p.webhook_policy_id).await?;
        name = old.name.clone();
        state
            .registry
            .webhook_policy_delete(&p.project_name, p.webhook_policy_id)
            .await?;
        Ok(())
    }
    .await;
    manage::audited(
        &state,
        &caller,
        AuditAction::WebhookPolicyDelete,
        Target {
            project: Some(&p.project_name),
            account: Some(name.as_str()).filter(|n| !n.is_empty()),
            detail: format!("policy {}", p.webhook_policy_id),
        },
        result,
    )?;
    Ok(StatusCode::OK)
}

/// Harbor's `SupportedWebhookEventTypes`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupportedWebhookEventTypes {
    /// Event types berth raises.
    pub event_type: Vec<String>,
    /// `http`.
    pub notify_type: Vec<String>,
    /// `[{notify_type: http, formats: [Default, CloudEvents]}]`.
    pub payload_formats: Vec<Value>,
}

/// The event types, notify types and payload formats berth supports.
#[utoipa::path(get, path = "/projects/{project_name}/webhook/events", tag = "webhook",
    params(ProjectPath),
    responses((status = 200, body = SupportedWebhookEventTypes), (status = 403, body = Errors)))]
pub async fn events(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ProjectPath>,
) -> ApiResult<Json<SupportedWebhookEventTypes>> {
    authz::can_manage_project(&state, &caller, &p.project_name).await?;
    Ok(Json(SupportedWebhookEventTypes {
        event_type: EventType::ALL.iter().map(|e| e.as_str().into()).collect(),
        notify_type: vec!["http".into()],
        payload_formats: vec![
            json!({"notify_type": "http", "formats": ["Default", "CloudEvents"]}),
        ],
    }))
}

fn harbor_status(status: &str) -> &'static str {
    match status {
        "pending" => "Pending",
        "running" => "Running",
        "success" => "Success",
        _ => "Error",
    }
}

fn time_or_empty(ms: Option<i64>) -> String {
    ms.map(rfc3339).unwrap_or_default()
}

fn last_line(log: &str) -> String {
    log.lines().last().unwrap_or("").to_string()
}

/// A policy's deliveries as Harbor `Execution`s (one task each), newest
/// first: `status` Pending/Running/Success/Error, `status_message` the last
/// attempt, `extra_attrs` the event type, target and payload.
#[utoipa::path(get, path = "/projects/{project_name}/webhook/policies/{webhook_policy_id}/executions",
    tag = "webhook", params(PolicyPath, PageParams),
    responses((status = 200, body = Object, headers(("X-Total-Count" = u64))),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn executions(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<PolicyPath>,
    ApiQuery(q): ApiQuery<PageParams>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    authz::can_manage_project(&state, &caller, &p.project_name).await?;
    stored(&state, &p.project_name, p.webhook_policy_id).await?;
    let page = q.page()?;
    let (rows, total) = state
        .registry
        .webhook_deliveries(p.webhook_policy_id, page.offset(), page.page_size)
        .await?;
    let body: Vec<Value> = rows
        .iter()
        .map(|d| {
            let status = harbor_status(&d.status);
            let count = |s: &str| u64::from(status == s);
            json!({
                "id": d.id,
                "vendor_type": "WEBHOOK",
                "vendor_id": d.policy_id,
                "status": status,
                "status_message": last_line(&d.log),
                "trigger": "EVENT",
                "metrics": {
                    "task_count": 1,
                    "success_task_count": count("Success"),
                    "error_task_count": count("Error"),
                    "pending_task_count": count("Pending"),
                    "running_task_count": count("Running"),
                    "scheduled_task_count": 0,
                    "stopped_task_count": 0,
                },
                "extra_attrs": {
                    "event_type": d.event_type,
                    "address": d.address,
                    "payload": d.payload,
                },
                "start_time": rfc3339(d.created_at),
                "end_time": time_or_empty(d.finished_at),
            })
        })
        .collect();
    Ok((page.headers(total, &uri), Json(body)).into_response())
}

async fn delivery(
    state: &AppState,
    caller: &Caller,
    project: &str,
    policy: i64,
    id: i64,
) -> ApiResult<berth_registry::DeliveryRow> {
    authz::can_manage_project(state, caller, project).await?;
    stored(state, project, policy).await?;
    state
        .registry
        .webhook_delivery(policy, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("execution {id} not found")))
}

/// The one task of an execution (Harbor `Task`): `run_count` is the number
/// of attempts.
#[utoipa::path(get,
    path = "/projects/{project_name}/webhook/policies/{webhook_policy_id}/executions/{execution_id}/tasks",
    tag = "webhook", params(ExecutionPath),
    responses((status = 200, body = Object), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn tasks(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ExecutionPath>,
) -> ApiResult<Response> {
    let d = delivery(
        &state,
        &caller,
        &p.project_name,
        p.webhook_policy_id,
        p.execution_id,
    )
    .await?;
    let body = json!([{
        "id": d.id,
        "execution_id": d.id,
        "status": harbor_status(&d.status),
        "status_message": last_line(&d.log),
        "run_count": d.attempts,
        "extra_attrs": { "event_type": d.event_type, "address": d.address },
        "creation_time": rfc3339(d.created_at),
        "update_time": time_or_empty(d.finished_at.or(d.started_at)),
        "start_time": time_or_empty(d.started_at),
        "end_time": time_or_empty(d.finished_at),
    }]);
    Ok(([("x-total-count", "1")], Json(body)).into_response())
}

/// A task's log: one line per attempt (time, answer or failure, what next).
#[utoipa::path(get,
    path = "/projects/{project_name}/webhook/policies/{webhook_policy_id}/executions/{execution_id}/tasks/{task_id}/log",
    tag = "webhook", params(TaskPath),
    responses((status = 200, description = "The log", content_type = "text/plain"),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn task_log(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<TaskPath>,
) -> ApiResult<Response> {
    let d = delivery(
        &state,
        &caller,
        &p.project_name,
        p.webhook_policy_id,
        p.execution_id,
    )
    .await?;
    if p.task_id != d.id {
        return Err(ApiError::NotFound(format!("task {} not found", p.task_id)));
    }
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        d.log,
    )
        .into_response())
}
