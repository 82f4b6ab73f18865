//! Garbage collection's metadata side: the mark set is the database itself
//! (manifests, their references, tags, repository links), so "unreferenced" is a
//! query. The protocol (holds, sweep marks, grace period) is described in
//! `docs/gc.md`; every step that decides whether bytes may go runs inside a
//! `BEGIN IMMEDIATE` transaction, so it is ordered against every commit path.

use std::time::Duration;

use berth_oci::Digest;
use sqlx::Row;

use crate::error::Result;
use crate::store::{digest_col, now_ms, MetaStore};

/// How long an upload commit's hold protects a digest when the committer never
/// releases it (it crashed between installing the bytes and recording them).
pub const HOLD_TTL: Duration = Duration::from_secs(3600);

/// A sweep mark older than this belongs to a collector that died (or stalled)
/// between marking and deleting; a committer may take the digest over and the
/// next collection finishes the sweep.
pub const SWEEP_MARK_STALE: Duration = Duration::from_secs(30);

/// The untagged manifests the "keep" closure does not reach, for `$1` = the grace
/// cutoff (ms). Kept: tagged manifests and manifests pushed at or after the cutoff;
/// then, repeatedly, the child manifests of kept ones (index children) and the
/// referrers whose subject is kept.
const KEEP_MANIFESTS: &str = "WITH RECURSIVE keep(repo_id, digest) AS (
        SELECT m.repo_id, m.digest FROM manifests m
        WHERE m.pushed_at >= $1
           OR EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = m.repo_id AND t.digest = m.digest)
      UNION
        SELECT c.repo_id, c.digest FROM keep k JOIN (
            SELECT f.repo_id, f.manifest_digest AS parent, f.child_digest AS digest
            FROM manifest_refs f WHERE f.kind = 'manifest'
          UNION ALL
            SELECT m.repo_id, m.subject AS parent, m.digest
            FROM manifests m WHERE m.subject IS NOT NULL
        ) c ON c.repo_id = k.repo_id AND c.parent = k.digest
    )";

/// Conditions under which nothing keeps the blob `$1` at time `$2` (ms): no
/// repository links it, no repository holds it as a manifest, no manifest
/// references it, no committer holds it.
const UNKEPT: &str = "NOT EXISTS (SELECT 1 FROM repo_blobs l WHERE l.digest = $1)
    AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = $1)
    AND NOT EXISTS (SELECT 1 FROM manifest_refs f WHERE f.child_digest = $1)
    AND NOT EXISTS (SELECT 1 FROM blob_holds h WHERE h.digest = $1 AND h.expires_at > $2)";

/// A manifest garbage collection deleted (or would delete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweptManifest {
    /// Repository name.
    pub repository: String,
    /// The manifest's digest.
    pub digest: Digest,
}

/// What the metadata phases of a collection did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcMetaOutcome {
    /// Untagged manifests deleted (with their referrers and index children).
    pub manifests: Vec<SweptManifest>,
    /// Repository links that expired.
    pub links: u64,
    /// Digests nothing keeps any more: candidates for the sweep, with the
    /// recorded size in bytes, `None` when no blob row records them (bytes a
    /// commit installed and never recorded, if any are left).
    pub candidates: Vec<(Digest, Option<u64>)>,
}

/// Whether [`MetaStore::hold_blob`] got the digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldOutcome {
    /// Held; release with [`MetaStore::release_blob`].
    Held,
    /// A collector is deleting the blob right now: wait and try again.
    BeingSwept,
}

