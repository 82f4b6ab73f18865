//! The OpenAPI 3 document of the management API, generated from the handlers'
//! `#[utoipa::path]` annotations and the schemas they name.

use std::sync::OnceLock;

use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;

use super::error::{ErrorItem, Errors};

/// The document's fixed parts; [`super::api_routes`] adds every path.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "berth management API",
        description = "Harbor-compatible `/api/v2.0` management API of berth: the resource paths \
            and JSON shapes of Harbor's API v2.0 for the resources berth covers. Repository names \
            containing `/` are double-URL-encoded in paths (`a%252Fb`). Lists are paged with \
            `page`/`page_size` and answer `X-Total-Count` and `Link`. Errors are \
            `{\"errors\":[{\"code\",\"message\"}]}`."
    ),
    servers((url = "/api/v2.0")),
    components(schemas(Errors, ErrorItem))
)]
pub struct ApiDoc;

/// This document, as JSON.
#[utoipa::path(get, path = "/openapi.json", tag = "openapi",
    responses((status = 200, description = "The OpenAPI 3 document of this API", content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| super::openapi().to_json().unwrap_or_else(|_| "{}".into()));
    ([("content-type", "application/json")], doc.clone()).into_response()
}
