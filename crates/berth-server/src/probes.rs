//! Kubernetes-style probes, unauthenticated and outside `/v2`:
//! `GET /livez` (the process answers) and `GET /readyz` (the metadata
//! database answers a query and the blob store is usable; `503` with the
//! reason otherwise). Both answer JSON with this node's id, the one `serve`
//! logs at start, so a load balancer's view can be matched to a node's log.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::server::AppState;

/// `GET /livez`: `200 {"status":"alive","node":"<id>"}` while the process
/// serves requests at all.
pub async fn livez(State(state): State<Arc<AppState>>) -> Response {
    no_store(Json(json!({ "status": "alive", "node": state.node_id })).into_response())
}

/// `GET /readyz`: `200 {"status":"ready",...}` when the metadata database
/// answers a query and the blob store's root is a usable directory, else
/// `503 {"status":"not ready","reasons":["database: ...", ...]}`. The audit
/// trail does not make a node unready (reads go on while it fails); its
/// state is in `GET /api/v2.0/health`.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let report = state.registry.health().await;
    let reasons: Vec<String> = [("database", &report.database), ("storage", &report.storage)]
        .into_iter()
        .filter_map(|(name, check)| check.as_ref().err().map(|e| format!("{name}: {e}")))
        .collect();
    let resp = if reasons.is_empty() {
        (
            StatusCode::OK,
            Json(json!({ "status": "ready", "node": state.node_id })),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "node": state.node_id, "reasons": reasons })),
        )
    };
    no_store(resp.into_response())
}

/// A fresh node id: a random UUID, new at every start (nodes are stateless;
/// the id only ties a probe's answer, a log line and a request together).
pub fn new_node_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
