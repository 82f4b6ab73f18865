//! Project lifecycle policies over the management API: retention (Harbor's
//! policy JSON, keyed by project — a berth extension of Harbor's id-keyed
//! `/retentions/{id}`), immutable tag rules (Harbor's
//! `/projects/{project}/immutabletagrules`), the tag naming rule, and storage
//! usage and quota (Harbor's `/projects/{project}/summary`, plus
//! `PUT …/quota`). Reads need pull on the project; changes need project admin
//! (or system admin); retention executions are recorded as the caller.
//!
//! Every change, allowed or refused, is an audit entry (`retention_change`,
//! `retention_run`, `immutable_rule_change`, `tag_rule_change`,
//! `quota_change`) with the caller, `repository` = the project and a detail
//! saying what changed ([`manage::audited`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_registry::policy::PolicyError;
use berth_registry::{AuditAction, ImmutableRule, RetentionPolicy};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::manage::{self, Target};
use super::repositories::ProjectPath;
use super::{ApiJson, ApiPath};
use crate::server::AppState;

/// Current time in Unix milliseconds (the retention clock).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn policy_error(e: PolicyError) -> ApiError {
    match e {
        PolicyError::Invalid(m) => ApiError::BadRequest(m),
        PolicyError::NotFound(m) => ApiError::NotFound(m),
        PolicyError::Registry(e) => ApiError::from(e),
    }
}

async fn known_project(state: &AppState, project: &str) -> ApiResult<()> {
    if state.registry.project_exists(project).await? {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("project {project} not found")))
    }
}

/// The audit target of a policy change of `project`.
fn target<'a>(project: &'a str, rule: Option<&'a str>, detail: String) -> Target<'a> {
    Target {
        project: Some(project),
        account: rule,
        detail,
    }
}

fn json_of<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> ApiResult<T> {
    serde_json::from_value(v).map_err(|e| ApiError::BadRequest(format!("invalid {what}: {e}")))
}

/// `GET /projects/{project_name}/retention`: the project's retention policy
/// (Harbor's RetentionPolicy JSON: `algorithm`, `rules`, `trigger`).
#[utoipa::path(get, path = "/projects/{project_name}/retention", tag = "retention",
    params(ProjectPath),
    responses((status = 200, description = "Harbor RetentionPolicy JSON", body = Object),
        (status = 404, body = Errors)))]
pub async fn get_retention(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ProjectPath>,
) -> ApiResult<Json<RetentionPolicy>> {
    authz::can_read_project(&state, &caller, &p.project_name).await?;
    state
        .registry
        .retention_policy(&p.project_name)
        .await
        .map_err(policy_error)?
        .map(Json)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "project {} has no retention policy",
                p.project_name
            ))
        })
}

