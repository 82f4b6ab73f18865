//! `GET /v2/_catalog?n=&last=` (Docker Registry HTTP API v2 §Listing Repositories).

use axum::http::HeaderValue;
use axum::response::IntoResponse;
use berth_registry::Registry;
use serde_json::json;

use super::{ApiResult, Query};

/// `{"repositories":[…]}` in lexical order, with `Link: <…>; rel="next"` when more follow.
pub async fn get(reg: &Registry, q: &Query) -> ApiResult {
    let page = reg.catalog(q.page_size("n"), q.get("last")).await?;
    let link = match (page.next_page_size, page.items.last()) {
        (Some(n), Some(last)) => Some(format!("</v2/_catalog?n={n}&last={last}>; rel=\"next\"")),
        _ => None,
    };
    let body = json!({ "repositories": page.items }).to_string();
    let mut resp = ([("content-type", "application/json")], body).into_response();
    if let Some(v) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        resp.headers_mut().insert("link", v);
    }
    Ok(resp)
}
