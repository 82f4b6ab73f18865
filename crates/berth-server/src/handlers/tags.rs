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
