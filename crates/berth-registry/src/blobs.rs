//! Blob reads, deletes and cross-repository mounts
//! (distribution-spec §Pulling blobs, §Deleting blobs, §Mounting a blob from another repository).

use berth_oci::range::{ByteRange, RangeOutcome};
use berth_oci::{Digest, RepositoryName};
use berth_storage::{ByteStream, StorageError};

use crate::error::{Error, Result};
use crate::registry::Registry;

/// A blob being read.
pub struct BlobRead {
    /// Size of the whole blob in bytes.
    pub size: u64,
    /// The part being sent (end exclusive) when a `Range` was honoured (206).
    pub range: Option<(u64, u64)>,
    /// The bytes.
    pub body: ByteStream,
}

impl Registry {
    /// `HEAD /v2/<name>/blobs/<digest>`: the blob's size when the repository may read it.
    ///
    /// Errors: [`Error::BlobUnknown`].
    pub async fn blob_size(&self, repo: &RepositoryName, digest: &Digest) -> Result<u64> {
        self.meta
            .blob_in_repository(repo.as_str(), digest)
            .await?
            .ok_or_else(|| Error::BlobUnknown(digest.to_string()))
    }

    /// Where to send a `GET` of the blob instead of serving it: a presigned
    /// object-store URL when `storage.redirect` is on (and blobs are on an
    /// object store), after the same checks as [`Registry::blob_read`].
    ///
    /// Errors: [`Error::BlobUnknown`]; [`Error::Storage`] when signing fails.
    pub async fn blob_redirect(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<String>> {
        let Some(expires) = self.redirect else {
            return Ok(None);
        };
        self.blob_size(repo, digest).await?;
        Ok(self.blobs.presigned_get(digest, expires).await?)
    }

    /// `GET /v2/<name>/blobs/<digest>` with an optional `Range` header value.
    ///
    /// Errors: [`Error::BlobUnknown`]; [`Error::RangeNotSatisfiable`] (416).
    pub async fn blob_read(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        range: Option<&str>,
    ) -> Result<BlobRead> {
        let size = self.blob_size(repo, digest).await?;
        let (start, end, partial) = match ByteRange::resolve(range, size) {
            RangeOutcome::Full => (0, size, false),
            RangeOutcome::Partial { start, end } => (start, end, true),
            RangeOutcome::Unsatisfiable => return Err(Error::RangeNotSatisfiable { size }),
        };
        let body = match self.blobs.read(digest, start..end).await {
            Ok(b) => b,
            Err(StorageError::NotFound) => {
                tracing::error!(%digest, "blob recorded in metadata but missing from storage; run berth fsck");
                return Err(Error::BlobUnknown(digest.to_string()));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(BlobRead {
            size,
            range: partial.then_some((start, end)),
            body,
        })
    }

    /// `DELETE /v2/<name>/blobs/<digest>`: removes the repository's link. The bytes
    /// stay while other repositories link them; garbage collection reclaims the rest.
    ///
    /// Errors: [`Error::BlobUnknown`].
    pub async fn blob_delete(&self, repo: &RepositoryName, digest: &Digest) -> Result<()> {
        if self.meta.unlink_blob(repo.as_str(), digest).await? {
            Ok(())
        } else {
            Err(Error::BlobUnknown(digest.to_string()))
        }
    }

    /// `POST /v2/<name>/blobs/uploads/?mount=<digest>[&from=<repo>]`: links a blob
    /// the registry already holds into `repo`. With `from`, the blob must be in that
    /// repository; without, in any repository. Returns the blob's size, or `None` when
    /// nothing can be mounted (the caller then opens a normal upload session).
    pub async fn blob_mount(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        from: Option<&RepositoryName>,
    ) -> Result<Option<u64>> {
        if self
            .meta
            .blob_in_repository(repo.as_str(), digest)
            .await?
            .is_some()
        {
            // Refreshes the link's age; refused only if the blob is being swept.
            return Ok(self.meta.link_existing_blob(repo.as_str(), digest).await?);
        }
        let source = match from {
            Some(from) => Some(from.as_str().to_string()),
            None => {
                self.meta
                    .repository_with_blob(digest, repo.as_str())
                    .await?
            }
        };
        let Some(source) = source else {
            return Ok(None);
        };
        let Some(size) = self.meta.blob_in_repository(&source, digest).await? else {
            return Ok(None);
        };
        if self.blobs.size(digest).await?.is_none() {
            tracing::error!(%digest, "blob recorded in metadata but missing from storage; run berth fsck");
            return Ok(None);
        }
        if !self.meta.project_holds_blob(repo.project(), digest).await? {
            self.quota_admit(repo, None, size).await?;
        }
        // In one transaction: the blob row still exists and no collector is
        // sweeping it (else the client uploads it instead).
        Ok(self.meta.link_existing_blob(repo.as_str(), digest).await?)
    }
}
