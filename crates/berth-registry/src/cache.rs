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

/// Repositories with more tags than this are not cached whole by
/// [`TagListCache`]: it keeps a *window* of consecutive tags of theirs instead
/// (see [`CachedTags::window_page`]), read from the metadata store's index, so
/// a page costs the same at any size.
pub const MAX_CACHED_TAGS: usize = 10_000;

/// Total bytes of tag names [`TagListCache`] keeps (over all repositories).
const TAG_LIST_BYTES: u64 = 16 * 1024 * 1024;

/// A repository's tags, sorted by byte order, as loaded at `at`.
#[derive(Debug)]
pub struct CachedTags {
    /// Every tag, ascending (byte order: distribution-spec §Listing Tags'
    /// lexical order).
    pub tags: Vec<String>,
    /// The repository had more than [`MAX_CACHED_TAGS`] tags (or the cache's
    /// own limit): `tags` is empty and pages come from `window` or the store.
    pub too_many: bool,
    /// For a repository with too many tags: the consecutive run of its tags
    /// read last.
    window: Option<TagWindow>,
    /// The repository's tag list version read with the list
    /// (`MetaStore::list_tags_versioned`); -1: unknown, never confirmed.
    version: i64,
    /// When the list was last known current, and the database's change stamp
    /// taken before that (SQLite).
    checked: std::sync::Mutex<Checked>,
}

#[derive(Debug, Clone, Copy)]
struct Checked {
    at: Instant,
    stamp: Option<berth_meta::durable::ChangeStamp>,
}

/// What [`TagListCache::get`] found for a repository.
#[derive(Debug)]
pub enum TagLookup {
    /// Current: younger than the TTL and read at the database's current
    /// change stamp.
    Fresh(Arc<CachedTags>),
    /// Older than the TTL, or read before another commit (of anything):
    /// usable once [`CachedTags::version`] is confirmed against the store
    /// ([`CachedTags::confirm`]).
    Stale(Arc<CachedTags>),
    /// Nothing cached.
    Miss,
}

/// Consecutive tags of one repository as the store returned them: every tag
/// after `after` up to the last of `names` (ascending), and, when `end`, no
/// tag after that.
#[derive(Debug)]
struct TagWindow {
    after: String,
    names: Vec<String>,
    end: bool,
}

impl CachedTags {
    /// The repository's tag list version the list was read at.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// Marks the list current as of `at` and `stamp` (taken before the store
    /// confirmed its version): the next lookups find it fresh again.
    pub fn confirm(&self, at: Instant, stamp: Option<berth_meta::durable::ChangeStamp>) {
        let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        *checked = Checked { at, stamp };
    }

