//! berth's blob storage: a content-addressed store shared by every repository, and
//! the upload sessions that feed it. It knows digests and bytes, nothing of HTTP,
//! repositories or permissions (those live in `berth-meta` and `berth-registry`).
//!
//! Module map:
//! - [`blob_store`] — [`BlobStore`], reads (streamed, ranged), durable installs, deletes, listing.
//! - [`upload`] — upload sessions: append chunks while hashing, commit after verifying the digest.
//! - [`housekeeping`] — modification times and abandoned-upload removal, for garbage collection.
//! - [`object`] — the same on an S3-compatible object store (`storage.url = "s3://..."`):
//!   upload sessions whose state is kept by the caller (the metadata database), so
//!   any node continues any session; commit by a server-side copy.
//! - [`error`] — [`StorageError`].
//!
//! # Layout under the data directory
//!
//! ```text
//! <data-dir>/
//! ├── blobs/                         committed content; read through `object_store`
//! │   ├── sha256/
//! │   │   └── ab/                    first two hex characters of the digest
//! │   │       └── abcdef0123…        the bytes (layers, configs, and manifests, byte-exact)
//! │   └── sha512/…
//! └── uploads/
//!     └── <session-uuid>/
//!         └── data                   bytes received so far, in order
//! ```
//!
//! A blob appears under `blobs/` only by `rename(2)` of a fully written, digest-verified
//! and `fsync`ed upload file, followed by an `fsync` of the target directory, so a
//! crash at any moment leaves either no blob or the complete blob: never a partial
//! one. `object_store`'s local backend writes through a temporary file and renames
//! too, but does not `fsync`; berth therefore installs blobs itself on the local
//! filesystem and uses `object_store` for reads, listing and deletes.
//!
//! The upload's offset is the length of `uploads/<id>/data`. The running hash lives
//! in memory; after a restart (or on a node that did not see the earlier chunks) it
//! is rebuilt by reading the partial file once. `ring`'s hash state cannot be
//! serialized, and one extra read of a partial upload after a restart is cheaper
//! than persisting hash state on every chunk.

pub mod blob_store;
pub mod error;
pub mod housekeeping;
pub mod object;
pub mod upload;

pub use blob_store::{BlobStore, ByteStream};
pub use error::{at, StorageError};
pub use housekeeping::UploadEntry;
pub use object::{Cursor, ObjectBackend, S3Settings, StorageUrl, UploadStates};
pub use upload::UploadId;

#[cfg(test)]
mod object_tests;
#[cfg(test)]
mod tests;