/// `PUT /projects/{project_name}/retention`: sets (replaces) the policy.
#[utoipa::path(put, path = "/projects/{project_name}/retention", tag = "retention",
    params(ProjectPath), request_body = Object,
    responses((status = 200, description = "Stored"), (status = 400, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn put_retention(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ProjectPath>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<StatusCode> {
    let result = async {
        authz::can_manage_project(&state, &caller, &p.project_name).await?;
        known_project(&state, &p.project_name).await?;
        let policy: RetentionPolicy = json_of(body, "retention policy")?;
        state
            .registry
            .retention_policy_set(&p.project_name, &policy)
            .await
            .map_err(policy_error)?;
        Ok(policy.rules.len())
    }
    .await;
    let detail = match &result {
        Ok(n) => format!("retention policy set: {n} rules"),
        Err(_) => "retention policy set".into(),
    };
    manage::audited(
        &state,
        &caller,
        AuditAction::RetentionChange,
        target(&p.project_name, None, detail),
        result,
    )?;
    Ok(StatusCode::OK)
}

/// `DELETE /projects/{project_name}/retention`.
#[utoipa::path(delete, path = "/projects/{project_name}/retention", tag = "retention",
    params(ProjectPath),
    responses((status = 200, description = "Deleted"), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn delete_retention(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ProjectPath>,
) -> ApiResult<StatusCode> {
    let result = async {
        authz::can_manage_project(&state, &caller, &p.project_name).await?;
        state
            .registry
            .retention_policy_delete(&p.project_name)
            .await
            .map_err(policy_error)
    }
    .await;
    manage::audited(
        &state,
        &caller,
        AuditAction::RetentionChange,
        target(&p.project_name, None, "retention policy removed".into()),
        result,
    )?;
    Ok(StatusCode::OK)
}

/// Body of a retention execution.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ExecutionReq {
    /// Only report what would be deleted.
    #[serde(default)]
    pub dry_run: bool,
}

/// `POST /projects/{project_name}/retention/executions` `{"dry_run": bool}`:
/// runs the policy now and answers its report (kept with the rule that kept
/// it, deleted with the reason).
#[utoipa::path(post, path = "/projects/{project_name}/retention/executions", tag = "retention",
    params(ProjectPath), request_body = ExecutionReq,
    responses((status = 200, description = "The run's report", body = Object),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn run_retention(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ProjectPath>,
    ApiJson(req): ApiJson<ExecutionReq>,
) -> ApiResult<Response> {
    let result = async {
        authz::can_manage_project(&state, &caller, &p.project_name).await?;
        state
            .registry
            .retention_run(
                &p.project_name,
                now_ms(),
                req.dry_run,
                caller.principal.name(),
            )
            .await
            .map_err(policy_error)
    }
    .await;
    let run = if req.dry_run { "dry run" } else { "run" };
    let detail = match &result {
        Ok(r) => format!(
            "{run}: {} kept, {} deleted, {} errors",
            r.kept().count(),
            r.deleted().count(),
            r.errors()
        ),
        Err(_) => run.to_string(),
    };
    let report = manage::audited(
        &state,
        &caller,
        AuditAction::RetentionRun,
        target(&p.project_name, None, detail),
        result,
    )?;
    Ok(Json(report).into_response())
}

/// Path of one immutable rule.
#[derive(Debug, Deserialize, IntoParams)]
pub struct RulePath {
    /// Project name.
    pub project_name: String,
    /// Rule id.
    pub immutable_rule_id: i64,
}

/// `GET /projects/{project_name}/immutabletagrules` (Harbor).
#[utoipa::path(get, path = "/projects/{project_name}/immutabletagrules", tag = "immutable",
    params(ProjectPath),
    responses((status = 200, description = "Harbor ImmutableRule list", body = Object),
        (status = 403, body = Errors)))]
pub async fn list_immutable(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ProjectPath>,
) -> ApiResult<Json<Vec<ImmutableRule>>> {
    authz::can_read_project(&state, &caller, &p.project_name).await?;
    known_project(&state, &p.project_name).await?;
    Ok(Json(
        state
            .registry
            .immutable_rules(&p.project_name)
            .await
            .map_err(policy_error)?,
    ))
}

/// `POST /projects/{project_name}/immutabletagrules` (Harbor ImmutableRule) →
/// 201 with `Location`.
#[utoipa::path(post, path = "/projects/{project_name}/immutabletagrules", tag = "immutable",
    params(ProjectPath), request_body = Object,
    responses((status = 201, description = "Created"), (status = 400, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn add_immutable(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ProjectPath>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let result = async {
        authz::can_manage_project(&state, &caller, &p.project_name).await?;
        known_project(&state, &p.project_name).await?;
        let rule: ImmutableRule = json_of(body, "immutable rule")?;
        let what = rule.describe();
        let id = state
            .registry
            .immutable_rule_add(&p.project_name, rule)
            .await
            .map_err(policy_error)?;
        Ok((id, what))
    }
    .await;
    let id_text = result.as_ref().ok().map(|(id, _)| id.to_string());
    let detail = match &result {
        Ok((_, what)) => format!("immutable rule added: {what}"),
        Err(_) => "immutable rule added".into(),
    };
    let (id, _) = manage::audited(
        &state,
        &caller,
        AuditAction::ImmutableRuleChange,
        target(&p.project_name, id_text.as_deref(), detail),
        result,
    )?;
    let location = format!(
        "{}/projects/{}/immutabletagrules/{id}",
        super::BASE_PATH,
        p.project_name
    );
    Ok((StatusCode::CREATED, [("location", location)]).into_response())
}

/// `PUT /projects/{project_name}/immutabletagrules/{immutable_rule_id}`.
#[utoipa::path(put, path = "/projects/{project_name}/immutabletagrules/{immutable_rule_id}",
    tag = "immutable", params(RulePath), request_body = Object,
    responses((status = 200, description = "Updated"), (status = 400, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn update_immutable(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<RulePath>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<StatusCode> {
    let result = async {
        authz::can_manage_project(&state, &caller, &p.project_name).await?;
        let rule: ImmutableRule = json_of(body, "immutable rule")?;
        let what = rule.describe();
        state
            .registry
            .immutable_rule_update(&p.project_name, p.immutable_rule_id, rule)
            .await
            .map_err(policy_error)?;
        Ok(what)
    }
    .await;
    let detail = match &result {
        Ok(what) => format!("immutable rule changed: {what}"),
        Err(_) => "immutable rule changed".into(),
    };
    let id = p.immutable_rule_id.to_string();
    manage::audited(
        &state,
        &caller,
        AuditAction::ImmutableRuleChange,
        target(&p.project_name, Some(&id), detail),
        result,
    )?;
    Ok(StatusCode::OK)
}

/// `DELETE /projects/{project_name}/immutabletagrules/{immutable_rule_id}`.
#[utoipa::path(delete, path = "/projects/{project_name}/immutabletagrules/{immutable_rule_id}",
    tag = "immutable", params(RulePath),
    responses((status = 200, description = "Deleted"), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn delete_immutable(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<RulePath>,
) -> ApiResult<StatusCode> {
    let result = async {
        authz::can_manage_project(&state, &caller, &p.project_name).await?;
        state
            .registry
            .immutable_rule_delete(&p.project_name, p.immutable_rule_id)
            .await
            .map_err(policy_error)
    }
    .await;
    let id = p.immutable_rule_id.to_string();
    manage::audited(
        &state,
        &caller,
        AuditAction::ImmutableRuleChange,
        target(&p.project_name, Some(&id), "immutable rule removed".into()),
        result,
    )?;
    Ok(StatusCode::OK)
}

/// The tag naming rule (a berth extension).
#[derive(Debug, Deserialize, ToSchema)]
pub struct NamingRule {
    /// A regular expression every pushed tag must match; `null` clears the rule.
    pub pattern: Option<String>,
}

/// `GET /projects/{project_name}/tag-naming-rule` → `{"pattern": "…"|null}`.
#[utoipa::path(get, path = "/projects/{project_name}/tag-naming-rule", tag = "immutable",
    params(ProjectPath),
    responses((status = 200, description = "{\"pattern\": string or null}", body = Object),
        (status = 403, body = Errors)))]
pub async fn get_naming(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ProjectPath>,
) -> ApiResult<Json<Value>> {
    authz::can_read_project(&state, &caller, &p.project_name).await?;
    known_project(&state, &p.project_name).await?;
    let pattern = state
        .registry
        .tag_naming_rule(&p.project_name)
        .await
        .map_err(policy_error)?;
    Ok(Json(json!({ "pattern": pattern })))
}

/// `PUT /projects/{project_name}/tag-naming-rule` `{"pattern": "…"|null}`.
#[utoipa::path(put, path = "/projects/{project_name}/tag-naming-rule", tag = "immutable",
    params(ProjectPath), request_body = NamingRule,
    responses((status = 200, description = "Stored"), (status = 400, body = Errors),
        (status = 403, body = Errors)))]
pub async fn put_naming(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ProjectPath>,
    ApiJson(rule): ApiJson<NamingRule>,
) -> ApiResult<StatusCode> {
    let result = async {
        authz::can_manage_project(&state, &caller, &p.project_name).await?;
        known_project(&state, &p.project_name).await?;
        state
            .registry
            .tag_naming_rule_set(&p.project_name, rule.pattern.as_deref())
            .await
            .map_err(policy_error)
    }
    .await;
    let detail = match &rule.pattern {
        Some(pattern) => format!("tag naming rule set: {pattern}"),
        None => "tag naming rule cleared".into(),
    };
    manage::audited(
        &state,
        &caller,
        AuditAction::TagRuleChange,
        target(&p.project_name, None, detail),
        result,
    )?;
    Ok(StatusCode::OK)
}

/// `GET /projects/{project_name}/summary` (Harbor ProjectSummary):
/// `repo_count`, `quota.hard.storage` (-1 = unlimited), `quota.used.storage`,
/// plus berth's `artifact_count` and `daily` pushes/pulls.
#[utoipa::path(get, path = "/projects/{project_name}/summary", tag = "project",
    params(ProjectPath),
    responses((status = 200, description = "Harbor ProjectSummary", body = Object),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn summary(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ProjectPath>,
) -> ApiResult<Json<Value>> {
    authz::can_read_project(&state, &caller, &p.project_name).await?;
    known_project(&state, &p.project_name).await?;
    let u = state.registry.project_usage(&p.project_name).await?;
    let daily: Vec<Value> = u
        .daily
        .iter()
        .map(|d| json!({ "day": d.day, "pushes": d.pushes, "pulls": d.pulls }))
        .collect();
    Ok(Json(json!({
        "repo_count": u.repositories,
        "artifact_count": u.artifacts,
        "quota": {
            "hard": { "storage": u.quota.filter(|q| *q < i64::MAX as u64).map_or(-1, |q| q as i64) },
            "used": { "storage": u.storage_used },
        },
        "quota_is_custom": u.quota_is_custom,
        "daily": daily,
    })))
}

/// Body of a quota change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct QuotaReq {
    /// Bytes; `-1` = unlimited; `null` = back to the configured default.
    pub storage: Option<i64>,
}

/// `PUT /projects/{project_name}/quota` `{"storage": bytes | -1 | null}` (a
/// berth extension; Harbor's `/quotas/{id}` is keyed by quota id). System
/// admins only, as in Harbor.
#[utoipa::path(put, path = "/projects/{project_name}/quota", tag = "project",
    params(ProjectPath), request_body = QuotaReq,
    responses((status = 200, description = "Stored"), (status = 400, body = Errors),
        (status = 403, body = Errors), (status = 404, body = Errors)))]
pub async fn put_quota(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ProjectPath>,
    ApiJson(req): ApiJson<QuotaReq>,
) -> ApiResult<StatusCode> {
    let result = async {
        authz::can_administer(&caller, "set quotas")?;
        known_project(&state, &p.project_name).await?;
        let bytes = match req.storage {
            None => None,
            Some(-1) => Some(i64::MAX as u64),
            Some(n) if n >= 0 => Some(n as u64),
            Some(n) => {
                return Err(ApiError::BadRequest(format!(
                    "storage must be bytes, -1 (unlimited) or null (default), not {n}"
                )))
            }
        };
        state
            .registry
            .set_project_quota(&p.project_name, bytes)
            .await?;
        Ok(())
    }
    .await;
    let detail = match req.storage {
        None => "quota reset to the default".to_string(),
        Some(-1) => "quota set: unlimited".to_string(),
        Some(n) => format!("quota set: {n} bytes"),
    };
    manage::audited(
        &state,
        &caller,
        AuditAction::QuotaChange,
        target(&p.project_name, None, detail),
        result,
    )?;
    Ok(StatusCode::OK)
}
