//! `GET /v2/<name>/tags/list?n=&last=` (distribution-spec §Listing Tags).

use berth_oci::RepositoryName;
use berth_registry::Registry;
use serde_json::json;

use super::{page_response, ApiResult, Query};

/// `{"name":…,"tags":[…]}` in lexical order, with `Link: <…>; rel="next"` when more follow.
pub async fn list(reg: &Registry, repo: &RepositoryName, q: &Query) -> ApiResult {
    let page = reg.tags_list(repo, q.page_size("n"), q.get("last")).await?;
    let body = json!({ "name": repo.as_str(), "tags": page.items });
    page_response(body, &format!("/v2/{repo}/tags/list"), &page)
}

/// The same answer for tags gathered elsewhere (a proxy project's, from its
/// upstream and its cache), `all` in lexical order: the page after `last`,
/// at most `n` (capped at the registry's page limit).
pub fn list_of(reg: &Registry, repo: &RepositoryName, all: Vec<String>, q: &Query) -> ApiResult {
    let cap = reg.limits().max_page as usize;
    let n = q.page_size("n").map_or(cap, |n| (n as usize).min(cap));
    let after: Vec<String> = match q.get("last") {
        Some(last) => all.into_iter().filter(|t| t.as_str() > last).collect(),
        None => all,
    };
    let more = after.len() > n;
    let page = berth_registry::Page {
        items: after.into_iter().take(n).collect(),
        next_page_size: (more && n > 0).then_some(n as u32),
    };
    let body = json!({ "name": repo.as_str(), "tags": page.items });
    page_response(body, &format!("/v2/{repo}/tags/list"), &page)
}
