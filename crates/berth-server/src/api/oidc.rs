//! Harbor's `/system/oidc/ping`: checks that an OpenID Connect provider
//! answers discovery (docs/identity.md). System administrators only.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::manage;
use crate::server::AppState;

/// Harbor's `OIDCPing` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct OidcPing {
    /// The issuer URL to check; absent or empty: the configured one.
    #[serde(default)]
    pub url: Option<String>,
    /// Harbor's switch to skip certificate checks; berth always checks
    /// (ignored).
    #[serde(default)]
    pub verify_cert: Option<bool>,
}

/// `POST /system/oidc/ping`: fetches `<url>/.well-known/openid-configuration`
/// and the keys it names; for the configured provider, also whether its
/// token endpoint accepts berth's client credentials. 200 when all holds;
/// 400 with the cause when not; 412 when no URL is given and none is
/// configured. The body may be empty.
#[utoipa::path(post, path = "/system/oidc/ping", tag = "oidc", request_body = OidcPing,
    responses((status = 200, description = "The provider answers discovery"),
        (status = 400, body = Errors), (status = 401, body = Errors),
        (status = 403, body = Errors), (status = 412, body = Errors)))]
pub async fn ping(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<StatusCode> {
    authz::can_administer(&caller, "ping an OpenID Connect provider")?;
    let req: OidcPing = if body.iter().all(u8::is_ascii_whitespace) {
        OidcPing::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("OIDCPing body: {e}")))?
    };
    let auth = manage::accounts(&state)?;
    let url = req.url.as_deref().map(str::trim).filter(|u| !u.is_empty());
    if let Some(u) = url {
        if !(u.starts_with("https://") || u.starts_with("http://")) {
            return Err(ApiError::BadRequest(format!(
                "url {:?} is not an http(s) issuer URL",
                crate::clip(u)
            )));
        }
    }
    let result = match (auth.oidc(), url) {
        (Some(p), u) => p.ping(u).await,
        (None, Some(u)) => {
            berth_registry::auth::oidc::Provider::new(berth_registry::auth::oidc::OidcConfig {
                issuer: u.to_string(),
                ..Default::default()
            })
            .ping(None)
            .await
        }
        (None, None) => {
            return Err(ApiError::Precondition(
                "no OpenID Connect provider is configured (auth.identity is not oidc) and the \
                 body names no url"
                    .into(),
            ))
        }
    };
    result
        .map(|()| StatusCode::OK)
        .map_err(|e| ApiError::BadRequest(e.to_string()))
}
