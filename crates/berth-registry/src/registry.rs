//! [`Registry`]: the two stores plus limits.

use std::path::Path;
use std::sync::Arc;

use berth_meta::{Change, DatabaseUrl, MetaStore};
use berth_storage::BlobStore;

use crate::cache::{CacheConfig, ManifestCache, TagListCache};
use crate::error::{Error, Result};
use crate::policy::rules::RulesCache;

/// Limits on what clients may send, each with a generous default.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest manifest accepted, in bytes (default 4 MiB, as distribution-spec
    /// §Pushing Manifests suggests registries accept at least).
    pub max_manifest_bytes: usize,
    /// Largest page of tags or repositories returned for one request (default 10 000).
    pub max_page: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_manifest_bytes: 4 * 1024 * 1024,
            max_page: 10_000,
        }
    }
}

/// The registry core. Share it behind an `Arc`.
pub struct Registry {
    pub(crate) blobs: Arc<BlobStore>,
    pub(crate) meta: MetaStore,
    pub(crate) limits: Limits,
    pub(crate) cache: ManifestCache,
    /// Whole tag lists of small repositories (see [`TagListCache`]).
    pub(crate) tag_lists: TagListCache,
    /// Immutability and tag naming rules by project (see [`crate::policy::rules`]).
    pub(crate) rules: RulesCache,
    /// `storage.redirect`: presigned URL lifetime for blob GET redirects.
    pub(crate) redirect: Option<std::time::Duration>,
    /// Garbage collection's grace period, for the "HEAD revives a link" rule.
    pub(crate) gc_grace: std::time::Duration,
    /// Quota of projects without their own, bytes (`None`: unlimited).
    pub(crate) default_quota: Option<u64>,
    /// The pull/push statistics writer.
    pub(crate) stats: crate::stats::StatsRecorder,
    /// Serializes this process's garbage-collection runs.
    pub(crate) gc_lock: tokio::sync::Mutex<()>,
    /// Pull-through cache settings and per-node state (see [`crate::proxy`]).
    pub(crate) proxy: Arc<crate::proxy::ProxyState>,
    /// Tagged pushes and tag deletions, for event-based replication (see
    /// [`Registry::push_events`]).
    pub(crate) push_events: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<ContentEvent>>,
    /// Webhook delivery state, once started ([`Registry::webhooks_start`]).
    pub(crate) webhooks: std::sync::OnceLock<Arc<crate::webhook::Webhooks>>,
    /// Where webhook events go, once started.
    pub(crate) notifier: std::sync::OnceLock<crate::webhook::Notifier>,
    /// Wakes this node's SBOM worker when a push queues a task (see
    /// [`Registry::sbom_requested`]).
    pub(crate) scan_wakeup: tokio::sync::Notify,
    /// The SBOM task this node is working on: `(repository, digest)`.
    pub(crate) sbom_running: std::sync::Mutex<Option<(String, String)>>,
    /// External scans waiting for this node's adapter client, once started
    /// ([`Registry::external_scans_start`]).
    pub(crate) external_scans: std::sync::OnceLock<crate::vuln::adapter::ExternalScans>,
}

/// A change to tagged content, for event-based replication
/// ([`Registry::push_events`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentEvent {
    /// A manifest pushed with a tag.
    Pushed {
        /// Repository.
        repository: String,
        /// Tag.
        tag: String,
    },
    /// Tags removed (by their own delete), or a manifest deleted with the
    /// tags that pointed at it (`manifest`).
    Deleted {
        /// Repository.
        repository: String,
        /// The tags that are gone (empty for an untagged manifest).
        tags: Vec<String>,
        /// The manifest they pointed at.
        digest: berth_oci::Digest,
        /// The manifest itself was deleted, not only tags.
        manifest: bool,
    },
}

/// Where blobs live: the `storage.url` setting and the S3 client settings.
#[derive(Debug, Clone, Default)]
pub struct BlobStorage {
    /// `None`: the data directory (`file://<data_dir>`).
    pub url: Option<berth_storage::StorageUrl>,
    /// S3 settings beyond the `AWS_*` environment variables.
    pub s3: berth_storage::S3Settings,
    /// `storage.redirect`: answer blob `GET`s on an object store with `307`
    /// to a presigned URL valid this long (`None`: serve the bytes).
    pub redirect: Option<std::time::Duration>,
}

