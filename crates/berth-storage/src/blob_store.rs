//! [`BlobStore`]: content-addressed blobs over `object_store`, with durable
//! installs on the local filesystem. See the crate docs for the layout.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_oci::{Algorithm, Digest, Hasher};
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectMeta, ObjectStore, ObjectStoreExt,
};

use crate::error::{at, Result, StorageError};
use crate::object::ObjectBackend;
use crate::upload::UploadState;

/// A stream of body bytes, in order.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// Read size for streaming blobs out of local files: large enough that a
/// multi-GiB layer is served in few syscalls, small enough to bound memory per pull.
const READ_CHUNK: usize = 512 * 1024;

/// The registry-wide blob store. Cheap to share behind an `Arc`.
pub struct BlobStore {
    root: PathBuf,
    pub(crate) store: Arc<dyn ObjectStore>,
    /// Set when blobs live on an object store (`storage.url = "s3://..."`);
    /// `store` is then that bucket under its prefix.
    pub(crate) object: Option<Arc<ObjectBackend>>,
    pub(crate) sessions: Mutex<HashMap<String, Arc<tokio::sync::Mutex<UploadState>>>>,
}

impl BlobStore {
    /// Opens (creating if needed) a blob store rooted at the data directory `root`.
    ///
    /// Errors: [`StorageError::Io`] when the directories cannot be created.
    pub fn open_local(root: &Path) -> Result<BlobStore> {
        // Private to berth's user: the data directory (created here when
        // absent), `blobs/` and `uploads/` are created 0700 (never looser,
        // whatever the umask).
        for sub in ["blobs", "uploads"] {
            let dir = root.join(sub);
            private_dir()
                .recursive(true)
                .create(&dir)
                .map_err(at("create directory", &dir))?;
        }
        BlobStore::open_local_existing(root)
    }

