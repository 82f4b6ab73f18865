//! Signatures and the signature pull gate (docs/supply-chain.md).
//!
//! - Each project trusts a set of public keys ([`keys`]), managed through
//!   the API and CLI.
//! - A cosign signature ([`cosign`], or a sigstore bundle referrer:
//!   [`bundle`]) or a notation signature ([`notation`], against the
//!   project's trusted certificates) is recognised when it is pushed,
//!   verified against the project's keys, and the verdict recorded
//!   (`signatures`):
//!   `verified` (by which key), `failed` (no trusted key verifies it),
//!   `unknown_key` (the project trusts no key yet) or `invalid` (a payload
//!   that is not JSON, signs another manifest, or has no signature). Every
//!   signature of a project is verified again when its keys change.
//! - The pull gate (Harbor's `enable_content_trust_cosign`): a manifest `GET`
//!   from such a project is refused with 403 DENIED unless the manifest has a
//!   verified signature, is a child of an image index that has one, or is
//!   itself an accessory (a signature, attestation, SBOM or any referrer),
//!   which stay pullable so clients can verify.

pub mod bundle;
pub mod cosign;
pub mod keys;
pub mod notation;

pub use berth_meta::{SignatureRow, TrustedKeyRow};
use berth_oci::{Digest, RepositoryName};

use crate::auth::AccountError;
use crate::error::{Error, Result};
use crate::registry::Registry;
use keys::PublicKey;

/// The verdict on a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SignatureStatus {
    /// Malformed: not a valid signature of its subject, whatever the key.
    Invalid,
    /// The project trusts no key yet.
    UnknownKey,
    /// No trusted key verifies it.
    Failed,
    /// A trusted key verifies it.
    Verified,
}

impl SignatureStatus {
    /// `verified`, `failed`, `unknown_key`, `invalid`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureStatus::Verified => "verified",
            SignatureStatus::Failed => "failed",
            SignatureStatus::UnknownKey => "unknown_key",
            SignatureStatus::Invalid => "invalid",
        }
    }
}

/// A manifest recognised as a signature.
enum Recognized {
    Cosign(cosign::CosignSignature),
    Attestation(cosign::CosignAttestation),
    Bundle(bundle::BundleRef),
    Notation(notation::NotationRef),
}

impl Recognized {
    /// `tag`: the tag it was pushed under; `subject`: the subject already
    /// recorded (a signature verified again).
    fn of(body: &[u8], tag: Option<&str>, subject: Option<&Digest>) -> Option<Recognized> {
        // Every manifest push asks: most are no signature, and name neither
        // media type (both start with this), so they are not parsed again.
        const SIGNATURE_TYPES: &[u8] = b"application/vnd.dev.";
        const NOTATION: &[u8] = notation::ARTIFACT_TYPE.as_bytes();
        const DSSE: &[u8] = cosign::DSSE_ENVELOPE.as_bytes();
        let names = |t: &[u8]| body.windows(t.len()).any(|w| w == t);
        if names(NOTATION) {
            return notation::recognize(body, subject).map(Recognized::Notation);
        }
        if names(DSSE) {
            if let Some(a) = cosign::recognize_attestation(body, tag, subject) {
                return Some(Recognized::Attestation(a));
            }
        }
        if !names(SIGNATURE_TYPES) {
            return None;
        }
        cosign::recognize(body, tag, subject)
            .map(Recognized::Cosign)
            .or_else(|| bundle::recognize(body, subject).map(Recognized::Bundle))
    }

    fn subject(&self) -> &Digest {
        match self {
            Recognized::Cosign(c) => &c.subject,
            Recognized::Attestation(a) => &a.subject,
            Recognized::Bundle(b) => &b.subject,
            Recognized::Notation(n) => &n.subject,
        }
    }

    /// The `signatures.format` (and, prefixed with `signature.`, the
    /// accessory type).
    fn format(&self) -> &'static str {
        match self {
            Recognized::Cosign(_) => "cosign",
            Recognized::Attestation(_) => berth_meta::ATTESTATION_FORMAT,
            Recognized::Bundle(_) => "sigstore-bundle",
            Recognized::Notation(_) => "notation",
        }
    }
}

