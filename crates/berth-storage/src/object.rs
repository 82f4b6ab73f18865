//! Blobs and upload sessions on an S3-compatible object store
//! (`storage.url = "s3://bucket/prefix"`), through `object_store`'s S3 backend.
//!
//! # Layout in the bucket (under the prefix)
//!
//! ```text
//! blobs/<alg>/<first two hex>/<hex>   committed content, written whole
//! uploads/<id>/data                   the session's multipart upload (parts of PART_SIZE)
//! uploads/<id>/tail                   bytes after the last whole part (< PART_SIZE)
//! ```
//!
//! # Upload sessions any node continues
//!
//! A session's state is a [`Cursor`] (offset, the multipart upload id and its
//! part ids, the saved SHA-256 state, the tail's length), kept by the caller
//! in the metadata database through [`UploadStates`], so `PATCH` #1 on node A
//! and `PATCH` #2 on node B continue one session and the digest resumes
//! without re-reading stored bytes. A chunk's bytes go to parts of exactly
//! [`PART_SIZE`] (S3 wants at least 5 MiB for every part but the last); what
//! is left over is the tail object, prefixed to the next chunk (so a client
//! sending tiny chunks costs a re-read of at most one part's worth per chunk).
//! The cursor is saved only after the chunk's bytes are stored, with a
//! compare-and-set on the offset: a chunk that fails midway leaves the
//! session as it was (a half-uploaded part is overwritten by the retry), and
//! two nodes appending to one session at once cannot both win. A multipart
//! upload is recorded in the cursor as soon as it is created, so cancelling
//! the session or garbage collection can always abort it.
//!
//! # Commit
//!
//! The digest comes from the saved hash state; on a mismatch nothing is
//! stored. A session without whole parts (under [`PART_SIZE`]) is written to
//! its content-addressed key from the tail in one `PUT`. Otherwise the tail
//! becomes the last part, the multipart upload is completed at
//! `uploads/<id>/data` and copied server-side to the blob's key (the bytes do
//! not pass through berth again), then the session's objects are deleted.
//! S3's single-request copy is limited to 5 GiB; larger blobs fail the
//! commit (a known limit, docs/deploy.md). The blob row is committed by the
//! caller only after this returns, so a blob is visible only once it is
//! whole; what a crash leaves under `uploads/` is removed by garbage
//! collection (its session row ages out, and its objects with it).

use std::sync::Arc;

use berth_oci::{Algorithm, Digest, Hasher, ResumableSha256};
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::StreamExt;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::blob_store::ByteStream;
use crate::error::{Result, StorageError};
use crate::upload::UploadId;

/// Size of every multipart part but the last, bytes (S3's minimum is 5 MiB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Where an upload session's [`Cursor`] is kept (the metadata database's
/// `upload_sessions.state`, by `berth-registry`).
pub trait UploadStates: Send + Sync {
    /// The saved cursor text of session `id`: `Ok(None)` when the session
    /// exists with no cursor yet (nothing received); `Err(UploadUnknown)`
    /// when there is no such session.
    fn load(&self, id: &str) -> BoxFuture<'_, Result<Option<String>>>;
    /// Replaces the cursor of `id` (now at `offset`) if its saved offset is
    /// still `expected` (0 for a session with no cursor); `false` when
    /// another request moved it first.
    fn save(
        &self,
        id: &str,
        expected: u64,
        offset: u64,
        cursor: String,
    ) -> BoxFuture<'_, Result<bool>>;
}

/// An upload session's state between requests (JSON in the database).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cursor {
    /// Bytes received.
    pub offset: u64,
    /// The multipart upload at `uploads/<id>/data`, once a whole part was sent.
    pub multipart: Option<String>,
    /// Ids (ETags) of the parts uploaded, in order.
    pub parts: Vec<String>,
    /// The saved SHA-256 state (hex) over all `offset` bytes.
    pub hash: String,
    /// Bytes in `uploads/<id>/tail`.
    pub tail: u64,
}

/// What berth needs of a bucket: objects, resumable multipart uploads, and
/// presigned URLs. S3, Google Cloud Storage and Azure Blob Storage all are.
pub(crate) trait Bucket: ObjectStore + MultipartStore + Signer {}
impl<T: ObjectStore + MultipartStore + Signer> Bucket for T {}

/// The object-store side of a [`crate::BlobStore`].
pub struct ObjectBackend {
    s3: Arc<dyn Bucket>,
    prefix: String,
    states: Arc<dyn UploadStates>,
    /// Said with a failed write probe: what the client was configured from.
    hint: Option<&'static str>,
}

