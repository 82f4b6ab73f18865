//! `GET /v2/_catalog?n=&last=` (Docker Registry HTTP API v2 §Listing Repositories).

use berth_registry::Registry;
use serde_json::json;

use super::{page_response, ApiResult, Query};

/// `{"repositories":[…]}` in lexical order, with `Link: <…>; rel="next"` when more follow.
pub async fn get(reg: &Registry, q: &Query) -> ApiResult {
    let page = reg.catalog(q.page_size("n"), q.get("last")).await?;
    let body = json!({ "repositories": page.items });
    page_response(body, "/v2/_catalog", &page)
}
