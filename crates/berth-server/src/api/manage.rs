//! Shared plumbing of the write side of the management API (projects,
//! members, users, robots): the account service and the audit trail.
//!
//! Every change, allowed or refused, is recorded in the audit trail with the
//! caller, their IP address, the target (for account actions: `repository` =
//! the project, `reference` = the user, member or robot acted on) and, on
//! failure, Harbor's error code and message in `detail`.

use berth_registry::{AuditAction, AuditEntry, Auth, Outcome};

use super::authz::Caller;
use super::error::{ApiError, ApiResult};
use crate::server::AppState;

/// The account service. Users, projects, members and robots live in it; a
/// server started without one (no `[auth]` section) answers 412 `PRECONDITION`.
pub fn accounts(state: &AppState) -> ApiResult<&Auth> {
    state.auth.as_deref().ok_or_else(|| {
        ApiError::Precondition("accounts are not enabled on this server (configure [auth])".into())
    })
}

/// What an audited change acted on.
#[derive(Debug, Default, Clone)]
pub struct Target<'a> {
    /// The project (for project, member and project robot actions).
    pub project: Option<&'a str>,
    /// The user, member or robot acted on.
    pub account: Option<&'a str>,
    /// What changed, for people.
    pub detail: String,
}

/// Records `result` of `action` by `caller` on `target` in the audit trail and
/// passes it through.
pub fn audited<T>(
    state: &AppState,
    caller: &Caller,
    action: AuditAction,
    target: Target<'_>,
    result: ApiResult<T>,
) -> ApiResult<T> {
    let mut entry = entry_of(caller, action, &result);
    if let Some(p) = target.project {
        entry = entry.repository(p);
    }
    if let Some(a) = target.account {
        entry = entry.reference(a);
    }
    record(state, entry, target.detail, result)
}

/// Records `result` of a change to repository content made through the
/// management API (an artifact or repository delete, a tag added or removed) as
/// `caller`: `repository`, and `reference` as a digest or a tag. The same
/// actions as on `/v2`, so the trail reads alike whichever API was used.
pub fn audited_content<T>(
    state: &AppState,
    caller: &Caller,
    action: AuditAction,
    repository: &str,
    reference: Option<&str>,
    result: ApiResult<T>,
) -> ApiResult<T> {
    let mut entry = entry_of(caller, action, &result).repository(repository);
    match reference {
        Some(r) if r.contains(':') => entry = entry.digest(r),
        Some(r) => entry = entry.reference(r),
        None => {}
    }
    record(state, entry, String::new(), result)
}

fn entry_of<T>(caller: &Caller, action: AuditAction, result: &ApiResult<T>) -> AuditEntry {
    let outcome = if result.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    AuditEntry::new(crate::auth::actor(&caller.principal), action, outcome).ip(caller.ip)
}

/// Adds `detail` (and, on failure, Harbor's error code and message) and hands
/// the entry to the audit writer.
fn record<T>(
    state: &AppState,
    mut entry: AuditEntry,
    detail: String,
    result: ApiResult<T>,
) -> ApiResult<T> {
    let detail = match &result {
        Ok(_) => detail,
        Err(e) => {
            let (code, status) = e.code_and_status();
            let why = format!("{} {code}: {}", status.as_u16(), e.message());
            if detail.is_empty() {
                why
            } else {
                format!("{detail}; {why}")
            }
        }
    };
    if !detail.is_empty() {
        entry = entry.detail(detail);
    }
    state.audit.record(entry);
    result
}

/// A project by name, or by id when no project has that name (Harbor's
/// `project_name_or_id`). Errors: 404.
/// [`project_name`] for `caller`: an unknown project is, to anyone but a
/// system administrator, the same refusal as one they may not see (existence
/// is not told to the unauthorized; docs/security.md).
pub async fn project_name_for(auth: &Auth, caller: &Caller, name_or_id: &str) -> ApiResult<String> {
    match project_name(auth, name_or_id).await {
        Err(ApiError::NotFound(_)) if !caller.is_administrator() => Err(caller.refusal()),
        other => other,
    }
}

/// The name of the project `name_or_id` names (by name first, then by id).
/// Errors: 404 for an unknown project.
pub async fn project_name(auth: &Auth, name_or_id: &str) -> ApiResult<String> {
    if let Some(p) = auth
        .meta()
        .project_by_name(name_or_id)
        .await
        .map_err(berth_registry::Error::from)?
    {
        return Ok(p.name);
    }
    if let Ok(id) = name_or_id.parse::<i64>() {
        if let Some(p) = auth
            .meta()
            .project_by_id(id)
            .await
            .map_err(berth_registry::Error::from)?
        {
            return Ok(p.name);
        }
    }
    Err(ApiError::NotFound(format!(
        "project {name_or_id} not found"
    )))
}
