//! [`Error`]: every way a registry operation fails, and its OCI error code and
//! HTTP status (distribution-spec §Error Codes), decided here and only here.

use berth_meta::MetaError;
use berth_oci::name::NameError;
use berth_oci::ErrorCode;
use berth_storage::StorageError;

/// A failed registry operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository name breaks the grammar.
    #[error(transparent)]
    NameInvalid(#[from] NameError),
    /// The repository does not exist.
    #[error("repository {0} is not known to the registry")]
    NameUnknown(String),
    /// The blob is not in the repository.
    #[error("blob {0} is not in this repository")]
    BlobUnknown(String),
    /// A digest is malformed, unsupported, missing, or does not match the content.
    #[error("{0}")]
    DigestInvalid(String),
    /// The upload session does not exist (or belongs to another repository).
    #[error("upload session {0:?} is not known to the registry")]
    UploadUnknown(String),
    /// The upload request is malformed.
    #[error("{0}")]
    UploadInvalid(String),
    /// A chunk does not start where the upload ends, or its `Content-Range` is malformed.
    /// Sent as 416 with the current `Range`.
    #[error("chunk out of order or malformed Content-Range: the upload holds {offset} bytes")]
    ChunkOutOfOrder {
        /// Bytes the upload holds.
        offset: u64,
    },
    /// A blob read asked for a range outside the blob (416).
    #[error("requested range not satisfiable: the blob is {size} bytes")]
    RangeNotSatisfiable {
        /// The blob's size.
        size: u64,
    },
    /// The manifest is invalid.
    #[error("{0}")]
    ManifestInvalid(String),
    /// The manifest is not in the repository.
    #[error("manifest {0} is not in this repository")]
    ManifestUnknown(String),
    /// The manifest references a blob or manifest the repository does not hold.
    #[error("manifest references {0}, which is not in this repository; push it first")]
    ManifestBlobUnknown(String),
    /// The manifest body is over the limit (413).
    #[error("manifest is larger than the {limit}-byte limit")]
    ManifestTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A length does not match the content.
    #[error("{0}")]
    SizeInvalid(String),
    /// An upload request body is over the configured chunk limit (413).
    #[error(
        "upload request body is larger than the {limit}-byte chunk limit; send smaller chunks"
    )]
    ChunkTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The operation is not supported.
    #[error("{0}")]
    Unsupported(String),
    /// The caller may not do this.
    #[error("requested access to the resource is denied")]
    Denied,
    /// A project policy refuses the operation (quota, tag immutability, tag naming
    /// rule): 403 DENIED with a message naming the policy, e.g.
    /// `quota exceeded: the push would bring the project to 10 MiB of its 8 MiB quota`.
    #[error("{0}")]
    PolicyDenied(String),
    /// Too many requests.
    #[error("too many requests")]
    TooManyRequests,
    /// Logins refused for a while after repeated failures (429
    /// TOOMANYREQUESTS); the text says for whom and how long, e.g.
    /// `too many failed logins for "alice" from this address; try again in 4m 51s`.
    #[error("{0}")]
    LoginThrottled(String),
    /// A change refused while the audit trail cannot be written
    /// (`audit.on_failure = refuse`): 503 UNAVAILABLE with the reason.
    #[error("{0}")]
    AuditUnavailable(String),
    /// The LDAP directory cannot check a password (503 UNAVAILABLE): the
    /// caller's credentials were neither accepted nor refused.
    #[error("{0}")]
    DirectoryUnavailable(String),
    /// An upstream registry failed a pull-through request (502 UNAVAILABLE
    /// with what upstream did, e.g. `upstream registry hub is unreachable:
    /// connection refused`).
    #[error(transparent)]
    Upstream(#[from] crate::proxy::UpstreamError),
    /// Blob storage failed (5xx).
    #[error("storage failure: {0}")]
    Storage(StorageError),
    /// The metadata database failed (5xx).
    #[error("metadata failure: {0}")]
    Meta(MetaError),
}

