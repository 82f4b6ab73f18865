//! The audit trail over the management API: Harbor's `GET /audit-logs`.
//!
//! System administrators only (as in Harbor). Entries come newest first in
//! Harbor's `AuditLog` shape plus berth's fields (see
//! [`berth_registry::audit::harbor_json`]), paged with `page`/`page_size`,
//! `X-Total-Count` and `Link`. Filters in `q`: `username` (exact actor),
//! `operation` (Harbor's `create`/`delete`/`pull`/`update`/`login`: the
//! actions it covers, one query over all of them), `resource_type` (Harbor's, e.g. `artifact`, `tag`,
//! `robot`), `op_time=[from~to]` (`YYYY-MM-DD hh:mm:ss` or RFC 3339, UTC) and
//! berth's `action` (its own words, `push`, `member_add`, …) and `repository`
//! (exact repository name or, for account changes, project).

use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_registry::audit::{harbor_json, AuditFilter};
use berth_registry::AuditAction;
use serde::Deserialize;
use utoipa::IntoParams;

use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::pagination::PageParams;
use super::query::{self, QValue};
use super::ApiQuery;
use crate::server::AppState;

/// Query of `GET /audit-logs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditLogQuery {
    /// Filter, Harbor syntax; keys `username`, `operation`, `resource_type`,
    /// `op_time` (range), `action`, `repository`.
    pub q: Option<String>,
    /// Page number, from 1.
    pub page: Option<i64>,
    /// Entries per page (default 10, at most 100).
    pub page_size: Option<i64>,
}

