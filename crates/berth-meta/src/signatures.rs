//! Trusted signing keys per project (`trusted_keys`) and the verdict on each
//! signature manifest (`signatures`), migration 12 (the pull gate's switches
//! are in [`crate::switches`]). The rules live in
//! `berth_registry::signing`; this module stores the rows.

use sqlx::Row;

use crate::error::Result;
use crate::store::now_ms;
use crate::MetaStore;

/// `signatures.format` of a cosign attestation (an in-toto statement in a
/// DSSE envelope, `cosign attest`). Recorded and verified like a
/// signature, it never satisfies the signature pull gate.
pub const ATTESTATION_FORMAT: &str = "cosign-attestation";

/// A public key a project trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKeyRow {
    /// Row id.
    pub id: i64,
    /// Project name.
    pub project: String,
    /// Name, unique in the project.
    pub name: String,
    /// `ecdsa-p256`, `ed25519` or `rsa` (cosign keys), or `x509-ca` (a
    /// certificate of the notation trust store).
    pub algorithm: String,
    /// The key as PEM (`-----BEGIN PUBLIC KEY-----`, or `-----BEGIN
    /// CERTIFICATE-----` for `x509-ca`).
    pub public_key: String,
    /// Hex SHA-256 of the DER key (of the DER certificate for `x509-ca`).
    pub fingerprint: String,
    /// Unix ms.
    pub created_at: i64,
    /// For `x509-ca`: the trust policy's identities (distinguished names a
    /// leaf's subject must match), one per line; empty trusts any subject.
    pub trusted_identities: Vec<String>,
}

/// The recorded verdict on one signature manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRow {
    /// Repository holding the signature (and its subject).
    pub repository: String,
    /// The signature manifest's digest.
    pub digest: String,
    /// The signed manifest's digest.
    pub subject: String,
    /// `cosign`, `sigstore-bundle`, `notation` or [`ATTESTATION_FORMAT`].
    pub format: String,
    /// `verified`, `failed`, `unknown_key` or `invalid`.
    pub status: String,
    /// The trusted key that verified it.
    pub key_name: Option<String>,
    /// Why, in words.
    pub detail: String,
    /// When it was checked (Unix ms).
    pub checked_at: i64,
}

fn key_row(r: sqlx::any::AnyRow) -> TrustedKeyRow {
    TrustedKeyRow {
        id: r.get("id"),
        project: r.get("project"),
        name: r.get("name"),
        algorithm: r.get("algorithm"),
        public_key: r.get("public_key"),
        fingerprint: r.get("fingerprint"),
        created_at: r.get("created_at"),
        trusted_identities: r
            .get::<String, _>("trusted_identities")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect(),
    }
}

fn signature_row(r: sqlx::any::AnyRow) -> SignatureRow {
    SignatureRow {
        repository: r.get("repository"),
        digest: r.get("digest"),
        subject: r.get("subject"),
        format: r.get("format"),
        status: r.get("status"),
        key_name: r.get("key_name"),
        detail: r.get("detail"),
        checked_at: r.get("checked_at"),
    }
}

/// Rows (aliased `s`, with `repository` and `digest` columns: signatures,
/// scan tasks) whose manifest still exists.
pub(crate) const LIVE: &str =
    "EXISTS (SELECT 1 FROM manifests m JOIN repositories r ON r.id = m.repo_id
                            WHERE r.name = s.repository AND m.digest = s.digest)";

impl MetaStore {
    /// The keys project `project` trusts, by name.
    pub async fn trusted_keys(&self, project: &str) -> Result<Vec<TrustedKeyRow>> {
        let rows = sqlx::query("SELECT * FROM trusted_keys WHERE project = $1 ORDER BY name")
            .bind(project)
            .fetch_all(&self.read)
            .await?;
        Ok(rows.into_iter().map(key_row).collect())
    }

