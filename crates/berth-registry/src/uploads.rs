//! Upload sessions (distribution-spec §Pushing blobs: monolithically, in chunks,
//! streamed). The bytes are hashed while they stream in; a blob is linked to the
//! repository only after its digest is verified and it is durable.

use berth_oci::range::ContentRange;
use berth_oci::{Digest, RepositoryName};
use berth_storage::{ByteStream, UploadId};
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::registry::Registry;

/// Where an upload session stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStatus {
    /// The session id (goes into `Location` and `Docker-Upload-UUID`).
    pub id: String,
    /// Bytes received so far.
    pub offset: u64,
}

fn parse_digest(param: Option<&str>) -> Result<Digest> {
    let s = param.ok_or_else(|| {
        Error::DigestInvalid("the digest query parameter is required to finish an upload".into())
    })?;
    Digest::parse(s).map_err(|e| Error::DigestInvalid(e.to_string()))
}

/// Passes the body through, failing it when it holds more or fewer than `n` bytes,
/// so a chunk that disagrees with its `Content-Range` is rolled back.
fn exactly(body: ByteStream, n: u64) -> ByteStream {
    let mut seen = 0u64;
    body.map(Some)
        .chain(futures::stream::once(async { None }))
        .filter_map(move |item| {
            let out = match item {
                Some(Ok(bytes)) => {
                    seen += bytes.len() as u64;
                    if seen > n {
                        Some(Err(std::io::Error::other(format!(
                            "body exceeds the {n} bytes of its Content-Range"
                        ))))
                    } else {
                        Some(Ok(bytes))
                    }
                }
                Some(Err(e)) => Some(Err(e)),
                None if seen != n => Some(Err(std::io::Error::other(format!(
                    "body holds {seen} bytes but Content-Range announced {n}"
                )))),
                None => None,
            };
            futures::future::ready(out)
        })
        .boxed()
}

impl Registry {
    async fn session(&self, repo: &RepositoryName, id: &str) -> Result<UploadId> {
        let unknown = || Error::UploadUnknown(id.to_string());
        let upload_id = UploadId::parse(id).ok_or_else(unknown)?;
        match self.meta.upload_repository(id).await? {
            Some(owner) if owner == repo.as_str() => Ok(upload_id),
            _ => Err(unknown()),
        }
    }

    /// `POST /v2/<name>/blobs/uploads/`: opens a session.
    pub async fn upload_start(&self, repo: &RepositoryName) -> Result<UploadStatus> {
        let id = UploadId::new();
        // On an object store the row is the session's state, so it comes
        // first; on the filesystem the file does (a row without a file is
        // removed by garbage collection).
        if self.blobs.is_object_store() {
            self.meta
                .upload_create(&id.to_string(), repo.as_str())
                .await?;
            self.blobs.upload_create(&id).await?;
        } else {
            self.blobs.upload_create(&id).await?;
            self.meta
                .upload_create(&id.to_string(), repo.as_str())
                .await?;
        }
        Ok(UploadStatus {
            id: id.to_string(),
            offset: 0,
        })
    }

    /// `GET /v2/<name>/blobs/uploads/<id>`: bytes received so far.
    ///
    /// Errors: [`Error::UploadUnknown`].
    pub async fn upload_status(&self, repo: &RepositoryName, id: &str) -> Result<UploadStatus> {
        let upload = self.session(repo, id).await?;
        let offset = self
            .blobs
            .upload_len(&upload)
            .await
            .map_err(|e| with_id(e.into(), id))?;
        Ok(UploadStatus {
            id: id.to_string(),
            offset,
        })
    }

    /// `PATCH /v2/<name>/blobs/uploads/<id>`: appends a chunk. `content_range` is the
    /// raw header: when present it must parse and start at the current offset, and
    /// the body must hold exactly its length.
    ///
    /// Errors: [`Error::UploadUnknown`]; [`Error::ChunkOutOfOrder`] (416) for a
    /// malformed or out-of-order range; [`Error::UploadInvalid`] when the body fails.
    pub async fn upload_append(
        &self,
        repo: &RepositoryName,
        id: &str,
        content_range: Option<&str>,
        body: ByteStream,
    ) -> Result<UploadStatus> {
        let upload = self.session(repo, id).await?;
        let (start, body) = match content_range {
            Some(raw) => match ContentRange::parse(raw) {
                Some(r) => (Some(r.start), exactly(body, r.len())),
                None => {
                    let offset = self
                        .blobs
                        .upload_len(&upload)
                        .await
                        .map_err(|e| with_id(e.into(), id))?;
                    return Err(Error::ChunkOutOfOrder { offset });
                }
            },
            None => (None, body),
        };
        let offset = self
            .blobs
            .upload_append(&upload, start, body)
            .await
            .map_err(|e| with_id(e.into(), id))?;
        Ok(UploadStatus {
            id: id.to_string(),
            offset,
        })
    }

