//! The audit trail's table, `audit_log` (migration `0003_audit.sql`): append a
//! batch at the end of the hash chain, read the chain in order (verify, export),
//! and filtered, paginated queries (management API). Retention (migration
//! `0006_audit_retention.sql`): [`MetaStore::audit_trim`] deletes the oldest
//! entries behind an [`AuditCheckpoint`] in one transaction.
//!
//! The chain's content rules (canonical encoding, hash) belong to the caller
//! (`berth_registry::audit`); this module only stores rows and hands each new
//! row, with its `seq` and `prev_hash` filled in, to the caller's `link` function
//! inside the appending transaction, so the chain continues from whatever is
//! stored even if another process appended in between.

use sqlx::Row;

use crate::db::SqlBuilder;

use crate::error::Result;
use crate::store::MetaStore;

/// `prev_hash` of the first entry: 64 hex zeros (SHA-256 length).
pub const AUDIT_GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One `audit_log` row. Text columns hold exactly what was recorded; optional
/// columns are SQL NULL when absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// When it happened, Unix milliseconds.
    pub at: i64,
    /// Who: user name, robot name, `anonymous` or `system`.
    pub actor: String,
    /// `user`, `robot`, `anonymous` or `system`.
    pub actor_kind: String,
    /// Client IP address, when the action came over the network.
    pub source_ip: Option<String>,
    /// What, e.g. `push`, `pull`, `delete`, `login`.
    pub action: String,
    /// Repository acted on.
    pub repository: Option<String>,
    /// Tag (or other reference) acted on.
    pub reference: Option<String>,
    /// Manifest or blob digest acted on.
    pub digest: Option<String>,
    /// `success` or `failure`.
    pub result: String,
    /// Free text: failure status, coalesced pull count, changed permission.
    pub detail: Option<String>,
    /// Hash of the previous entry (hex), [`AUDIT_GENESIS`] for the first.
    pub prev_hash: String,
    /// SHA-256 of `prev_hash` and this entry's canonical content (hex).
    pub hash: String,
}

/// Filters of an audit query; `None` means "any". All given filters must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Exact actor name.
    pub actor: Option<String>,
    /// Any of these actions (`push`, `pull`, ...); empty: any action.
    pub actions: Vec<String>,
    /// Exact repository name.
    pub repository: Option<String>,
    /// At or after this time, Unix ms.
    pub from_ms: Option<i64>,
    /// At or before this time, Unix ms.
    pub to_ms: Option<i64>,
    /// Only entries with a larger `seq` (keyset pagination for exports).
    pub after_seq: Option<i64>,
}

/// One trim of the trail (table `audit_checkpoints`, migration 6): entries
/// `first_seq..=last_seq` were written to an archive file and deleted; the
/// remaining chain starts after `last_seq`, its first `prev_hash` equal to
/// `last_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpoint {
    /// First trimmed entry (1, or the previous checkpoint's `last_seq + 1`).
    pub first_seq: i64,
    /// Last trimmed entry.
    pub last_seq: i64,
    /// Hash of entry `last_seq`: the anchor of the remaining chain.
    pub last_hash: String,
    /// When the trim happened, Unix ms.
    pub at: i64,
    /// How many entries were trimmed (`last_seq - first_seq + 1`).
    pub entries: i64,
    /// SHA-256 (hex) of the archive file's bytes.
    pub archive_sha256: String,
    /// Where the archive was written (a path, as given to the trim).
    pub archive: String,
}

/// What [`MetaStore::audit_trim`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTrimOutcome {
    /// Trimmed; the stored note entry (with its `seq` and hashes).
    Trimmed(Box<AuditRow>),
    /// Nothing changed: the trail is not as the checkpoint describes it.
    Conflict(String),
}

const COLUMNS: &str = "seq, at, actor, actor_kind, source_ip, action, repository, reference, digest, result, detail, prev_hash, hash";