/// The setting that records where a database's blobs live (see
/// [`BlobStorage::check_against`]).
const STORAGE_SETTING: &str = "blob_storage";

impl BlobStorage {
    /// What identifies this storage to the database: `file` for a
    /// directory (its path may differ from node to node on a shared
    /// filesystem), the URL for an object store.
    pub fn identity(&self) -> String {
        use berth_storage::StorageUrl;
        match &self.url {
            None | Some(StorageUrl::File(_)) => "file".into(),
            Some(StorageUrl::S3 { bucket, prefix }) => format!("s3://{bucket}/{prefix}"),
            Some(StorageUrl::Gcs { bucket, prefix }) => format!("gs://{bucket}/{prefix}"),
            Some(StorageUrl::Azure { container, prefix }) => format!("az://{container}/{prefix}"),
        }
    }

    /// Refuses to pair the database with other blob storage than the one it
    /// was first used with (recorded then, when `record`): a command given
    /// the database but not the storage would otherwise see every blob as
    /// missing, and `fsck --repair` would forget them all.
    ///
    /// Errors: [`Error::Unsupported`] naming both and the setting to give.
    async fn check_against(&self, meta: &MetaStore, record: bool) -> Result<()> {
        let mine = self.identity();
        let recorded = match meta.setting(STORAGE_SETTING).await? {
            Some(r) => Some(r),
            // Recorded by the first process that may write; a database it
            // cannot write is reported by the writability check instead.
            None if record => meta.setting_init(STORAGE_SETTING, &mine).await.ok(),
            None => None,
        };
        match recorded {
            Some(r) if r != mine => {
                let give = match r.as_str() {
                    "file" => "the data directory it was used with (storage.url empty or file://; unset BERTH_STORAGE_URL)".to_string(),
                    url => format!("storage.url = \"{url}\" (or BERTH_STORAGE_URL={url}) and the S3 settings"),
                };
                Err(Error::Unsupported(format!(
                    "this database's blobs are in {r}, but this process was given {mine}: give it {give}"
                )))
            }
            _ => Ok(()),
        }
    }

    /// Opens it; `create` makes the local directories when absent.
    fn open(&self, data_dir: &Path, meta: &MetaStore, create: bool) -> Result<BlobStore> {
        use berth_storage::StorageUrl;
        let local = |dir: &Path| {
            if create {
                BlobStore::open_local(dir)
            } else {
                BlobStore::open_local_existing(dir)
            }
        };
        use berth_storage::ObjectBackend;
        let states = || Arc::new(crate::uploads::MetaUploadStates(meta.clone()));
        let backend = match &self.url {
            None => return Ok(local(data_dir)?),
            Some(StorageUrl::File(dir)) => return Ok(local(dir)?),
            Some(StorageUrl::S3 { bucket, prefix }) => {
                ObjectBackend::s3(bucket, prefix, &self.s3, states())?
            }
            Some(StorageUrl::Gcs { bucket, prefix }) => {
                ObjectBackend::gcs(bucket, prefix, states())?
            }
            Some(StorageUrl::Azure { container, prefix }) => {
                ObjectBackend::azure(container, prefix, states())?
            }
        };
        Ok(BlobStore::open_object(data_dir, backend, create)?)
    }
}

impl Registry {
    /// The metadata store (shared with the account service, `berth_registry::Auth`).
    pub fn meta(&self) -> &MetaStore {
        &self.meta
    }

    /// Opens the embedded default: blobs under `<data_dir>/blobs`, metadata in
    /// `<data_dir>/meta.db` (SQLite).
    ///
    /// Errors: [`Error::Storage`] or [`Error::Meta`] when the directory or database
    /// cannot be opened or migrated.
    pub async fn open(data_dir: &Path, limits: Limits) -> Result<Registry> {
        Self::open_at(data_dir, &DatabaseUrl::sqlite_in(data_dir), limits).await
    }

    /// Opens blobs under `<data_dir>` and the metadata database `database`
    /// (SQLite or PostgreSQL, see [`DatabaseUrl`]), migrating it.
    ///
    /// Errors: [`Error::Storage`] or [`Error::Meta`] when the directory or database
    /// cannot be opened or migrated.
    pub async fn open_at(
        data_dir: &Path,
        database: &DatabaseUrl,
        limits: Limits,
    ) -> Result<Registry> {
        Self::open_on(data_dir, database, &BlobStorage::default(), limits).await
    }