/// One of Harbor's time forms (`2026-01-31 23:59:59`, RFC 3339) → Unix ms.
fn time_ms(key: &str, text: &str) -> ApiResult<i64> {
    let t = humantime::parse_rfc3339_weak(text.trim()).map_err(|_| {
        ApiError::BadRequest(format!(
            "{key}: {text:?} is not a time (use \"YYYY-MM-DD hh:mm:ss\" or RFC 3339, UTC)"
        ))
    })?;
    let d = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| ApiError::BadRequest(format!("{key}: {text:?} is before 1970")))?;
    Ok(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The exact value of `key`, if given.
fn exact(q: &query::Query, key: &str) -> ApiResult<Option<String>> {
    match q.get(key) {
        None => Ok(None),
        Some(QValue::Exact(v)) => Ok(Some(v.clone())),
        Some(_) => Err(ApiError::BadRequest(format!("{key} takes an exact value"))),
    }
}

/// The filters of a parsed `q`, and the actions it allows (`None`: any).
fn filter_of(q: &query::Query) -> ApiResult<(AuditFilter, Option<Vec<AuditAction>>)> {
    q.only(&[
        "username",
        "operation",
        "resource_type",
        "op_time",
        "action",
        "repository",
    ])?;
    let mut filter = AuditFilter {
        actor: exact(q, "username")?,
        repository: exact(q, "repository")?,
        ..AuditFilter::default()
    };
    match q.get("op_time") {
        None => {}
        Some(QValue::Range(from, to)) => {
            filter.from_ms = from.as_deref().map(|t| time_ms("op_time", t)).transpose()?;
            filter.to_ms = to.as_deref().map(|t| time_ms("op_time", t)).transpose()?;
        }
        Some(_) => {
            return Err(ApiError::BadRequest(
                "op_time takes a range: op_time=[from~to]".into(),
            ))
        }
    }
    let mut actions: Vec<AuditAction> = AuditAction::ALL.to_vec();
    let mut narrowed = false;
    if let Some(word) = exact(q, "action")? {
        let a: AuditAction = word.parse().map_err(ApiError::BadRequest)?;
        actions.retain(|x| *x == a);
        narrowed = true;
    }
    if let Some(op) = exact(q, "operation")? {
        actions.retain(|a| a.harbor_operation() == op);
        narrowed = true;
    }
    if let Some(rt) = exact(q, "resource_type")? {
        actions.retain(|a| a.harbor_resource_type() == rt);
        narrowed = true;
    }
    Ok((filter, narrowed.then_some(actions)))
}

/// The audit trail, newest first (Harbor `AuditLog`s with berth's fields:
/// `action`, `actor_kind`, `source_ip`, `repository`, `reference`, `digest`,
/// `result`, `detail`, `hash`). System administrators only.
#[utoipa::path(get, path = "/audit-logs", tag = "auditlog", params(AuditLogQuery),
    responses((status = 200, description = "Harbor AuditLog list", body = Object,
            headers(("X-Total-Count" = u64), ("Link" = String))),
        (status = 400, body = Errors), (status = 401, body = Errors),
        (status = 403, body = Errors)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditLogQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    authz::can_administer(&caller, "read the audit trail")?;
    let page = PageParams {
        page: q.page,
        page_size: q.page_size,
    }
    .page()?;
    let (mut filter, actions) = filter_of(&query::parse(q.q.as_deref())?)?;
    let page_no = u32::try_from(page.page).unwrap_or(u32::MAX);
    let size = u32::try_from(page.page_size).unwrap_or(100);
    let (rows, total) = match actions {
        // The filters select no action at all (e.g. `action=push,operation=delete`).
        Some(actions) if actions.is_empty() => (Vec::new(), 0),
        Some(actions) => {
            filter.actions = actions;
            state.audit.query(&filter, page_no, size).await?
        }
        None => state.audit.query(&filter, page_no, size).await?,
    };
    let body: Vec<serde_json::Value> = rows.iter().map(harbor_json).collect();
    Ok((page.headers(total, &uri), Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> ApiResult<(AuditFilter, Option<Vec<AuditAction>>)> {
        filter_of(&query::parse(Some(q))?)
    }

    #[test]
    fn harbor_operation_selects_the_actions_it_covers() {
        let (_, actions) = parse("operation=pull").unwrap();
        assert_eq!(actions, Some(vec![AuditAction::Pull]));
        let (_, actions) = parse("resource_type=robot,operation=create").unwrap();
        assert_eq!(actions, Some(vec![AuditAction::RobotCreate]));
        let (_, actions) = parse("action=push,operation=delete").unwrap();
        assert_eq!(actions, Some(vec![]));
    }

    #[test]
    fn op_time_takes_harbor_and_rfc3339_times() {
        let (f, _) = parse("op_time=[2026-01-01 00:00:00~2026-01-02T00:00:00Z]").unwrap();
        assert_eq!(f.from_ms, Some(1_767_225_600_000));
        assert_eq!(f.to_ms, Some(1_767_312_000_000));
        let (f, _) = parse("op_time=[~2026-01-01 00:00:00]").unwrap();
        assert_eq!((f.from_ms, f.to_ms), (None, Some(1_767_225_600_000)));
    }

    #[test]
    fn unknown_keys_actions_and_forms_are_bad_requests() {
        for q in [
            "colour=red",
            "action=dance",
            "op_time=2026-01-01",
            "op_time=[yesterday~]",
            "username=~adm",
        ] {
            assert!(
                matches!(parse(q), Err(ApiError::BadRequest(_))),
                "{q} accepted"
            );
        }
    }
}

/// `GET /audit-logs/checkpoint`: the latest signed checkpoint of the chain's
/// head (docs/audit.md, "Signed checkpoints"); 404 before the first. Keep it
/// elsewhere, and prove later with `berth audit verify --checkpoint FILE`
/// that the trail still extends it. System administrators only.
#[utoipa::path(get, path = "/audit-logs/checkpoint", tag = "auditlog",
    responses((status = 200, body = Object, description = "SignedCheckpoint: format, seq, hash, at_ms, key_id, public_key, signature"),
        (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn checkpoint(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<berth_registry::audit_checkpoint::SignedCheckpoint>> {
    authz::can_administer(&caller, "read the audit trail")?;
    state
        .audit
        .checkpoint_latest()
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::NotFound(
                "no checkpoint signed yet (POST /api/v2.0/audit-logs/checkpoint signs one now)"
                    .into(),
            )
        })
}

/// `POST /audit-logs/checkpoint`: signs the chain's head now and answers the
/// checkpoint (201); 404 while the trail is empty; 412 without accounts (the
/// registry's key is the token key). System administrators only.
#[utoipa::path(post, path = "/audit-logs/checkpoint", tag = "auditlog",
    responses((status = 201, body = Object, description = "The SignedCheckpoint just signed"),
        (status = 401, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors), (status = 412, body = Errors)))]
pub async fn sign_checkpoint(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Response> {
    let result =
        async {
            authz::can_administer(&caller, "sign the audit trail")?;
            let auth = super::manage::accounts(&state)?;
            state.audit.flush().await;
            state.audit.checkpoint_sign(auth).await?.ok_or_else(|| {
                ApiError::NotFound("the audit trail is empty: nothing to sign".into())
            })
        }
        .await;
    let detail = match &result {
        Ok(cp) => format!(
            "signed entry {} (hash {}) with key {}",
            cp.seq, cp.hash, cp.key_id
        ),
        Err(_) => "sign the audit trail's head".into(),
    };
    let cp = super::manage::audited(
        &state,
        &caller,
        AuditAction::AuditCheckpoint,
        super::manage::Target {
            detail,
            ..Default::default()
        },
        result,
    )?;
    Ok((axum::http::StatusCode::CREATED, Json(cp)).into_response())
}
