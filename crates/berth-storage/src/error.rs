//! Storage errors.

use std::path::Path;

use berth_oci::Digest;

/// Errors from [`crate::BlobStore`].
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No blob with that digest is stored.
    #[error("blob not found")]
    NotFound,
    /// No upload session with that id exists (never created, finished, or cancelled).
    #[error("upload session unknown")]
    UploadUnknown,
    /// A chunk did not start where the upload currently ends.
    #[error("chunk starts at {requested}, but the upload holds {offset} bytes")]
    RangeMismatch {
        /// Bytes the upload holds.
        offset: u64,
        /// Where the chunk claimed to start.
        requested: u64,
    },
    /// The uploaded bytes do not hash to the digest the client named.
    #[error("uploaded content has digest {actual}, not {expected}")]
    DigestMismatch {
        /// What the client said.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
    },
    /// The request body failed while streaming (client went away, or a limit was hit).
    #[error("request body: {0}")]
    Body(std::io::Error),
    /// The filesystem failed (disk full, permissions, I/O error).
    #[error("storage I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The object store backend failed.
    #[error("object store: {0}")]
    Backend(#[from] object_store::Error),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, StorageError>;

/// Puts the operation and the path into an I/O error's message, keeping its
/// kind (so `NotFound`, `StorageFull` and the like are still recognised):
/// `std::fs::rename(a, b).map_err(at("rename into", b))` fails as
/// `rename into /data/blobs/sha256/ab/ab12...: Permission denied (os error 13)`.
/// Every I/O error berth logs names what it was doing and where.
pub fn at<'a>(op: &'a str, path: &'a Path) -> impl FnOnce(std::io::Error) -> std::io::Error + 'a {
    move |e| std::io::Error::new(e.kind(), format!("{op} {}: {e}", path.display()))
}
