//! Upload sessions (OCI distribution-spec §Pushing blobs): a session is a file
//! `uploads/<id>/data` that grows chunk by chunk while a SHA-256 runs over the
//! bytes as they arrive, so committing needs no second pass over the data.
//!
//! Each session has an async lock: chunks of one session are applied one at a time,
//! different sessions proceed in parallel. A chunk is all-or-nothing: if its body
//! fails midway (client gone, disk full) the file is cut back to where the chunk
//! started and the hash state is restored.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use berth_oci::{Algorithm, Digest, Hasher};
use bytes::BytesMut;
use futures::StreamExt;

use crate::blob_store::{hasher_of_file, install, private_file, BlobStore, ByteStream};
use crate::error::{at, Result, StorageError};

/// Body bytes are gathered into buffers of up to this size before a blocking write+hash;
/// while one buffer is written and hashed on the blocking pool, the next one is
/// received from the network.
const WRITE_CHUNK: usize = 512 * 1024;

/// How long a failed upload keeps reading (and discarding) the client's body so
/// the client can read the error response.
const DRAIN_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// An upload session id: a UUID, which is safe as a path component by construction.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UploadId(uuid::Uuid);

impl UploadId {
    /// A fresh random id.
    pub fn new() -> UploadId {
        UploadId(uuid::Uuid::new_v4())
    }

    /// Parses an id from a URL; `None` unless it is a UUID.
    pub fn parse(s: &str) -> Option<UploadId> {
        // Only the canonical hyphenated lowercase form, so one session has one spelling.
        let u = uuid::Uuid::try_parse(s).ok()?;
        (u.hyphenated().to_string() == s).then_some(UploadId(u))
    }
}

impl Default for UploadId {
    fn default() -> Self {
        UploadId::new()
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UploadId({})", self.0)
    }
}

/// In-memory state of a session on this node.
#[derive(Default)]
pub(crate) struct UploadState {
    /// SHA-256 over the first `.0` bytes of the file; `None` until known.
    hash: Option<(u64, Hasher)>,
}

impl BlobStore {
    fn upload_dir(&self, id: &UploadId) -> PathBuf {
        self.root().join("uploads").join(id.to_string())
    }

    fn upload_data(&self, id: &UploadId) -> PathBuf {
        self.upload_dir(id).join("data")
    }

    fn session(&self, id: &UploadId) -> Arc<tokio::sync::Mutex<UploadState>> {
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id.to_string()).or_default().clone()
    }

    fn forget(&self, id: &UploadId) {
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&id.to_string());
    }

    /// Creates an empty upload session on disk.
    pub async fn upload_create(&self, id: &UploadId) -> Result<()> {
        if self.object.is_some() {
            // The session's state is its database row (created by the caller).
            return Ok(());
        }
        let dir = self.upload_dir(id);
        // Created 0700 / 0600 (never looser, whatever the umask): the bytes of
        // private images.
        let mut mkdir = tokio::fs::DirBuilder::new();
        mkdir.recursive(true);
        #[cfg(unix)]
        mkdir.mode(0o700);
        mkdir
            .create(&dir)
            .await
            .map_err(at("create upload directory", &dir))?;
        let data = dir.join("data");
        tokio::fs::OpenOptions::from(private_file())
            .open(&data)
            .await
            .map_err(at("create upload file", &data))?;
        Ok(())
    }

    /// Bytes received so far, or [`StorageError::UploadUnknown`].
    pub async fn upload_len(&self, id: &UploadId) -> Result<u64> {
        if let Some(o) = &self.object {
            return o.upload_len(id).await;
        }
        let path = self.upload_data(id);
        match tokio::fs::metadata(&path).await {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StorageError::UploadUnknown),
            Err(e) => Err(at("stat upload file", &path)(e).into()),
        }
    }

    /// Appends `body` to the session. When `start` is given (a chunk's
    /// `Content-Range`), it must equal the current length, else
    /// [`StorageError::RangeMismatch`]. Returns the new length.
    ///
    /// All-or-nothing: on a body or I/O error the session is left as it was.
    pub async fn upload_append(
        &self,
        id: &UploadId,
        start: Option<u64>,
        mut body: ByteStream,
    ) -> Result<u64> {
        if let Some(o) = &self.object {
            return o.upload_append(id, start, body).await;
        }
        let session = self.session(id);
        let mut state = session.lock().await;
        let path = self.upload_data(id);
        let file = match std::fs::OpenOptions::new().append(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageError::UploadUnknown)
            }
            Err(e) => return Err(at("open upload file for append", &path)(e).into()),
        };
        let len = file
            .metadata()
            .map_err(at("stat upload file", &path))?
            .len();
        if let Some(requested) = start {
            if requested != len {
                return Err(StorageError::RangeMismatch {
                    offset: len,
                    requested,
                });
            }
        }
        let hasher = match state.hash.take() {
            Some((n, h)) if n == len => h,
            _ => {
                let p = path.clone();
                tokio::task::spawn_blocking(move || hasher_of_file(&p, Algorithm::Sha256))
                    .await
                    .map_err(std::io::Error::other)??
                    .0
            }
        };
        let before = hasher.clone();
        let pumped = pump(file, hasher, &mut body).await.map_err(|e| match e {
            StorageError::Io(io) => StorageError::Io(at("write upload file", &path)(io)),
            other => other,
        });
        match pumped {
            Ok((file, hasher, written)) => {
                drop(file);
                state.hash = Some((len + written, hasher));
                Ok(len + written)
            }
            Err(e) => {
                // Cut back to where this chunk started.
                if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path) {
                    let _ = f.set_len(len);
                }
                state.hash = Some((len, before));
                if matches!(e, StorageError::Io(_)) {
                    // The client is still sending: read and discard the rest (for a
                    // bounded time) so it gets to read our error response instead of a
                    // reset connection, as a lingering close would.
                    let _ = tokio::time::timeout(DRAIN_FOR, async {
                        while let Some(Ok(_)) = body.next().await {}
                    })
                    .await;
                }
                Err(e)
            }
        }
    }

    /// Verifies that the session's bytes hash to `expected` and installs them as that
    /// blob, durably (see the crate docs). Returns the blob's size. The session is
    /// gone afterwards, whether it succeeded or not.
    ///
    /// Errors: [`StorageError::DigestMismatch`] (nothing is stored),
    /// [`StorageError::UploadUnknown`], I/O errors.
    pub async fn upload_commit(&self, id: &UploadId, expected: &Digest) -> Result<u64> {
        if let Some(o) = &self.object {
            return o.upload_commit(id, expected).await;
        }
        let session = self.session(id);
        let mut state = session.lock().await;
        let path = self.upload_data(id);
        let len = self.upload_len(id).await?;
        let actual = match state.hash.take() {
            Some((n, h)) if n == len && h.algorithm() == expected.algorithm() => h.finish(),
            _ => {
                let p = path.clone();
                let alg = expected.algorithm();
                tokio::task::spawn_blocking(move || hasher_of_file(&p, alg))
                    .await
                    .map_err(std::io::Error::other)??
                    .0
                    .finish()
            }
        };
        let result = if &actual != expected {
            Err(StorageError::DigestMismatch {
                expected: expected.clone(),
                actual,
            })
        } else {
            let target = self.blob_path(expected);
            let blobs = self.root().join("blobs");
            let staged = path.clone();
            tokio::task::spawn_blocking(move || {
                install(&staged, &target, &blobs).map_err(at("install blob", &target))
            })
            .await
            .map_err(std::io::Error::other)?
            .map(|()| len)
            .map_err(StorageError::from)
        };
        drop(state);
        let _ = tokio::fs::remove_dir_all(self.upload_dir(id)).await;
        self.forget(id);
        result
    }

    /// Cancels a session and removes its bytes.
    pub async fn upload_delete(&self, id: &UploadId) -> Result<()> {
        if let Some(o) = &self.object {
            return o.upload_delete(id).await;
        }
        let session = self.session(id);
        let _state = session.lock().await;
        let r = match tokio::fs::remove_dir_all(self.upload_dir(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StorageError::UploadUnknown),
            Err(e) => Err(e.into()),
        };
        self.forget(id);
        r
    }
}