    fn checked(&self) -> Checked {
        *self.checked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// For a repository with too many tags to cache whole: the page of up to
    /// `limit` tags after `last` (exclusive) and whether more follow, when the
    /// window holds it; `None` when the store must be asked.
    pub fn window_page(&self, last: Option<&str>, limit: usize) -> Option<(Vec<String>, bool)> {
        let w = self.window.as_ref()?;
        let last = last.unwrap_or("");
        if last < w.after.as_str() {
            return None;
        }
        let start = w.names.partition_point(|t| t.as_str() <= last);
        let rest = &w.names[start..];
        if rest.len() > limit {
            Some((rest[..limit].to_vec(), true))
        } else if w.end {
            Some((rest.to_vec(), false))
        } else {
            None
        }
    }

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
        let window = val.window.iter().flat_map(|w| w.names.iter());
        let names: usize = val.tags.iter().chain(window).map(|t| t.len() + 24).sum();
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
    /// Lists longer than this are windowed ([`MAX_CACHED_TAGS`]).
    max_whole: usize,
    /// Lists and windows read from the store (tests).
    loads: std::sync::atomic::AtomicU64,
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
            max_whole: MAX_CACHED_TAGS,
            loads: std::sync::atomic::AtomicU64::new(0),
            generation: std::sync::atomic::AtomicU64::new(0),
            write_lock: std::sync::Mutex::new(()),
        }
    }

    /// Windows lists longer than `max_whole` (tests; default
    /// [`MAX_CACHED_TAGS`]).
    pub fn set_max_whole(&mut self, max_whole: usize) {
        self.max_whole = max_whole.max(1);
    }

    /// How many lists and windows were read from the store and offered to
    /// the cache.
    pub fn loads(&self) -> u64 {
        self.loads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many tags to read whole before deciding a list is windowed: one
    /// more than the longest list cached whole.
    pub fn whole_read_len(&self) -> usize {
        self.max_whole + 1
    }

    /// How many tags a window read from the store holds for pages of `limit`:
    /// ten pages, at least one page and one more tag, at most the longest
    /// list cached whole.
    pub fn window_len(&self, limit: usize) -> usize {
        let min = limit.saturating_add(1);
        limit.saturating_mul(10).clamp(min, self.max_whole.max(min))
    }

    /// Whether `repo`'s last list, fresh or not, was too long to cache whole:
    /// then a miss reads a window, not [`whole_read_len`](Self::whole_read_len)
    /// tags.
    pub fn known_too_many(&self, repo: &str) -> bool {
        self.inner
            .as_ref()
            .and_then(|c| c.get(repo))
            .is_some_and(|hit| hit.too_many)
    }

    /// Notes the current generation; pass it to [`put`](TagListCache::put).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(self.generation.load(std::sync::atomic::Ordering::Acquire))
    }

    /// Whether lists are cached at all.
    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The list of `repo`: [`TagLookup::Fresh`] when younger than the TTL
    /// and read at the database's current change `stamp` (so a commit by
    /// another process, such as `berth retention run`, is noticed at once on
    /// SQLite), [`TagLookup::Stale`] when it must be confirmed first.
    pub fn get(&self, repo: &str, stamp: Option<berth_meta::durable::ChangeStamp>) -> TagLookup {
        let Some(hit) = self.inner.as_ref().and_then(|c| c.get(repo)) else {
            return TagLookup::Miss;
        };
        let checked = hit.checked();
        if checked.at.elapsed() < self.ttl && checked.stamp == stamp {
            TagLookup::Fresh(hit)
        } else {
            TagLookup::Stale(hit)
        }
    }

    /// Remembers `tags` (any order) as `repo`'s list, read after `snapshot`
    /// and `stamp` were taken, unless something was invalidated since; a list
    /// longer than [`MAX_CACHED_TAGS`] is remembered as
    /// [`CachedTags::too_many`], with its first tags as the window (the read
    /// was the repository's first [`whole_read_len`](Self::whole_read_len)
    /// tags). Returns the entry.
    pub fn put(
        &self,
        snapshot: Snapshot,
        stamp: Option<berth_meta::durable::ChangeStamp>,
        repo: &str,
        version: i64,
        mut tags: Vec<String>,
    ) -> Arc<CachedTags> {
        tags.sort_unstable();
        if tags.len() > self.max_whole {
            tags.truncate(self.max_whole);
            return self.put_window(snapshot, stamp, repo, version, "", tags, false);
        }
        self.insert(
            snapshot,
            repo,
            CachedTags {
                tags,
                too_many: false,
                window: None,
                version,
                checked: std::sync::Mutex::new(Checked {
                    at: Instant::now(),
                    stamp,
                }),
            },
        )
    }

    /// Remembers the window of a repository with too many tags: `names`
    /// (ascending) are every tag after `after` up to the last of them, and
    /// `end` says none follows; read after `snapshot` and `stamp` were taken.
    /// Returns the entry.
    #[allow(clippy::too_many_arguments)]
    pub fn put_window(
        &self,
        snapshot: Snapshot,
        stamp: Option<berth_meta::durable::ChangeStamp>,
        repo: &str,
        version: i64,
        after: &str,
        names: Vec<String>,
        end: bool,
    ) -> Arc<CachedTags> {
        self.insert(
            snapshot,
            repo,
            CachedTags {
                tags: Vec::new(),
                too_many: true,
                window: Some(TagWindow {
                    after: after.to_string(),
                    names,
                    end,
                }),
                version,
                checked: std::sync::Mutex::new(Checked {
                    at: Instant::now(),
                    stamp,
                }),
            },
        )
    }

    fn insert(&self, snapshot: Snapshot, repo: &str, entry: CachedTags) -> Arc<CachedTags> {
        self.loads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let entry = Arc::new(entry);
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

    fn fresh(cache: &TagListCache, repo: &str) -> Option<Arc<CachedTags>> {
        match cache.get(repo, None) {
            TagLookup::Fresh(list) => Some(list),
            _ => None,
        }
    }

    #[test]
    fn a_list_older_than_the_ttl_is_stale_until_confirmed() {
        let cache = TagListCache::new(&CacheConfig {
            max_bytes: 1 << 20,
            ttl: Duration::from_millis(30),
        });
        cache.put(cache.snapshot(), None, "r", 7, vec!["a".into()]);
        assert_eq!(fresh(&cache, "r").unwrap().version(), 7);
        std::thread::sleep(Duration::from_millis(40));
        let TagLookup::Stale(list) = cache.get("r", None) else {
            panic!("an expired list is not fresh");
        };
        list.confirm(Instant::now(), None);
        assert!(fresh(&cache, "r").is_some(), "confirmed in place");
        assert!(matches!(cache.get("other", None), TagLookup::Miss));
        assert_eq!(cache.loads(), 1);
    }

    #[test]
    fn tag_pages_come_from_the_sorted_list_and_invalidation_drops_it() {
        let cache = TagListCache::new(&CacheConfig::default());
        let snap = cache.snapshot();
        let tags = ["b", "a", "c", "B", "a1"].map(String::from).to_vec();
        let list = cache.put(snap, None, "r", 1, tags);
        assert_eq!(list.tags, ["B", "a", "a1", "b", "c"]);
        assert_eq!(
            fresh(&cache, "r").unwrap().page(None, 2),
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
        assert!(fresh(&cache, "r").is_none());

        // A list read before an invalidation is answered but not kept.
        let snap = cache.snapshot();
        cache.invalidate("other");
        cache.put(snap, None, "r", 1, vec!["x".into()]);
        assert!(fresh(&cache, "r").is_none());

        // Too long to keep: only that is remembered.
        // Too long to keep whole: its first tags are kept as a window.
        let many = (0..=MAX_CACHED_TAGS).map(|i| format!("t{i:05}")).collect();
        cache.put(cache.snapshot(), None, "big", 1, many);
        let big = fresh(&cache, "big").unwrap();
        assert!(big.too_many && big.tags.is_empty());
        assert!(cache.known_too_many("big"));
        assert_eq!(
            big.window_page(None, 2),
            Some((vec!["t00000".to_string(), "t00001".to_string()], true))
        );
        // The window ends at its last tag: the page past it is the store's.
        assert_eq!(big.window_page(Some("t09988"), 10).map(|p| p.1), Some(true));
        assert_eq!(big.window_page(Some("t09989"), 10), None);
    }

    #[test]
    fn a_window_answers_the_pages_inside_it_and_only_those() {
        let mut cache = TagListCache::new(&CacheConfig::default());
        cache.set_max_whole(3);
        assert_eq!(cache.whole_read_len(), 4);
        assert_eq!(cache.window_len(2), 3, "ten pages, at most the whole limit");
        assert_eq!(cache.window_len(5), 6, "at least a page and one more");
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let page = |v: &[&str], more| Some((names(v), more));

        // Every tag after "b" up to "e", more after that.
        let w = cache.put_window(
            cache.snapshot(),
            None,
            "r",
            1,
            "b",
            names(&["c", "d", "e"]),
            false,
        );
        assert_eq!(w.window_page(Some("b"), 2), page(&["c", "d"], true));
        assert_eq!(w.window_page(Some("bz"), 2), page(&["c", "d"], true));
        assert_eq!(w.window_page(Some("c"), 1), page(&["d"], true));
        assert_eq!(w.window_page(Some("c"), 2), None, "is \"e\" the last tag?");
        assert_eq!(w.window_page(Some("a"), 1), None, "before the window");
        assert_eq!(w.window_page(None, 1), None, "before the window");
        assert_eq!(w.window_page(Some("e"), 1), None, "after the window");

        // The last window: it knows nothing follows.
        let w = cache.put_window(
            cache.snapshot(),
            None,
            "r",
            1,
            "e",
            names(&["f", "g"]),
            true,
        );
        assert_eq!(w.window_page(Some("e"), 5), page(&["f", "g"], false));
        assert_eq!(w.window_page(Some("f"), 1), page(&["g"], false));
        assert_eq!(w.window_page(Some("g"), 1), page(&[], false));
        assert_eq!(w.window_page(Some("zz"), 1), page(&[], false));
        assert!(fresh(&cache, "r").is_some());
        cache.invalidate("r");
        assert!(fresh(&cache, "r").is_none());
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