impl MetaStore {
    /// The metadata phases of a collection, in one transaction: deletes untagged
    /// manifests nothing keeps (when `delete_untagged`), expires repository links
    /// older than `cutoff_ms` that no manifest of their repository references, and
    /// lists the blobs nothing keeps any more. With `dry_run` the transaction is
    /// rolled back, so the answer is exactly what a real run would do now.
    ///
    /// Reads only the recorded candidates (`gc_candidates`), never every blob
    /// row: its cost grows with what changed since the last collection, not with
    /// the blobs kept.
    pub async fn gc_collect(
        &self,
        cutoff_ms: i64,
        delete_untagged: bool,
        dry_run: bool,
    ) -> Result<GcMetaOutcome> {
        let mut tx = self.begin().await?;
        let mut out = GcMetaOutcome::default();
        sqlx::query("DELETE FROM blob_holds WHERE expires_at < $1")
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        if delete_untagged {
            let sql = format!(
                "{KEEP_MANIFESTS}
                 DELETE FROM manifests
                 WHERE NOT EXISTS (SELECT 1 FROM keep k
                                   WHERE k.repo_id = manifests.repo_id AND k.digest = manifests.digest)
                 RETURNING (SELECT name FROM repositories r WHERE r.id = manifests.repo_id) AS repository,
                           digest"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(cutoff_ms)
                .fetch_all(&mut *tx)
                .await?;
            for r in rows {
                out.manifests.push(SweptManifest {
                    repository: r.get("repository"),
                    digest: digest_col(r.get("digest"))?,
                });
            }
        }
        // Only the links recorded as pending (migration 27: new, or their last
        // reference went) can expire; the links of kept images are not read.
        // The expiring ones are selected from the pending table, then deleted
        // by key, so that SQLite's planner (which has no statistics) never
        // scans the links.
        let expiring = sqlx::query(
            "SELECT p.repo_id, p.digest FROM gc_pending_links p
             WHERE EXISTS (SELECT 1 FROM repo_blobs l
                           WHERE l.repo_id = p.repo_id AND l.digest = p.digest AND l.linked_at < $1)
               AND NOT EXISTS (SELECT 1 FROM manifest_refs f
                               WHERE f.child_digest = p.digest AND f.repo_id = p.repo_id)",
        )
        .bind(cutoff_ms)
        .fetch_all(&mut *tx)
        .await?;
        for r in expiring {
            out.links += sqlx::query("DELETE FROM repo_blobs WHERE repo_id = $1 AND digest = $2")
                .bind(r.get::<i64, _>("repo_id"))
                .bind(r.get::<String, _>("digest"))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        // Forgotten: pending links that are gone, and those a manifest now
        // references (the delete of that reference records them again).
        sqlx::query(
            "DELETE FROM gc_pending_links
             WHERE NOT EXISTS (SELECT 1 FROM repo_blobs l
                               WHERE l.repo_id = gc_pending_links.repo_id AND l.digest = gc_pending_links.digest)
                OR EXISTS (SELECT 1 FROM manifest_refs f
                           WHERE f.child_digest = gc_pending_links.digest AND f.repo_id = gc_pending_links.repo_id)",
        )
        .execute(&mut *tx)
        .await?;
        // The candidates recorded since the last collection (by the triggers of
        // migration 25, including the deletes above): those something keeps
        // again are forgotten (whatever drops that keeper records them anew),
        // the rest are returned for the sweep.
        sqlx::query(
            "DELETE FROM gc_candidates
             WHERE EXISTS (SELECT 1 FROM repo_blobs l WHERE l.digest = gc_candidates.digest)
                OR EXISTS (SELECT 1 FROM manifests m WHERE m.digest = gc_candidates.digest)
                OR EXISTS (SELECT 1 FROM manifest_refs f WHERE f.child_digest = gc_candidates.digest)
                OR EXISTS (SELECT 1 FROM blob_holds h
                           WHERE h.digest = gc_candidates.digest AND h.expires_at > $1)",
        )
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query(
            "SELECT c.digest, b.size FROM gc_candidates c LEFT JOIN blobs b ON b.digest = c.digest
             ORDER BY c.digest",
        )
        .fetch_all(&mut *tx)
        .await?;
        for r in rows {
            let size: Option<i64> = r.get("size");
            out.candidates
                .push((digest_col(r.get("digest"))?, size.map(|s| s as u64)));
        }
        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(out)
    }

    /// Step 1 of sweeping one blob: marks it, in a transaction that checks nothing
    /// keeps it (see [`UNKEPT`]) and no other collector marked it. A mark older
    /// than [`SWEEP_MARK_STALE`] is taken over (a collector died mid-sweep).
    /// Returns false when the blob must stay.
    pub async fn sweep_mark(&self, digest: &Digest) -> Result<bool> {
        let mut tx = self.begin().await?;
        let now = now_ms();
        let stale = now - SWEEP_MARK_STALE.as_millis() as i64;
        sqlx::query("DELETE FROM blob_sweeps WHERE digest = $1 AND marked_at < $2")
            .bind(digest.as_str())
            .bind(stale)
            .execute(&mut *tx)
            .await?;
        let sql = format!(
            "INSERT INTO blob_sweeps (digest, marked_at) SELECT $1, $2 WHERE {UNKEPT}
             ON CONFLICT(digest) DO NOTHING"
        );
        let marked = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(digest.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if !marked {
            // Kept after all (unless another collector marked it): no longer a
            // candidate until its keeper goes.
            sqlx::query(
                "DELETE FROM gc_candidates WHERE digest = $1
                 AND NOT EXISTS (SELECT 1 FROM blob_sweeps s WHERE s.digest = $1)",
            )
            .bind(digest.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(marked)
    }

    /// Step 3 of sweeping one blob, after its bytes are deleted: removes the blob
    /// row (if any), the candidate and the mark, in one transaction.
    pub async fn sweep_finish(&self, digest: &Digest) -> Result<()> {
        let mut tx = self.begin().await?;
        for sql in [
            "DELETE FROM blobs WHERE digest = $1",
            "DELETE FROM gc_candidates WHERE digest = $1",
            "DELETE FROM blob_sweeps WHERE digest = $1",
        ] {
            sqlx::query(sql)
                .bind(digest.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Digests whose sweep a collector started but never finished (marks older
    /// than [`SWEEP_MARK_STALE`]), for the next collection to resume.
    pub async fn stale_sweeps(&self) -> Result<Vec<Digest>> {
        let stale = now_ms() - SWEEP_MARK_STALE.as_millis() as i64;
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT digest FROM blob_sweeps WHERE marked_at < $1")
                .bind(stale)
                .fetch_all(&self.read)
                .await?;
        rows.into_iter().map(digest_col).collect()
    }

    /// When a collection last listed the blob storage for unrecorded files
    /// (Unix ms), `None` if none ever did on this database.
    pub async fn storage_scanned_at(&self) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT scanned_at FROM gc_storage_scans WHERE id = 1")
                .fetch_optional(&self.read)
                .await?,
        )
    }

    /// Records that a collection listed the whole blob storage, starting at
    /// `at_ms` (Unix ms).
    pub async fn record_storage_scan(&self, at_ms: i64) -> Result<()> {
        self.write_one(
            sqlx::query(
                "INSERT INTO gc_storage_scans (id, scanned_at) VALUES (1, $1)
                 ON CONFLICT(id) DO UPDATE SET scanned_at = excluded.scanned_at",
            )
            .bind(at_ms),
        )
        .await?;
        Ok(())
    }

    /// True when a blob row exists for `digest` (recorded bytes).
    pub async fn blob_recorded(&self, digest: &Digest) -> Result<bool> {
        Ok(self.blob_size(digest).await?.is_some())
    }

    /// A committer announces it is about to install and record `digest`. Refused
    /// ([`HoldOutcome::BeingSwept`]) while a collector's fresh sweep mark is on the
    /// digest; a stale mark is taken over. `holder` is unique per commit; the hold
    /// lasts `ttl` unless released (see [`HOLD_TTL`]).
    pub async fn hold_blob(
        &self,
        digest: &Digest,
        holder: &str,
        ttl: Duration,
    ) -> Result<HoldOutcome> {
        let mut tx = self.begin().await?;
        let now = now_ms();
        let stale = now - SWEEP_MARK_STALE.as_millis() as i64;
        sqlx::query("DELETE FROM blob_sweeps WHERE digest = $1 AND marked_at < $2")
            .bind(digest.as_str())
            .bind(stale)
            .execute(&mut *tx)
            .await?;
        if Self::is_marked(&mut tx, digest).await? {
            tx.rollback().await?;
            return Ok(HoldOutcome::BeingSwept);
        }
        sqlx::query(
            "INSERT INTO blob_holds (digest, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT(digest, holder) DO UPDATE SET expires_at = excluded.expires_at",
        )
        .bind(digest.as_str())
        .bind(holder)
        .bind(now + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        // A hold protects bytes only while its holder runs: a collector must
        // see it (it does at commit), but it need not survive a power loss,
        // which also ends the holder (crate::durable).
        tx.commit_unflushed().await?;
        Ok(HoldOutcome::Held)
    }

    /// Releases a hold (and drops expired holds of anyone). Not flushed: a
    /// release lost in a power failure leaves a hold that expires.
    pub async fn release_blob(&self, digest: &Digest, holder: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "DELETE FROM blob_holds WHERE (digest = $1 AND holder = $2) OR expires_at < $3",
        )
        .bind(digest.as_str())
        .bind(holder)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit_unflushed().await?;
        Ok(())
    }

    async fn is_marked(tx: &mut crate::durable::WriteTx, digest: &Digest) -> Result<bool> {
        let marked: Option<i64> = sqlx::query_scalar("SELECT 1 FROM blob_sweeps WHERE digest = $1")
            .bind(digest.as_str())
            .fetch_optional(&mut **tx)
            .await?;
        Ok(marked.is_some())
    }

    /// Links a blob the registry already records into `repo` (a cross-repository
    /// mount), refreshing the link's age. Refused (`None`) when the blob row is
    /// gone or a collector is sweeping it, so a mount never links bytes that are
    /// being deleted; the client then uploads the blob.
    pub async fn link_existing_blob(&self, repo: &str, digest: &Digest) -> Result<Option<u64>> {
        let mut tx = self.begin().await?;
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT size FROM blobs WHERE digest = $1
             AND NOT EXISTS (SELECT 1 FROM blob_sweeps s WHERE s.digest = $1)",
        )
        .bind(digest.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(size) = size else {
            tx.rollback().await?;
            return Ok(None);
        };
        let repo_id = Self::ensure_repository(&mut tx, repo).await?;
        sqlx::query(
            "INSERT INTO repo_blobs (repo_id, digest, linked_at) VALUES ($1, $2, $3)
             ON CONFLICT(repo_id, digest) DO UPDATE SET linked_at = excluded.linked_at",
        )
        .bind(repo_id)
        .bind(digest.as_str())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(size as u64))
    }

    /// `HEAD` of a blob in a repository, reviving its link: the blob's size when
    /// the repository may read it, and, when the link is older than `refresh_before`
    /// (ms), its age is reset so that a client checking a blob before pushing the
    /// manifest that needs it does not lose it to an expiring grace period.
    pub async fn blob_head_revive(
        &self,
        repo: &str,
        digest: &Digest,
        refresh_before: i64,
    ) -> Result<Option<u64>> {
        let row = sqlx::query(
            "SELECT b.size, l.linked_at FROM blobs b JOIN repositories r ON r.name = $1
             LEFT JOIN repo_blobs l ON l.repo_id = r.id AND l.digest = b.digest
             WHERE b.digest = $2 AND (l.digest IS NOT NULL
                OR EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id AND m.digest = b.digest))",
        )
        .bind(repo)
        .bind(digest.as_str())
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let linked_at: Option<i64> = row.get("linked_at");
        if linked_at.is_some_and(|t| t < refresh_before) {
            self.write_one(
                sqlx::query(
                    "UPDATE repo_blobs SET linked_at = $1
                 WHERE digest = $2 AND repo_id = (SELECT id FROM repositories WHERE name = $3)",
                )
                .bind(now_ms())
                .bind(digest.as_str())
                .bind(repo),
            )
            .await?;
        }
        Ok(Some(row.get::<i64, _>("size") as u64))
    }

    /// Upload sessions idle since before `cutoff_ms` (last chunk recorded in
    /// the database, else started): `(id, repository)`.
    pub async fn uploads_started_before(&self, cutoff_ms: i64) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT id, repository FROM upload_sessions WHERE updated_at < $1 ORDER BY updated_at",
        )
        .bind(cutoff_ms)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get("id"), r.get("repository")))
            .collect())
    }

    /// True when an upload session row exists.
    pub async fn upload_exists(&self, id: &str) -> Result<bool> {
        Ok(self.upload_repository(id).await?.is_some())
    }
}
