//! `GET /v2/_catalog?n=&last=` (Docker Registry HTTP API v2 §Listing Repositories).
//! With authentication on, a caller sees only the repositories they may list
//! (system admins see all), so a page is filled by reading on until `n`
//! visible names are found.

use berth_registry::{Page, Permissions};
use serde_json::json;

use super::{page_response, ApiResult, Query};
use crate::auth::Caller;
use crate::server::AppState;

/// `{"repositories":[…]}` in lexical order, with `Link: <…>; rel="next"` when more follow.
pub async fn get(state: &AppState, caller: &Caller, q: &Query) -> ApiResult {
    let reg = &state.registry;
    let first = reg.catalog(q.page_size("n"), q.get("last")).await?;
    let page = if !crate::auth::enabled(state) || caller.principal.is_sysadmin() {
        first
    } else {
        filtered(state, caller, first).await?
    };
    let body = json!({ "repositories": page.items });
    page_response(body, "/v2/_catalog", &page)
}

async fn visible(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> Result<bool, crate::error::ApiError> {
    let Ok(repo) = berth_oci::RepositoryName::parse(name) else {
        return Ok(false);
    };
    let held = crate::auth::permissions(state, caller, &repo).await?;
    Ok(held.contains(Permissions::PULL.union(Permissions::LIST)))
}

/// Keeps the visible names of `first`, reading further pages until the page
/// is full again (plus one look-ahead name to know whether more follow).
async fn filtered(
    state: &AppState,
    caller: &Caller,
    first: Page,
) -> Result<Page, crate::error::ApiError> {
    let mut items = Vec::new();
    let Some(limit) = first.next_page_size else {
        // Everything after `last` fit in one page.
        for name in first.items {
            if visible(state, caller, &name).await? {
                items.push(name);
            }
        }
        return Ok(Page {
            items,
            next_page_size: None,
        });
    };
    let limit = limit as usize;
    let mut batch = first;
    loop {
        let more = batch.next_page_size.is_some();
        let last = batch.items.last().cloned();
        for name in batch.items {
            if items.len() > limit {
                break;
            }
            if visible(state, caller, &name).await? {
                items.push(name);
            }
        }
        let Some(last) = last.filter(|_| more && items.len() <= limit) else {
            break;
        };
        batch = state
            .registry
            .catalog(Some(limit as u32), Some(&last))
            .await?;
    }
    let next = (items.len() > limit).then_some(limit as u32);
    items.truncate(limit);
    Ok(Page {
        items,
        next_page_size: next,
    })
}
