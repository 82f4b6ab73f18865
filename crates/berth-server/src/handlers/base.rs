//! `GET /v2/`: the API version check (distribution-spec §Determining support).

use axum::response::IntoResponse;

use super::ApiResult;

/// 200 with an empty JSON object; the version header is added by middleware.
pub fn get() -> ApiResult {
    Ok(([("content-type", "application/json")], "{}").into_response())
}
