//! Manifests (distribution-spec §Pushing Manifests, §Pulling manifests,
//! §Deleting Manifests): validated, stored byte-exact as blobs, indexed in the
//! metadata store with their references, tags and `subject`.

use berth_meta::{ManifestRecord, NewManifest};
use berth_oci::{Algorithm, Digest, Manifest, Reference, RepositoryName};
use bytes::Bytes;

use crate::error::{Error, Result};
use crate::registry::Registry;

/// A manifest that was pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedManifest {
    /// Its digest (sha256 unless pushed by a digest of another algorithm).
    pub digest: Digest,
    /// Its `subject`, answered in the `OCI-Subject` header.
    pub subject: Option<Digest>,
    /// When it is a cosign signature: the verdict recorded for it.
    pub signature: Option<crate::signing::SignatureVerdict>,
}

/// A manifest to serve.
#[derive(Debug, Clone)]
pub struct ManifestContent {
    /// Digest (`Docker-Content-Digest`).
    pub digest: Digest,
    /// Media type as pushed (`Content-Type`).
    pub media_type: String,
    /// Size in bytes (`Content-Length`).
    pub size: u64,
    /// The bytes, exactly as pushed; `None` for HEAD.
    pub body: Option<Bytes>,
}

impl Registry {
    /// `PUT /v2/<name>/manifests/<reference>`.
    ///
    /// Validates the manifest ([`Manifest::parse`]), checks a digest reference
    /// against the bytes, stores the bytes durably, then in one metadata transaction
    /// checks that every referenced blob and child manifest is in the repository,
    /// records the manifest and moves the tag.
    ///
    /// Errors: [`Error::ManifestTooLarge`], [`Error::ManifestInvalid`],
    /// [`Error::DigestInvalid`] (reference digest does not match),
    /// [`Error::ManifestBlobUnknown`], [`Error::PolicyDenied`] (the project's tag
    /// naming rule, or an immutable tag moved to another digest).
    pub async fn manifest_put(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<PushedManifest> {
        self.manifest_put_as(repo, reference, content_type, body, "anonymous")
            .await
    }

    /// [`Registry::manifest_put`] by `actor` (a user or robot name, `anonymous`),
    /// recorded as the pusher in the statistics. Refused with
    /// [`Error::PolicyDenied`] `quota exceeded: …` when the manifest would take
    /// the project past its quota.
    pub async fn manifest_put_as(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        content_type: Option<&str>,
        body: Bytes,
        actor: &str,
    ) -> Result<PushedManifest> {
        if body.len() > self.limits.max_manifest_bytes {
            return Err(Error::ManifestTooLarge {
                limit: self.limits.max_manifest_bytes,
            });
        }
        let manifest = Manifest::parse(&body, content_type)
            .map_err(|e| Error::ManifestInvalid(e.to_string()))?;
        let (algorithm, tag) = match reference {
            Reference::Digest(d) => (d.algorithm(), None),
            Reference::Tag(t) => (Algorithm::Sha256, Some(t.as_str())),
        };
        let digest = Digest::of(algorithm, &body);
        if let Reference::Digest(d) = reference {
            if d != &digest {
                return Err(Error::DigestInvalid(format!(
                    "manifest has digest {digest}, but was pushed as {d}"
                )));
            }
        }
        if let Some(tag) = tag {
            self.check_tag_push(repo, tag, &digest).await?;
        }
        let signature_body = body.clone();
        // A manifest the repository already records (a re-tag, the same bytes
        // again) is one write transaction: its bytes are stored and kept by its
        // record, it is already counted in the quota, and it had its SBOM
        // queued when it was first recorded.
        let repushed = self
            .meta
            .manifest_by_digest(repo.as_str(), &digest)
            .await?
            .is_some()
            && self
                .meta
                .repush_manifest(repo.as_str(), &digest, tag)
                .await?
                .is_some();
        let mut scan = None;
        if repushed {
            if let Some(tag) = tag {
                self.forget(repo.as_str(), tag).await;
            }
        } else {
            self.quota_admit(repo, Some(&digest), body.len() as u64)
                .await?;
            scan = self
                .sbom_wanted(repo, &manifest.media_type, &body, actor)
                .await
                .then_some(crate::sbom::KIND);
            self.manifest_store_as(repo, &manifest, &digest, body, algorithm, tag, false, scan)
                .await?;
        }
        if scan.is_some() {
            self.scan_wakeup.notify_one();
        }
        self.note_push(repo, &digest, tag, actor);
        if let (None, Some(subject)) = (tag, &manifest.subject) {
            if actor != crate::replication::REPLICATION_ACTOR {
                self.note_referrer(repo, subject).await;
            }
        }
        if let (Some(tx), Some(tag)) = (self.push_events.get(), tag) {
            if actor != crate::replication::REPLICATION_ACTOR {
                let _ = tx.send(crate::registry::ContentEvent::Pushed {
                    repository: repo.to_string(),
                    tag: tag.to_string(),
                });
            }
        }
        let signature = self
            .signature_check(repo, &digest, &signature_body, tag)
            .await;
        Ok(PushedManifest {
            digest,
            subject: manifest.subject,
            signature,
        })
    }

    /// Installs the manifest's bytes and records it (and its tag), under a
    /// GC hold so garbage collection cannot sweep the bytes between install
    /// and record; `lazy`: without requiring its children (a proxy project's
    /// manifest); `scan`: queues a scan of that kind with it when it is new.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn manifest_store_as(
        &self,
        repo: &RepositoryName,
        manifest: &Manifest,
        digest: &Digest,
        body: Bytes,
        algorithm: Algorithm,
        tag: Option<&str>,
        lazy: bool,
        scan: Option<&str>,
    ) -> Result<()> {
        let holder = self.hold(digest, berth_meta::gc::HOLD_TTL).await?;
        let result = self
            .manifest_install_and_record(repo, manifest, digest, body, algorithm, tag, lazy, scan)
            .await;
        self.release(digest, &holder).await;
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn manifest_install_and_record(
        &self,
        repo: &RepositoryName,
        manifest: &Manifest,
        digest: &Digest,
        body: Bytes,
        algorithm: Algorithm,
        tag: Option<&str>,
        lazy: bool,
        scan: Option<&str>,
    ) -> Result<()> {
        let annotations = manifest
            .annotations
            .as_ref()
            .filter(|a| !a.is_empty())
            .and_then(|a| serde_json::to_string(a).ok());
        let size = body.len() as u64;
        self.blobs.put(body, algorithm).await?;
        let record = NewManifest {
            digest,
            media_type: &manifest.media_type,
            artifact_type: manifest.artifact_type.as_deref(),
            subject: manifest.subject.as_ref(),
            size,
            annotations,
            children: &manifest.children,
            lazy_children: lazy,
            scan,
        };
        self.meta.put_manifest(repo.as_str(), &record, tag).await?;
        if let Some(tag) = tag {
            self.forget(repo.as_str(), tag).await;
        }
        Ok(())
    }

    async fn manifest_record(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<ManifestRecord> {
        let found = match reference {
            Reference::Digest(d) => self.meta.manifest_by_digest(repo.as_str(), d).await?,
            Reference::Tag(t) => self.meta.manifest_by_tag(repo.as_str(), t.as_str()).await?,
        };
        match found {
            Some(r) => Ok(r),
            None if !self.meta.repository_exists(repo.as_str()).await? => {
                Err(Error::NameUnknown(repo.to_string()))
            }
            None => Err(Error::ManifestUnknown(reference.to_string())),
        }
    }

    /// `GET` (with `body`) or `HEAD` (without) `/v2/<name>/manifests/<reference>`.
    /// Served from the manifest cache when it holds a fresh entry (see [`crate::cache`]).
    ///
    /// Errors: [`Error::NameUnknown`] when the repository does not exist,
    /// [`Error::ManifestUnknown`] otherwise.
    pub async fn manifest_get(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        body: bool,
    ) -> Result<ManifestContent> {
        let key = reference.to_string();
        let tag = match reference {
            Reference::Tag(t) => Some(t.as_str()),
            Reference::Digest(_) => None,
        };
        if let Some(hit) = self.cache.get(repo.as_str(), &key) {
            if body {
                self.note_pull(repo, &hit.digest, tag);
            }
            return Ok(ManifestContent {
                digest: hit.digest.clone(),
                media_type: hit.media_type.clone(),
                size: hit.body.len() as u64,
                body: body.then(|| hit.body.clone()),
            });
        }
        let snapshot = self.cache.snapshot();
        let record = self.manifest_record(repo, reference).await?;
        let bytes = self.blobs.read_all(&record.digest).await.map_err(|e| match e {
            berth_storage::StorageError::NotFound => {
                tracing::error!(digest = %record.digest, "manifest recorded but its bytes are missing; run berth fsck");
                Error::ManifestUnknown(key.clone())
            }
            other => other.into(),
        })?;
        self.cache.put(
            snapshot,
            repo.as_str(),
            &key,
            record.digest.clone(),
            record.media_type.clone(),
            bytes.clone(),
        );
        if body {
            self.note_pull(repo, &record.digest, tag);
        }
        Ok(ManifestContent {
            digest: record.digest,
            media_type: record.media_type,
            size: record.size,
            body: body.then_some(bytes),
        })
    }

    /// Manifest `digest` of `repo` as stored, for berth's own use (SBOMs):
    /// not a pull (no statistics) and not cached (a read here must not keep
    /// serving what another process deleted).
    ///
    /// Errors: [`Error::NameUnknown`], [`Error::ManifestUnknown`].
    pub(crate) async fn manifest_read(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<ManifestContent> {
        let record = self
            .manifest_record(repo, &Reference::Digest(digest.clone()))
            .await?;
        let bytes = self
            .blobs
            .read_all(&record.digest)
            .await
            .map_err(|e| match e {
                berth_storage::StorageError::NotFound => Error::ManifestUnknown(digest.to_string()),
                other => other.into(),
            })?;
        Ok(ManifestContent {
            digest: record.digest,
            media_type: record.media_type,
            size: record.size,
            body: Some(bytes),
        })
    }

    /// `DELETE /v2/<name>/manifests/<reference>`: by digest, deletes the manifest and
    /// every tag pointing at it; by tag, deletes only the tag.
    ///
    /// Errors: [`Error::ManifestUnknown`], [`Error::PolicyDenied`] (an immutable
    /// tag, or a manifest an immutable tag points at).
    pub async fn manifest_delete(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<()> {
        match reference {
            Reference::Digest(d) => self.check_manifest_delete(repo, d).await?,
            Reference::Tag(t) => self.check_tag_delete(repo, t.as_str()).await?,
        }
        let deleted = match reference {
            Reference::Digest(d) => match self.meta.delete_manifest(repo.as_str(), d).await? {
                Some(tags) => {
                    for tag in &tags {
                        self.forget(repo.as_str(), tag).await;
                    }
                    self.note_deleted(repo.as_str(), tags, d.clone(), true);
                    true
                }
                None => false,
            },
            Reference::Tag(t) => {
                // What the tag pointed at, for event-based replication only.
                let pointed = match self.push_events.get() {
                    Some(_) => self.meta.manifest_by_tag(repo.as_str(), t.as_str()).await?,
                    None => None,
                };
                let gone = self.meta.delete_tag(repo.as_str(), t.as_str()).await?;
                if let (true, Some(m)) = (gone, pointed) {
                    self.note_deleted(repo.as_str(), vec![t.to_string()], m.digest, false);
                }
                gone
            }
        };
        self.forget(repo.as_str(), &reference.to_string()).await;
        if deleted {
            Ok(())
        } else {
            Err(Error::ManifestUnknown(reference.to_string()))
        }
    }
}
