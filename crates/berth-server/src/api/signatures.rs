//! Signatures (docs/supply-chain.md): a project's trusted keys (a berth
//! extension, `/projects/{p}/trusted-keys`) and Harbor's accessories of an
//! artifact (`…/artifacts/{reference}/accessories`) with berth's
//! verification verdict on each.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_registry::audit::AuditAction;
use berth_registry::signing::SignatureVerdict;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::artifacts::ArtifactPath;
use super::authz::{self, Caller};
use super::error::{ApiError, ApiResult, Errors};
use super::manage::{self, Target};
use super::repositories::ProjectPath;
use super::{rfc3339, ApiJson, ApiPath};
use crate::server::AppState;

/// A public key a project trusts to sign its artifacts.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrustedKey {
    /// Row id.
    pub id: i64,
    /// Name, unique in the project.
    pub name: String,
    /// `ecdsa-p256`, `ed25519` or `rsa` (cosign keys), or `x509-ca` (a
    /// certificate of the notation trust store).
    pub algorithm: String,
    /// Hex SHA-256 of the DER public key (of the DER certificate).
    pub fingerprint: String,
    /// The PEM public key or certificate.
    pub public_key: String,
    /// RFC 3339.
    pub creation_time: String,
    /// For `x509-ca`: the trust policy's identities (distinguished names a
    /// signing certificate's subject must match); empty: any.
    pub trusted_identities: Vec<String>,
}

impl From<berth_registry::signing::TrustedKeyRow> for TrustedKey {
    fn from(r: berth_registry::signing::TrustedKeyRow) -> Self {
        TrustedKey {
            id: r.id,
            name: r.name,
            algorithm: r.algorithm,
            fingerprint: r.fingerprint,
            public_key: r.public_key,
            creation_time: rfc3339(r.created_at),
            trusted_identities: r.trusted_identities,
        }
    }
}

/// Body of `POST /projects/{p}/trusted-keys`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TrustedKeyReq {
    /// Name (letters, digits, `.`, `_`, `-`; at most 64).
    pub name: String,
    /// PEM `PUBLIC KEY` (ECDSA P-256, Ed25519 or RSA), e.g. `cosign.pub`;
    /// or a PEM `CERTIFICATE` for the notation trust store (a root or
    /// intermediate CA certificate, or the signing certificate itself).
    pub public_key: String,
    /// With a certificate: the trust policy's `trustedIdentities`
    /// (`"x509.subject: C=US, O=Acme, CN=ci"`); absent or empty trusts any
    /// subject the certificate vouches for.
    #[serde(default)]
    pub trusted_identities: Vec<String>,
}

/// Path of one trusted key.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KeyPath {
    /// Project name or id.
    pub project_name: String,
    /// Key name.
    pub key_name: String,
}

/// `GET /projects/{p}/trusted-keys`: the keys, by name. Readers of the project.
#[utoipa::path(get, path = "/projects/{project_name}/trusted-keys", tag = "signature",
    params(ProjectPath),
    responses((status = 200, body = [TrustedKey]), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn list_keys(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ProjectPath>,
) -> ApiResult<Json<Vec<TrustedKey>>> {
    authz::can_read_project(&state, &caller, &p.project_name).await?;
    if !state.registry.project_exists(&p.project_name).await? {
        return Err(ApiError::NotFound(format!(
            "project {} not found",
            p.project_name
        )));
    }
    let keys = state.registry.trusted_keys(&p.project_name).await?;
    Ok(Json(keys.into_iter().map(TrustedKey::from).collect()))
}

/// Records the verdicts of a verification run after a key change.
fn record_verdicts(state: &AppState, caller: &Caller, verdicts: &[SignatureVerdict]) {
    for v in verdicts {
        let entry =
            crate::audit::verdict_entry(crate::auth::actor(&caller.principal), caller.ip, v);
        state.audit.record(entry);
    }
}

/// `POST /projects/{p}/trusted-keys`: adds a key and verifies the project's
/// signatures again (each verdict is an audit event). 201 with `Location`;
/// 400 for a key that is not a PEM ECDSA P-256, Ed25519 or RSA public key;
/// 409 when the name is taken. Project admins.
#[utoipa::path(post, path = "/projects/{project_name}/trusted-keys", tag = "signature",
    params(ProjectPath), request_body = TrustedKeyReq,
    responses((status = 201, body = TrustedKey, headers(("Location" = String))),
        (status = 400, body = Errors), (status = 403, body = Errors),
        (status = 404, body = Errors), (status = 409, body = Errors)))]
pub async fn add_key(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ProjectPath>,
    ApiJson(req): ApiJson<TrustedKeyReq>,
) -> ApiResult<Response> {
    let result = async {
        authz::can_manage_project(&state, &caller, &p.project_name).await?;
        let (row, verdicts) = state
            .registry
            .trusted_key_add(
                &p.project_name,
                &req.name,
                &req.public_key,
                &req.trusted_identities,
            )
            .await?;
        record_verdicts(&state, &caller, &verdicts);
        Ok(row)
    }
    .await;
    let detail = match &result {
        Ok(r) => format!("trusted key added: {} {}", r.algorithm, r.fingerprint),
        Err(_) => "trusted key add".to_string(),
    };
    let row = manage::audited(
        &state,
        &caller,
        AuditAction::TrustedKeyChange,
        Target {
            project: Some(&p.project_name),
            account: Some(&req.name),
            detail,
        },
        result,
    )?;
    let location = format!(
        "{}/projects/{}/trusted-keys/{}",
        super::BASE_PATH,
        p.project_name,
        row.name
    );
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(TrustedKey::from(row)),
    )
        .into_response())
}

