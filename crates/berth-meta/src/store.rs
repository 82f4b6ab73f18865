//! [`MetaStore`]: every metadata query of the registry core.

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use berth_oci::{ChildKind, ChildRef, Digest};
use sqlx::Row;

use crate::error::{MetaError, Result};

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The metadata store. Cheap to clone (pools are reference-counted).
#[derive(Clone)]
pub struct MetaStore {
    pub(crate) read: crate::timed::TimedPool,
    pub(crate) write: crate::timed::TimedPool,
    pub(crate) backend: crate::Backend,
    pub(crate) url: crate::DatabaseUrl,
    /// Group commit of the write transactions ([`crate::durable`]).
    pub(crate) durable: std::sync::Arc<crate::durable::GroupCommit>,
}

/// A manifest as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRecord {
    /// Its digest.
    pub digest: Digest,
    /// Media type it was pushed with (served as `Content-Type`).
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
}

/// A manifest to record, already validated.
#[derive(Debug, Clone)]
pub struct NewManifest<'a> {
    /// Digest of the bytes.
    pub digest: &'a Digest,
    /// Effective media type.
    pub media_type: &'a str,
    /// Artifact type for the referrers listing.
    pub artifact_type: Option<&'a str>,
    /// `subject` digest.
    pub subject: Option<&'a Digest>,
    /// Size in bytes.
    pub size: u64,
    /// Annotations as a JSON object text.
    pub annotations: Option<String>,
    /// Blobs and child manifests that must exist in the repository.
    pub children: &'a [ChildRef],
    /// Record `children` without requiring them: a proxy project's manifest,
    /// whose blobs and child manifests are fetched from upstream when first
    /// pulled (docs/proxy.md).
    pub lazy_children: bool,
    /// Queue a scan of this kind (`scan_tasks`, e.g. `sbom`) in the same
    /// transaction, when the manifest is new to the repository.
    pub scan: Option<&'a str>,
}

/// What [`MetaStore::put_manifest`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutManifestOutcome {
    /// True when the manifest was new to the repository.
    pub created: bool,
    /// The digest the tag pointed to before, when a tag was moved.
    pub previous_tag_target: Option<Digest>,
}

/// A referrer of a subject (distribution-spec §Listing Referrers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrerRecord {
    /// The referring manifest's digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
    /// Its artifact type, if any.
    pub artifact_type: Option<String>,
    /// Its annotations as JSON object text, if any.
    pub annotations: Option<String>,
}

/// A blob row, for fsck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRecord {
    /// Digest.
    pub digest: Digest,
    /// Size the row records.
    pub size: u64,
}

/// A tag, for fsck and listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRecord {
    /// Repository name.
    pub repository: String,
    /// Tag name.
    pub tag: String,
    /// Target manifest.
    pub digest: Digest,
}

pub(crate) fn digest_col(s: String) -> Result<Digest> {
    Digest::from_str(&s).map_err(|e| MetaError::Database(sqlx::Error::Decode(Box::new(e))))
}

