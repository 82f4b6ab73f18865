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

/// Repositories with more tags than this are listed straight from the
/// metadata store (its index makes each page cost the same at any size);
/// smaller ones are cached whole by [`TagListCache`].
pub const MAX_CACHED_TAGS: usize = 10_000;

/// Total bytes of tag names [`TagListCache`] keeps (over all repositories).
const TAG_LIST_BYTES: u64 = 16 * 1024 * 1024;

/// A repository's tags, sorted by byte order, as loaded at `at`.
#[derive(Debug)]
pub struct CachedTags {
    /// Every tag, ascending (byte order: distribution-spec §Listing Tags'
    /// lexical order).
    pub tags: Vec<String>,
    /// The repository had more than [`MAX_CACHED_TAGS`] tags: `tags` is empty
    /// and pages are read from the store.
    pub too_many: bool,
    at: Instant,
    /// The database's change stamp taken before the list was read (SQLite).
    stamp: Option<berth_meta::durable::ChangeStamp>,
}

impl CachedTags {
    /// Up to `limit` tags after `last` (exclusive), and whether more follow.
    pub fn page(&self, last: Option<&str>, limit: usize) -> (Vec<String>, bool) {
        let start = match last {
            Some(last) => self.tags.partition_point(|t| t.as_str() <= last),
            None => 0,
        };
        let rest = &self.tags[start..];
        let items = rest.iter().take(limit).cloned().collect();
        (items, rest.len() > limit)
    }
}

#[derive(Clone)]
struct ByNames;

impl Weighter<String, Arc<CachedTags>> for ByNames {
    fn weight(&self, key: &String, val: &Arc<CachedTags>) -> u64 {
        let names: usize = val.tags.iter().map(|t| t.len() + 24).sum();
        (key.len() + names + 64) as u64
    }
}

/// Whole tag lists of repositories, so walking `tags/list` page by page costs
/// a binary search per page instead of queries. Same consistency rules as
/// [`ManifestCache`] (it is invalidated by the same calls): a local change to
/// any reference of a repository drops its list at once, changes by another
/// process or node are seen within the TTL, and a list read across an
/// invalidation is not kept.
pub struct TagListCache {
    inner: Option<Cache<String, Arc<CachedTags>, ByNames>>,
    ttl: Duration,
    generation: std::sync::atomic::AtomicU64,
    write_lock: std::sync::Mutex<()>,
}

impl TagListCache {
    /// A cache with the manifest cache's settings (`max_bytes == 0` disables
    /// both).
    pub fn new(cfg: &CacheConfig) -> TagListCache {
        TagListCache {
            inner: (cfg.max_bytes > 0).then(|| Cache::with_weighter(1024, TAG_LIST_BYTES, ByNames)),
            ttl: cfg.ttl,
            generation: std::sync::atomic::AtomicU64::new(0),
            write_lock: std::sync::Mutex::new(()),
        }
    }

    /// Notes the current generation; pass it to [`put`](TagListCache::put).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(self.generation.load(std::sync::atomic::Ordering::Acquire))
    }

    /// Whether lists are cached at all.
    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The fresh list of `repo`, if any: younger than the TTL and read at
    /// the database's current change `stamp` (so a commit by another process,
    /// such as `berth retention run`, is seen at once on SQLite).
    pub fn get(
        &self,
        repo: &str,
        stamp: Option<berth_meta::durable::ChangeStamp>,
    ) -> Option<Arc<CachedTags>> {
        self.inner
            .as_ref()?
            .get(repo)
            .filter(|hit| hit.at.elapsed() < self.ttl && hit.stamp == stamp)
    }

    /// Remembers `tags` (any order) as `repo`'s list, read after `snapshot`
    /// and `stamp` were taken, unless something was invalidated since; a list
    /// longer than [`MAX_CACHED_TAGS`] is remembered as
    /// [`CachedTags::too_many`] only. Returns the entry.
    pub fn put(
        &self,
        snapshot: Snapshot,
        stamp: Option<berth_meta::durable::ChangeStamp>,
        repo: &str,
        mut tags: Vec<String>,
    ) -> Arc<CachedTags> {
        let too_many = tags.len() > MAX_CACHED_TAGS;
        if too_many {
            tags = Vec::new();
        }
        tags.sort_unstable();
        let entry = Arc::new(CachedTags {
            tags,
            too_many,
            at: Instant::now(),
            stamp,
        });
        if let Some(cache) = &self.inner {
            let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            if self.generation.load(std::sync::atomic::Ordering::Acquire) == snapshot.0 {
                cache.insert(repo.to_string(), entry.clone());
            }
        }
        entry
    }

    /// Forgets `repo`'s list.
    pub fn invalidate(&self, repo: &str) {
        if let Some(cache) = &self.inner {
            let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            cache.remove(repo);
        }
    }

    /// Forgets every list.
    pub fn clear(&self) {
        if let Some(cache) = &self.inner {
            let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            cache.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_oci::Algorithm;

    #[test]
    fn tag_pages_come_from_the_sorted_list_and_invalidation_drops_it() {
        let cache = TagListCache::new(&CacheConfig::default());
        let snap = cache.snapshot();
        let tags = ["b", "a", "c", "B", "a1"].map(String::from).to_vec();
        let list = cache.put(snap, None, "r", tags);
        assert_eq!(list.tags, ["B", "a", "a1", "b", "c"]);
        assert_eq!(
            cache.get("r", None).unwrap().page(None, 2),
            (vec!["B".to_string(), "a".to_string()], true)
        );
        assert_eq!(
            list.page(Some("a"), 2),
            (vec!["a1".to_string(), "b".to_string()], true)
        );
        assert_eq!(list.page(Some("b"), 2), (vec!["c".to_string()], false));
        assert_eq!(list.page(Some("a0"), 1), (vec!["a1".to_string()], true));
        assert_eq!(list.page(Some("z"), 5), (vec![], false));
        cache.invalidate("r");
        assert!(cache.get("r", None).is_none());

        // A list read before an invalidation is answered but not kept.
        let snap = cache.snapshot();
        cache.invalidate("other");
        cache.put(snap, None, "r", vec!["x".into()]);
        assert!(cache.get("r", None).is_none());

        // Too long to keep: only that is remembered.
        let many = (0..=MAX_CACHED_TAGS).map(|i| format!("t{i}")).collect();
        cache.put(cache.snapshot(), None, "big", many);
        let big = cache.get("big", None).unwrap();
        assert!(big.too_many && big.tags.is_empty());
    }

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
