//! Per-project storage quotas and usage. A project's usage is the sum of the
//! sizes of the distinct blobs (layers, configs, manifests) its repositories link
//! or hold as manifests: a blob shared by two repositories of a project counts once.

use berth_oci::Digest;
use sqlx::Row;

use crate::error::{MetaError, Result};
use crate::store::{now_ms, MetaStore};

/// Bytes used by the project `$1`.
const USAGE: &str = "SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM blobs b WHERE b.digest IN (
        SELECT l.digest FROM repo_blobs l JOIN repositories r ON r.id = l.repo_id WHERE r.project = $1
        UNION
        SELECT m.digest FROM manifests m JOIN repositories r ON r.id = m.repo_id WHERE r.project = $1)";

/// True when the project `$1` already holds the digest `$2`.
const HOLDS: &str = "SELECT 1 FROM repositories r WHERE r.project = $1 AND (
        EXISTS (SELECT 1 FROM repo_blobs l WHERE l.repo_id = r.id AND l.digest = $2)
     OR EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id AND m.digest = $2)) LIMIT 1";

/// Why [`MetaStore::link_blob_within_quota`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaExceeded {
    /// Bytes the project would use with the new blob.
    pub would_use: u64,
    /// The project's limit.
    pub limit: u64,
}

/// A project's usage figures (see [`MetaStore::project_usage`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectUsageRecord {
    /// Bytes used (each blob once).
    pub storage_bytes: u64,
    /// The quota stored for the project, if any (else the configured default applies).
    pub quota_bytes: Option<u64>,
    /// Repositories of the project.
    pub repositories: u64,
    /// Artifacts: manifests that are neither an index's child nor a referrer.
    pub artifacts: u64,
}

impl MetaStore {
    /// Bytes the project uses, each blob counted once.
    pub async fn project_storage_used(&self, project: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(USAGE)
            .bind(project)
            .fetch_one(&self.read)
            .await?;
        Ok(n as u64)
    }

    /// True when a repository of the project links the blob or holds it as a manifest.
    pub async fn project_holds_blob(&self, project: &str, digest: &Digest) -> Result<bool> {
        let hit: Option<i64> = sqlx::query_scalar(HOLDS)
            .bind(project)
            .bind(digest.as_str())
            .fetch_optional(&self.read)
            .await?;
        Ok(hit.is_some())
    }

    /// The quota stored for a project, in bytes.
    pub async fn project_quota(&self, project: &str) -> Result<Option<u64>> {
        let n: Option<i64> =
            sqlx::query_scalar("SELECT limit_bytes FROM project_quotas WHERE project = $1")
                .bind(project)
                .fetch_optional(&self.read)
                .await?;
        Ok(n.map(|n| n as u64))
    }

    /// Sets (`Some`) or removes (`None`: the configured default applies) a
    /// project's quota in bytes.
    pub async fn set_project_quota(&self, project: &str, limit: Option<u64>) -> Result<()> {
        match limit {
            Some(limit) => {
                self.write_one(sqlx::query(
                    "INSERT INTO project_quotas (project, limit_bytes, updated_at) VALUES ($1, $2, $3)
                     ON CONFLICT(project) DO UPDATE SET limit_bytes = excluded.limit_bytes,
                                                        updated_at = excluded.updated_at",
                )
                .bind(project)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .bind(now_ms()))
            .await?;
            }
            None => {
                self.write_one(
                    sqlx::query("DELETE FROM project_quotas WHERE project = $1").bind(project),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Like [`MetaStore::link_blob`], but in the same transaction refuses when the
    /// blob is new to the project and would take it past `limit` bytes (`None`:
    /// unlimited). Because the check and the link commit together, concurrent
    /// pushes can never overshoot the quota. The same transaction forgets the
    /// finished upload session `upload` and, on success, releases the commit's
    /// hold `(digest, holder)`, so an upload commit costs two transactions in all.
    #[allow(clippy::too_many_arguments)]
    pub async fn link_blob_within_quota(
        &self,
        repo: &str,
        project: &str,
        digest: &Digest,
        size: u64,
        limit: Option<u64>,
        upload: &str,
        holder: &str,
    ) -> Result<std::result::Result<(), QuotaExceeded>> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM upload_sessions WHERE id = $1")
            .bind(upload)
            .execute(&mut *tx)
            .await?;
        if let Some(limit) = limit {
            if let Some(would_use) =
                Self::would_exceed(&mut tx, project, digest, size, limit).await?
            {
                // Keep the session row deletion; the caller releases the hold.
                tx.commit().await?;
                return Ok(Err(QuotaExceeded { would_use, limit }));
            }
        }
        let repo_id = Self::ensure_repository(&mut tx, repo).await?;
        let now = now_ms();
        sqlx::query("INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT(digest) DO NOTHING")
            .bind(digest.as_str())
            .bind(size as i64)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO repo_blobs (repo_id, digest, linked_at) VALUES ($1, $2, $3)
             ON CONFLICT(repo_id, digest) DO UPDATE SET linked_at = excluded.linked_at",
        )
        .bind(repo_id)
        .bind(digest.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM blob_holds WHERE digest = $1 AND holder = $2")
            .bind(digest.as_str())
            .bind(holder)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// `Some(would_use)` when adding the blob to the project passes `limit`.
    async fn would_exceed(
        tx: &mut crate::durable::WriteTx,
        project: &str,
        digest: &Digest,
        size: u64,
        limit: u64,
    ) -> Result<Option<u64>> {
        let held: Option<i64> = sqlx::query_scalar(HOLDS)
            .bind(project)
            .bind(digest.as_str())
            .fetch_optional(&mut **tx)
            .await?;
        if held.is_some() {
            return Ok(None);
        }
        let used: i64 = sqlx::query_scalar(USAGE)
            .bind(project)
            .fetch_one(&mut **tx)
            .await?;
        let would_use = used as u64 + size;
        Ok((would_use > limit).then_some(would_use))
    }

    /// Storage used, stored quota, repository and artifact counts of a project.
    pub async fn project_usage(&self, project: &str) -> Result<ProjectUsageRecord> {
        let storage_bytes = self.project_storage_used(project).await?;
        let quota_bytes = self.project_quota(project).await?;
        let row = sqlx::query(
            "SELECT
               (SELECT COUNT(*) FROM repositories WHERE project = $1) AS repositories,
               (SELECT COUNT(*) FROM manifests m JOIN repositories r ON r.id = m.repo_id
                 WHERE r.project = $1 AND m.subject IS NULL
                   AND NOT EXISTS (SELECT 1 FROM manifest_refs f WHERE f.repo_id = m.repo_id
                                   AND f.kind = 'manifest' AND f.child_digest = m.digest)) AS artifacts",
        )
        .bind(project)
        .fetch_one(&self.read)
        .await
        .map_err(MetaError::from)?;
        Ok(ProjectUsageRecord {
            storage_bytes,
            quota_bytes,
            repositories: row.get::<i64, _>("repositories") as u64,
            artifacts: row.get::<i64, _>("artifacts") as u64,
        })
    }
}