    /// Opens the metadata database `database` and the blob storage `storage`
    /// (the data directory's `blobs/` and `uploads/`, or an object store whose
    /// upload sessions keep their state in the database, see
    /// [`berth_storage::object`]).
    ///
    /// Errors: [`Error::Storage`] or [`Error::Meta`] when the storage or
    /// database cannot be opened or migrated.
    pub async fn open_on(
        data_dir: &Path,
        database: &DatabaseUrl,
        storage: &BlobStorage,
        limits: Limits,
    ) -> Result<Registry> {
        let meta = MetaStore::open(database).await?;
        storage.check_against(&meta, true).await?;
        let blobs = storage.open(data_dir, &meta, true)?;
        let mut registry = Registry::over(blobs, meta, limits);
        registry.redirect = storage.redirect;
        Ok(registry)
    }

    /// Opens an existing data directory and database read-only (no
    /// migration, nothing created): for checks such as [`Registry::fsck`]
    /// without repair, on a directory this process may only read. Any write
    /// through it fails.
    ///
    /// Errors: [`Error::Storage`] or [`Error::Meta`] when the directory or
    /// database cannot be opened.
    pub async fn open_read_only(
        data_dir: &Path,
        database: &DatabaseUrl,
        storage: &BlobStorage,
        limits: Limits,
    ) -> Result<Registry> {
        let meta = MetaStore::open_read_only(database).await?;
        storage.check_against(&meta, false).await?;
        let blobs = storage.open(data_dir, &meta, false)?;
        Ok(Registry::over(blobs, meta, limits))
    }

    /// A registry over opened stores, with the default cache, grace period
    /// and quota (the `with_*` methods change them).
    fn over(blobs: BlobStore, meta: MetaStore, limits: Limits) -> Registry {
        Registry {
            blobs: Arc::new(blobs),
            stats: crate::stats::StatsRecorder::spawn(meta.clone()),
            meta,
            limits,
            cache: ManifestCache::new(&CacheConfig::default()),
            tag_lists: TagListCache::new(&CacheConfig::default()),
            rules: RulesCache::default(),
            gc_grace: crate::gc::GcOptions::default().grace_period,
            default_quota: None,
            gc_lock: tokio::sync::Mutex::new(()),
            redirect: None,
            proxy: Arc::default(),
            push_events: std::sync::OnceLock::new(),
            webhooks: std::sync::OnceLock::new(),
            notifier: std::sync::OnceLock::new(),
            scan_wakeup: tokio::sync::Notify::new(),
            sbom_running: std::sync::Mutex::new(None),
            external_scans: std::sync::OnceLock::new(),
        }
    }

    /// Proves the data directory takes writes where pushes will write: a probe
    /// file in `blobs/` and `uploads/`, and a rolled-back write to the
    /// database. `serve` calls it before it accepts requests, so a directory
    /// or database it cannot write stops the start instead of failing every
    /// push with a 500.
    ///
    /// Errors: [`Error::Storage`] naming the path, [`Error::Meta`].
    pub async fn check_writable(&self) -> Result<()> {
        self.blobs.check_writable().await.map_err(Error::from)?;
        self.meta.check_writable().await?;
        Ok(())
    }

    /// Forgets what `reference` (tag or digest text) of `repo` resolved to,
    /// in this node's manifest cache and (on PostgreSQL) every other node's.
    /// Call after the change committed.
    pub(crate) async fn forget(&self, repo: &str, reference: &str) {
        self.cache.invalidate(repo, reference);
        self.tag_lists.invalidate(repo);
        self.announce(Change::Reference {
            repository: repo.to_string(),
            reference: reference.to_string(),
        })
        .await;
    }

    /// Forgets the cached rules of `project` here and on every other node.
    pub(crate) async fn forget_rules(&self, project: &str) {
        self.rules.invalidate(project);
        self.announce(Change::Rules {
            project: project.to_string(),
        })
        .await;
    }