    /// Adds a trusted key. `None` when the project already has a key of that
    /// name.
    pub async fn trusted_key_add(
        &self,
        project: &str,
        name: &str,
        algorithm: &str,
        public_key: &str,
        fingerprint: &str,
        trusted_identities: &[String],
    ) -> Result<Option<TrustedKeyRow>> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "INSERT INTO trusted_keys (project, name, algorithm, public_key, fingerprint, created_at,
                                       trusted_identities)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (project, name) DO NOTHING
             RETURNING *",
        )
        .bind(project)
        .bind(name)
        .bind(algorithm)
        .bind(public_key)
        .bind(fingerprint)
        .bind(now_ms())
        .bind(trusted_identities.join("\n"))
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(key_row))
    }

    /// Removes trusted key `name` of `project`; returns it (`None` when
    /// absent).
    pub async fn trusted_key_remove(
        &self,
        project: &str,
        name: &str,
    ) -> Result<Option<TrustedKeyRow>> {
        let mut tx = self.begin().await?;
        let row =
            sqlx::query("DELETE FROM trusted_keys WHERE project = $1 AND name = $2 RETURNING *")
                .bind(project)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(row.map(key_row))
    }

    /// Records (or replaces) the verdict on a signature manifest.
    pub async fn signature_record(&self, s: &SignatureRow) -> Result<()> {
        self.write_one(
            sqlx::query(
                "INSERT INTO signatures (repository, digest, subject, format, status, key_name, detail, checked_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (repository, digest) DO UPDATE SET subject = excluded.subject,
                   format = excluded.format, status = excluded.status, key_name = excluded.key_name,
                   detail = excluded.detail, checked_at = excluded.checked_at",
            )
            .bind(s.repository.clone())
            .bind(s.digest.clone())
            .bind(s.subject.clone())
            .bind(s.format.clone())
            .bind(s.status.clone())
            .bind(s.key_name.clone())
            .bind(s.detail.clone())
            .bind(s.checked_at),
        )
        .await?;
        Ok(())
    }

    /// The signatures of `subject` in `repository` whose manifests still
    /// exist, newest check first.
    pub async fn signatures_of(
        &self,
        repository: &str,
        subject: &str,
    ) -> Result<Vec<SignatureRow>> {
        let sql = format!(
            "SELECT * FROM signatures s WHERE s.repository = $1 AND s.subject = $2 AND {LIVE}
             ORDER BY s.checked_at DESC, s.digest"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(repository)
            .bind(subject)
            .fetch_all(&self.read)
            .await?;
        Ok(rows.into_iter().map(signature_row).collect())
    }

    /// The signatures recorded in the repositories of `project` whose
    /// manifests still exist (to verify again when its keys change).
    pub async fn project_signatures(&self, project: &str) -> Result<Vec<SignatureRow>> {
        let sql = format!(
            "SELECT * FROM signatures s WHERE {LIVE} AND s.repository IN
               (SELECT name FROM repositories WHERE project = $1)
             ORDER BY s.repository, s.digest"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(project)
            .fetch_all(&self.read)
            .await?;
        Ok(rows.into_iter().map(signature_row).collect())
    }

    /// True when `subject` of `repository` has a verified signature whose
    /// manifest still exists. Attestations ([`ATTESTATION_FORMAT`]) do not
    /// count: they say something about the image, not that it is signed.
    pub async fn verified_signature(&self, repository: &str, subject: &str) -> Result<bool> {
        let sql = format!(
            "SELECT 1 FROM signatures s WHERE s.repository = $1 AND s.subject = $2
               AND s.status = 'verified' AND s.format <> '{ATTESTATION_FORMAT}' AND {LIVE} LIMIT 1"
        );
        let hit: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(repository)
            .bind(subject)
            .fetch_optional(&self.read)
            .await?;
        Ok(hit.is_some())
    }

    /// The image indexes of `repository` that name `child` as a manifest.
    pub async fn parent_indexes(&self, repository: &str, child: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT f.manifest_digest FROM manifest_refs f JOIN repositories r ON r.id = f.repo_id
             WHERE r.name = $1 AND f.child_digest = $2 AND f.kind = 'manifest'",
        )
        .bind(repository)
        .bind(child)
        .fetch_all(&self.read)
        .await?)
    }

    /// The tags of `repository` that point at `digest`, by name.
    pub async fn tags_on(&self, repository: &str, digest: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repo_id
             WHERE r.name = $1 AND t.digest = $2 ORDER BY t.name",
        )
        .bind(repository)
        .bind(digest)
        .fetch_all(&self.read)
        .await?)
    }
}