/// A parsed `storage.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// `file://<dir>`: the data directory's `blobs/` and `uploads/`.
    File(std::path::PathBuf),
    /// `s3://bucket/prefix`.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix (no leading or trailing `/`; may be empty).
        prefix: String,
    },
    /// `gs://bucket/prefix`: Google Cloud Storage, configured from the
    /// `GOOGLE_*` variables `object_store` reads. Compiled in, untested.
    Gcs {
        /// Bucket name.
        bucket: String,
        /// Key prefix.
        prefix: String,
    },
    /// `az://container/prefix`: Azure Blob Storage, configured from the
    /// `AZURE_*` variables `object_store` reads. Compiled in, untested.
    Azure {
        /// Container name.
        container: String,
        /// Key prefix.
        prefix: String,
    },
}

impl std::str::FromStr for StorageUrl {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        if let Some(dir) = s.strip_prefix("file://") {
            if dir.is_empty() {
                return Err(format!("storage.url {s:?}: expected file://<directory>"));
            }
            return Ok(StorageUrl::File(dir.into()));
        }
        for scheme in ["s3", "gs", "az"] {
            let Some(rest) = s.strip_prefix(&format!("{scheme}://")) else {
                continue;
            };
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!(
                    "storage.url {s:?}: expected {scheme}://<bucket>[/<prefix>]"
                ));
            }
            let (bucket, prefix) = (bucket.to_string(), prefix.trim_matches('/').to_string());
            return Ok(match scheme {
                "s3" => StorageUrl::S3 { bucket, prefix },
                "gs" => StorageUrl::Gcs { bucket, prefix },
                _ => StorageUrl::Azure {
                    container: bucket,
                    prefix,
                },
            });
        }
        Err(format!(
            "storage.url {s:?}: expected file://<directory>, s3://<bucket>[/<prefix>], \
             gs://<bucket>[/<prefix>] or az://<container>[/<prefix>]"
        ))
    }
}

/// Settings of the S3 client beyond the standard `AWS_*` environment
/// variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`), which it reads first.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// Endpoint URL (self-hosted stores: Garage, MinIO); overrides `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// Region; overrides `AWS_REGION`.
    pub region: Option<String>,
    /// Access key id; overrides `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// Secret access key; overrides `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<String>,
    /// Allow plain HTTP endpoints; overrides `AWS_ALLOW_HTTP`.
    pub allow_http: Option<bool>,
    /// Virtual-hosted-style requests (`bucket.host`) instead of path style
    /// (`host/bucket`, the default, which self-hosted stores expect).
    pub virtual_hosted_style: bool,
}

fn io(e: impl std::fmt::Display) -> StorageError {
    StorageError::Io(std::io::Error::other(e.to_string()))
}

impl ObjectBackend {
    /// Connects to `bucket` (no request is made yet).
    ///
    /// Errors: [`StorageError::Backend`] for settings `object_store` refuses.
    pub fn s3(
        bucket: &str,
        prefix: &str,
        settings: &S3Settings,
        states: Arc<dyn UploadStates>,
    ) -> Result<ObjectBackend> {
        let mut b = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_virtual_hosted_style_request(settings.virtual_hosted_style);
        if let Some(v) = &settings.endpoint {
            b = b.with_endpoint(v);
        }
        if let Some(v) = &settings.region {
            b = b.with_region(v);
        }
        if let Some(v) = &settings.access_key_id {
            b = b.with_access_key_id(v);
        }
        if let Some(v) = &settings.secret_access_key {
            b = b.with_secret_access_key(v);
        }
        if let Some(v) = settings.allow_http {
            b = b.with_allow_http(v);
        }
        let keys =
            settings.access_key_id.is_some() || std::env::var_os("AWS_ACCESS_KEY_ID").is_some();
        Ok(ObjectBackend {
            s3: Arc::new(b.build()?),
            prefix: prefix.trim_matches('/').to_string(),
            states,
            hint: (!keys).then_some(
                " (no AWS_ACCESS_KEY_ID or storage.s3.access_key_id was given, so the S3 client \
                 asked the EC2 instance metadata service for credentials; for Garage, MinIO and \
                 the like set AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY, for every berth command)",
            ),
        })
    }