/// Harbor's accessory `type` of a recorded signature of format `format`:
/// `signature.cosign`, `signature.sigstore-bundle`, `signature.notation`,
/// and `attestation.cosign` for a cosign attestation.
pub fn accessory_type(format: &str) -> String {
    if format == berth_meta::ATTESTATION_FORMAT {
        "attestation.cosign".into()
    } else {
        format!("signature.{format}")
    }
}

/// What was decided about one signature manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureVerdict {
    /// Repository.
    pub repository: String,
    /// The signature manifest.
    pub signature: Digest,
    /// The manifest it signs.
    pub subject: Digest,
    /// The verdict.
    pub status: SignatureStatus,
    /// The trusted key that verified it.
    pub key: Option<String>,
    /// Why, in words.
    pub detail: String,
}

impl Registry {
    /// The keys `project` trusts, by name.
    ///
    /// Errors: [`Error::Meta`].
    pub async fn trusted_keys(&self, project: &str) -> Result<Vec<TrustedKeyRow>> {
        Ok(self.meta.trusted_keys(project).await?)
    }

    /// Adds a trusted key to `project` and verifies the project's
    /// signatures again. Returns the key and the new verdicts. `pem` is a
    /// cosign public key (`PUBLIC KEY`), or a `CERTIFICATE` of the notation
    /// trust store (algorithm `x509-ca`) with the trust policy's
    /// `trusted_identities` (distinguished names, optionally prefixed
    /// `x509.subject:`; empty trusts any subject it vouches for).
    ///
    /// Errors: [`AccountError::NotFound`] without such a project,
    /// [`AccountError::Invalid`] for a bad name or key,
    /// [`AccountError::Conflict`] when the name is taken.
    pub async fn trusted_key_add(
        &self,
        project: &str,
        name: &str,
        pem: &str,
        trusted_identities: &[String],
    ) -> std::result::Result<(TrustedKeyRow, Vec<SignatureVerdict>), AccountError> {
        if self.meta.project_by_name(project).await?.is_none() {
            return Err(AccountError::NotFound(format!(
                "project {project} not found"
            )));
        }
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(AccountError::Invalid(format!(
                "key name {name:?}: use 1 to 64 letters, digits, '.', '_' or '-'"
            )));
        }
        let identities: Vec<String> = trusted_identities
            .iter()
            .map(|i| i.trim().to_string())
            .filter(|i| !i.is_empty())
            .collect();
        let (algorithm, fingerprint) = if pem.trim().starts_with("-----BEGIN CERTIFICATE-----") {
            let der = notation::certificate_from_pem(pem).map_err(AccountError::Invalid)?;
            if let Some(bad) = identities.iter().find(|i| !notation::identity_parses(i)) {
                return Err(AccountError::Invalid(format!(
                    "trusted identity {bad:?} is not a distinguished name such as \
                     \"x509.subject: C=US, O=Acme, CN=ci\""
                )));
            }
            (
                notation::TRUST_STORE_ALGORITHM.to_string(),
                crate::auth::secret::sha256_hex(&der),
            )
        } else {
            if !identities.is_empty() {
                return Err(AccountError::Invalid(
                    "trusted_identities apply to certificates (notation), not to cosign keys"
                        .into(),
                ));
            }
            let key = PublicKey::from_pem(pem).map_err(AccountError::Invalid)?;
            (key.algorithm.as_str().to_string(), key.fingerprint)
        };
        let row = self
            .meta
            .trusted_key_add(
                project,
                name,
                &algorithm,
                pem.trim(),
                &fingerprint,
                &identities,
            )
            .await?
            .ok_or_else(|| {
                AccountError::Conflict(format!("project {project} already has a key named {name}"))
            })?;
        Ok((row, self.verify_again_logged(project).await))
    }

    /// Removes trusted key `name` of `project` and verifies the project's
    /// signatures again. Returns the removed key and the new verdicts.
    ///
    /// Errors: [`AccountError::NotFound`] when there is no such key.
    pub async fn trusted_key_remove(
        &self,
        project: &str,
        name: &str,
    ) -> std::result::Result<(TrustedKeyRow, Vec<SignatureVerdict>), AccountError> {
        let row = self
            .meta
            .trusted_key_remove(project, name)
            .await?
            .ok_or_else(|| {
                AccountError::NotFound(format!("project {project} has no key named {name}"))
            })?;
        Ok((row, self.verify_again_logged(project).await))
    }

    /// [`Registry::signatures_verify_again`] after a key change, which has
    /// committed whatever happens here: a failure is logged (the verdicts
    /// are then those of the last check until the next key change).
    async fn verify_again_logged(&self, project: &str) -> Vec<SignatureVerdict> {
        self.signatures_verify_again(project)
            .await
            .unwrap_or_else(|e| {
                tracing::error!(project, error = %e, "could not verify the project's signatures again");
                Vec::new()
            })
    }

    /// Turns `switch` of `project` on or off: the signature pull gate
    /// (Harbor's `enable_content_trust_cosign`), its per-platform mode, or
    /// automatic SBOMs (Harbor's `auto_sbom_generation`). Every node's
    /// rules follow.
    ///
    /// Errors: [`AccountError::NotFound`] without such a project.
    pub async fn project_switch_set(
        &self,
        project: &str,
        switch: berth_meta::ProjectSwitch,
        on: bool,
    ) -> std::result::Result<(), AccountError> {
        if !self.meta.project_switch_set(project, switch, on).await? {
            return Err(AccountError::NotFound(format!(
                "project {project} not found"
            )));
        }
        self.forget_rules(project).await;
        Ok(())
    }

    /// Whether the signature gate of `project` wants every platform manifest
    /// signed.
    ///
    /// Errors: [`Error::Meta`].
    pub async fn signature_each_child(&self, project: &str) -> Result<bool> {
        Ok(self.project_rules(project).await?.signature_each_child)
    }

    /// Whether pulls from `project` need a verified signature.
    ///
    /// Errors: [`Error::Meta`].
    pub async fn require_signature(&self, project: &str) -> Result<bool> {
        Ok(self.project_rules(project).await?.require_signature)
    }

    /// The recorded signatures of `subject` in `repo` (those still stored).
    ///
    /// Errors: [`Error::Meta`].
    pub async fn signatures_of(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
    ) -> Result<Vec<SignatureRow>> {
        Ok(self
            .meta
            .signatures_of(repo.as_str(), subject.as_str())
            .await?)
    }

    async fn parsed_keys(&self, project: &str) -> Result<Vec<(String, PublicKey)>> {
        let mut out = Vec::new();
        for row in self.meta.trusted_keys(project).await? {
            if row.algorithm == notation::TRUST_STORE_ALGORITHM {
                continue;
            }
            match PublicKey::from_pem(&row.public_key) {
                Ok(k) => out.push((row.name, k)),
                Err(e) => {
                    tracing::error!(project, key = row.name, error = %e, "stored trusted key no longer parses; ignored")
                }
            }
        }
        Ok(out)
    }

    /// The certificates of `project`'s notation trust store.
    async fn trusted_certificates(&self, project: &str) -> Result<Vec<notation::TrustedCert>> {
        let mut out = Vec::new();
        for row in self.meta.trusted_keys(project).await? {
            if row.algorithm != notation::TRUST_STORE_ALGORITHM {
                continue;
            }
            match notation::certificate_from_pem(&row.public_key) {
                Ok(der) => out.push(notation::TrustedCert {
                    name: row.name,
                    der,
                    identities: row.trusted_identities,
                }),
                Err(e) => {
                    tracing::error!(project, key = row.name, error = %e, "stored trusted certificate no longer parses; ignored")
                }
            }
        }
        Ok(out)
    }

    /// Recognises a just-pushed manifest as a cosign signature and records
    /// the verdict. `None` when it is not a signature. Failures to read or
    /// record are logged: a push never fails for its signature's sake.
    pub(crate) async fn signature_check(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        body: &[u8],
        tag: Option<&str>,
    ) -> Option<SignatureVerdict> {
        let sig = Recognized::of(body, tag, None)?;
        match self.signature_verify(repo, digest, &sig).await {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::error!(repository = %repo, %digest, error = %e, "could not verify a signature");
                None
            }
        }
    }

    async fn signature_verify(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        sig: &Recognized,
    ) -> Result<SignatureVerdict> {
        let keys = self.parsed_keys(repo.project()).await?;
        let best = match sig {
            Recognized::Cosign(sig) => {
                let mut best = (SignatureStatus::Invalid, None, String::new());
                for p in &sig.payloads {
                    let verdict = match self
                        .small_blob(&p.digest, p.size, cosign::MAX_PAYLOAD)
                        .await?
                    {
                        Ok(bytes) => cosign::verify_payload(
                            &bytes,
                            p.signature.as_deref(),
                            &sig.subject,
                            &keys,
                        ),
                        Err(why) => (SignatureStatus::Invalid, None, why),
                    };
                    if best.2.is_empty() || verdict.0 > best.0 {
                        best = verdict;
                    }
                }
                best
            }
            Recognized::Attestation(a) => {
                let mut best = (SignatureStatus::Invalid, None, String::new());
                for e in &a.envelopes {
                    let verdict = match self
                        .small_blob(&e.digest, e.size, cosign::MAX_ENVELOPE)
                        .await?
                    {
                        Ok(bytes) => cosign::verify_attestation(&bytes, &a.subject, &keys),
                        Err(why) => (SignatureStatus::Invalid, None, why),
                    };
                    if best.2.is_empty() || verdict.0 > best.0 {
                        best = verdict;
                    }
                }
                best
            }
            Recognized::Bundle(b) => match self
                .small_blob(&b.layer, b.size, bundle::MAX_BUNDLE)
                .await?
            {
                Ok(bytes) => {
                    let manifest = self.blobs.read_all(&b.subject).await.ok();
                    bundle::verify(&bytes, &b.subject, manifest.as_deref(), &keys)
                }
                Err(why) => (SignatureStatus::Invalid, None, why),
            },
            Recognized::Notation(n) => match self
                .small_blob(&n.layer, n.size, notation::MAX_ENVELOPE)
                .await?
            {
                Ok(bytes) => {
                    let certs = self.trusted_certificates(repo.project()).await?;
                    let verify = if n.cose {
                        notation::verify_cose
                    } else {
                        notation::verify_jws
                    };
                    verify(
                        &bytes,
                        &n.subject,
                        &certs,
                        rustls::pki_types::UnixTime::now(),
                    )
                }
                Err(why) => (SignatureStatus::Invalid, None, why),
            },
        };
        let (status, key, detail) = best;
        self.meta
            .signature_record(&SignatureRow {
                repository: repo.to_string(),
                digest: digest.to_string(),
                subject: sig.subject().to_string(),
                format: sig.format().into(),
                status: status.as_str().into(),
                key_name: key.clone(),
                detail: detail.clone(),
                checked_at: berth_meta::store::now_ms(),
            })
            .await?;
        tracing::info!(repository = %repo, signature = %digest, subject = %sig.subject(), status = status.as_str(), detail, "signature checked");
        Ok(SignatureVerdict {
            repository: repo.to_string(),
            signature: digest.clone(),
            subject: sig.subject().clone(),
            status,
            key,
            detail,
        })
    }

    /// The bytes of a small blob named by a signature: `Ok(Err(why))` when
    /// it is over `limit` or not stored.
    async fn small_blob(
        &self,
        digest: &Digest,
        size: u64,
        limit: u64,
    ) -> Result<std::result::Result<bytes::Bytes, String>> {
        if size > limit {
            return Ok(Err(format!("{digest} is over {limit} bytes")));
        }
        match self.blobs.read_all(digest).await {
            Ok(b) => Ok(Ok(b)),
            Err(berth_storage::StorageError::NotFound) => {
                Ok(Err(format!("{digest} is not stored")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Verifies every recorded signature of `project` again (after its keys
    /// changed).
    ///
    /// Errors: [`Error::Meta`], [`Error::Storage`].
    pub async fn signatures_verify_again(&self, project: &str) -> Result<Vec<SignatureVerdict>> {
        let mut out = Vec::new();
        for row in self.meta.project_signatures(project).await? {
            let (Ok(repo), Ok(digest), Ok(subject)) = (
                RepositoryName::parse(&row.repository),
                Digest::parse(&row.digest),
                Digest::parse(&row.subject),
            ) else {
                continue;
            };
            let body = match self.blobs.read_all(&digest).await {
                Ok(b) => b,
                Err(berth_storage::StorageError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            };
            if let Some(sig) = Recognized::of(&body, None, Some(&subject)) {
                out.push(self.signature_verify(&repo, &digest, &sig).await?);
            }
        }
        Ok(out)
    }

    /// The project's pull gates for a manifest `GET` of `digest` (bytes
    /// `body`) from `repo`: the signature gate (below) when the project
    /// requires signatures, then the vulnerability gate
    /// ([`Registry::vuln_gate`]) when it refuses vulnerable or unscanned
    /// images. A project with neither costs one cached lookup.
    ///
    /// Errors: [`Error::PolicyDenied`] naming the policy, the digest and why.
    pub async fn pull_gate(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        body: &[u8],
    ) -> Result<()> {
        let rules = self.project_rules(repo.project()).await?;
        if rules.require_signature {
            self.signature_gate(repo, digest, body, rules.signature_each_child)
                .await?;
        }
        if rules.prevent_severity.is_some() || rules.deny_unscanned {
            self.vuln_gate(
                repo,
                digest,
                body,
                rules.prevent_severity,
                rules.deny_unscanned,
            )
            .await?;
        }
        Ok(())
    }

    /// The signature pull gate: passes when the manifest is an accessory,
    /// has a verified signature, or is a child of an image index of the
    /// repository that has one. With `each_child`, an index's signature
    /// covers nothing: a platform manifest needs its own, and an index
    /// passes when each of its platform manifests has one.
    ///
    /// Errors: [`Error::PolicyDenied`] naming the policy, the digest and why.
    async fn signature_gate(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        body: &[u8],
        each_child: bool,
    ) -> Result<()> {
        let project = repo.project();
        if cosign::is_accessory(body) {
            return Ok(());
        }
        if each_child {
            if let Some(children) = crate::sbom::index_children(body) {
                for child in &children {
                    if !self
                        .meta
                        .verified_signature(repo.as_str(), child.as_str())
                        .await?
                    {
                        return Err(Error::PolicyDenied(format!(
                            "pull refused by project {project}'s signature policy (enable_content_trust_cosign, signature_each_child): platform manifest {child} of index {digest} has no verified signature; sign each platform manifest with a key the project trusts (docs/supply-chain.md)"
                        )));
                    }
                }
                return Ok(());
            }
        }
        if self
            .meta
            .verified_signature(repo.as_str(), digest.as_str())
            .await?
        {
            return Ok(());
        }
        for parent in self
            .meta
            .parent_indexes(repo.as_str(), digest.as_str())
            .await?
            .into_iter()
            .filter(|_| !each_child)
        {
            if self.meta.verified_signature(repo.as_str(), &parent).await? {
                return Ok(());
            }
        }
        let recorded = self
            .meta
            .signatures_of(repo.as_str(), digest.as_str())
            .await?;
        let why = match recorded
            .iter()
            .find(|s| s.format != berth_meta::ATTESTATION_FORMAT)
        {
            None => "no signature".to_string(),
            Some(s) => format!(
                "no verified signature (signature {}: {}: {})",
                s.digest, s.status, s.detail
            ),
        };
        Err(Error::PolicyDenied(format!(
            "pull refused by project {project}'s signature policy (enable_content_trust_cosign): {digest} has {why}; sign it with a key the project trusts (docs/supply-chain.md)"
        )))
    }
}