    /// Publishes `change` to the other nodes. A failure is logged, not
    /// returned: the change itself committed, and the other nodes' caches
    /// expire on their own (their time-to-live bounds the staleness).
    async fn announce(&self, change: Change) {
        if let Err(e) = self.meta.publish(&change).await {
            tracing::warn!(error = %e, ?change, "could not notify the other nodes of a change");
        }
    }

    /// Applies a change another node announced (`berth serve` feeds it from
    /// [`MetaStore::subscribe`]): forgets the named cache entries.
    pub fn apply_change(&self, change: &Change) {
        match change {
            Change::Reference {
                repository,
                reference,
            } => {
                self.cache.invalidate(repository, reference);
                self.tag_lists.invalidate(repository);
            }
            Change::Rules { project } => self.rules.invalidate(project),
            Change::Accounts => {}
        }
    }

    /// Announces deleted tags to event-based replication.
    pub(crate) fn note_deleted(
        &self,
        repo: &str,
        tags: Vec<String>,
        digest: berth_oci::Digest,
        manifest: bool,
    ) {
        if let Some(tx) = self.push_events.get() {
            let _ = tx.send(ContentEvent::Deleted {
                repository: repo.to_string(),
                tags,
                digest,
                manifest,
            });
        }
    }

    /// Announces a referrer pushed without a tag (a signature, an SBOM) as
    /// pushes of the tags on its subject, so event-based replication copies
    /// it with them.
    pub(crate) async fn note_referrer(
        &self,
        repo: &berth_oci::RepositoryName,
        subject: &berth_oci::Digest,
    ) {
        let Some(tx) = self.push_events.get() else {
            return;
        };
        let mut holders = vec![subject.to_string()];
        // A referrer of a platform manifest: the tags are on its indexes.
        match self
            .meta
            .parent_indexes(repo.as_str(), subject.as_str())
            .await
        {
            Ok(parents) => holders.extend(parents),
            Err(e) => {
                tracing::warn!(repository = %repo, %subject, error = %e, "could not announce a referrer to replication")
            }
        }
        for holder in &holders {
            match self.meta.tags_on(repo.as_str(), holder).await {
                Ok(tags) => {
                    for tag in tags {
                        let _ = tx.send(ContentEvent::Pushed {
                            repository: repo.to_string(),
                            tag,
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(repository = %repo, %subject, error = %e, "could not announce a referrer to replication")
                }
            }
        }
    }

    /// Forgets every cached manifest and rule (notifications may have been
    /// missed).
    pub fn forget_all_cached(&self) {
        self.cache.clear();
        self.tag_lists.clear();
        self.rules.clear();
    }

    /// Replaces the manifest cache settings (default: [`CacheConfig::default`]).
    pub fn with_manifest_cache(mut self, cfg: &CacheConfig) -> Registry {
        self.cache = ManifestCache::new(cfg);
        self.tag_lists = TagListCache::new(cfg);
        self
    }

    /// Windows the tag lists of repositories with more than `max_whole` tags
    /// (default [`crate::cache::MAX_CACHED_TAGS`]), so tests reach that path
    /// with a few tags.
    #[cfg(test)]
    pub(crate) fn with_tag_list_max_whole(mut self, max_whole: usize) -> Registry {
        self.tag_lists.set_max_whole(max_whole);
        self
    }

    /// Sets garbage collection's grace period as the request path sees it (a blob
    /// `HEAD` refreshes links older than half of it). Default 2 h.
    pub fn with_gc_grace(mut self, grace: std::time::Duration) -> Registry {
        self.gc_grace = grace;
        self
    }

    /// Sets the quota of projects that have none of their own, in bytes
    /// (`None`, the default: unlimited).
    pub fn with_default_quota(mut self, bytes: Option<u64>) -> Registry {
        self.default_quota = bytes;
        self
    }

    /// Every tagged manifest pushed (not those replication itself writes)
    /// and every tag deleted from now on, for event-based replication
    /// (`Registry::replication_on_push`, `Registry::replication_on_delete`).
    /// `None` when already taken.
    pub fn push_events(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<ContentEvent>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.push_events.set(tx).ok().map(|()| rx)
    }

    /// The configured limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Writes pending statistics and closes the metadata pools (call on shutdown).
    pub async fn close(&self) {
        self.stats_flush().await;
        self.meta.close().await;
    }
}
