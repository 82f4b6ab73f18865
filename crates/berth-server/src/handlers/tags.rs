//! `GET /v2/<name>/tags/list?n=&last=` (distribution-spec §Listing Tags).

use axum::http::HeaderValue;
use axum::response::IntoResponse;
use berth_oci::RepositoryName;
use berth_registry::Registry;
use serde_json::json;

use super::{ApiResult, Query};

/// `{"name":…,"tags":[…]}` in lexical order, with `Link: <…>; rel="next"` when more follow.
pub async fn list(reg: &Registry, repo: &RepositoryName, q: &Query) -> ApiResult {
    let page = reg.tags_list(repo, q.page_size("n"), q.get("last")).await?;
    let link = match (page.next_page_size, page.items.last()) {
        (Some(n), Some(last)) => Some(format!(
            "</v2/{repo}/tags/list?n={n}&last={last}>; rel=\"next\""
        )),
        _ => None,
    };
    let body = json!({ "name": repo.as_str(), "tags": page.items }).to_string();
    let mut resp = ([("content-type", "application/json")], body).into_response();
    if let Some(v) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        resp.headers_mut().insert("link", v);
    }
    Ok(resp)
}
