//! Replication (Harbor `replication` resource, docs/replication.md):
//! `GET|POST /replication/policies`, `GET|PUT|DELETE
//! /replication/policies/{id}`, `GET|POST /replication/executions`,
//! `GET|PUT /replication/executions/{id}` (PUT stops it),
//! `GET /replication/executions/{id}/tasks` and
//! `…/tasks/{task_id}/log`. System administrators only.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_registry::replication::PolicySpec;
use berth_registry::AuditAction;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::manage::{self, Target};
use super::{rfc3339, ApiJson, ApiPath, ApiQuery};
use crate::server::AppState;

/// Path of one policy.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PolicyPath {
    /// Policy id.
    pub id: i64,
}

/// Path of one execution.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ExecutionPath {
    /// Execution id.
    pub id: i64,
}

/// Path of one task.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TaskPath {
    /// Execution id.
    pub id: i64,
    /// Task id.
    pub task_id: i64,
}

fn policy_json(row: &berth_registry::PolicyRow, spec: &PolicySpec) -> serde_json::Value {
    let mut v = serde_json::to_value(spec).unwrap_or_default();
    v["id"] = row.id.into();
    v["creation_time"] = rfc3339(row.created_at).into();
    v["update_time"] = rfc3339(row.updated_at).into();
    v
}

/// Every replication policy (Harbor `ReplicationPolicy`s).
#[utoipa::path(get, path = "/replication/policies", tag = "replication",
    responses((status = 200, description = "The policies"), (status = 403, body = Errors)))]
pub async fn list_policies(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    authz::can_administer(&caller, "list replication policies")?;
    let all = state.registry.replication_policies().await?;
    Ok(Json(all.iter().map(|(r, s)| policy_json(r, s)).collect()))
}

/// One policy.
#[utoipa::path(get, path = "/replication/policies/{id}", tag = "replication", params(PolicyPath),
    responses((status = 200, description = "The policy"), (status = 404, body = Errors)))]
pub async fn get_policy(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<PolicyPath>,
) -> ApiResult<Json<serde_json::Value>> {
    authz::can_administer(&caller, "read replication policies")?;
    let (row, spec) = state.registry.replication_policy(p.id).await?;
    Ok(Json(policy_json(&row, &spec)))
}

fn spec_of(body: serde_json::Value) -> ApiResult<PolicySpec> {
    serde_json::from_value(body)
        .map_err(|e| ApiError::BadRequest(format!("not a replication policy: {e}")))
}

/// Adds a policy: Harbor's `ReplicationPolicy` (`src_registry` for
/// pull-based, `dest_registry` for push-based, `filters`, `trigger`,
/// `dest_namespace`, `dest_namespace_replace_count`, `override`, `enabled`,
/// `speed` KB/s). 201 with `Location`.
#[utoipa::path(post, path = "/replication/policies", tag = "replication",
    request_body = serde_json::Value,
    responses((status = 201, description = "Created", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 404, body = Errors), (status = 409, body = Errors)))]
pub async fn create_policy(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<Response> {
    let name = body["name"].as_str().unwrap_or_default().to_string();
    let result = async {
        authz::can_administer(&caller, "add replication policies")?;
        let spec = spec_of(body)?;
        Ok(state.registry.replication_policy_add(&spec).await?)
    }
    .await;
    let row = manage::audited(
        &state,
        &caller,
        AuditAction::ReplicationPolicyCreate,
        Target {
            account: Some(&name),
            ..Target::default()
        },
        result,
    )?;
    let location = format!("{}/replication/policies/{}", super::BASE_PATH, row.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

/// Replaces a policy's settings (the whole policy, as Harbor).
#[utoipa::path(put, path = "/replication/policies/{id}", tag = "replication", params(PolicyPath),
    request_body = serde_json::Value,
    responses((status = 200, description = "Changed"), (status = 400, body = Errors),
        (status = 404, body = Errors)))]
pub async fn update_policy(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<PolicyPath>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<StatusCode> {
    let name = body["name"].as_str().unwrap_or_default().to_string();
    let result = async {
        authz::can_administer(&caller, "change replication policies")?;
        let spec = spec_of(body)?;
        Ok(state
            .registry
            .replication_policy_change(p.id, &spec)
            .await?)
    }
    .await;
    manage::audited(
        &state,
        &caller,
        AuditAction::ReplicationPolicyUpdate,
        Target {
            account: Some(&name),
            ..Target::default()
        },
        result,
    )?;
    Ok(StatusCode::OK)
}

/// Deletes a policy with its executions.
#[utoipa::path(delete, path = "/replication/policies/{id}", tag = "replication", params(PolicyPath),
    responses((status = 200, description = "Deleted"), (status = 404, body = Errors)))]