fn row_of(r: &sqlx::any::AnyRow) -> Result<AuditRow> {
    Ok(AuditRow {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        actor_kind: r.try_get("actor_kind")?,
        source_ip: r.try_get("source_ip")?,
        action: r.try_get("action")?,
        repository: r.try_get("repository")?,
        reference: r.try_get("reference")?,
        digest: r.try_get("digest")?,
        result: r.try_get("result")?,
        detail: r.try_get("detail")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

fn push_filters(qb: &mut SqlBuilder, q: &AuditQuery) {
    qb.push(" WHERE 1 = 1");
    if let Some(a) = &q.actor {
        qb.push(" AND actor = ").push_bind(a.clone());
    }
    if !q.actions.is_empty() {
        qb.push(" AND action IN (");
        qb.push_bind_list(q.actions.iter().cloned());
        qb.push(")");
    }
    if let Some(r) = &q.repository {
        qb.push(" AND repository = ").push_bind(r.clone());
    }
    if let Some(t) = q.from_ms {
        qb.push(" AND at >= ").push_bind(t);
    }
    if let Some(t) = q.to_ms {
        qb.push(" AND at <= ").push_bind(t);
    }
    if let Some(s) = q.after_seq {
        qb.push(" AND seq > ").push_bind(s);
    }
}

/// True when `audit_checkpoints` exists: always after migration 6; not on an
/// older SQLite file opened read-only (which is not migrated).
async fn checkpoints_table_exists(conn: &mut sqlx::AnyConnection) -> Result<bool> {
    let sql = match conn.backend_name() {
        "PostgreSQL" => {
            "SELECT COUNT(*) FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_name = 'audit_checkpoints'"
        }
        _ => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'audit_checkpoints'"
        }
    };
    let n: i64 = sqlx::query_scalar(sql).fetch_one(conn).await?;
    Ok(n > 0)
}

/// Appends `rows` inside `tx`, continuing from the last stored entry, else from
/// the latest checkpoint, else from genesis.
async fn append_in(
    tx: &mut crate::durable::WriteTx,
    rows: &mut [AuditRow],
    link: &impl Fn(&AuditRow) -> String,
) -> Result<()> {
    let mut last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut **tx)
            .await?;
    if last.is_none() {
        last = sqlx::query_as(
            "SELECT last_seq, last_hash FROM audit_checkpoints ORDER BY last_seq DESC LIMIT 1",
        )
        .fetch_optional(&mut **tx)
        .await?;
    }
    let (mut seq, mut prev) = last.unwrap_or((0, AUDIT_GENESIS.to_string()));
    for row in rows.iter_mut() {
        seq += 1;
        row.seq = seq;
        row.prev_hash = std::mem::take(&mut prev);
        row.hash = link(row);
        prev = row.hash.clone();
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, actor_kind, source_ip, action, repository, \
             reference, digest, result, detail, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(row.seq)
        .bind(row.at)
        .bind(&row.actor)
        .bind(&row.actor_kind)
        .bind(&row.source_ip)
        .bind(&row.action)
        .bind(&row.repository)
        .bind(&row.reference)
        .bind(&row.digest)
        .bind(&row.result)
        .bind(&row.detail)
        .bind(&row.prev_hash)
        .bind(&row.hash)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl MetaStore {
    /// Appends `rows` at the end of the chain in one transaction. For each row in
    /// order, `seq` and `prev_hash` are set (continuing from the last stored entry;
    /// when the table is empty, from the latest checkpoint's anchor, else 1 and
    /// [`AUDIT_GENESIS`]), then `link(&row)` computes its `hash`. Returns the
    /// stored rows.
    pub async fn audit_append(
        &self,
        mut rows: Vec<AuditRow>,
        link: impl Fn(&AuditRow) -> String,
    ) -> Result<Vec<AuditRow>> {
        if rows.is_empty() {
            return Ok(rows);
        }
        let mut tx = self.begin().await?;
        append_in(&mut tx, &mut rows, &link).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Trims the oldest entries behind a checkpoint, in one transaction: checks
    /// that `cp` starts right after the previous checkpoint (or at entry 1), that
    /// entries `cp.first_seq..=cp.last_seq` are all stored and entry `last_seq`
    /// has hash `cp.last_hash`; then stores `cp`, deletes those entries and
    /// appends `note` (the chained record of the trim, linked by `link`). Nothing
    /// changes when a check fails ([`AuditTrimOutcome::Conflict`]: another trim
    /// ran, or the trail changed since the archive was written).
    pub async fn audit_trim(
        &self,
        cp: &AuditCheckpoint,
        note: AuditRow,
        link: impl Fn(&AuditRow) -> String,
    ) -> Result<AuditTrimOutcome> {
        let mut tx = self.begin().await?;
        let prev: Option<i64> = if checkpoints_table_exists(&mut tx).await? {
            sqlx::query_scalar("SELECT MAX(last_seq) FROM audit_checkpoints")
                .fetch_one(&mut *tx)
                .await?
        } else {
            None
        };
        let expected_first = prev.unwrap_or(0) + 1;
        if cp.first_seq != expected_first {
            return Ok(AuditTrimOutcome::Conflict(format!(
                "the trail now starts at entry {expected_first}, not {} (trimmed concurrently?)",
                cp.first_seq
            )));
        }
        let (count, min): (i64, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), MIN(seq) FROM audit_log WHERE seq <= $1")
                .bind(cp.last_seq)
                .fetch_one(&mut *tx)
                .await?;
        if count != cp.entries || min != Some(cp.first_seq) {
            return Ok(AuditTrimOutcome::Conflict(format!(
                "entries {}..{} are not all stored ({count} found)",
                cp.first_seq, cp.last_seq
            )));
        }
        let hash: Option<String> = sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1")
            .bind(cp.last_seq)
            .fetch_optional(&mut *tx)
            .await?;
        if hash.as_deref() != Some(cp.last_hash.as_str()) {
            return Ok(AuditTrimOutcome::Conflict(format!(
                "entry {} no longer has the archived hash",
                cp.last_seq
            )));
        }
        sqlx::query(
            "INSERT INTO audit_checkpoints (first_seq, last_seq, last_hash, at, entries, \
             archive_sha256, archive) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(cp.first_seq)
        .bind(cp.last_seq)
        .bind(&cp.last_hash)
        .bind(cp.at)
        .bind(cp.entries)
        .bind(&cp.archive_sha256)
        .bind(&cp.archive)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM audit_log WHERE seq <= $1")
            .bind(cp.last_seq)
            .execute(&mut *tx)
            .await?;
        let mut rows = vec![note];
        append_in(&mut tx, &mut rows, &link).await?;
        tx.commit().await?;
        Ok(AuditTrimOutcome::Trimmed(Box::new(rows.remove(0))))
    }

    /// Every checkpoint, oldest first (by `last_seq`). Empty on a database
    /// from before schema 6 (opened read-only, not migrated).
    pub async fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>> {
        let mut conn = self.read.acquire().await?;
        if !checkpoints_table_exists(&mut conn).await? {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT first_seq, last_seq, last_hash, at, entries, archive_sha256, archive \
             FROM audit_checkpoints ORDER BY last_seq",
        )
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditCheckpoint {
                    first_seq: r.try_get("first_seq")?,
                    last_seq: r.try_get("last_seq")?,
                    last_hash: r.try_get("last_hash")?,
                    at: r.try_get("at")?,
                    entries: r.try_get("entries")?,
                    archive_sha256: r.try_get("archive_sha256")?,
                    archive: r.try_get("archive")?,
                })
            })
            .collect()
    }

    /// The stored entries' smallest and largest `seq` (`None` when empty).
    pub async fn audit_span(&self) -> Result<Option<(i64, i64)>> {
        let (min, max): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT MIN(seq), MAX(seq) FROM audit_log")
                .fetch_one(&self.read)
                .await?;
        Ok(min.zip(max))
    }

    /// The smallest `seq` of an entry at or after `at_ms` (`None`: every entry
    /// is older).
    pub async fn audit_first_seq_since(&self, at_ms: i64) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT MIN(seq) FROM audit_log WHERE at >= $1")
                .bind(at_ms)
                .fetch_one(&self.read)
                .await?,
        )
    }

    /// The last entry of the chain (its `seq` and `hash`), if any.
    pub async fn audit_head(&self) -> Result<Option<(i64, String)>> {
        Ok(
            sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&self.read)
                .await?,
        )
    }

    /// Up to `limit` entries matching `q`, skipping `offset`, oldest first
    /// (ascending `seq`) or newest first.
    pub async fn audit_entries(
        &self,
        q: &AuditQuery,
        offset: u64,
        limit: u32,
        newest_first: bool,
    ) -> Result<Vec<AuditRow>> {
        let mut qb = SqlBuilder::new(format!("SELECT {COLUMNS} FROM audit_log"));
        push_filters(&mut qb, q);
        qb.push(if newest_first {
            " ORDER BY seq DESC"
        } else {
            " ORDER BY seq ASC"
        });
        qb.push(" LIMIT ")
            .push_bind(i64::from(limit))
            .push(" OFFSET ")
            .push_bind(offset.min(i64::MAX as u64) as i64);
        let rows = qb.build().fetch_all(&self.read).await?;
        rows.iter().map(row_of).collect()
    }

    /// How many entries match `q`.
    pub async fn audit_count(&self, q: &AuditQuery) -> Result<u64> {
        let mut qb = SqlBuilder::new("SELECT COUNT(*) FROM audit_log");
        push_filters(&mut qb, q);
        let n: i64 = qb.build_scalar().fetch_one(&self.read).await?;
        Ok(n.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(action: &str, at: i64) -> AuditRow {
        AuditRow {
            seq: 0,
            at,
            actor: "anonymous".into(),
            actor_kind: "anonymous".into(),
            source_ip: Some("127.0.0.1".into()),
            action: action.into(),
            repository: Some("team/app".into()),
            reference: None,
            digest: None,
            result: "success".into(),
            detail: None,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[tokio::test]
    async fn append_continues_the_chain_and_the_table_refuses_edits() {
        let dir = tempfile::tempdir().unwrap();
        let meta = MetaStore::open_sqlite(&dir.path().join("meta.db"))
            .await
            .unwrap();
        let link = |r: &AuditRow| format!("h{}", r.seq);
        let a = meta
            .audit_append(vec![row("push", 1), row("pull", 2)], link)
            .await
            .unwrap();
        assert_eq!((a[0].seq, a[0].prev_hash.as_str()), (1, AUDIT_GENESIS));
        assert_eq!((a[1].seq, a[1].prev_hash.as_str()), (2, "h1"));
        let b = meta
            .audit_append(vec![row("delete", 3)], link)
            .await
            .unwrap();
        assert_eq!((b[0].seq, b[0].prev_hash.as_str()), (3, "h2"));
        assert_eq!(meta.audit_head().await.unwrap(), Some((3, "h3".into())));

        let q = AuditQuery {
            actions: vec!["pull".into()],
            ..Default::default()
        };
        assert_eq!(meta.audit_count(&q).await.unwrap(), 1);
        let q = AuditQuery {
            actions: vec!["pull".into(), "push".into()],
            ..Default::default()
        };
        assert_eq!(meta.audit_count(&q).await.unwrap(), 2);
        let all = meta
            .audit_entries(&AuditQuery::default(), 0, 10, true)
            .await
            .unwrap();
        assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 2, 1]);
        let window = AuditQuery {
            from_ms: Some(2),
            to_ms: Some(3),
            after_seq: Some(2),
            ..Default::default()
        };
        let w = meta.audit_entries(&window, 0, 10, false).await.unwrap();
        assert_eq!(w.iter().map(|r| r.seq).collect::<Vec<_>>(), [3]);

        for sql in [
            "UPDATE audit_log SET actor = 'x' WHERE seq = 1",
            "DELETE FROM audit_log WHERE seq = 1",
        ] {
            let err = sqlx::query(sql).execute(&meta.write).await.unwrap_err();
            assert!(err.to_string().contains("append-only"), "{err}");
        }
        meta.close().await;

        let ro = MetaStore::open_sqlite_read_only(&dir.path().join("meta.db"))
            .await
            .unwrap();
        assert_eq!(ro.audit_head().await.unwrap(), Some((3, "h3".into())));
        assert!(ro.audit_append(vec![row("push", 4)], link).await.is_err());
    }

    #[tokio::test]
    async fn trim_stores_a_checkpoint_deletes_behind_it_and_the_chain_continues() {
        let dir = tempfile::tempdir().unwrap();
        let meta = MetaStore::open_sqlite(&dir.path().join("meta.db"))
            .await
            .unwrap();
        let link = |r: &AuditRow| format!("h{}", r.seq);
        let rows = (1..=5).map(|i| row("push", i)).collect();
        meta.audit_append(rows, link).await.unwrap();
        assert_eq!(meta.audit_first_seq_since(3).await.unwrap(), Some(3));
        assert_eq!(meta.audit_first_seq_since(99).await.unwrap(), None);
        let cp = AuditCheckpoint {
            first_seq: 1,
            last_seq: 3,
            last_hash: "h3".into(),
            at: 10,
            entries: 3,
            archive_sha256: "ab".into(),
            archive: "/a.jsonl".into(),
        };
        // Deleting an entry not behind a checkpoint is still refused.
        let err = sqlx::query("DELETE FROM audit_log WHERE seq = 1")
            .execute(&meta.write)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
        // A checkpoint that does not match the stored trail changes nothing.
        let wrong = AuditCheckpoint {
            last_hash: "h2".into(),
            ..cp.clone()
        };
        assert!(matches!(
            meta.audit_trim(&wrong, row("audit_trim", 10), link)
                .await
                .unwrap(),
            AuditTrimOutcome::Conflict(_)
        ));
        let note = match meta
            .audit_trim(&cp, row("audit_trim", 10), link)
            .await
            .unwrap()
        {
            AuditTrimOutcome::Trimmed(n) => n,
            other => panic!("{other:?}"),
        };
        assert_eq!((note.seq, note.prev_hash.as_str()), (6, "h5"));
        assert_eq!(meta.audit_span().await.unwrap(), Some((4, 6)));
        assert_eq!(meta.audit_checkpoints().await.unwrap(), vec![cp.clone()]);
        // The same trim again conflicts: the trail now starts at 4.
        assert!(matches!(
            meta.audit_trim(&cp, row("audit_trim", 11), link)
                .await
                .unwrap(),
            AuditTrimOutcome::Conflict(_)
        ));
        for sql in [
            "UPDATE audit_checkpoints SET last_hash = 'x'",
            "DELETE FROM audit_checkpoints",
            "DELETE FROM audit_log WHERE seq = 4",
        ] {
            let err = sqlx::query(sql).execute(&meta.write).await.unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
        // Trimming everything: the next append continues from the checkpoint.
        let all = AuditCheckpoint {
            first_seq: 4,
            last_seq: 6,
            last_hash: "h6".into(),
            at: 11,
            entries: 3,
            archive_sha256: "cd".into(),
            archive: "/b.jsonl".into(),
        };
        assert!(matches!(
            meta.audit_trim(&all, row("audit_trim", 12), link)
                .await
                .unwrap(),
            AuditTrimOutcome::Trimmed(_)
        ));
        meta.close().await;
        let ro = MetaStore::open_sqlite_read_only(&dir.path().join("meta.db"))
            .await
            .unwrap();
        assert_eq!(ro.audit_span().await.unwrap(), Some((7, 7)));
        assert_eq!(ro.audit_checkpoints().await.unwrap().len(), 2);
    }
}

/// A signed checkpoint of the chain's head as stored (`audit_signed_heads`,
/// migration 13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeadRow {
    /// The entry signed.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
    /// When it was signed, Unix ms.
    pub at: i64,
    /// The signing key, PEM.
    pub public_key: String,
    /// Base64 signature.
    pub signature: String,
}

impl MetaStore {
    /// Stores a signed checkpoint; one per `seq` (a second signature of the
    /// same head, from another node, is dropped).
    pub async fn audit_signed_head_store(&self, row: &SignedHeadRow) -> Result<()> {
        self.write_one(
            sqlx::query(
                "INSERT INTO audit_signed_heads (seq, hash, at, public_key, signature)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
            )
            .bind(row.seq)
            .bind(row.hash.clone())
            .bind(row.at)
            .bind(row.public_key.clone())
            .bind(row.signature.clone()),
        )
        .await?;
        Ok(())
    }

    /// The signed checkpoint of the highest entry, if any.
    pub async fn audit_signed_head_latest(&self) -> Result<Option<SignedHeadRow>> {
        let row = sqlx::query(
            "SELECT seq, hash, at, public_key, signature FROM audit_signed_heads
             ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| {
            Ok(SignedHeadRow {
                seq: r.try_get("seq")?,
                hash: r.try_get("hash")?,
                at: r.try_get("at")?,
                public_key: r.try_get("public_key")?,
                signature: r.try_get("signature")?,
            })
        })
        .transpose()
    }

    /// The hash of entry `seq`, when it is stored.
    pub async fn audit_hash_of(&self, seq: i64) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1")
                .bind(seq)
                .fetch_optional(&self.read)
                .await?,
        )
    }
}