    /// Google Cloud Storage from the `GOOGLE_*` environment (untested).
    ///
    /// Errors: [`StorageError::Backend`] for settings `object_store` refuses.
    pub fn gcs(bucket: &str, prefix: &str, states: Arc<dyn UploadStates>) -> Result<ObjectBackend> {
        let b = object_store::gcp::GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
        Ok(ObjectBackend {
            s3: Arc::new(b.build()?),
            prefix: prefix.trim_matches('/').to_string(),
            states,
            hint: None,
        })
    }

    /// Azure Blob Storage from the `AZURE_*` environment (untested).
    ///
    /// Errors: [`StorageError::Backend`] for settings `object_store` refuses.
    pub fn azure(
        container: &str,
        prefix: &str,
        states: Arc<dyn UploadStates>,
    ) -> Result<ObjectBackend> {
        let b =
            object_store::azure::MicrosoftAzureBuilder::from_env().with_container_name(container);
        Ok(ObjectBackend {
            s3: Arc::new(b.build()?),
            prefix: prefix.trim_matches('/').to_string(),
            states,
            hint: None,
        })
    }

    /// The key of `rel` (a path under the prefix).
    fn key(&self, rel: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(rel)
        } else {
            ObjectPath::from(format!("{}/{rel}", self.prefix))
        }
    }

    /// The key of a blob: `blobs/<alg>/<first two hex>/<hex>`.
    pub(crate) fn blob_key(&self, digest: &Digest) -> ObjectPath {
        let hex = digest.hex();
        self.key(&format!(
            "blobs/{}/{}/{hex}",
            digest.algorithm().as_str(),
            &hex[..2]
        ))
    }

    fn data_key(&self, id: &UploadId) -> ObjectPath {
        self.key(&format!("uploads/{id}/data"))
    }

    fn tail_key(&self, id: &UploadId) -> ObjectPath {
        self.key(&format!("uploads/{id}/tail"))
    }

    /// The bucket, for reads, lists and deletes shared with the local backend.
    pub(crate) fn store(&self) -> Arc<dyn ObjectStore> {
        self.s3.clone()
    }

    /// The key prefix (no leading or trailing `/`; may be empty).
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Proves the bucket takes writes: puts and deletes a probe object.
    ///
    /// Errors: [`StorageError::Backend`] (credentials, bucket, endpoint).
    pub(crate) async fn check_writable(&self) -> Result<()> {
        let probe = self.key(&format!("uploads/.write-probe-{}", uuid::Uuid::new_v4()));
        let hinted = |e: object_store::Error| match self.hint {
            Some(h) => io(format!("object store: {e}{h}")),
            None => StorageError::Backend(e),
        };
        self.s3
            .put(&probe, PutPayload::from_static(b"berth"))
            .await
            .map_err(hinted)?;
        self.s3.delete(&probe).await.map_err(hinted)?;
        Ok(())
    }

    /// A presigned `GET` URL of a blob, valid for `expires` (S3 signature
    /// v4, verified by the store; berth serves none of the bytes).
    ///
    /// Errors: [`StorageError::Backend`] (no credentials to sign with).
    pub(crate) async fn presigned_get(
        &self,
        digest: &Digest,
        expires: std::time::Duration,
    ) -> Result<String> {
        let url = self
            .s3
            .signed_url(
                object_store::signer::Method::GET,
                &self.blob_key(digest),
                expires,
            )
            .await?;
        Ok(url.to_string())
    }

    /// Stores `bytes` under `digest` (already computed by the caller).
    pub(crate) async fn put_blob(&self, digest: &Digest, bytes: Bytes) -> Result<()> {
        self.s3
            .put(&self.blob_key(digest), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    async fn load(&self, id: &UploadId) -> Result<Cursor> {
        match self.states.load(&id.to_string()).await? {
            None => Ok(Cursor {
                hash: hex::encode(ResumableSha256::new().save()),
                ..Cursor::default()
            }),
            Some(text) => serde_json::from_str(&text).map_err(io),
        }
    }

    async fn read_tail(&self, id: &UploadId, cursor: &Cursor) -> Result<BytesMut> {
        let mut buf = BytesMut::with_capacity(PART_SIZE);
        if cursor.tail > 0 {
            let tail = self.s3.get(&self.tail_key(id)).await?.bytes().await?;
            if tail.len() as u64 != cursor.tail {
                return Err(io(format!(
                    "upload {id}: its tail object holds {} bytes, the session says {}",
                    tail.len(),
                    cursor.tail
                )));
            }
            buf.extend_from_slice(&tail);
        }
        Ok(buf)
    }

    /// Bytes received so far.
    ///
    /// Errors: [`StorageError::UploadUnknown`].
    pub(crate) async fn upload_len(&self, id: &UploadId) -> Result<u64> {
        Ok(self.load(id).await?.offset)
    }

    /// Appends `body` (see the module docs); `start` must equal the current
    /// offset when given. Returns the new offset.
    ///
    /// Errors: [`StorageError::UploadUnknown`], [`StorageError::RangeMismatch`]
    /// (also when another node appended to the session meanwhile),
    /// [`StorageError::Body`], [`StorageError::Backend`].
    pub(crate) async fn upload_append(
        &self,
        id: &UploadId,
        start: Option<u64>,
        mut body: ByteStream,
    ) -> Result<u64> {
        let before = self.load(id).await?;
        if let Some(requested) = start {
            if requested != before.offset {
                return Err(StorageError::RangeMismatch {
                    offset: before.offset,
                    requested,
                });
            }
        }
        let mut cursor = before.clone();
        let mut hasher = hex::decode(&cursor.hash)
            .ok()
            .and_then(|b| ResumableSha256::restore(&b))
            .ok_or_else(|| io(format!("upload {id}: its saved hash state is unreadable")))?;
        let mut buf = self.read_tail(id, &cursor).await?;
        let data = self.data_key(id);
        let mut received = 0u64;
        let outcome: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(StorageError::Body)?;
                hasher.update(&chunk);
                received += chunk.len() as u64;
                buf.extend_from_slice(&chunk);
                while buf.len() >= PART_SIZE {
                    let part = buf.split_to(PART_SIZE).freeze();
                    let upload = match &cursor.multipart {
                        Some(m) => m.clone(),
                        None => {
                            let m = self.s3.create_multipart(&data).await?;
                            // Recorded at once (same offset, no parts yet), so
                            // a chunk that fails from here on leaves an upload
                            // that cancelling or garbage collection can abort.
                            let mut noted = before.clone();
                            noted.multipart = Some(m.clone());
                            let text = serde_json::to_string(&noted).map_err(io)?;
                            let id_text = id.to_string();
                            if !self
                                .states
                                .save(&id_text, before.offset, before.offset, text)
                                .await?
                            {
                                let _ = self.s3.abort_multipart(&data, &m).await;
                                return Err(StorageError::RangeMismatch {
                                    offset: self.load(id).await?.offset,
                                    requested: before.offset,
                                });
                            }
                            cursor.multipart = Some(m.clone());
                            m
                        }
                    };
                    let idx = cursor.parts.len();
                    let PartId { content_id } = self
                        .s3
                        .put_part(&data, &upload, idx, PutPayload::from_bytes(part))
                        .await?;
                    cursor.parts.push(content_id);
                }
            }
            Ok(())
        }
        .await;
        // On an error nothing more was saved: the session is as it was
        // (parts sent meanwhile are overwritten by the retry).
        outcome?;
        if !buf.is_empty() || before.tail > 0 {
            self.s3
                .put(
                    &self.tail_key(id),
                    PutPayload::from_bytes(buf.clone().freeze()),
                )
                .await?;
        }
        cursor.tail = buf.len() as u64;
        cursor.offset = before.offset + received;
        cursor.hash = hex::encode(hasher.save());
        let text = serde_json::to_string(&cursor).map_err(io)?;
        if !self
            .states
            .save(&id.to_string(), before.offset, cursor.offset, text)
            .await?
        {
            let now = self.load(id).await?.offset;
            return Err(StorageError::RangeMismatch {
                offset: now,
                requested: before.offset,
            });
        }
        Ok(cursor.offset)
    }

    /// Verifies the session's digest and installs the blob (see the module
    /// docs). Returns its size. The session's objects are removed either way;
    /// its row is the caller's.
    ///
    /// Errors: [`StorageError::DigestMismatch`] (nothing stored),
    /// [`StorageError::UploadUnknown`], [`StorageError::Backend`].
    pub(crate) async fn upload_commit(&self, id: &UploadId, expected: &Digest) -> Result<u64> {
        let cursor = self.load(id).await?;
        let result = self.commit(id, &cursor, expected).await;
        self.remove_session_objects(id, &cursor).await;
        result.map(|()| cursor.offset)
    }

    async fn commit(&self, id: &UploadId, cursor: &Cursor, expected: &Digest) -> Result<()> {
        let tail = self.read_tail(id, cursor).await?.freeze();
        let data = self.data_key(id);
        let Some(upload) = &cursor.multipart else {
            // Everything is in the tail: verify, then write the blob whole.
            let actual = Digest::of(expected.algorithm(), &tail);
            if &actual != expected {
                return Err(StorageError::DigestMismatch {
                    expected: expected.clone(),
                    actual,
                });
            }
            return self.put_blob(expected, tail).await;
        };
        if expected.algorithm() == Algorithm::Sha256 {
            let actual = hex::decode(&cursor.hash)
                .ok()
                .and_then(|b| ResumableSha256::restore(&b))
                .ok_or_else(|| io(format!("upload {id}: its saved hash state is unreadable")))?
                .finish();
            if &actual != expected {
                return Err(StorageError::DigestMismatch {
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        let mut parts: Vec<PartId> = cursor
            .parts
            .iter()
            .map(|p| PartId {
                content_id: p.clone(),
            })
            .collect();
        if !tail.is_empty() {
            parts.push(
                self.s3
                    .put_part(&data, upload, parts.len(), PutPayload::from_bytes(tail))
                    .await?,
            );
        }
        self.s3.complete_multipart(&data, upload, parts).await?;
        if expected.algorithm() != Algorithm::Sha256 {
            // The running hash is SHA-256; another algorithm is checked by
            // reading the assembled object once.
            let mut h = Hasher::new(expected.algorithm());
            let mut stream = self.s3.get(&data).await?.into_stream();
            while let Some(chunk) = stream.next().await {
                h.update(&chunk?);
            }
            let actual = h.finish();
            if &actual != expected {
                return Err(StorageError::DigestMismatch {
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        self.s3.copy(&data, &self.blob_key(expected)).await?;
        Ok(())
    }

    /// Deletes a session's objects and aborts its multipart upload, ignoring
    /// what is already gone.
    async fn remove_session_objects(&self, id: &UploadId, cursor: &Cursor) {
        if let Some(upload) = &cursor.multipart {
            let _ = self.s3.abort_multipart(&self.data_key(id), upload).await;
        }
        let _ = self.s3.delete(&self.data_key(id)).await;
        let _ = self.s3.delete(&self.tail_key(id)).await;
    }

    /// Cancels a session: aborts its multipart upload, deletes its objects.
    ///
    /// Errors: [`StorageError::UploadUnknown`].
    pub(crate) async fn upload_delete(&self, id: &UploadId) -> Result<()> {
        let cursor = self.load(id).await?;
        self.remove_session_objects(id, &cursor).await;
        Ok(())
    }

    /// Deletes what `uploads/<name>/` holds (an abandoned session's tail and
    /// data objects; its multipart upload, when its cursor is still known).
    pub(crate) async fn remove_upload_entry(&self, name: &str) -> Result<()> {
        if let Some(id) = UploadId::parse(name) {
            if let Ok(cursor) = self.load(&id).await {
                self.remove_session_objects(&id, &cursor).await;
                return Ok(());
            }
        }
        let prefix = self.key(&format!("uploads/{name}"));
        let keys: Vec<_> = self
            .s3
            .list(Some(&prefix))
            .filter_map(|m| async move { m.ok().map(|m| m.location) })
            .collect()
            .await;
        for k in keys {
            let _ = self.s3.delete(&k).await;
        }
        Ok(())
    }
}

impl std::fmt::Debug for ObjectBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectBackend({})", self.s3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_urls_parse() {
        assert_eq!(
            "s3://bucket/some/prefix/".parse::<StorageUrl>(),
            Ok(StorageUrl::S3 {
                bucket: "bucket".into(),
                prefix: "some/prefix".into()
            })
        );
        assert_eq!(
            "s3://bucket".parse::<StorageUrl>(),
            Ok(StorageUrl::S3 {
                bucket: "bucket".into(),
                prefix: String::new()
            })
        );
        assert_eq!(
            "file:///var/lib/berth".parse::<StorageUrl>(),
            Ok(StorageUrl::File("/var/lib/berth".into()))
        );
        assert_eq!(
            "az://c/p".parse::<StorageUrl>(),
            Ok(StorageUrl::Azure {
                container: "c".into(),
                prefix: "p".into()
            })
        );
        assert!("ftp://b"
            .parse::<StorageUrl>()
            .unwrap_err()
            .contains("s3://"));
        assert!("s3://".parse::<StorageUrl>().is_err());
    }
}