    /// `PUT /v2/<name>/blobs/uploads/<id>?digest=<digest>`: appends the optional final
    /// chunk, verifies the digest and links the blob. The session ends either way.
    ///
    /// Errors: [`Error::DigestInvalid`] when the parameter is missing or malformed or
    /// the bytes do not match (nothing is stored); [`Error::UploadUnknown`];
    /// [`Error::ChunkOutOfOrder`] for a bad final chunk.
    pub async fn upload_finish(
        &self,
        repo: &RepositoryName,
        id: &str,
        digest: Option<&str>,
        content_range: Option<&str>,
        final_chunk: Option<ByteStream>,
    ) -> Result<Digest> {
        let upload = self.session(repo, id).await?;
        let digest = parse_digest(digest)?;
        if let Some(body) = final_chunk {
            self.upload_append(repo, id, content_range, body).await?;
        }
        // The size is known now: a push past the project's quota is refused before
        // the bytes are installed (and the session dropped, leaving nothing).
        let len = self
            .blobs
            .upload_len(&upload)
            .await
            .map_err(|e| with_id(e.into(), id))?;
        let (limit, _) = self.quota_limit(repo.project()).await?;
        if limit.is_some() {
            if let Err(e) = self.quota_admit(repo, Some(&digest), len).await {
                if matches!(e, Error::PolicyDenied(_)) {
                    let _ = self.upload_cancel(repo, id).await;
                }
                return Err(e);
            }
        }
        // Garbage collection must not sweep these bytes between install and record.
        let holder = self.hold(&digest, berth_meta::gc::HOLD_TTL).await?;
        let committed = self.blobs.upload_commit(&upload, &digest).await;
        let result = self
            .record_upload(repo, id, &digest, committed, limit, &holder)
            .await;
        if result.is_err() {
            self.release(&digest, &holder).await;
        }
        result.map(|()| digest)
    }

    /// Forgets the session and links the committed blob, within the quota (checked
    /// again in the linking transaction, so concurrent pushes cannot overshoot).
    async fn record_upload(
        &self,
        repo: &RepositoryName,
        id: &str,
        digest: &Digest,
        committed: berth_storage::error::Result<u64>,
        limit: Option<u64>,
        holder: &str,
    ) -> Result<()> {
        let size = match committed {
            Ok(size) => size,
            Err(e) => {
                self.meta.upload_delete(id).await?;
                return Err(with_id(e.into(), id));
            }
        };
        // One transaction: forget the session, link within the quota, release the hold.
        match self
            .meta
            .link_blob_within_quota(
                repo.as_str(),
                repo.project(),
                digest,
                size,
                limit,
                id,
                holder,
            )
            .await?
        {
            Ok(()) => Ok(()),
            Err(q) => {
                self.release(digest, holder).await;
                self.drop_unrecorded(digest).await;
                Err(crate::quota::exceeded(q.would_use, q.limit))
            }
        }
    }

    /// `POST /v2/<name>/blobs/uploads/?digest=<digest>` with the whole blob as body.
    pub async fn upload_monolithic(
        &self,
        repo: &RepositoryName,
        digest: Option<&str>,
        body: ByteStream,
    ) -> Result<Digest> {
        parse_digest(digest)?;
        let status = self.upload_start(repo).await?;
        let result = self
            .upload_finish(repo, &status.id, digest, None, Some(body))
            .await;
        if result.is_err() {
            // The client never saw this session: don't leave it behind.
            let _ = self.upload_cancel(repo, &status.id).await;
        }
        result
    }

    /// `DELETE /v2/<name>/blobs/uploads/<id>`: cancels the session and drops its bytes.
    pub async fn upload_cancel(&self, repo: &RepositoryName, id: &str) -> Result<()> {
        let upload = self.session(repo, id).await?;
        let removed = self.blobs.upload_delete(&upload).await;
        self.meta.upload_delete(id).await?;
        removed.map_err(|e| with_id(e.into(), id))
    }
}

/// Upload session state on an object store, kept in `upload_sessions`
/// (migration 8) so that any node continues any session.
pub(crate) struct MetaUploadStates(pub(crate) berth_meta::MetaStore);

fn storage_err(e: berth_meta::MetaError) -> berth_storage::StorageError {
    berth_storage::StorageError::Io(std::io::Error::other(e.to_string()))
}

impl berth_storage::UploadStates for MetaUploadStates {
    fn load(
        &self,
        id: &str,
    ) -> futures::future::BoxFuture<'_, berth_storage::error::Result<Option<String>>> {
        let id = id.to_string();
        Box::pin(async move {
            match self.0.upload_state(&id).await.map_err(storage_err)? {
                None => Err(berth_storage::StorageError::UploadUnknown),
                Some(state) => Ok(state),
            }
        })
    }

    fn save(
        &self,
        id: &str,
        expected: u64,
        offset: u64,
        cursor: String,
    ) -> futures::future::BoxFuture<'_, berth_storage::error::Result<bool>> {
        let id = id.to_string();
        Box::pin(async move {
            self.0
                .upload_state_save(&id, expected, offset, &cursor)
                .await
                .map_err(storage_err)
        })
    }
}

fn with_id(e: Error, id: &str) -> Error {
    match e {
        Error::UploadUnknown(_) => Error::UploadUnknown(id.to_string()),
        other => other,
    }
}