pub async fn delete_policy(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<PolicyPath>,
) -> ApiResult<StatusCode> {
    let id = p.id.to_string();
    let result = async {
        authz::can_administer(&caller, "delete replication policies")?;
        Ok(state.registry.replication_policy_remove(p.id).await?)
    }
    .await;
    manage::audited(
        &state,
        &caller,
        AuditAction::ReplicationPolicyDelete,
        Target {
            account: Some(&id),
            ..Target::default()
        },
        result,
    )?;
    Ok(StatusCode::OK)
}

/// Harbor's `ReplicationExecution`, with its task counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Execution {
    /// Id.
    pub id: i64,
    /// Its policy.
    pub policy_id: i64,
    /// `InProgress`, `Succeed`, `Failed`, `Stopped`.
    pub status: String,
    /// Why.
    pub status_text: String,
    /// `manual`, `scheduled`, `event_based`.
    pub trigger: String,
    /// RFC 3339.
    pub start_time: String,
    /// RFC 3339; absent while running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// Tasks.
    pub total: usize,
    /// Failed tasks.
    pub failed: usize,
    /// Succeeded tasks.
    pub succeed: usize,
    /// Running or waiting tasks.
    pub in_progress: usize,
    /// Stopped tasks.
    pub stopped: usize,
    /// berth: blob and manifest bytes sent.
    pub bytes: i64,
}

async fn execution_of(state: &AppState, e: berth_registry::ExecutionRow) -> ApiResult<Execution> {
    let tasks = state
        .registry
        .meta()
        .replication_tasks(e.id)
        .await
        .map_err(berth_registry::Error::from)?;
    let count = |s: &str| tasks.iter().filter(|t| t.status == s).count();
    Ok(Execution {
        id: e.id,
        policy_id: e.policy_id,
        status: e.status,
        status_text: e.status_text,
        trigger: e.trigger,
        start_time: rfc3339(e.start_time),
        end_time: e.end_time.map(rfc3339),
        total: tasks.len(),
        failed: count("Failed"),
        succeed: count("Succeed"),
        in_progress: count("InProgress") + count("Pending"),
        stopped: count("Stopped"),
        bytes: tasks.iter().map(|t| t.bytes).sum(),
    })
}

/// Body of `POST /replication/executions`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StartExecution {
    /// The policy to run.
    pub policy_id: i64,
}

/// Starts an execution of a policy now (any trigger type, also when the
/// policy is disabled). 201 with `Location`.
#[utoipa::path(post, path = "/replication/executions", tag = "replication",
    request_body = StartExecution,
    responses((status = 201, description = "Started", headers(("Location" = String))),
        (status = 404, body = Errors)))]
pub async fn start(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<StartExecution>,
) -> ApiResult<Response> {
    let policy = req.policy_id.to_string();
    let result = async {
        authz::can_administer(&caller, "run replication policies")?;
        Ok(state
            .registry
            .replication_start(req.policy_id, "manual", None)
            .await?)
    }
    .await;
    let exec = manage::audited(
        &state,
        &caller,
        AuditAction::ReplicationRun,
        Target {
            account: Some(&policy),
            ..Target::default()
        },
        result,
    )?;
    let location = format!("{}/replication/executions/{}", super::BASE_PATH, exec.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

/// Query of `GET /replication/executions`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExecutionsQuery {
    /// Only this policy's executions.
    pub policy_id: Option<i64>,
}

/// Executions, newest first.
#[utoipa::path(get, path = "/replication/executions", tag = "replication", params(ExecutionsQuery),
    responses((status = 200, body = [Execution])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ExecutionsQuery>,
) -> ApiResult<Json<Vec<Execution>>> {
    authz::can_administer(&caller, "list replication executions")?;
    let rows = state
        .registry
        .meta()
        .replication_executions(q.policy_id)
        .await
        .map_err(berth_registry::Error::from)?;
    let mut out = Vec::new();
    for e in rows.into_iter().take(500) {
        out.push(execution_of(&state, e).await?);
    }
    Ok(Json(out))
}

async fn execution_row(state: &AppState, id: i64) -> ApiResult<berth_registry::ExecutionRow> {
    state
        .registry
        .meta()
        .replication_execution(id)
        .await
        .map_err(berth_registry::Error::from)?
        .ok_or_else(|| ApiError::NotFound(format!("replication execution {id} not found")))
}

/// One execution.
#[utoipa::path(get, path = "/replication/executions/{id}", tag = "replication", params(ExecutionPath),
    responses((status = 200, body = Execution), (status = 404, body = Errors)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ExecutionPath>,
) -> ApiResult<Json<Execution>> {
    authz::can_administer(&caller, "read replication executions")?;
    let e = execution_row(&state, p.id).await?;
    Ok(Json(execution_of(&state, e).await?))
}

/// Stops an execution (Harbor's `PUT /replication/executions/{id}`): the
/// tasks in flight finish, the others are not started; it ends `Stopped`.
/// An execution that already ended is left as it is.
#[utoipa::path(put, path = "/replication/executions/{id}", tag = "replication", params(ExecutionPath),
    responses((status = 200, description = "Stopping"), (status = 404, body = Errors)))]
