//! The cache size limit of a proxy project (docs/proxy.md, "Cache size
//! limit"): when the project's usage (as the quota counts it) passes its
//! limit, artifacts are evicted least recently pulled first until it fits.
//!
//! - An artifact is a manifest that is neither an index's child nor a
//!   referrer; it goes with its tags, the child manifests and referrers no
//!   other manifest names, and the blob links nothing else names. Its order
//!   is its last pull, else when it was stored.
//! - The most recently used artifact is never evicted, so a limit smaller
//!   than one image does not evict the image being pulled.
//! - Blob links no remaining manifest of the repository names go too, however
//!   recent: in a proxy project a blob is only ever a copy of upstream's, so a
//!   client that still needs one gets it fetched again.
//! - Eviction removes metadata only: the project's usage drops at once; the
//!   bytes are deleted by the next garbage collection, as for any deletion.
//! - An evicted artifact is fetched again from upstream on its next pull.

use berth_meta::store::now_ms;
use berth_oci::{Digest, Reference};

use crate::auth::AccountError;
use crate::error::Result;
use crate::registry::Registry;

/// Candidates read per query while evicting.
const BATCH: u32 = 100;

/// One eviction pass over a proxy project ([`Registry::proxy_evict`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eviction {
    /// Project name.
    pub project: String,
    /// The project's cache size limit, bytes.
    pub limit: u64,
    /// Usage before the pass, bytes.
    pub used_before: u64,
    /// Usage after the pass, bytes (above `limit` only when what is left is
    /// the most recently used artifact).
    pub used_after: u64,
    /// Evicted artifacts as `(repository, manifest digest)`.
    pub evicted: Vec<(String, Digest)>,
}

impl Registry {
    /// The cache size limit of proxy project `project`, bytes (`None`: none).
    ///
    /// Errors: [`Error::Meta`].
    pub async fn proxy_cache_limit(&self, project: &str) -> Result<Option<u64>> {
        Ok(self.meta.proxy_cache_limit(project).await?)
    }

    /// Sets (or with `None` removes) the cache size limit of proxy project
    /// `project`, and wakes eviction (see [`Registry::proxy_cache_filled`]).
    ///
    /// Errors: [`AccountError::NotFound`] without such a project,
    /// [`AccountError::Invalid`] when it is not a proxy project.
    pub async fn proxy_cache_limit_set(
        &self,
        project: &str,
        limit: Option<u64>,
    ) -> std::result::Result<(), AccountError> {
        if !self.meta.proxy_cache_limit_set(project, limit).await? {
            return Err(match self.meta.project_by_name(project).await? {
                None => AccountError::NotFound(format!("project {project} not found")),
                Some(_) => AccountError::Invalid(format!(
                    "project {project} is not a proxy project: a cache size limit applies to pull-through caches only (its storage is bounded by its quota)"
                )),
            });
        }
        self.proxy.filled.notify_one();
        Ok(())
    }

    /// Waits until a proxy project stored something fetched from upstream
    /// or a cache limit changed on this node (`berth serve` then runs
    /// [`Registry::proxy_evict_all`]).
    pub async fn proxy_cache_filled(&self) {
        self.proxy.filled.notified().await;
    }

    /// Evicts from every proxy project over its cache size limit. Failures
    /// are logged and skipped. Returns the passes that evicted something.
    pub async fn proxy_evict_all(&self) -> Vec<Eviction> {
        let limits = match self.meta.proxy_cache_limits().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "proxy cache eviction: could not read the limits");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (project, limit) in limits {
            match self.proxy_evict(&project, limit).await {
                Ok(e) if !e.evicted.is_empty() => out.push(e),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, project, "proxy cache eviction failed")
                }
            }
        }
        out
    }

    /// Evicts artifacts of `project`, least recently used first, until its
    /// usage is at most `limit` bytes (see the module docs for what is kept).
    ///
    /// Errors: [`Error::Meta`].
    pub async fn proxy_evict(&self, project: &str, limit: u64) -> Result<Eviction> {
        let used_before = self.meta.project_storage_used(project).await?;
        let mut pass = Eviction {
            project: project.to_string(),
            limit,
            used_before,
            used_after: used_before,
            evicted: Vec::new(),
        };
        if used_before <= limit {
            return Ok(pass);
        }
        let newest = self.meta.proxy_newest_artifact(project).await?;
        'outer: while pass.used_after > limit {
            let batch = self.meta.proxy_eviction_candidates(project, BATCH).await?;
            let mut progressed = false;
            for c in batch {
                if newest
                    .as_ref()
                    .is_some_and(|(r, d)| *r == c.repository && *d == c.digest)
                {
                    break 'outer;
                }
                let Some(gone) = self
                    .meta
                    .proxy_evict(&c.repository, &c.digest, now_ms() + 1)
                    .await?
                else {
                    continue;
                };
                progressed = true;
                for tag in &gone.tags {
                    self.forget(&c.repository, tag).await;
                }
                for d in &gone.manifests {
                    self.forget(&c.repository, &Reference::Digest(d.clone()).to_string())
                        .await;
                }
                tracing::info!(
                    project,
                    repository = %c.repository,
                    digest = %c.digest,
                    last_used_ms = c.last_used,
                    manifests = gone.manifests.len(),
                    tags = gone.tags.len(),
                    links = gone.links,
                    "proxy cache: evicted the least recently used artifact"
                );
                pass.evicted.push((c.repository, c.digest));
                pass.used_after = self.meta.project_storage_used(project).await?;
                if pass.used_after <= limit {
                    break 'outer;
                }
            }
            if !progressed {
                break;
            }
        }
        Ok(pass)
    }
}