/// Asks the kernel to start writing the file's dirty pages to disk now
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, which does not wait), so disk
/// writes overlap with receiving the rest of the upload and the `fsync` at commit
/// finds little left to do. Advisory: errors are ignored, `fsync` decides.
fn start_writeback(file: &std::fs::File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: plain syscall on a file descriptor we own; offset 0 and nbytes 0
        // mean "the whole file"; no memory is passed.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// Streams the body into the file while hashing, pipelining network reads with
/// blocking write+hash of the previous buffer. Returns the file, the hasher and
/// the number of bytes written.
async fn pump(
    file: std::fs::File,
    hasher: Hasher,
    body: &mut ByteStream,
) -> Result<(std::fs::File, Hasher, u64)> {
    type Job = tokio::task::JoinHandle<std::io::Result<(std::fs::File, Hasher)>>;
    fn spawn(mut file: std::fs::File, mut hasher: Hasher, buf: BytesMut) -> Job {
        tokio::task::spawn_blocking(move || {
            file.write_all(&buf)?;
            start_writeback(&file);
            hasher.update(&buf);
            Ok((file, hasher))
        })
    }
    async fn join(job: Job) -> Result<(std::fs::File, Hasher)> {
        Ok(job.await.map_err(std::io::Error::other)??)
    }

    let mut idle = Some((file, hasher));
    let mut inflight: Option<Job> = None;
    let mut buf = BytesMut::with_capacity(WRITE_CHUNK);
    let mut written = 0u64;
    loop {
        let next = match body.next().await {
            Some(Ok(bytes)) => Some(bytes),
            Some(Err(e)) => {
                if let Some(job) = inflight.take() {
                    let _ = job.await;
                }
                return Err(StorageError::Body(e));
            }
            None => None,
        };
        // Hand the buffer over before it would have to grow: it never holds more
        // than WRITE_CHUNK (plus one oversized network chunk), so memory per upload
        // stays at about two buffers.
        let full = match &next {
            Some(bytes) => !buf.is_empty() && buf.len() + bytes.len() > WRITE_CHUNK,
            None => !buf.is_empty(),
        };
        if full {
            let (f, h) = match inflight.take() {
                Some(job) => join(job).await?,
                None => idle
                    .take()
                    .ok_or_else(|| std::io::Error::other("writer state lost"))?,
            };
            written += buf.len() as u64;
            let data = std::mem::replace(&mut buf, BytesMut::with_capacity(WRITE_CHUNK));
            inflight = Some(spawn(f, h, data));
        }
        match next {
            Some(bytes) => buf.extend_from_slice(&bytes),
            None => break,
        }
    }
    let (f, h) = match inflight.take() {
        Some(job) => join(job).await?,
        None => idle
            .take()
            .ok_or_else(|| std::io::Error::other("writer state lost"))?,
    };
    Ok((f, h, written))
}