/// `DELETE /projects/{p}/trusted-keys/{key_name}`: removes a key and verifies
/// the project's signatures again. Project admins.
#[utoipa::path(delete, path = "/projects/{project_name}/trusted-keys/{key_name}", tag = "signature",
    params(KeyPath),
    responses((status = 200, description = "Removed"), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn remove_key(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<KeyPath>,
) -> ApiResult<StatusCode> {
    let result = async {
        authz::can_manage_project(&state, &caller, &p.project_name).await?;
        let (row, verdicts) = state
            .registry
            .trusted_key_remove(&p.project_name, &p.key_name)
            .await?;
        record_verdicts(&state, &caller, &verdicts);
        Ok(row)
    }
    .await;
    let detail = match &result {
        Ok(r) => format!("trusted key removed: {} {}", r.algorithm, r.fingerprint),
        Err(_) => "trusted key remove".to_string(),
    };
    manage::audited(
        &state,
        &caller,
        AuditAction::TrustedKeyChange,
        Target {
            project: Some(&p.project_name),
            account: Some(&p.key_name),
            detail,
        },
        result,
    )?;
    Ok(StatusCode::OK)
}

/// berth's verdict on a signature accessory.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verification {
    /// `verified`, `failed`, `unknown_key` or `invalid`.
    pub status: String,
    /// The trusted key that verified it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Why, in words.
    pub detail: String,
    /// When it was checked, RFC 3339.
    pub check_time: String,
}

/// Harbor's `Accessory`, plus berth's `verification`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accessory {
    /// The accessory's artifact id (0 when not listed as an artifact).
    pub id: i64,
    /// Same as `id` (Harbor).
    pub artifact_id: i64,
    /// The signed artifact's id.
    pub subject_artifact_id: i64,
    /// The signed artifact's digest.
    pub subject_artifact_digest: String,
    /// The signed artifact's repository.
    pub subject_artifact_repo: String,
    /// The accessory's manifest size in bytes.
    pub size: u64,
    /// The accessory's manifest digest.
    pub digest: String,
    /// `signature.cosign`, `signature.sigstore-bundle`, `signature.notation`,
    /// `attestation.cosign` or `harbor.sbom`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always empty.
    pub icon: String,
    /// RFC 3339.
    pub creation_time: String,
    /// The verdict against the project's trusted keys (signatures only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

/// `GET /projects/{p}/repositories/{r}/artifacts/{reference}/accessories`:
/// the signatures of an artifact (cosign, tag form or referrer) with their
/// verdicts, newest check first, then its SBOMs (SPDX and CycloneDX
/// referrers, type `harbor.sbom`).
#[utoipa::path(get,
    path = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/accessories",
    tag = "signature", params(ArtifactPath),
    responses((status = 200, body = [Accessory]), (status = 403, body = Errors),
        (status = 404, body = Errors)))]
pub async fn accessories(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiPath(p): ApiPath<ArtifactPath>,
) -> ApiResult<Json<Vec<Accessory>>> {
    let repo =
        super::repositories::resolve(&state, &caller, &p.project_name, &p.repository_name).await?;
    let reference = berth_oci::Reference::parse(&p.reference)
        .map_err(|e| ApiError::BadRequest(format!("invalid reference {:?}: {e}", p.reference)))?;
    let info = state.registry.artifact(&repo, &reference).await?;
    Ok(Json(
        accessories_of(&state, &repo, info.row.id, &info.row.digest).await?,
    ))
}

/// The accessories of artifact `subject` (id `subject_artifact_id`) of
/// `repo`: its signatures with their verdicts, newest check first, then its
/// SBOM referrers.
pub async fn accessories_of(
    state: &AppState,
    repo: &berth_registry::RepositoryRow,
    subject_artifact_id: i64,
    subject: &berth_oci::Digest,
) -> ApiResult<Vec<Accessory>> {
    let name = berth_oci::RepositoryName::parse(&repo.name).map_err(berth_registry::Error::from)?;
    // One accessory: its artifact (when listed) and what it is.
    let accessory = |found: Option<&berth_registry::ArtifactInfo>,
                     digest: String,
                     size: u64,
                     kind: String,
                     at: i64,
                     verification: Option<Verification>| Accessory {
        id: found.map_or(0, |a| a.row.id),
        artifact_id: found.map_or(0, |a| a.row.id),
        subject_artifact_id,
        subject_artifact_digest: subject.to_string(),
        subject_artifact_repo: repo.name.clone(),
        size: found.map_or(size, |a| a.row.size),
        digest,
        kind,
        icon: String::new(),
        creation_time: rfc3339(found.map_or(at, |a| a.row.pushed_at)),
        verification,
    };
    let mut out = Vec::new();
    for s in state.registry.signatures_of(&name, subject).await? {
        let sig = match berth_oci::Reference::parse(&s.digest) {
            Ok(r) => state.registry.artifact(repo, &r).await.ok(),
            Err(_) => None,
        };
        out.push(accessory(
            sig.as_ref(),
            s.digest.clone(),
            0,
            berth_registry::signing::accessory_type(&s.format),
            s.checked_at,
            Some(Verification {
                status: s.status,
                key: s.key_name,
                detail: s.detail,
                check_time: rfc3339(s.checked_at),
            }),
        ));
    }
    for sbom in state.registry.sboms_of(&name, subject).await? {
        let found = state
            .registry
            .artifact(repo, &berth_oci::Reference::Digest(sbom.digest.clone()))
            .await
            .ok();
        out.push(accessory(
            found.as_ref(),
            sbom.digest.to_string(),
            sbom.size,
            "harbor.sbom".into(),
            0,
            None,
        ));
    }
    Ok(out)
}