/// Result alias for registry operations.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The spec's error code, or `None` for server-side failures (rendered as
    /// `UNKNOWN`, as Distribution does, with status 500 / 507).
    pub fn code(&self) -> Option<ErrorCode> {
        Some(match self {
            Error::NameInvalid(_) => ErrorCode::NameInvalid,
            Error::NameUnknown(_) => ErrorCode::NameUnknown,
            Error::BlobUnknown(_) => ErrorCode::BlobUnknown,
            Error::DigestInvalid(_) => ErrorCode::DigestInvalid,
            Error::UploadUnknown(_) => ErrorCode::BlobUploadUnknown,
            Error::UploadInvalid(_) | Error::ChunkOutOfOrder { .. } => ErrorCode::BlobUploadInvalid,
            Error::RangeNotSatisfiable { .. }
            | Error::SizeInvalid(_)
            | Error::ManifestTooLarge { .. }
            | Error::ChunkTooLarge { .. } => ErrorCode::SizeInvalid,
            Error::ManifestInvalid(_) => ErrorCode::ManifestInvalid,
            Error::ManifestUnknown(_) => ErrorCode::ManifestUnknown,
            Error::ManifestBlobUnknown(_) => ErrorCode::ManifestBlobUnknown,
            Error::Unsupported(_) => ErrorCode::Unsupported,
            Error::Denied | Error::PolicyDenied(_) => ErrorCode::Denied,
            Error::TooManyRequests | Error::LoginThrottled(_) => ErrorCode::TooManyRequests,
            Error::AuditUnavailable(_) | Error::DirectoryUnavailable(_) | Error::Upstream(_) => {
                ErrorCode::Unavailable
            }
            Error::Storage(_) | Error::Meta(_) => return None,
        })
    }

    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Error::ChunkOutOfOrder { .. } | Error::RangeNotSatisfiable { .. } => 416,
            Error::ManifestTooLarge { .. } | Error::ChunkTooLarge { .. } => 413,
            Error::Upstream(_) => 502,
            Error::Storage(StorageError::Io(e)) if is_no_space(e) => 507,
            Error::Storage(_) | Error::Meta(_) => 500,
            other => other.code().map_or(500, ErrorCode::status),
        }
    }

    /// True for failures of the server rather than of the request.
    pub fn is_server_error(&self) -> bool {
        self.status() >= 500
    }
}

fn is_no_space(e: &std::io::Error) -> bool {
    // ENOSPC; errors that carry their path (berth_storage::at) keep the kind.
    e.raw_os_error() == Some(28) || e.kind() == std::io::ErrorKind::StorageFull
}

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::UploadUnknown => Error::UploadUnknown(String::new()),
            StorageError::RangeMismatch { offset, .. } => Error::ChunkOutOfOrder { offset },
            StorageError::DigestMismatch { expected, actual } => Error::DigestInvalid(format!(
                "uploaded content has digest {actual}, not {expected}"
            )),
            StorageError::Body(io) => Error::UploadInvalid(format!("request body: {io}")),
            other => Error::Storage(other),
        }
    }
}

impl From<MetaError> for Error {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::MissingChild(d) => Error::ManifestBlobUnknown(d),
            other => Error::Meta(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_maps_to_its_spec_code_and_status() {
        let cases: Vec<(Error, &str, u16)> = vec![
            (Error::NameUnknown("a".into()), "NAME_UNKNOWN", 404),
            (Error::BlobUnknown("d".into()), "BLOB_UNKNOWN", 404),
            (Error::DigestInvalid("x".into()), "DIGEST_INVALID", 400),
            (Error::UploadUnknown("u".into()), "BLOB_UPLOAD_UNKNOWN", 404),
            (Error::UploadInvalid("x".into()), "BLOB_UPLOAD_INVALID", 400),
            (
                Error::ChunkOutOfOrder { offset: 3 },
                "BLOB_UPLOAD_INVALID",
                416,
            ),
            (Error::RangeNotSatisfiable { size: 3 }, "SIZE_INVALID", 416),
            (Error::ManifestInvalid("x".into()), "MANIFEST_INVALID", 400),
            (Error::ManifestUnknown("x".into()), "MANIFEST_UNKNOWN", 404),
            (
                Error::ManifestBlobUnknown("x".into()),
                "MANIFEST_BLOB_UNKNOWN",
                400,
            ),
            (Error::ManifestTooLarge { limit: 4 }, "SIZE_INVALID", 413),
            (Error::ChunkTooLarge { limit: 4 }, "SIZE_INVALID", 413),
            (Error::SizeInvalid("x".into()), "SIZE_INVALID", 400),
            (Error::Unsupported("x".into()), "UNSUPPORTED", 405),
            (Error::Denied, "DENIED", 403),
            (Error::PolicyDenied("quota".into()), "DENIED", 403),
            (Error::TooManyRequests, "TOOMANYREQUESTS", 429),
            (Error::LoginThrottled("x".into()), "TOOMANYREQUESTS", 429),
        ];
        for (err, code, status) in cases {
            assert_eq!(err.code().map(ErrorCode::as_str), Some(code), "{err}");
            assert_eq!(err.status(), status, "{err}");
        }
        let name = berth_oci::RepositoryName::parse("A").unwrap_err();
        assert_eq!(Error::from(name).status(), 400);
    }

    #[test]
    fn storage_failures_are_server_errors_and_disk_full_is_507() {
        let io = Error::from(StorageError::Io(std::io::Error::from_raw_os_error(28)));
        assert_eq!(io.status(), 507);
        assert!(io.code().is_none());
        let other = Error::from(StorageError::Io(std::io::Error::other("boom")));
        assert_eq!(other.status(), 500);
        assert!(other.is_server_error());
    }
}
