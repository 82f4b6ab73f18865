//! Upstream registries (Harbor `registry` resource): `GET|POST /registries`,
//! `GET|PUT|DELETE /registries/{id}`, `POST /registries/ping`. The upstreams
//! of proxy projects (docs/proxy.md). System administrators only; the
//! credential's secret is never shown.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_registry::{AuditAction, NewRegistry, RegistryRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::manage::{self, Target};
use super::{rfc3339, ApiJson, ApiPath};
use crate::server::AppState;

/// Harbor's `RegistryCredential`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RegistryCredential {
    /// `basic` (the only type berth uses; also sent to token realms).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// User name or access key.
    #[serde(default)]
    pub access_key: Option<String>,
    /// Password or secret; answered as `*****` when set.
    #[serde(default)]
    pub access_secret: Option<String>,
}

/// Harbor's `Registry`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registry {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// `docker-registry`, `harbor` or `docker-hub`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Base URL (no `/v2`).
    pub url: String,
    /// Accept any TLS certificate.
    pub insecure: bool,
    /// Free text.
    pub description: String,
    /// The credential, its secret masked.
    pub credential: RegistryCredential,
    /// `unknown`: listing does not contact registries; `POST
    /// /registries/ping` checks one.
    pub status: String,
    /// Creation time, RFC 3339.
    pub creation_time: String,
    /// Last change, RFC 3339.
    pub update_time: String,
}

impl From<RegistryRecord> for Registry {
    fn from(r: RegistryRecord) -> Self {
        Registry {
            id: r.id,
            name: r.name,
            kind: r.kind,
            url: r.url,
            insecure: r.insecure,
            description: r.description,
            credential: RegistryCredential {
                kind: Some("basic".into()),
                access_secret: r.access_secret.map(|_| "*****".into()),
                access_key: r.access_key,
            },
            status: "unknown".into(),
            creation_time: rfc3339(r.created_at),
            update_time: rfc3339(r.updated_at),
        }
    }
}

/// Body of `POST /registries` (Harbor's `Registry`) and, with every field
/// optional, of `POST /registries/ping` and `PUT /registries/{id}` (which
/// also take Harbor's flat `RegistryUpdate` fields).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RegistryReq {
    /// `ping` only: check a stored registry.
    #[serde(default)]
    pub id: Option<i64>,
    /// Unique name.
    #[serde(default)]
    pub name: Option<String>,
    /// `docker-registry`, `harbor` or `docker-hub`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Base URL, e.g. `https://registry-1.docker.io`.
    #[serde(default)]
    pub url: Option<String>,
    /// Accept any TLS certificate.
    #[serde(default)]
    pub insecure: Option<bool>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Basic credential.
    #[serde(default)]
    pub credential: Option<RegistryCredential>,
    /// `RegistryUpdate`: user name or access key.
    #[serde(default)]
    pub access_key: Option<String>,
    /// `RegistryUpdate`: password or secret.
    #[serde(default)]
    pub access_secret: Option<String>,
}

impl RegistryReq {
    /// The settings this request gives over `base` (absent fields keep it).
    fn over(self, base: NewRegistry) -> NewRegistry {
        let cred = self.credential.unwrap_or_default();
        let key = cred.access_key.or(self.access_key);
        let secret = cred.access_secret.or(self.access_secret);
        // A masked secret sent back unchanged keeps the stored one.
        let secret = match secret.as_deref() {
            Some("*****") => base.access_secret.clone(),
            _ => secret.or(base.access_secret.clone()),
        };
        NewRegistry {
            name: self.name.unwrap_or(base.name),
            kind: self.kind.unwrap_or(base.kind),
            url: self
                .url
                .map(|u| u.trim_end_matches('/').to_string())
                .unwrap_or(base.url),
            insecure: self.insecure.unwrap_or(base.insecure),
            description: self.description.unwrap_or(base.description),
            access_secret: secret,
            access_key: key.or(base.access_key).filter(|k| !k.is_empty()),
        }
    }
}

fn settings(r: &RegistryRecord) -> NewRegistry {
    NewRegistry {
        name: r.name.clone(),
        kind: r.kind.clone(),
        url: r.url.clone(),
        insecure: r.insecure,
        description: r.description.clone(),
        access_key: r.access_key.clone(),
        access_secret: r.access_secret.clone(),
    }
}

/// Path of one registry.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RegistryPath {
    /// Registry id.
    pub id: i64,
}

