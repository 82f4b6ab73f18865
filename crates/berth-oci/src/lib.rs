//! OCI primitives for berth. Pure functions and types, no I/O.
//!
//! Module map:
//! - [`digest`] — content digests (`sha256:…`, `sha512:…`), parsing and streaming hashing.
//! - [`name`] — repository names per the OCI distribution-spec grammar (`team/app/api`).
//! - [`reference`] — a manifest reference, either a tag or a digest.
//! - [`media_type`] — the manifest and layer media types berth knows by name.
//! - [`manifest`] — parsing and validation of image manifests, image indexes, Docker
//!   schema2 manifests and manifest lists, and artifact manifests.
//! - [`range`] — `Content-Range` (chunked uploads) and `Range` (blob reads) parsing.
//! - [`error`] — the spec's error codes, with their HTTP status and default message.
//!
//! Everything here answers "is this input valid, and what does it mean"; what to do
//! with it lives in `berth-registry`.

pub mod digest;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod manifest;
pub mod media_type;
pub mod name;
pub mod range;
pub mod reference;

pub use digest::{Algorithm, Digest, Hasher, ResumableSha256};
pub use error::ErrorCode;
pub use manifest::{ChildKind, ChildRef, Manifest, ManifestError};
pub use name::{RepositoryName, DEFAULT_PROJECT};
pub use reference::{Reference, Tag};
