//! External scanners (Harbor's `scanner` resource, pluggable scanner API):
//! `GET|POST /scanners`, `GET|PUT|PATCH|DELETE /scanners/{registration_id}`,
//! `GET /scanners/{registration_id}/metadata`, `POST /scanners/ping`. The
//! default registration replaces the built-in vulnerability matcher
//! (docs/supply-chain.md "External scanners"). System administrators only;
//! the access credential is never shown.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_registry::audit::AuditAction;
use berth_registry::vuln::adapter;
use berth_registry::ScannerRow;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::manage::{self, Target};
use super::{rfc3339, ApiJson, ApiPath};
use crate::server::AppState;

/// What the API shows for a stored access credential.
const MASK: &str = "*****";

/// Harbor's `ScannerRegistration`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScannerRegistration {
    /// Registration id.
    pub uuid: String,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The adapter's base URL.
    pub url: String,
    /// Never used when true.
    pub disabled: bool,
    /// The scanner that replaces berth's own.
    pub is_default: bool,
    /// `""`, `Basic`, `Bearer` or `X-ScannerAdapter-API-Key`.
    pub auth: String,
    /// `*****` when set.
    pub access_credential: String,
    /// Accept any TLS certificate from the adapter.
    #[serde(rename = "skip_certVerify")]
    pub skip_cert_verify: bool,
    /// Always false (berth has one address).
    pub use_internal_addr: bool,
    /// RFC 3339.
    pub create_time: String,
    /// RFC 3339.
    pub update_time: String,
}

impl From<ScannerRow> for ScannerRegistration {
    fn from(s: ScannerRow) -> Self {
        ScannerRegistration {
            uuid: s.uuid,
            name: s.name,
            description: s.description,
            url: s.url,
            disabled: s.disabled,
            is_default: s.is_default,
            auth: s.auth,
            access_credential: if s.access_credential.is_empty() {
                String::new()
            } else {
                MASK.into()
            },
            skip_cert_verify: s.skip_cert_verify,
            use_internal_addr: false,
            create_time: rfc3339(s.created_at),
            update_time: rfc3339(s.updated_at),
        }
    }
}

/// Body of `POST /scanners`, `PUT /scanners/{id}` and `POST
/// /scanners/ping` (Harbor's `ScannerRegistrationReq`); absent fields keep
/// their value on a change.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ScannerRegistrationReq {
    /// Unique name.
    #[serde(default)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// The adapter's base URL, e.g. `http://trivy-adapter:8080`.
    #[serde(default)]
    pub url: Option<String>,
    /// `""`, `Basic`, `Bearer` or `X-ScannerAdapter-API-Key`.
    #[serde(default)]
    pub auth: Option<String>,
    /// What `auth` sends (`user:password` for Basic); `*****` keeps the
    /// stored one.
    #[serde(default)]
    pub access_credential: Option<String>,
    /// Accept any TLS certificate from the adapter.
    #[serde(default, rename = "skip_certVerify")]
    pub skip_cert_verify: Option<bool>,
    /// Accepted and ignored (berth has one address).
    #[serde(default)]
    pub use_internal_addr: Option<bool>,
    /// Never use it.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// `POST` only: make it the default at once.
    #[serde(default)]
    pub is_default: Option<bool>,
}

impl ScannerRegistrationReq {
    /// The settings this request gives over `base`.
    fn over(self, base: ScannerRow) -> ScannerRow {
        let credential = match self.access_credential {
            Some(c) if c == MASK => base.access_credential.clone(),
            Some(c) => c,
            None => base.access_credential.clone(),
        };
        ScannerRow {
            name: self.name.map(|n| n.trim().to_string()).unwrap_or(base.name),
            description: self.description.unwrap_or(base.description),
            url: self
                .url
                .map(|u| u.trim().trim_end_matches('/').to_string())
                .unwrap_or(base.url),
            auth: self.auth.unwrap_or(base.auth),
            access_credential: credential,
            skip_cert_verify: self.skip_cert_verify.unwrap_or(base.skip_cert_verify),
            disabled: self.disabled.unwrap_or(base.disabled),
            is_default: self.is_default.unwrap_or(base.is_default),
            ..base
        }
    }
}

/// Path of one registration.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ScannerPath {
    /// Registration id.
    pub registration_id: String,
}

/// Body of `PATCH /scanners/{registration_id}` (Harbor's `IsDefault`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct IsDefault {
    /// Make it (or stop it being) the default.
    pub is_default: bool,
}

