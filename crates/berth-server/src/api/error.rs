//! [`ApiError`]: the one place where a management API failure becomes a Harbor
//! error response, `{"errors":[{"code":"NOT_FOUND","message":"…"}]}`, with
//! Harbor's codes and statuses (Harbor `src/lib/errors`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_registry::Error;
use serde::Serialize;
use utoipa::ToSchema;

/// A failed management API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400 `BAD_REQUEST`: a malformed parameter, body, name or query.
    BadRequest(String),
    /// 401 `UNAUTHORIZED`: no or wrong credentials.
    Unauthorized(String),
    /// 403 `FORBIDDEN`: authenticated but not allowed.
    Forbidden(String),
    /// 404 `NOT_FOUND`: no such resource (or endpoint).
    NotFound(String),
    /// 405 `METHOD_NOT_ALLOWED`: the endpoint exists, not with this method.
    MethodNotAllowed(String),
    /// 409 `CONFLICT`: the resource already exists.
    Conflict(String),
    /// 412 `PRECONDITION`: a policy (tag immutability, quota, …) refuses it.
    Precondition(String),
    /// 413 `PAYLOAD_TOO_LARGE`: the request body is over
    /// `limits.max_api_body_bytes`.
    PayloadTooLarge(String),
    /// 429 `TOO_MANY_REQUESTS` (a berth extension; Harbor does not rate-limit).
    TooManyRequests(String),
    /// 500 `INTERNAL_SERVER_ERROR`: a failure of the server, logged in full.
    Internal(String),
    /// 503 `SERVICE_UNAVAILABLE`: changes are refused for now (the audit
    /// trail cannot be written, `audit.on_failure = refuse`).
    Unavailable(String),
}

/// Harbor's error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Errors {
    /// The errors; berth always sends exactly one.
    pub errors: Vec<ErrorItem>,
}

/// One error of an [`Errors`] body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorItem {
    /// Harbor's error code: `BAD_REQUEST`, `UNAUTHORIZED`, `FORBIDDEN`,
    /// `NOT_FOUND`, `METHOD_NOT_ALLOWED`, `CONFLICT`, `PRECONDITION`,
    /// `PAYLOAD_TOO_LARGE`, `TOO_MANY_REQUESTS`, `INTERNAL_SERVER_ERROR`,
    /// `SERVICE_UNAVAILABLE`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    /// Harbor's code and the HTTP status.
    pub fn code_and_status(&self) -> (&'static str, StatusCode) {
        match self {
            ApiError::BadRequest(_) => ("BAD_REQUEST", StatusCode::BAD_REQUEST),
            ApiError::Unauthorized(_) => ("UNAUTHORIZED", StatusCode::UNAUTHORIZED),
            ApiError::Forbidden(_) => ("FORBIDDEN", StatusCode::FORBIDDEN),
            ApiError::NotFound(_) => ("NOT_FOUND", StatusCode::NOT_FOUND),
            ApiError::MethodNotAllowed(_) => ("METHOD_NOT_ALLOWED", StatusCode::METHOD_NOT_ALLOWED),
            ApiError::Conflict(_) => ("CONFLICT", StatusCode::CONFLICT),
            ApiError::Precondition(_) => ("PRECONDITION", StatusCode::PRECONDITION_FAILED),
            ApiError::PayloadTooLarge(_) => ("PAYLOAD_TOO_LARGE", StatusCode::PAYLOAD_TOO_LARGE),
            ApiError::TooManyRequests(_) => ("TOO_MANY_REQUESTS", StatusCode::TOO_MANY_REQUESTS),
            ApiError::Internal(_) => ("INTERNAL_SERVER_ERROR", StatusCode::INTERNAL_SERVER_ERROR),
            ApiError::Unavailable(_) => ("SERVICE_UNAVAILABLE", StatusCode::SERVICE_UNAVAILABLE),
        }
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        match self {
            ApiError::BadRequest(m)
            | ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::MethodNotAllowed(m)
            | ApiError::Conflict(m)
            | ApiError::Precondition(m)
            | ApiError::PayloadTooLarge(m)
            | ApiError::TooManyRequests(m)
            | ApiError::Internal(m)
            | ApiError::Unavailable(m) => m,
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let msg = e.to_string();
        match e {
            Error::NameInvalid(_)
            | Error::DigestInvalid(_)
            | Error::UploadInvalid(_)
            | Error::ChunkOutOfOrder { .. }
            | Error::RangeNotSatisfiable { .. }
            | Error::ManifestInvalid(_)
            | Error::ManifestBlobUnknown(_)
            | Error::ManifestTooLarge { .. }
            | Error::SizeInvalid(_)
            | Error::ChunkTooLarge { .. }
            | Error::Unsupported(_) => ApiError::BadRequest(msg),
            Error::NameUnknown(_)
            | Error::BlobUnknown(_)
            | Error::UploadUnknown(_)
            | Error::ManifestUnknown(_) => ApiError::NotFound(msg),
            Error::Denied => ApiError::Forbidden(msg),
            Error::PolicyDenied(_) => ApiError::Precondition(msg),
            Error::TooManyRequests | Error::LoginThrottled(_) => ApiError::TooManyRequests(msg),
            Error::AuditUnavailable(_) | Error::DirectoryUnavailable(_) | Error::Upstream(_) => {
                ApiError::Unavailable(msg)
            }
            Error::Storage(_) | Error::Meta(_) => {
                tracing::error!(error = %msg, "management API request failed");
                ApiError::Internal("internal server error".into())
            }
        }
    }
}

impl From<berth_registry::auth::AccountError> for ApiError {
    fn from(e: berth_registry::auth::AccountError) -> Self {
        use berth_registry::auth::AccountError;
        match e {
            AccountError::Invalid(m) => ApiError::BadRequest(m),
            AccountError::NotFound(m) => ApiError::NotFound(m),
            AccountError::Conflict(m) => ApiError::Conflict(m),
            AccountError::Meta(m) => ApiError::from(Error::from(m)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, status) = self.code_and_status();
        let body = Errors {
            errors: vec![ErrorItem {
                code: code.to_string(),
                message: self.message().to_string(),
            }],
        };
        (status, axum::Json(body)).into_response()
    }
}

/// Result alias for management API handlers.
pub type ApiResult<T> = std::result::Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_errors_map_to_harbor_codes() {
        let cases = [
            (Error::NameUnknown("a".into()), "NOT_FOUND", 404),
            (Error::ManifestUnknown("v1".into()), "NOT_FOUND", 404),
            (Error::DigestInvalid("x".into()), "BAD_REQUEST", 400),
            (Error::Denied, "FORBIDDEN", 403),
            (Error::PolicyDenied("immutable".into()), "PRECONDITION", 412),
            (Error::TooManyRequests, "TOO_MANY_REQUESTS", 429),
        ];
        for (e, code, status) in cases {
            let (c, s) = ApiError::from(e).code_and_status();
            assert_eq!((c, s.as_u16()), (code, status));
        }
    }
}