pub async fn stop(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ExecutionPath>,
) -> ApiResult<StatusCode> {
    let id = p.id.to_string();
    let result = async {
        authz::can_administer(&caller, "stop replication executions")?;
        execution_row(&state, p.id).await?;
        Ok(state.registry.replication_stop(p.id).await?)
    }
    .await;
    manage::audited(
        &state,
        &caller,
        AuditAction::ReplicationStop,
        Target {
            account: Some(&id),
            ..Target::default()
        },
        result,
    )?;
    Ok(StatusCode::OK)
}

/// Harbor's `ReplicationTask`, with berth's `bytes`, `attempts`, `error`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Task {
    /// Id.
    pub id: i64,
    /// Its execution.
    pub execution_id: i64,
    /// `artifact`.
    pub resource_type: String,
    /// `repository:tag` at the source.
    pub src_resource: String,
    /// `repository:tag` at the destination.
    pub dst_resource: String,
    /// `copy`.
    pub operation: String,
    /// `Pending`, `InProgress`, `Succeed`, `Failed`, `Stopped`.
    pub status: String,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// Bytes sent.
    pub bytes: i64,
    /// Attempts made.
    pub attempts: i64,
    /// The last error.
    pub error: String,
}

/// An execution's tasks.
#[utoipa::path(get, path = "/replication/executions/{id}/tasks", tag = "replication",
    params(ExecutionPath), responses((status = 200, body = [Task]), (status = 404, body = Errors)))]
pub async fn tasks(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ExecutionPath>,
) -> ApiResult<Json<Vec<Task>>> {
    authz::can_administer(&caller, "read replication tasks")?;
    execution_row(&state, p.id).await?;
    let rows = state
        .registry
        .meta()
        .replication_tasks(p.id)
        .await
        .map_err(berth_registry::Error::from)?;
    Ok(Json(
        rows.into_iter()
            .map(|t| Task {
                id: t.id,
                execution_id: t.execution_id,
                resource_type: t.resource_type,
                src_resource: t.src_resource,
                dst_resource: t.dst_resource,
                operation: t.operation,
                status: t.status,
                start_time: t.start_time.map(rfc3339),
                end_time: t.end_time.map(rfc3339),
                bytes: t.bytes,
                attempts: t.attempts,
                error: t.error,
            })
            .collect(),
    ))
}

/// A task's log, plain text: one line per attempt.
#[utoipa::path(get, path = "/replication/executions/{id}/tasks/{task_id}/log", tag = "replication",
    params(TaskPath), responses((status = 200, description = "The log"), (status = 404, body = Errors)))]
pub async fn task_log(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<TaskPath>,
) -> ApiResult<Response> {
    authz::can_administer(&caller, "read replication tasks")?;
    let rows = state
        .registry
        .meta()
        .replication_tasks(p.id)
        .await
        .map_err(berth_registry::Error::from)?;
    let task = rows
        .into_iter()
        .find(|t| t.id == p.task_id)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "task {} of execution {} not found",
                p.task_id, p.id
            ))
        })?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        task.log,
    )
        .into_response())
}