impl MetaStore {
    pub(crate) async fn ensure_repository(
        tx: &mut crate::durable::WriteTx,
        name: &str,
    ) -> Result<i64> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM repositories WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut **tx)
            .await?;
        if let Some(id) = id {
            return Ok(id);
        }
        sqlx::query("INSERT INTO repositories (name, created_at) VALUES ($1, $2) ON CONFLICT(name) DO NOTHING")
            .bind(name)
            .bind(now_ms())
            .execute(&mut **tx)
            .await?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM repositories WHERE name = $1")
            .bind(name)
            .fetch_one(&mut **tx)
            .await?;
        Ok(id)
    }

    /// True when the repository exists (something was pushed or mounted into it).
    pub async fn repository_exists(&self, name: &str) -> Result<bool> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM repositories WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
        Ok(id.is_some())
    }

    // ------------------------------------------------------------------ blobs

    /// Size of a blob the repository may read: linked to it, or one of its manifests.
    pub async fn blob_in_repository(&self, repo: &str, digest: &Digest) -> Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT b.size FROM blobs b JOIN repositories r ON r.name = $1
             WHERE b.digest = $2 AND (
                EXISTS (SELECT 1 FROM repo_blobs l WHERE l.repo_id = r.id AND l.digest = b.digest)
             OR EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id AND m.digest = b.digest))",
        )
        .bind(repo)
        .bind(digest.as_str())
        .fetch_optional(&self.read)
        .await?;
        Ok(size.map(|s| s as u64))
    }

    /// Size of a blob recorded anywhere in the registry.
    pub async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar("SELECT size FROM blobs WHERE digest = $1")
            .bind(digest.as_str())
            .fetch_optional(&self.read)
            .await?;
        Ok(size.map(|s| s as u64))
    }

    /// Records a blob whose bytes are durable and links it to `repo` (creating the
    /// repository if needed). Idempotent; refreshes `linked_at`.
    pub async fn link_blob(&self, repo: &str, digest: &Digest, size: u64) -> Result<()> {
        let mut tx = self.begin().await?;
        let repo_id = Self::ensure_repository(&mut tx, repo).await?;
        let now = now_ms();
        sqlx::query("INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT(digest) DO NOTHING")
            .bind(digest.as_str())
            .bind(size as i64)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO repo_blobs (repo_id, digest, linked_at) VALUES ($1, $2, $3)
             ON CONFLICT(repo_id, digest) DO UPDATE SET linked_at = excluded.linked_at",
        )
        .bind(repo_id)
        .bind(digest.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes the repository's link to a blob. Returns false when there was none.
    /// The bytes stay until garbage collection finds no link keeping them.
    pub async fn unlink_blob(&self, repo: &str, digest: &Digest) -> Result<bool> {
        self.delete_in_repository(
            "DELETE FROM repo_blobs WHERE digest = $1 AND repo_id = (SELECT id FROM repositories WHERE name = $2)",
            digest.as_str(),
            repo,
        )
        .await
    }

    /// Runs a one-row `DELETE … WHERE <key> = ? AND repo_id = (… name = ?)`;
    /// true when a row went. A single statement is atomic on its own.
    async fn delete_in_repository(&self, sql: &'static str, key: &str, repo: &str) -> Result<bool> {
        let n = self
            .write_one(sqlx::query(sql).bind(key).bind(repo))
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// A repository other than `except` that links the blob, for a mount without `from`.
    pub async fn repository_with_blob(
        &self,
        digest: &Digest,
        except: &str,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT r.name FROM repo_blobs l JOIN repositories r ON r.id = l.repo_id
             WHERE l.digest = $1 AND r.name <> $2 ORDER BY r.name LIMIT 1",
        )
        .bind(digest.as_str())
        .bind(except)
        .fetch_optional(&self.read)
        .await?)
    }

    // ---------------------------------------------------------------- uploads

    /// Records a new upload session for `repo`. Visible to every node when
    /// this returns; not flushed (crate::durable): the bytes staged for the
    /// session are not synced before the upload's commit either, so a power
    /// loss before then loses the upload as a whole and the client starts it
    /// again, while `kill -9` loses nothing.
    pub async fn upload_create(&self, id: &str, repo: &str) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO upload_sessions (id, repository, started_at, updated_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(repo)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit_unflushed().await?;
        Ok(())
    }

    /// The repository an upload session belongs to.
    pub async fn upload_repository(&self, id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT repository FROM upload_sessions WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    /// The saved state of an upload session on an object store: `Ok(None)`
    /// when there is no such session, `Ok(Some(None))` when it has no state
    /// yet (see migration 8).
    pub async fn upload_state(&self, id: &str) -> Result<Option<Option<String>>> {
        Ok(
            sqlx::query_scalar("SELECT state FROM upload_sessions WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    /// Replaces an upload session's state and offset if its offset is still
    /// `expected` (compare-and-set: of two appends to one session, one wins);
    /// refreshes `updated_at`. False when the offset moved or the session is
    /// gone.
    pub async fn upload_state_save(
        &self,
        id: &str,
        expected: u64,
        offset: u64,
        state: &str,
    ) -> Result<bool> {
        let done = self
            .write_one(
                sqlx::query(
                    "UPDATE upload_sessions SET state = $1, offset_bytes = $2, updated_at = $3
                     WHERE id = $4 AND offset_bytes = $5",
                )
                .bind(state)
                .bind(i64::try_from(offset).unwrap_or(i64::MAX))
                .bind(now_ms())
                .bind(id)
                .bind(i64::try_from(expected).unwrap_or(i64::MAX)),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets an upload session.
    pub async fn upload_delete(&self, id: &str) -> Result<()> {
        self.write_one(sqlx::query("DELETE FROM upload_sessions WHERE id = $1").bind(id))
            .await?;
        Ok(())
    }

    // -------------------------------------------------------------- manifests

    /// Records a manifest (its bytes already durable in the blob store) and
    /// optionally points `tag` at it, in one transaction.
    ///
    /// Every entry of `children` must be in the repository: blobs linked to it (or
    /// its manifests), child manifests among its manifests. Otherwise nothing is
    /// written and [`MetaError::MissingChild`] names the first missing digest.
    pub async fn put_manifest(
        &self,
        repo: &str,
        m: &NewManifest<'_>,
        tag: Option<&str>,
    ) -> Result<PutManifestOutcome> {
        let mut tx = self.begin().await?;
        let repo_id = Self::ensure_repository(&mut tx, repo).await?;
        for child in m.children.iter().filter(|_| !m.lazy_children) {
            let present: Option<i64> = match child.kind {
                ChildKind::Manifest => {
                    sqlx::query_scalar("SELECT 1 FROM manifests WHERE repo_id = $1 AND digest = $2")
                }
                ChildKind::Config | ChildKind::Layer => sqlx::query_scalar(
                    "SELECT 1 FROM repo_blobs WHERE repo_id = $1 AND digest = $2
                     UNION ALL SELECT 1 FROM manifests WHERE repo_id = $1 AND digest = $2 LIMIT 1",
                ),
            }
            .bind(repo_id)
            .bind(child.digest.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if present.is_none() {
                return Err(MetaError::MissingChild(child.digest.to_string()));
            }
        }
        let now = now_ms();
        sqlx::query("INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT(digest) DO NOTHING")
            .bind(m.digest.as_str())
            .bind(m.size as i64)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let created = sqlx::query(
            "INSERT INTO manifests (repo_id, digest, media_type, artifact_type, subject, size, annotations, pushed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT(repo_id, digest) DO NOTHING",
        )
        .bind(repo_id)
        .bind(m.digest.as_str())
        .bind(m.media_type)
        .bind(m.artifact_type)
        .bind(m.subject.map(|s| s.as_str()))
        .bind(m.size as i64)
        .bind(m.annotations.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if !created {
            // A re-push counts as a push: garbage collection's grace period for
            // untagged manifests starts again (docs/gc.md).
            sqlx::query("UPDATE manifests SET pushed_at = $1 WHERE repo_id = $2 AND digest = $3")
                .bind(now)
                .bind(repo_id)
                .bind(m.digest.as_str())
                .execute(&mut *tx)
                .await?;
        }
        if let (true, Some(kind)) = (created, m.scan) {
            sqlx::query(
                "INSERT INTO scan_tasks (repository, digest, kind, status, requested_at)
                 VALUES ($1, $2, $3, 'pending', $4) ON CONFLICT (repository, digest, kind) DO NOTHING",
            )
            .bind(repo)
            .bind(m.digest.as_str())
            .bind(kind)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        if created {
            for child in m.children {
                sqlx::query(
                    "INSERT INTO manifest_refs (repo_id, manifest_digest, kind, child_digest) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING",
                )
                .bind(repo_id)
                .bind(m.digest.as_str())
                .bind(child.kind.as_str())
                .bind(child.digest.as_str())
                .execute(&mut *tx)
                .await?;
            }
        }
        let previous_tag_target = match tag {
            Some(tag) => Self::move_tag(&mut tx, repo_id, tag, m.digest, now).await?,
            None => None,
        };
        tx.commit().await?;
        Ok(PutManifestOutcome {
            created,
            previous_tag_target,
        })
    }

    /// A push of a manifest the repository already records (a re-tag, or the
    /// same bytes again): in one write transaction, restarts its grace period
    /// and points `tag` at it, as [`MetaStore::put_manifest`] would, without
    /// checking its children again (they were checked when it was recorded and
    /// are kept with it). `None`, changing nothing, when the repository does
    /// not record it (any more): the caller stores it in full.
    pub async fn repush_manifest(
        &self,
        repo: &str,
        digest: &Digest,
        tag: Option<&str>,
    ) -> Result<Option<PutManifestOutcome>> {
        let mut tx = self.begin().await?;
        let now = now_ms();
        let repo_id: Option<i64> = sqlx::query_scalar(
            "UPDATE manifests SET pushed_at = $1
             WHERE repo_id = (SELECT id FROM repositories WHERE name = $2) AND digest = $3
             RETURNING repo_id",
        )
        .bind(now)
        .bind(repo)
        .bind(digest.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(repo_id) = repo_id else {
            tx.rollback().await?;
            return Ok(None);
        };
        let previous_tag_target = match tag {
            Some(tag) => Self::move_tag(&mut tx, repo_id, tag, digest, now).await?,
            None => None,
        };
        tx.commit().await?;
        Ok(Some(PutManifestOutcome {
            created: false,
            previous_tag_target,
        }))
    }

    /// Points `tag` at `digest`; the digest it pointed at before, if it moved.
    async fn move_tag(
        tx: &mut crate::durable::WriteTx,
        repo_id: i64,
        tag: &str,
        digest: &Digest,
        now: i64,
    ) -> Result<Option<Digest>> {
        let prev: Option<String> =
            sqlx::query_scalar("SELECT digest FROM tags WHERE repo_id = $1 AND name = $2")
                .bind(repo_id)
                .bind(tag)
                .fetch_optional(&mut **tx)
                .await?;
        if prev.as_deref() == Some(digest.as_str()) {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO tags (repo_id, name, digest, pushed_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT(repo_id, name) DO UPDATE SET digest = excluded.digest, pushed_at = excluded.pushed_at",
        )
        .bind(repo_id)
        .bind(tag)
        .bind(digest.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        prev.map(digest_col).transpose()
    }

    /// A manifest of the repository by digest.
    pub async fn manifest_by_digest(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<ManifestRecord>> {
        let row = sqlx::query(
            "SELECT m.media_type, m.size FROM manifests m JOIN repositories r ON r.id = m.repo_id
             WHERE r.name = $1 AND m.digest = $2",
        )
        .bind(repo)
        .bind(digest.as_str())
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|r| ManifestRecord {
            digest: digest.clone(),
            media_type: r.get("media_type"),
            size: r.get::<i64, _>("size") as u64,
        }))
    }

    /// The manifest a tag points at.
    pub async fn manifest_by_tag(&self, repo: &str, tag: &str) -> Result<Option<ManifestRecord>> {
        let row = sqlx::query(
            "SELECT m.digest, m.media_type, m.size FROM tags t
             JOIN repositories r ON r.id = t.repo_id
             JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
             WHERE r.name = $1 AND t.name = $2",
        )
        .bind(repo)
        .bind(tag)
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| {
            Ok(ManifestRecord {
                digest: digest_col(r.get("digest"))?,
                media_type: r.get("media_type"),
                size: r.get::<i64, _>("size") as u64,
            })
        })
        .transpose()
    }

    /// Deletes a manifest and, by cascade, the tags pointing at it. Returns the
    /// names of those tags, or `None` when the manifest was absent.
    pub async fn delete_manifest(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<Vec<String>>> {
        let mut tx = self.begin().await?;
        let repo_id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM repositories WHERE name = $1")
                .bind(repo)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(repo_id) = repo_id else {
            return Ok(None);
        };
        let tags: Vec<String> =
            sqlx::query_scalar("SELECT name FROM tags WHERE repo_id = $1 AND digest = $2")
                .bind(repo_id)
                .bind(digest.as_str())
                .fetch_all(&mut *tx)
                .await?;
        let n = sqlx::query("DELETE FROM manifests WHERE repo_id = $1 AND digest = $2")
            .bind(repo_id)
            .bind(digest.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok((n > 0).then_some(tags))
    }

    /// Deletes a tag only. False when absent.
    pub async fn delete_tag(&self, repo: &str, tag: &str) -> Result<bool> {
        self.delete_in_repository(
            "DELETE FROM tags WHERE name = $1 AND repo_id = (SELECT id FROM repositories WHERE name = $2)",
            tag,
            repo,
        )
        .await
    }

    /// Up to `limit` tags of the repository after `last`, in lexical (byte) order.
    /// `None` when the repository does not exist.
    pub async fn list_tags(
        &self,
        repo: &str,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<String>>> {
        Ok(self
            .list_tags_versioned(repo, last, limit)
            .await?
            .map(|(_, names)| names))
    }

    /// [`MetaStore::list_tags`] with the repository's tag list version read in
    /// the same statement (`repositories.tags_changed`, migration 28: it moves
    /// whenever a tag is added or removed), for caches to confirm the list
    /// later with [`MetaStore::tags_version`].
    pub async fn list_tags_versioned(
        &self,
        repo: &str,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Option<(i64, Vec<String>)>> {
        // One query and one row: the repository's row (so its absence shows)
        // with its page of tags joined into one text. Rows cross from SQLite's
        // worker thread to the async side one at a time through a small
        // channel, so a page of 100 rows cost ~80 context switches; one row
        // costs one (bench/NOTES.md, "Flat cost"). Tag names never contain a
        // newline (OCI dist-spec v1.1 tag grammar), so it separates them.
        let row = sqlx::query(
            "SELECT r.tags_changed,
                    (SELECT string_agg(p.name, '\n' ORDER BY p.name)
                     FROM (SELECT t.name FROM tags t
                           WHERE t.repo_id = r.id AND t.name > $2
                           ORDER BY t.name LIMIT $3) p) AS names
             FROM repositories r WHERE r.name = $1",
        )
        .bind(repo)
        .bind(last.unwrap_or(""))
        .bind(i64::from(limit.max(1)))
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|r| {
            let names: Option<String> = r.get("names");
            let names = names
                .map(|n| n.split('\n').map(str::to_string).collect())
                .unwrap_or_default();
            (r.get::<i64, _>("tags_changed"), names)
        }))
    }

    /// The repository's tag list version (see
    /// [`MetaStore::list_tags_versioned`]); `None` when it does not exist.
    pub async fn tags_version(&self, repo: &str) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT tags_changed FROM repositories WHERE name = $1")
                .bind(repo)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    /// Up to `limit` repository names after `last`, in lexical order.
    pub async fn list_repositories(&self, last: Option<&str>, limit: u32) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2",
        )
        .bind(last.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?)
    }

    /// Manifests of the repository whose `subject` is `subject`, optionally only
    /// those of one artifact type, ordered by digest.
    pub async fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<ReferrerRecord>> {
        let rows = sqlx::query(
            "SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations
             FROM manifests m JOIN repositories r ON r.id = m.repo_id
             WHERE r.name = $1 AND m.subject = $2 AND ($3 IS NULL OR m.artifact_type = $3)
             ORDER BY m.digest",
        )
        .bind(repo)
        .bind(subject.as_str())
        .bind(artifact_type)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(ReferrerRecord {
                    digest: digest_col(r.get("digest"))?,
                    media_type: r.get("media_type"),
                    size: r.get::<i64, _>("size") as u64,
                    artifact_type: r.get("artifact_type"),
                    annotations: r.get("annotations"),
                })
            })
            .collect()
    }

    // ------------------------------------------------------------------- fsck

    /// Every blob row.
    pub async fn all_blobs(&self) -> Result<Vec<BlobRecord>> {
        let rows = sqlx::query("SELECT digest, size FROM blobs ORDER BY digest")
            .fetch_all(&self.read)
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(BlobRecord {
                    digest: digest_col(r.get("digest"))?,
                    size: r.get::<i64, _>("size") as u64,
                })
            })
            .collect()
    }

    /// Every (repository, manifest digest, child kind, child digest) reference.
    pub async fn all_manifest_refs(&self) -> Result<Vec<(String, Digest, ChildKind, Digest)>> {
        let rows = sqlx::query(
            "SELECT r.name, f.manifest_digest, f.kind, f.child_digest FROM manifest_refs f
             JOIN repositories r ON r.id = f.repo_id ORDER BY r.name, f.manifest_digest",
        )
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|r| {
                let kind: String = r.get("kind");
                Ok((
                    r.get("name"),
                    digest_col(r.get("manifest_digest"))?,
                    ChildKind::parse(&kind).unwrap_or(ChildKind::Layer),
                    digest_col(r.get("child_digest"))?,
                ))
            })
            .collect()
    }

    /// Every (repository, manifest digest).
    pub async fn all_manifests(&self) -> Result<Vec<(String, Digest)>> {
        let rows = sqlx::query(
            "SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repo_id ORDER BY r.name, m.digest",
        )
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|r| Ok((r.get("name"), digest_col(r.get("digest"))?)))
            .collect()
    }

    /// Removes a blob row and every link to it (fsck `--repair` of a corrupt or
    /// missing blob). Manifests referencing it stay and are reported.
    pub async fn forget_blob(&self, digest: &Digest) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM repo_blobs WHERE digest = $1")
            .bind(digest.as_str())
            .execute(&mut *tx)
            .await?;
        let in_use: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM manifests WHERE digest = $1 LIMIT 1")
                .bind(digest.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if in_use.is_none() {
            sqlx::query("DELETE FROM blobs WHERE digest = $1")
                .bind(digest.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OCI dist-spec v1.1 §Listing Tags: lexical order, at most `n`, after
    /// `last`; an unknown repository is told apart from one without tags.
    #[tokio::test]
    async fn tag_pages_are_in_byte_order_after_last_and_unknown_repositories_show() {
        let dir = tempfile::tempdir().unwrap();
        let meta = MetaStore::open(&crate::testing::database_url(dir.path()).await)
            .await
            .unwrap();
        let digest = Digest::of(berth_oci::Algorithm::Sha256, b"{}");
        let record = NewManifest {
            digest: &digest,
            media_type: "application/vnd.oci.image.manifest.v1+json",
            artifact_type: None,
            subject: None,
            size: 2,
            annotations: None,
            children: &[],
            lazy_children: false,
            scan: None,
        };
        meta.put_manifest("a/b", &record, None).await.unwrap();
        assert_eq!(meta.list_tags("a/b", None, 10).await.unwrap(), Some(vec![]));
        for tag in ["v2", "V1", "v10", "latest", "_x", "v1.0-rc"] {
            meta.put_manifest("a/b", &record, Some(tag)).await.unwrap();
        }
        let page = |last: Option<&'static str>, n| {
            let meta = &meta;
            async move { meta.list_tags("a/b", last, n).await.unwrap().unwrap() }
        };
        assert_eq!(
            page(None, 10).await,
            ["V1", "_x", "latest", "v1.0-rc", "v10", "v2"]
        );
        assert_eq!(page(None, 2).await, ["V1", "_x"]);
        assert_eq!(page(Some("_x"), 2).await, ["latest", "v1.0-rc"]);
        assert_eq!(page(Some("v1"), 10).await, ["v1.0-rc", "v10", "v2"]);
        assert!(page(Some("v2"), 10).await.is_empty());
        assert_eq!(meta.list_tags("a/c", None, 10).await.unwrap(), None);
    }
}