/// Every upstream registry.
#[utoipa::path(get, path = "/registries", tag = "registry",
    responses((status = 200, body = [Registry]), (status = 401, body = Errors), (status = 403, body = Errors)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<Registry>>> {
    authz::can_administer(&caller, "list registries")?;
    let all = state.registry.registries().await?;
    Ok(Json(all.into_iter().map(Registry::from).collect()))
}

/// One registry.
#[utoipa::path(get, path = "/registries/{id}", tag = "registry", params(RegistryPath),
    responses((status = 200, body = Registry), (status = 404, body = Errors)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<RegistryPath>,
) -> ApiResult<Json<Registry>> {
    authz::can_administer(&caller, "read registries")?;
    Ok(Json(
        state.registry.registry(&p.id.to_string()).await?.into(),
    ))
}

/// Adds a registry. 201 with `Location: /api/v2.0/registries/{id}`; 409 when
/// the name is taken.
#[utoipa::path(post, path = "/registries", tag = "registry", request_body = RegistryReq,
    responses((status = 201, description = "Created", headers(("Location" = String))),
        (status = 400, body = Errors), (status = 403, body = Errors), (status = 409, body = Errors)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<RegistryReq>,
) -> ApiResult<Response> {
    let name = req.name.clone().unwrap_or_default();
    let result = async {
        authz::can_administer(&caller, "add registries")?;
        let new = req.over(NewRegistry {
            kind: "docker-registry".into(),
            ..NewRegistry::default()
        });
        Ok(state.registry.registry_add(&new).await?)
    }
    .await;
    let r = manage::audited(
        &state,
        &caller,
        AuditAction::RegistryCreate,
        Target {
            account: Some(&name),
            ..Target::default()
        },
        result,
    )?;
    let location = format!("{}/registries/{}", super::BASE_PATH, r.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

/// Changes a registry; absent fields keep their value.
#[utoipa::path(put, path = "/registries/{id}", tag = "registry", params(RegistryPath),
    request_body = RegistryReq,
    responses((status = 200, description = "Changed"), (status = 400, body = Errors),
        (status = 404, body = Errors), (status = 409, body = Errors)))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<RegistryPath>,
    ApiJson(req): ApiJson<RegistryReq>,
) -> ApiResult<StatusCode> {
    let mut name = p.id.to_string();
    let result = async {
        authz::can_administer(&caller, "change registries")?;
        let current = state.registry.registry(&p.id.to_string()).await?;
        name = current.name.clone();
        let new = req.over(settings(&current));
        Ok(state.registry.registry_change(p.id, &new).await?)
    }
    .await;
    manage::audited(
        &state,
        &caller,
        AuditAction::RegistryUpdate,
        Target {
            account: Some(&name),
            ..Target::default()
        },
        result,
    )?;
    Ok(StatusCode::OK)
}

/// Removes a registry; 409 while a proxy project uses it.
#[utoipa::path(delete, path = "/registries/{id}", tag = "registry", params(RegistryPath),
    responses((status = 200, description = "Removed"), (status = 404, body = Errors),
        (status = 409, body = Errors)))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<RegistryPath>,
) -> ApiResult<StatusCode> {
    let id = p.id.to_string();
    let result = async {
        authz::can_administer(&caller, "remove registries")?;
        Ok(state.registry.registry_remove(p.id).await?)
    }
    .await;
    manage::audited(
        &state,
        &caller,
        AuditAction::RegistryDelete,
        Target {
            account: Some(&id),
            ..Target::default()
        },
        result,
    )?;
    Ok(StatusCode::OK)
}

/// Checks that a registry answers `/v2/` and accepts the credential: a
/// stored one (`id`, other fields override it) or the settings given. 200,
/// or 400 with what failed (unreachable, credential refused, …).
#[utoipa::path(post, path = "/registries/ping", tag = "registry", request_body = RegistryReq,
    responses((status = 200, description = "Reachable"), (status = 400, body = Errors),
        (status = 404, body = Errors)))]
pub async fn ping(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<RegistryReq>,
) -> ApiResult<StatusCode> {
    authz::can_administer(&caller, "ping registries")?;
    let base = match req.id {
        Some(id) => state.registry.registry(&id.to_string()).await?,
        None => RegistryRecord {
            id: 0,
            name: "ping".into(),
            kind: "docker-registry".into(),
            url: String::new(),
            insecure: false,
            description: String::new(),
            access_key: None,
            access_secret: None,
            created_at: 0,
            updated_at: 0,
        },
    };
    let new = req.over(settings(&base));
    let record = RegistryRecord {
        name: new.name,
        kind: new.kind,
        url: new.url,
        insecure: new.insecure,
        access_key: new.access_key,
        access_secret: new.access_secret,
        ..base
    };
    match state.registry.registry_ping(record).await {
        Ok(()) => Ok(StatusCode::OK),
        Err(e) => Err(ApiError::BadRequest(e.to_string())),
    }
}
