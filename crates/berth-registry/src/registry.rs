//! [`Registry`]: the two stores plus limits.

use std::path::Path;
use std::sync::Arc;

use berth_meta::MetaStore;
use berth_storage::BlobStore;

use crate::cache::{CacheConfig, ManifestCache};
use crate::error::{Error, Result};

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
        let blobs = BlobStore::open_local(data_dir).map_err(Error::from)?;
        let meta = MetaStore::open_sqlite(&blobs.root().join("meta.db")).await?;
        Ok(Registry {
            blobs: Arc::new(blobs),
            meta,
            limits,
            cache: ManifestCache::new(&CacheConfig::default()),
        })
    }

    /// Replaces the manifest cache settings (default: [`CacheConfig::default`]).
    pub fn with_manifest_cache(mut self, cfg: &CacheConfig) -> Registry {
        self.cache = ManifestCache::new(cfg);
        self
    }

    /// The configured limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Closes the metadata pools (call on shutdown).
    pub async fn close(&self) {
        self.meta.close().await;
    }
}
