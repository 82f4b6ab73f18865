//! Hot manifests in memory, so `GET`/`HEAD /v2/<name>/manifests/<ref>` — the most
//! frequent request a registry serves — usually costs one hash lookup and no I/O.
//!
//! Keyed by `(repository, reference)` where the reference is the tag or digest
//! text the client used. Entries are weighed by their size in bytes and evicted
//! (S3-FIFO, `quick_cache`) beyond [`CacheConfig::max_bytes`].
//!
//! Consistency: every local change to what a reference means invalidates it
//! right away (a tag moved or deleted: that tag; a manifest deleted: its digest and
//! every tag that pointed at it). Changes made by another process or node are
//! seen after at most [`CacheConfig::ttl`], the age after which an entry is
//! re-validated against the metadata store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_oci::Digest;
use bytes::Bytes;
use quick_cache::sync::Cache;
use quick_cache::Weighter;

/// Cache settings.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Total bytes of manifests kept (default 64 MiB; 0 disables the cache).
    pub max_bytes: u64,
    /// Age after which an entry is checked again (default 2 s).
    pub ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_bytes: 64 * 1024 * 1024,
            ttl: Duration::from_secs(2),
        }
    }
}

/// A cached manifest.
#[derive(Debug)]
pub struct CachedManifest {
    /// Digest.
    pub digest: Digest,
    /// Media type.
    pub media_type: String,
    /// The bytes.
    pub body: Bytes,
    at: Instant,
}

#[derive(Clone)]
struct ByLen;

impl Weighter<(String, String), Arc<CachedManifest>> for ByLen {
    fn weight(&self, key: &(String, String), val: &Arc<CachedManifest>) -> u64 {
        (key.0.len() + key.1.len() + val.body.len() + val.media_type.len() + 128) as u64
    }
}

/// The manifest cache.
pub struct ManifestCache {
    inner: Option<Cache<(String, String), Arc<CachedManifest>, ByLen>>,
    ttl: Duration,
    /// Bumped by every invalidation. A reader that missed notes it before asking
    /// the metadata store and inserts only if it has not moved, so an answer read
    /// before a concurrent change can never be cached after that change's
    /// invalidation.
    generation: std::sync::atomic::AtomicU64,
    /// Orders "check generation + insert" against "bump + remove".
    write_lock: std::sync::Mutex<()>,
}

/// A generation snapshot taken by a reader before it consults the metadata store.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot(u64);

impl ManifestCache {
    /// A cache with the given settings.
    pub fn new(cfg: &CacheConfig) -> ManifestCache {
        let inner = (cfg.max_bytes > 0).then(|| {
            // Estimated item count for sizing: typical manifests are ~1-2 KiB.
            let items = (cfg.max_bytes / 2048).clamp(16, 1 << 20) as usize;
            Cache::with_weighter(items, cfg.max_bytes, ByLen)
        });
        ManifestCache {
            inner,
            ttl: cfg.ttl,
            generation: std::sync::atomic::AtomicU64::new(0),
            write_lock: std::sync::Mutex::new(()),
        }
    }

    /// Notes the current generation; pass it to [`put`](ManifestCache::put).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(self.generation.load(std::sync::atomic::Ordering::Acquire))
    }

    /// The fresh entry for `(repo, reference)`, if any.
    pub fn get(&self, repo: &str, reference: &str) -> Option<Arc<CachedManifest>> {
        let cache = self.inner.as_ref()?;
        let hit = cache
            .get(&(repo.to_string(), reference.to_string()))
            .filter(|hit| hit.at.elapsed() < self.ttl);
        let result = if hit.is_some() { "hit" } else { "miss" };
        metrics::counter!(crate::metrics::MANIFEST_CACHE, "result" => result).increment(1);
        hit
    }

    /// Remembers what `(repo, reference)` resolves to, unless something was
    /// invalidated since `snapshot` was taken.
    pub fn put(
        &self,
        snapshot: Snapshot,
        repo: &str,
        reference: &str,
        digest: Digest,
        media_type: String,
        body: Bytes,
    ) {
        if let Some(cache) = &self.inner {
            let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            if self.generation.load(std::sync::atomic::Ordering::Acquire) != snapshot.0 {
                return;
            }
            let entry = Arc::new(CachedManifest {
                digest,
                media_type,
                body,
                at: Instant::now(),
            });
            cache.insert((repo.to_string(), reference.to_string()), entry);
        }
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        if let Some(cache) = &self.inner {
            let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            cache.clear();
        }
    }

    /// Forgets `(repo, reference)`.
    pub fn invalidate(&self, repo: &str, reference: &str) {
        if let Some(cache) = &self.inner {
            let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            cache.remove(&(repo.to_string(), reference.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_oci::Algorithm;

    #[test]
    fn entries_expire_after_the_ttl_and_can_be_invalidated() {
        let cache = ManifestCache::new(&CacheConfig {
            max_bytes: 1 << 20,
            ttl: Duration::from_millis(50),
        });
        let d = Digest::of(Algorithm::Sha256, b"m");
        cache.put(
            cache.snapshot(),
            "r",
            "v1",
            d.clone(),
            "t".into(),
            Bytes::from_static(b"m"),
        );
        assert_eq!(cache.get("r", "v1").unwrap().digest, d);
        cache.invalidate("r", "v1");
        assert!(cache.get("r", "v1").is_none());
        cache.put(
            cache.snapshot(),
            "r",
            "v1",
            d,
            "t".into(),
            Bytes::from_static(b"m"),
        );
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get("r", "v1").is_none());
    }

    #[test]
    fn zero_bytes_disables_the_cache() {
        let cache = ManifestCache::new(&CacheConfig {
            max_bytes: 0,
            ttl: Duration::from_secs(1),
        });
        cache.put(
            cache.snapshot(),
            "r",
            "v1",
            Digest::of(Algorithm::Sha256, b"m"),
            "t".into(),
            Bytes::new(),
        );
        assert!(cache.get("r", "v1").is_none());
    }

    #[test]
    fn an_answer_read_before_an_invalidation_is_not_cached() {
        let cache = ManifestCache::new(&CacheConfig::default());
        let before = cache.snapshot();
        cache.invalidate("r", "v1"); // a concurrent tag move
        cache.put(
            before,
            "r",
            "v1",
            Digest::of(Algorithm::Sha256, b"old"),
            "t".into(),
            Bytes::new(),
        );
        assert!(cache.get("r", "v1").is_none());
    }
}
