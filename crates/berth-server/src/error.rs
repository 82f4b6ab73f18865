//! [`ApiError`]: the one place where a failure becomes an HTTP response with the
//! OCI error body (distribution-spec §Error Codes):
//!
//! ```json
//! {"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"…"}]}
//! ```

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_oci::ErrorCode;
use berth_registry::Error;
use serde_json::json;

/// A failed request.
#[derive(Debug)]
pub enum ApiError {
    /// A registry operation failed (boxed: errors are rare, responses are hot).
    Registry(Box<Failure>),
    /// No such endpoint (404).
    NoRoute,
    /// The endpoint exists but not with this method (405 UNSUPPORTED).
    MethodNotAllowed,
    /// A malformed request outside the distribution API's own errors (400 UNSUPPORTED
    /// with this detail), e.g. a token request for another service.
    BadRequest(String),
    /// No (valid) credentials for what the request needs: 401 UNAUTHORIZED
    /// with this `WWW-Authenticate` challenge (Docker token spec §How to
    /// authenticate), e.g. `Bearer realm="…/v2/token",service="berth",scope="repository:a:pull"`.
    Unauthorized {
        /// The challenge; `None` sends none.
        challenge: Option<String>,
        /// Detail for the error body.
        detail: Option<String>,
    },
}

/// A registry error and the headers to add to its response (e.g. the `Range` and
/// `Location` of an upload on 416).
#[derive(Debug)]
pub struct Failure {
    /// What went wrong.
    pub error: Error,
    /// Extra response headers.
    pub headers: HeaderMap,
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError::Registry(Box::new(Failure {
            error,
            headers: HeaderMap::new(),
        }))
    }
}

impl ApiError {
    /// Adds a header to a registry error's response.
    pub fn with_header(self, name: HeaderName, value: HeaderValue) -> Self {
        match self {
            ApiError::Registry(mut f) => {
                f.headers.insert(name, value);
                ApiError::Registry(f)
            }
            other => other,
        }
    }
}

fn body(code: &str, message: &str, detail: Option<String>) -> String {
    let mut entry = json!({ "code": code, "message": message });
    if let Some(d) = detail {
        entry["detail"] = json!(d);
    }
    json!({ "errors": [entry] }).to_string()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, text, headers) = match self {
            ApiError::Registry(f) => {
                let Failure {
                    error: err,
                    headers,
                } = *f;
                let status =
                    StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let text = match err.code() {
                    // A policy's refusal is its own message (clients show it).
                    Some(code)
                        if matches!(
                            err,
                            berth_registry::Error::PolicyDenied(_)
                                | berth_registry::Error::LoginThrottled(_)
                                | berth_registry::Error::AuditUnavailable(_)
                                | berth_registry::Error::DirectoryUnavailable(_)
                                | berth_registry::Error::Upstream(_)
                        ) =>
                    {
                        body(code.as_str(), &err.to_string(), None)
                    }
                    Some(code) => body(code.as_str(), code.message(), Some(err.to_string())),
                    None => {
                        // Server-side failure: log it in full, tell the client what kind.
                        tracing::error!(error = %err, "request failed");
                        let message = if status == StatusCode::INSUFFICIENT_STORAGE {
                            "insufficient storage: the registry's disk is full"
                        } else {
                            "internal server error"
                        };
                        body("UNKNOWN", message, Some(err.to_string()))
                    }
                };
                (status, text, headers)
            }
            ApiError::NoRoute => (
                StatusCode::NOT_FOUND,
                body("NOT_FOUND", "no such endpoint in the registry API", None),
                HeaderMap::new(),
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                body(
                    ErrorCode::Unsupported.as_str(),
                    ErrorCode::Unsupported.message(),
                    Some("method not allowed on this endpoint".into()),
                ),
                HeaderMap::new(),
            ),
            ApiError::BadRequest(detail) => (
                StatusCode::BAD_REQUEST,
                body(ErrorCode::Unsupported.as_str(), "bad request", Some(detail)),
                HeaderMap::new(),
            ),
            ApiError::Unauthorized { challenge, detail } => {
                let mut headers = HeaderMap::new();
                if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
                    headers.insert(axum::http::header::WWW_AUTHENTICATE, v);
                }
                (
                    StatusCode::UNAUTHORIZED,
                    body(
                        ErrorCode::Unauthorized.as_str(),
                        ErrorCode::Unauthorized.message(),
                        detail,
                    ),
                    headers,
                )
            }
        };
        let mut resp = (status, [("content-type", "application/json")], text).into_response();
        resp.headers_mut().extend(headers);
        resp
    }
}
