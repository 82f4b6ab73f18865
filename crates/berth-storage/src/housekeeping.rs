//! What garbage collection needs from the blob store beyond reads and deletes:
//! modification times of blobs and upload sessions, and removal of abandoned
//! entries under `uploads/`.

use std::time::SystemTime;

use berth_oci::Digest;
use futures::stream::BoxStream;
use futures::StreamExt;

use crate::blob_store::BlobStore;
use crate::error::{Result, StorageError};
use crate::upload::UploadId;

/// An entry directly under `uploads/`: a session directory (`<uuid>`) or a staging
/// file of a manifest install (`put-<uuid>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadEntry {
    /// The entry's name.
    pub name: String,
    /// The session id when the name is one.
    pub session: Option<String>,
    /// Last modification: of the session's `data` file, else of the entry itself.
    pub modified: SystemTime,
    /// Bytes it holds (a session's `data`, or the staging file).
    pub size: u64,
}

impl BlobStore {
    /// Every stored blob with its size and last modification time (for a freshly
    /// installed blob: when its last byte was written).
    pub fn list_with_mtime(&self) -> BoxStream<'static, Result<(Digest, u64, SystemTime)>> {
        if self.object.is_some() {
            // The store keeps each object's last modification.
            return self
                .list_objects()
                .map(|r| r.map(|(d, meta)| (d, meta.size, SystemTime::from(meta.last_modified))))
                .boxed();
        }
        let root = self.root().to_path_buf();
        self.list()
            .map(move |item| {
                let (digest, size) = item?;
                let hex = digest.hex();
                let path = root
                    .join("blobs")
                    .join(digest.algorithm().as_str())
                    .join(&hex[..2])
                    .join(hex);
                let modified = std::fs::metadata(path)?.modified()?;
                Ok((digest, size, modified))
            })
            .boxed()
    }

    /// Every entry under `uploads/`.
    pub async fn upload_entries(&self) -> Result<Vec<UploadEntry>> {
        if self.object.is_some() {
            // One entry per session name, from its objects (tail, data).
            let mut by_name: std::collections::BTreeMap<String, UploadEntry> = Default::default();
            let mut list = self
                .store
                .list(Some(&object_store::path::Path::from("uploads")));
            while let Some(meta) = list.next().await {
                let meta = meta?;
                let parts: Vec<_> = meta
                    .location
                    .parts()
                    .map(|p| p.as_ref().to_string())
                    .collect();
                let Some(name) = parts.iter().rev().nth(1).cloned() else {
                    continue;
                };
                let modified = SystemTime::from(meta.last_modified);
                let e = by_name.entry(name.clone()).or_insert_with(|| UploadEntry {
                    session: UploadId::parse(&name).map(|id| id.to_string()),
                    name,
                    modified,
                    size: 0,
                });
                e.modified = e.modified.max(modified);
                e.size += meta.size;
            }
            return Ok(by_name.into_values().collect());
        }
        let dir = self.root().join("uploads");
        tokio::task::spawn_blocking(move || -> std::io::Result<Vec<UploadEntry>> {
            let mut out = Vec::new();
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().to_string();
                let data = entry.path().join("data");
                let meta = match std::fs::metadata(&data) {
                    Ok(m) => m,
                    Err(_) => match entry.metadata() {
                        Ok(m) => m,
                        Err(_) => continue, // gone meanwhile
                    },
                };
                let session = UploadId::parse(&name).map(|id| id.to_string());
                out.push(UploadEntry {
                    name,
                    session,
                    modified: meta.modified()?,
                    size: if meta.is_file() { meta.len() } else { 0 },
                });
            }
            Ok(out)
        })
        .await
        .map_err(std::io::Error::other)?
        .map_err(StorageError::from)
    }

    /// Removes an entry under `uploads/` by name (an abandoned session or staging
    /// file). Names with path syntax are refused; an absent entry is not an error.
    pub async fn remove_upload_entry(&self, name: &str) -> Result<()> {
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(StorageError::UploadUnknown);
        }
        if let Some(o) = &self.object {
            return o.remove_upload_entry(name).await;
        }
        if let Some(id) = UploadId::parse(name) {
            return match self.upload_delete(&id).await {
                Ok(()) | Err(StorageError::UploadUnknown) => Ok(()),
                Err(e) => Err(e),
            };
        }
        let path = self.root().join("uploads").join(name);
        let r = if path.is_dir() {
            tokio::fs::remove_dir_all(&path).await
        } else {
            tokio::fs::remove_file(&path).await
        };
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
