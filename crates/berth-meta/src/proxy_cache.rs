//! The cache size limit of proxy projects (`projects.proxy_cache_limit`,
//! migration 11) and the rows least-recently-used eviction reads and deletes.
//! The rules (when to evict, what to keep) live in
//! `berth_registry::proxy::eviction`; this module stores the rows.

use sqlx::Row;

use crate::error::Result;
use crate::store::{digest_col, now_ms};
use crate::MetaStore;
use berth_oci::Digest;

/// An artifact of a proxy project eviction may remove: a manifest that is
/// neither an index's child nor a referrer (those go with their index or
/// subject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvictionCandidate {
    /// Repository name.
    pub repository: String,
    /// Manifest digest.
    pub digest: Digest,
    /// Last pull, else when it was stored (Unix ms): the LRU order.
    pub last_used: i64,
}

/// What [`MetaStore::proxy_evict`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evicted {
    /// The artifact's manifest, its index children and referrers (those no
    /// other manifest of the repository still names).
    pub manifests: Vec<Digest>,
    /// Tags that pointed at them.
    pub tags: Vec<String>,
    /// Blob links of the repository no remaining manifest names.
    pub links: u64,
}

impl MetaStore {
    /// Proxy projects with a cache size limit, as `(project, bytes)`.
    pub async fn proxy_cache_limits(&self) -> Result<Vec<(String, u64)>> {
        let rows = sqlx::query(
            "SELECT name, proxy_cache_limit FROM projects
             WHERE registry_id IS NOT NULL AND proxy_cache_limit IS NOT NULL ORDER BY name",
        )
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let limit: i64 = r.get("proxy_cache_limit");
                (r.get("name"), limit.max(0) as u64)
            })
            .collect())
    }

    /// Project `project`'s cache size limit in bytes (`None`: none, or no
    /// such project).
    pub async fn proxy_cache_limit(&self, project: &str) -> Result<Option<u64>> {
        let limit: Option<Option<i64>> =
            sqlx::query_scalar("SELECT proxy_cache_limit FROM projects WHERE name = $1")
                .bind(project)
                .fetch_optional(&self.read)
                .await?;
        Ok(limit.flatten().map(|n| n.max(0) as u64))
    }

    /// Sets (or with `None` removes) the cache size limit of proxy project
    /// `project`. Returns false when no proxy project has that name.
    pub async fn proxy_cache_limit_set(&self, project: &str, limit: Option<u64>) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query(
                    "UPDATE projects SET proxy_cache_limit = $1, updated_at = $2
                     WHERE name = $3 AND registry_id IS NOT NULL",
                )
                .bind(limit.map(|n| n.min(i64::MAX as u64) as i64))
                .bind(now_ms())
                .bind(project.to_string()),
            )
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Up to `limit` eviction candidates of `project`, least recently used
    /// first (ties by repository and digest, so the order is stable).
    pub async fn proxy_eviction_candidates(
        &self,
        project: &str,
        limit: u32,
    ) -> Result<Vec<EvictionCandidate>> {
        let rows = sqlx::query(
            "SELECT r.name AS repository, m.digest,
                    COALESCE(m.last_pulled_at, m.pushed_at) AS last_used
             FROM manifests m JOIN repositories r ON r.id = m.repo_id
             WHERE r.project = $1 AND m.subject IS NULL
               AND NOT EXISTS (SELECT 1 FROM manifest_refs f
                               WHERE f.repo_id = m.repo_id AND f.child_digest = m.digest
                                 AND f.kind = 'manifest')
             ORDER BY last_used, r.name, m.digest
             LIMIT $2",
        )
        .bind(project)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(EvictionCandidate {
                    repository: r.get("repository"),
                    digest: digest_col(r.get("digest"))?,
                    last_used: r.get("last_used"),
                })
            })
            .collect()
    }

    /// The most recently used eviction candidate of `project` (eviction
    /// keeps it, so a limit below one image does not evict the image being
    /// pulled).
    pub async fn proxy_newest_artifact(&self, project: &str) -> Result<Option<(String, Digest)>> {
        let row = sqlx::query(
            "SELECT r.name AS repository, m.digest
             FROM manifests m JOIN repositories r ON r.id = m.repo_id
             WHERE r.project = $1 AND m.subject IS NULL
               AND NOT EXISTS (SELECT 1 FROM manifest_refs f
                               WHERE f.repo_id = m.repo_id AND f.child_digest = m.digest
                                 AND f.kind = 'manifest')
             ORDER BY COALESCE(m.last_pulled_at, m.pushed_at) DESC, r.name DESC, m.digest DESC
             LIMIT 1",
        )
        .bind(project)
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| Ok((r.get("repository"), digest_col(r.get("digest"))?)))
            .transpose()
    }

    /// Evicts one artifact of a proxy project in one transaction: the
    /// manifest `digest` of `repository` with its tags; then, transitively,
    /// its child manifests and referrers that no remaining manifest of the
    /// repository names; then the repository's blob links no remaining
    /// manifest names and linked before `links_before` (Unix ms; later links
    /// may belong to a fetch in progress). The bytes stay for garbage
    /// collection. `None` when the manifest was already gone.
    pub async fn proxy_evict(
        &self,
        repository: &str,
        digest: &Digest,
        links_before: i64,
    ) -> Result<Option<Evicted>> {
        let mut tx = self.begin().await?;
        let repo_id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM repositories WHERE name = $1")
                .bind(repository)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(repo_id) = repo_id else {
            return Ok(None);
        };
        let mut out = Evicted::default();
        let mut queue = vec![digest.to_string()];
        let mut first = true;
        while let Some(d) = queue.pop() {
            if !first {
                // A child or referrer another manifest still names stays.
                let named: Option<i64> = sqlx::query_scalar(
                    "SELECT 1 FROM manifest_refs WHERE repo_id = $1 AND child_digest = $2 AND kind = 'manifest' LIMIT 1",
                )
                .bind(repo_id)
                .bind(&d)
                .fetch_optional(&mut *tx)
                .await?;
                if named.is_some() {
                    continue;
                }
            }
            let children: Vec<String> = sqlx::query_scalar(
                "SELECT child_digest FROM manifest_refs WHERE repo_id = $1 AND manifest_digest = $2 AND kind = 'manifest'",
            )
            .bind(repo_id)
            .bind(&d)
            .fetch_all(&mut *tx)
            .await?;
            let referrers: Vec<String> = sqlx::query_scalar(
                "SELECT digest FROM manifests WHERE repo_id = $1 AND subject = $2",
            )
            .bind(repo_id)
            .bind(&d)
            .fetch_all(&mut *tx)
            .await?;
            let tags: Vec<String> =
                sqlx::query_scalar("SELECT name FROM tags WHERE repo_id = $1 AND digest = $2")
                    .bind(repo_id)
                    .bind(&d)
                    .fetch_all(&mut *tx)
                    .await?;
            let n = sqlx::query("DELETE FROM manifests WHERE repo_id = $1 AND digest = $2")
                .bind(repo_id)
                .bind(&d)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                if first {
                    return Ok(None);
                }
                continue;
            }
            first = false;
            for tag in &tags {
                sqlx::query("DELETE FROM proxy_tags WHERE repository = $1 AND tag = $2")
                    .bind(repository)
                    .bind(tag)
                    .execute(&mut *tx)
                    .await?;
            }
            out.manifests.push(digest_col(d)?);
            out.tags.extend(tags);
            queue.extend(children);
            queue.extend(referrers);
        }
        out.links = sqlx::query(
            "DELETE FROM repo_blobs WHERE repo_id = $1 AND linked_at < $2
             AND NOT EXISTS (SELECT 1 FROM manifest_refs f
                             WHERE f.repo_id = repo_blobs.repo_id AND f.child_digest = repo_blobs.digest)",
        )
        .bind(repo_id)
        .bind(links_before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(Some(out))
    }
}