    /// Opens an existing local store without creating or changing anything,
    /// for read-only work (`berth fsck` without `--repair`) on a data
    /// directory this process may only read.
    ///
    /// Errors: [`StorageError::Io`] when `root` cannot be resolved.
    pub fn open_local_existing(root: &Path) -> Result<BlobStore> {
        let root = root
            .canonicalize()
            .map_err(at("resolve data directory", root))?;
        let store = LocalFileSystem::new_with_prefix(&root)?;
        Ok(BlobStore {
            root,
            store: Arc::new(store),
            object: None,
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// A blob store on an object store (see [`crate::object`]). `data_dir` is
    /// still the node's own directory for what is not blob storage, created
    /// when absent if `create`.
    ///
    /// Errors: [`StorageError::Io`] when `data_dir` cannot be created.
    pub fn open_object(data_dir: &Path, backend: ObjectBackend, create: bool) -> Result<BlobStore> {
        if create {
            private_dir()
                .recursive(true)
                .create(data_dir)
                .map_err(at("create directory", data_dir))?;
        }
        let backend = Arc::new(backend);
        // Reads, lists and deletes see the same relative keys as on the
        // local filesystem (`blobs/...`, `uploads/...`).
        let store: Arc<dyn ObjectStore> = match backend.prefix() {
            "" => backend.store(),
            p => Arc::new(object_store::prefix::PrefixStore::new(
                backend.store(),
                ObjectPath::from(p),
            )),
        };
        Ok(BlobStore {
            root: data_dir.to_path_buf(),
            store,
            object: Some(backend),
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// A presigned URL the client may fetch the blob from directly, valid
    /// for `expires`: `None` on the local filesystem.
    ///
    /// Errors: [`StorageError::Backend`].
    pub async fn presigned_get(
        &self,
        digest: &Digest,
        expires: std::time::Duration,
    ) -> Result<Option<String>> {
        match &self.object {
            Some(o) => Ok(Some(o.presigned_get(digest, expires).await?)),
            None => Ok(None),
        }
    }

    /// True when blobs live on an object store.
    pub fn is_object_store(&self) -> bool {
        self.object.is_some()
    }

    /// Proves `blobs/` and `uploads/` take new files: writes and removes a
    /// probe file in each (`.write-probe-<pid>`).
    ///
    /// Errors: [`StorageError::Io`] naming the operation and the path.
    pub async fn check_writable(&self) -> Result<()> {
        if let Some(o) = &self.object {
            return o.check_writable().await;
        }
        for sub in ["blobs", "uploads"] {
            let probe = self
                .root
                .join(sub)
                .join(format!(".write-probe-{}", std::process::id()));
            private_file()
                .open(&probe)
                .and_then(|mut f| f.write_all(b"berth"))
                .map_err(at("write a probe file", &probe))?;
            std::fs::remove_file(&probe).map_err(at("remove the probe file", &probe))?;
        }
        Ok(())
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Object key of a blob: `blobs/<alg>/<first two hex>/<hex>`.
    fn key(digest: &Digest) -> ObjectPath {
        let hex = digest.hex();
        ObjectPath::from(format!(
            "blobs/{}/{}/{}",
            digest.algorithm().as_str(),
            &hex[..2],
            hex
        ))
    }

    /// Filesystem path of a blob (local backend).
    pub(crate) fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(&hex[..2])
            .join(hex)
    }

    /// Size in bytes of a stored blob, or `None` when absent.
    pub async fn size(&self, digest: &Digest) -> Result<Option<u64>> {
        match self.store.head(&Self::key(digest)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Streams `range` (end exclusive) of a blob. The caller has resolved the range
    /// against the blob's size; an empty range yields an empty stream.
    ///
    /// Errors: [`StorageError::NotFound`] when the blob is absent.
    pub async fn read(&self, digest: &Digest, range: Range<u64>) -> Result<ByteStream> {
        if range.is_empty() {
            return Ok(futures::stream::empty().boxed());
        }
        let opts = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            ..Default::default()
        };
        let got = match self.store.get_opts(&Self::key(digest), opts).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Err(StorageError::NotFound),
            Err(e) => return Err(e.into()),
        };
        match got.payload {
            // Local files: stream with a large buffer instead of object_store's 8 KiB chunks.
            GetResultPayload::File(file, _) => Ok(file_stream(file, got.range)),
            GetResultPayload::Stream(s) => Ok(s.map_err(std::io::Error::other).boxed()),
        }
    }

    /// Reads a whole (small) blob into memory: manifests.
    pub async fn read_all(&self, digest: &Digest) -> Result<Bytes> {
        match self.store.get(&Self::key(digest)).await {
            Ok(g) => Ok(g.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => Err(StorageError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores `bytes` (a manifest) durably under their digest computed with `algorithm`,
    /// and returns that digest. Storing bytes that are already present is a no-op.
    pub async fn put(&self, bytes: Bytes, algorithm: Algorithm) -> Result<Digest> {
        let digest = Digest::of(algorithm, &bytes);
        if let Some(o) = &self.object {
            // One PUT is atomic: the object appears whole or not at all.
            o.put_blob(&digest, bytes).await?;
            return Ok(digest);
        }
        let target = self.blob_path(&digest);
        if tokio::fs::try_exists(&target).await? {
            return Ok(digest);
        }
        let staging = self
            .root
            .join("uploads")
            .join(format!("put-{}", uuid::Uuid::new_v4()));
        let blobs = self.root.join("blobs");
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let mut f = private_file()
                .open(&staging)
                .map_err(at("create staging file", &staging))?;
            f.write_all(&bytes)
                .map_err(at("write staging file", &staging))?;
            drop(f);
            let r = install(&staging, &target, &blobs).map_err(at("install blob", &target));
            if r.is_err() {
                let _ = std::fs::remove_file(&staging);
            }
            r
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(digest)
    }

    /// Deletes a blob's bytes. Absent blobs are not an error.
    pub async fn delete(&self, digest: &Digest) -> Result<()> {
        match self.store.delete(&Self::key(digest)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every stored blob with its size. Files under `blobs/` whose names are not
    /// digests are reported as `Err` so fsck can flag them.
    pub fn list(&self) -> BoxStream<'static, Result<(Digest, u64)>> {
        self.list_objects()
            .map(|r| r.map(|(d, meta)| (d, meta.size)))
            .boxed()
    }

    /// Every object under `blobs/` with the digest its key names (an `Err`
    /// for a key that names none).
    pub(crate) fn list_objects(&self) -> BoxStream<'static, Result<(Digest, ObjectMeta)>> {
        self.store
            .list(Some(&ObjectPath::from("blobs")))
            .map(|r| {
                let meta = r?;
                let parts: Vec<_> = meta
                    .location
                    .parts()
                    .map(|p| p.as_ref().to_string())
                    .collect();
                let digest = match parts.as_slice() {
                    [.., _, alg, _, hex] => Digest::parse(&format!("{alg}:{hex}")).ok(),
                    _ => None,
                };
                match digest {
                    Some(d) => Ok((d, meta)),
                    None => Err(StorageError::Io(std::io::Error::other(format!(
                        "stray file blobs/{}",
                        parts.join("/")
                    )))),
                }
            })
            .boxed()
    }

    /// Re-reads a stored blob and returns the digest of its bytes (same algorithm as
    /// `digest`), for fsck.
    pub async fn rehash(&self, digest: &Digest) -> Result<Digest> {
        if self.object.is_some() {
            let size = self.size(digest).await?.ok_or(StorageError::NotFound)?;
            let mut stream = self.read(digest, 0..size).await?;
            let mut h = Hasher::new(digest.algorithm());
            while let Some(chunk) = stream.next().await {
                h.update(&chunk?);
            }
            return Ok(h.finish());
        }
        let path = self.blob_path(digest);
        let alg = digest.algorithm();
        tokio::task::spawn_blocking(move || hash_file(&path, alg).map(|(d, _)| d))
            .await
            .map_err(std::io::Error::other)?
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => StorageError::NotFound,
                _ => StorageError::Io(e),
            })
    }
}

/// Streams `range` of a local file: each chunk is one positioned read straight
/// into a fresh buffer on the blocking pool (no intermediate copy, as a
/// `tokio::fs::File` would make), and no thread is held between chunks, so slow
/// clients cannot exhaust the blocking pool. The next chunk is read while the
/// current one is being sent (two chunks in flight per stream), so disk and
/// socket work overlap on a single stream.
fn file_stream(file: std::fs::File, range: Range<u64>) -> ByteStream {
    let file = Arc::new(file);
    let end = range.end;
    let offsets = (range.start..end).step_by(READ_CHUNK);
    futures::stream::iter(offsets)
        .map(move |offset| {
            let file = file.clone();
            let want = (end - offset).min(READ_CHUNK as u64) as usize;
            async move {
                tokio::task::spawn_blocking(move || read_chunk(&file, offset, want))
                    .await
                    .map_err(std::io::Error::other)?
            }
        })
        .buffered(READ_AHEAD)
        .boxed()
}

/// Chunks read ahead of the one being sent, per blob read.
const READ_AHEAD: usize = 2;

/// `want` bytes of `file` at `offset`; a file shorter than that is an error.
fn read_chunk(file: &std::fs::File, offset: u64, want: usize) -> std::io::Result<Bytes> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; want];
    let mut filled = 0;
    while filled < want {
        let n = file.read_at(&mut buf[filled..], offset + filled as u64)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "blob shorter than recorded",
            ));
        }
        filled += n;
    }
    Ok(Bytes::from(buf))
}

/// Hashes a whole file; returns its digest and length.
pub(crate) fn hash_file(path: &Path, alg: Algorithm) -> std::io::Result<(Digest, u64)> {
    let (h, n) = hasher_of_file(path, alg)?;
    Ok((h.finish(), n))
}

/// A hasher fed with a whole file, and the file's length.
pub(crate) fn hasher_of_file(path: &Path, alg: Algorithm) -> std::io::Result<(Hasher, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Hasher::new(alg);
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let r = f.read(&mut buf)?;
        if r == 0 {
            break;
        }
        h.update(&buf[..r]);
        n += r as u64;
    }
    Ok((h, n))
}

/// Durably moves a fully written file to its content-addressed path:
/// fsync(file) → mkdir -p parent (fsyncing each directory it creates into) →
/// rename → fsync(parent). After this returns, the blob survives a crash or power loss.
pub(crate) fn install(staged: &Path, target: &Path, blobs_root: &Path) -> std::io::Result<()> {
    if target.is_file() {
        // Content-addressed: an installed blob with this digest already holds these bytes.
        return std::fs::remove_file(staged);
    }
    std::fs::File::open(staged)?.sync_all()?;
    let parent = target
        .parent()
        .ok_or_else(|| std::io::Error::other("blob path without parent"))?;
    create_dir_durable(parent, blobs_root)?;
    std::fs::rename(staged, target)?;
    fsync_dir(parent)
}

fn create_dir_durable(dir: &Path, stop: &Path) -> std::io::Result<()> {
    if dir.is_dir() || dir == stop {
        return Ok(());
    }
    if let Some(up) = dir.parent() {
        create_dir_durable(up, stop)?;
        match private_dir().create(dir) {
            Ok(()) => fsync_dir(up)?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A builder for directories only berth's user may enter (mode 0700). Existing
/// directories keep the mode the operator gave them.
pub(crate) fn private_dir() -> std::fs::DirBuilder {
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b
}

/// Options that create (or truncate) a file only berth's user may read (mode
/// 0600 when created).
pub(crate) fn private_file() -> std::fs::OpenOptions {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o
}

pub(crate) fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}