/// Every registered scanner.
#[utoipa::path(get, path = "/scanners", tag = "scanner",
    responses((status = 200, body = [ScannerRegistration]), (status = 401, body = Errors),
        (status = 403, body = Errors)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<ScannerRegistration>>> {
    authz::can_administer(&caller, "list scanners")?;
    Ok(Json(
        state
            .registry
            .scanners()
            .await?
            .into_iter()
            .map(ScannerRegistration::from)
            .collect(),
    ))
}

/// One registration.
#[utoipa::path(get, path = "/scanners/{registration_id}", tag = "scanner", params(ScannerPath),
    responses((status = 200, body = ScannerRegistration), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ScannerPath>,
) -> ApiResult<Json<ScannerRegistration>> {
    authz::can_administer(&caller, "read scanners")?;
    Ok(Json(
        state.registry.scanner(&p.registration_id).await?.into(),
    ))
}

/// Registers a scanner adapter. 201 with `Location:
/// /api/v2.0/scanners/{registration_id}`; 409 when the name is taken.
#[utoipa::path(post, path = "/scanners", tag = "scanner", request_body = ScannerRegistrationReq,
    responses((status = 201, description = "Created", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 403, body = Errors), (status = 409, body = Errors)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<ScannerRegistrationReq>,
) -> ApiResult<Response> {
    let name = req.name.clone().unwrap_or_default();
    let result = async {
        authz::can_administer(&caller, "register scanners")?;
        Ok(state
            .registry
            .scanner_add(req.over(ScannerRow::default()))
            .await?)
    }
    .await;
    let s = manage::audited(
        &state,
        &caller,
        AuditAction::ScannerCreate,
        Target {
            account: Some(&name),
            ..Target::default()
        },
        result,
    )?;
    let location = format!("{}/scanners/{}", super::BASE_PATH, s.uuid);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

/// Changes a registration; absent fields keep their value.
#[utoipa::path(put, path = "/scanners/{registration_id}", tag = "scanner", params(ScannerPath),
    request_body = ScannerRegistrationReq,
    responses((status = 200, description = "Changed"), (status = 400, body = Errors),
        (status = 404, body = Errors), (status = 409, body = Errors)))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ScannerPath>,
    ApiJson(req): ApiJson<ScannerRegistrationReq>,
) -> ApiResult<StatusCode> {
    change(
        &state,
        &caller,
        &p.registration_id,
        String::new(),
        |current| req.over(current),
    )
    .await
}

/// Makes a registration the default scanner (or stops it being one).
#[utoipa::path(patch, path = "/scanners/{registration_id}", tag = "scanner", params(ScannerPath),
    request_body = IsDefault,
    responses((status = 200, description = "Changed"), (status = 404, body = Errors)))]
pub async fn set_default(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ScannerPath>,
    ApiJson(req): ApiJson<IsDefault>,
) -> ApiResult<StatusCode> {
    let detail = format!("is_default: {}", req.is_default);
    change(
        &state,
        &caller,
        &p.registration_id,
        detail,
        |mut current| {
            current.is_default = req.is_default;
            current
        },
    )
    .await
}

/// Loads registration `id`, saves what `edit` makes of it and audits the
/// change as `scanner_update` with `detail`: the shared body of PUT and PATCH.
async fn change(
    state: &Arc<AppState>,
    caller: &Caller,
    id: &str,
    detail: String,
    edit: impl FnOnce(ScannerRow) -> ScannerRow,
) -> ApiResult<StatusCode> {
    let mut name = id.to_string();
    let result = async {
        authz::can_administer(caller, "change scanners")?;
        let current = state.registry.scanner(id).await?;
        name = current.name.clone();
        Ok(state.registry.scanner_change(&edit(current)).await?)
    }
    .await;
    manage::audited(
        state,
        caller,
        AuditAction::ScannerUpdate,
        Target {
            account: Some(&name),
            detail,
            ..Target::default()
        },
        result,
    )?;
    Ok(StatusCode::OK)
}

/// Removes a registration; answers it as it was.
#[utoipa::path(delete, path = "/scanners/{registration_id}", tag = "scanner", params(ScannerPath),
    responses((status = 200, body = ScannerRegistration), (status = 404, body = Errors)))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ScannerPath>,
) -> ApiResult<Json<ScannerRegistration>> {
    let mut name = p.registration_id.clone();
    let result = async {
        authz::can_administer(&caller, "remove scanners")?;
        let removed = state.registry.scanner_remove(&p.registration_id).await?;
        name = removed.name.clone();
        Ok(removed)
    }
    .await;
    let removed = manage::audited(
        &state,
        &caller,
        AuditAction::ScannerDelete,
        Target {
            account: Some(&name),
            ..Target::default()
        },
        result,
    )?;
    Ok(Json(removed.into()))
}

/// The adapter's metadata (Harbor's `ScannerAdapterMetadata`): its
/// scanner, capabilities and properties, asked of it now.
#[utoipa::path(get, path = "/scanners/{registration_id}/metadata", tag = "scanner",
    params(ScannerPath),
    responses((status = 200, body = Object), (status = 400, body = Errors),
        (status = 404, body = Errors)))]
pub async fn metadata(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ScannerPath>,
) -> ApiResult<Json<serde_json::Value>> {
    authz::can_administer(&caller, "read scanners")?;
    let s = state.registry.scanner(&p.registration_id).await?;
    Ok(Json(adapter::metadata(&s).await?))
}

/// Checks that an adapter answers its metadata and produces vulnerability
/// reports: 200, or 400 saying why. Stores nothing.
#[utoipa::path(post, path = "/scanners/ping", tag = "scanner",
    request_body = ScannerRegistrationReq,
    responses((status = 200, description = "The adapter answers"), (status = 400, body = Errors)))]
pub async fn ping(
    State(_state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<ScannerRegistrationReq>,
) -> ApiResult<StatusCode> {
    authz::can_administer(&caller, "ping scanners")?;
    let mut s = req.over(ScannerRow::default());
    if s.name.is_empty() {
        s.name = "ping".into();
    }
    adapter::validate(&s).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    adapter::metadata(&s)
        .await
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(StatusCode::OK)
}
