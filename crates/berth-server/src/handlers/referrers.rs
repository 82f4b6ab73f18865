//! `GET /v2/<name>/referrers/<digest>[?artifactType=]` (distribution-spec
//! §Listing Referrers): an image index of the manifests whose `subject` is the digest.

use axum::http::HeaderValue;
use axum::response::IntoResponse;
use berth_oci::media_type::OCI_INDEX;
use berth_oci::{Digest, RepositoryName};
use berth_registry::Registry;
use serde_json::{json, Map, Value};

use super::{ApiResult, Query};

/// 200 with the index (empty for an unknown subject); `OCI-Filters-Applied:
/// artifactType` when the filter was applied.
pub async fn get(reg: &Registry, repo: &RepositoryName, subject: &Digest, q: &Query) -> ApiResult {
    let filter = q.get("artifactType").filter(|t| !t.is_empty());
    let referrers = reg.referrers(repo, subject, filter).await?;
    let manifests: Vec<Value> = referrers
        .into_iter()
        .map(|r| {
            let mut d = Map::new();
            d.insert("mediaType".into(), json!(r.media_type));
            d.insert("digest".into(), json!(r.digest.as_str()));
            d.insert("size".into(), json!(r.size));
            if let Some(t) = r.artifact_type {
                d.insert("artifactType".into(), json!(t));
            }
            if let Some(a) = r
                .annotations
                .and_then(|a| serde_json::from_str::<Value>(&a).ok())
            {
                d.insert("annotations".into(), a);
            }
            Value::Object(d)
        })
        .collect();
    let body =
        json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests }).to_string();
    let mut resp = ([("content-type", OCI_INDEX)], body).into_response();
    if filter.is_some() {
        resp.headers_mut().insert(
            "oci-filters-applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(resp)
}
