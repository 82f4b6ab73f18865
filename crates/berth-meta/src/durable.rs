//! Group commit: durable write transactions that share their flushes.
//!
//! A write transaction ([`WriteTx`]) commits without waiting for the disk
//! (SQLite `synchronous = NORMAL` in WAL mode, PostgreSQL
//! `SET LOCAL synchronous_commit = off` in each write transaction), which releases the
//! writer lock at once, and then waits in [`GroupCommit::wait`] until a flush
//! that started after its commit has finished. One flush is in flight at a
//! time; every commit that finished while it ran is covered by the next one,
//! so N concurrent writers pay for about one flush, not N.
//!
//! - SQLite: the flush is `fdatasync` of the `-wal` file, which holds every
//!   committed transaction not yet checkpointed (a checkpoint syncs the WAL and
//!   then the database itself, as it does under `FULL`). The WAL's directory is
//!   synced once per WAL file, so the file itself survives power loss.
//! - PostgreSQL: the flush is a transaction that takes a transaction id and
//!   commits with the server's own `synchronous_commit` (on by default, or the
//!   operator's synchronous replication level): PostgreSQL flushes the WAL up
//!   to that commit record, which covers every earlier asynchronous commit.
//!
//! What callers get is unchanged: [`WriteTx::commit`] returns only after the
//! transaction is durable, so no acknowledgement leaves before its flush. What
//! changes: another session can *read* a committed transaction before its flush
//! has finished. A crash in that window loses the transaction, which nobody was
//! told had succeeded; a reader may have seen it (a tag, a pull listing). Every
//! *write* that read it commits later and so waits for a flush that covers it.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::AnyConnection;
use sqlx::{Any, AnyPool, Transaction};

use crate::error::{MetaError, Result};

/// How a flush makes committed transactions durable.
enum Flush {
    /// `fdatasync` of this `-wal` file (and its directory once per file).
    SqliteWal {
        wal: PathBuf,
        /// `(device, inode)` of the WAL whose directory entry was last synced.
        dir_synced_for: std::sync::Mutex<Option<(u64, u64)>>,
    },
    /// A synchronous commit on this one-connection pool.
    Postgres(AnyPool),
    /// Commits are durable by themselves (a read-only store: nothing to flush).
    Nothing,
    /// A disk that takes this long per flush (tests of the grouping).
    #[cfg(test)]
    Slow(std::time::Duration),
}

/// The group commit state of one [`crate::MetaStore`] (shared by its clones).
pub(crate) struct GroupCommit {
    flush: Flush,
    /// Commits finished so far (tickets handed out).
    committed: AtomicU64,
    /// Every commit with a ticket at or below this is durable.
    synced: AtomicU64,
    /// Held by the one flush in flight.
    leader: tokio::sync::Mutex<()>,
    /// Flushes run so far.
    flushes: AtomicU64,
}

impl GroupCommit {
    /// Flushes of an SQLite database's WAL file (`<database>-wal`).
    pub(crate) fn sqlite(database: &std::path::Path) -> Arc<GroupCommit> {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        Self::new(Flush::SqliteWal {
            wal: PathBuf::from(wal),
            dir_synced_for: std::sync::Mutex::new(None),
        })
    }

    /// Flushes through `pool` (one connection, the server's default
    /// `synchronous_commit`).
    pub(crate) fn postgres(pool: AnyPool) -> Arc<GroupCommit> {
        Self::new(Flush::Postgres(pool))
    }

    /// No flushing: for stores whose commits need none.
    pub(crate) fn nothing() -> Arc<GroupCommit> {
        Self::new(Flush::Nothing)
    }

    fn new(flush: Flush) -> Arc<GroupCommit> {
        Arc::new(GroupCommit {
            flush,
            committed: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            leader: tokio::sync::Mutex::new(()),
            flushes: AtomicU64::new(0),
        })
    }

    /// Flushes run so far (each covers every commit before it).
    #[cfg(test)]
    pub(crate) fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::SeqCst)
    }

    /// Records that a transaction has just committed; returns its ticket.
    fn ticket(&self) -> u64 {
        self.committed.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Waits until the commit holding `ticket` is durable: returns at once if a
    /// finished flush covers it, else becomes (or waits for) the next flush.
    ///
    /// Errors: [`MetaError::Database`] when the flush fails (the transaction
    /// may or may not survive a crash: callers treat it as a failed write).
    pub(crate) async fn wait(&self, ticket: u64) -> Result<()> {
        if self.synced.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        let _leader = self.leader.lock().await;
        if self.synced.load(Ordering::SeqCst) >= ticket {
            // The flush we waited behind covered this commit.
            metrics::counter!(GROUPED_COMMITS).increment(1);
            return Ok(());
        }
        // Every commit with a ticket up to `target` finished before this load,
        // so before the flush below starts.
        let target = self.committed.load(Ordering::SeqCst);
        let start = std::time::Instant::now();
        self.flush_now().await?;
        metrics::histogram!(FLUSH_DURATION).record(start.elapsed());
        self.synced.fetch_max(target, Ordering::SeqCst);
        Ok(())
    }

    /// Makes everything committed so far durable, including what committed
    /// outside a [`WriteTx`] (migrations).
    ///
    /// Errors: [`MetaError::Database`] when the flush fails.
    pub(crate) async fn flush_all(&self) -> Result<()> {
        let _leader = self.leader.lock().await;
        let target = self.committed.load(Ordering::SeqCst);
        self.flush_now().await?;
        self.synced.fetch_max(target, Ordering::SeqCst);
        Ok(())
    }

    async fn flush_now(&self) -> Result<()> {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        match &self.flush {
            Flush::Nothing => Ok(()),
            #[cfg(test)]
            Flush::Slow(d) => {
                tokio::time::sleep(*d).await;
                Ok(())
            }
            Flush::Postgres(pool) => {
                sqlx::query("SELECT txid_current()").execute(pool).await?;
                Ok(())
            }
            Flush::SqliteWal {
                wal,
                dir_synced_for,
            } => {
                let wal = wal.clone();
                let synced_dir = {
                    let g = dir_synced_for.lock().unwrap_or_else(|p| p.into_inner());
                    *g
                };
                let done = tokio::task::spawn_blocking(move || sync_wal(&wal, synced_dir))
                    .await
                    .map_err(|e| io_error(std::io::Error::other(e)))?
                    .map_err(io_error)?;
                if let Some(id) = done {
                    let mut g = dir_synced_for.lock().unwrap_or_else(|p| p.into_inner());
                    *g = Some(id);
                }
                Ok(())
            }
        }
    }
}

/// `fdatasync`s the WAL; when its `(device, inode)` differs from
/// `dir_synced_for`, also syncs its directory and returns the new identity. A
/// missing WAL means the last connection checkpointed (syncing the database)
/// and removed it: nothing is left to flush.
fn sync_wal(
    wal: &std::path::Path,
    dir_synced_for: Option<(u64, u64)>,
) -> std::io::Result<Option<(u64, u64)>> {
    let file = match std::fs::File::open(wal) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    file.sync_data()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata()?;
        let id = (meta.dev(), meta.ino());
        if dir_synced_for != Some(id) {
            if let Some(dir) = wal.parent() {
                let dir = if dir.as_os_str().is_empty() {
                    std::path::Path::new(".")
                } else {
                    dir
                };
                std::fs::File::open(dir)?.sync_all()?;
            }
            return Ok(Some(id));
        }
    }
    #[cfg(not(unix))]
    let _ = dir_synced_for;
    Ok(None)
}

fn io_error(e: std::io::Error) -> MetaError {
    MetaError::Database(sqlx::Error::Io(e))
}

/// A stamp of everything committed to an SQLite database, from any process:
/// the `-wal` file's size, modification time and header (checkpoint sequence
/// and salts). A commit appends to the WAL or, after a checkpoint restarted
/// it, rewrites its header or later frames, so the stamp moves with every
/// commit; the one thing it can miss is an overwrite of a restarted WAL's
/// later frames within one tick of the file system's clock. Compare two
/// stamps only for equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    header: [u8; 12],
}

/// The [`ChangeStamp`] of the database whose WAL is `wal` (`None` when it
/// cannot be read; a missing WAL has its own stamp).
pub(crate) fn change_stamp(wal: &std::path::Path) -> Option<ChangeStamp> {
    use std::io::Read;
    let mut f = match std::fs::File::open(wal) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Some(ChangeStamp {
                len: 0,
                modified: None,
                header: [0; 12],
            })
        }
        Err(_) => return None,
    };
    let meta = f.metadata().ok()?;
    let mut head = [0u8; 24];
    let n = f.read(&mut head).ok()?;
    let mut header = [0u8; 12];
    if n >= 24 {
        header.copy_from_slice(&head[12..24]);
    }
    Some(ChangeStamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        header,
    })
}

/// Flushes that ran (`berth_db_flush_duration_seconds`): each made every
/// commit before it durable.
pub const FLUSH_DURATION: &str = "berth_db_flush_duration_seconds";

/// Commits made durable by another transaction's flush, with no flush of their
/// own (`berth_db_grouped_commits_total`).
pub const GROUPED_COMMITS: &str = "berth_db_grouped_commits_total";

/// A write transaction ([`crate::MetaStore::begin`]): dereferences to the
/// connection for queries (`&mut *tx`); [`WriteTx::commit`] returns once the
/// transaction is durable. Dropped without a commit, it rolls back.
pub(crate) struct WriteTx {
    tx: Transaction<'static, Any>,
    durable: Arc<GroupCommit>,
}

impl WriteTx {
    pub(crate) fn new(tx: Transaction<'static, Any>, durable: Arc<GroupCommit>) -> WriteTx {
        WriteTx { tx, durable }
    }

    /// Commits, then waits for a flush that covers the commit (module docs).
    ///
    /// Errors: [`MetaError::Database`] from the commit or the flush.
    pub(crate) async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        let ticket = self.durable.ticket();
        self.durable.wait(ticket).await
    }

    /// Commits without waiting for a flush: for rows whose loss in a power
    /// failure loses nothing acknowledged (a GC hold, which only matters while
    /// its holder runs; an upload session, whose staged bytes are not synced
    /// before the upload's commit either). Visible to every other session at
    /// once, and made durable by the next flush anyone waits for.
    ///
    /// Errors: [`MetaError::Database`] from the commit.
    pub(crate) async fn commit_unflushed(self) -> Result<()> {
        Ok(self.tx.commit().await?)
    }

    /// Rolls back.
    pub(crate) async fn rollback(self) -> Result<()> {
        Ok(self.tx.rollback().await?)
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_commits_share_flushes_and_each_returns_after_one_covering_it() {
        let g = GroupCommit::new(Flush::Slow(Duration::from_millis(20)));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let g = g.clone();
            tasks.push(tokio::spawn(async move {
                let ticket = g.ticket();
                g.wait(ticket).await.unwrap();
                // Acknowledged only once a flush that started after it ended.
                assert!(g.synced.load(Ordering::SeqCst) >= ticket);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(g.synced.load(Ordering::SeqCst), 16);
        let flushes = g.flushes();
        assert!(
            (1..=3).contains(&flushes),
            "16 concurrent commits took {flushes} flushes"
        );
    }

    #[tokio::test]
    async fn a_commit_made_during_a_flush_waits_for_the_next_one() {
        let g = GroupCommit::new(Flush::Slow(Duration::from_millis(50)));
        let first = g.ticket();
        let leader = {
            let g = g.clone();
            tokio::spawn(async move { g.wait(first).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(g.flushes(), 1, "the first flush is in flight");
        // Committed while that flush runs: it may not have reached the disk.
        let second = g.ticket();
        g.wait(second).await.unwrap();
        leader.await.unwrap().unwrap();
        assert_eq!(g.flushes(), 2);
        assert_eq!(g.synced.load(Ordering::SeqCst), 2);
        // Covered already: no third flush.
        g.wait(second).await.unwrap();
        assert_eq!(g.flushes(), 2);
    }

    /// On the database under test (`BERTH_TEST_DATABASE_URL`): a write
    /// transaction commits asynchronously; the session it ran on does not
    /// keep that setting; and every commit is covered by a flush.
    #[tokio::test]
    async fn write_transactions_alone_skip_the_synchronous_commit() {
        let dir = tempfile::tempdir().unwrap();
        let url = match crate::testing::database_url(dir.path()).await {
            // Sessions that commit synchronously by default (the test server
            // itself runs with it off), so a leaked `off` would show.
            crate::DatabaseUrl::Postgres(u) => {
                let sep = if u.contains('?') { '&' } else { '?' };
                crate::DatabaseUrl::Postgres(format!(
                    "{u}{sep}options=-c%20synchronous_commit%3Don"
                ))
            }
            sqlite => sqlite,
        };
        let store = crate::MetaStore::open(&url).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        if store.backend() == crate::Backend::Postgres {
            let inside: String = sqlx::query_scalar("SHOW synchronous_commit")
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            assert_eq!(inside, "off");
        }
        tx.commit().await.unwrap();
        if store.backend() == crate::Backend::Postgres {
            let mut conn = store.write.acquire().await.unwrap();
            let after: String = sqlx::query_scalar("SHOW synchronous_commit")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(after, "on", "SET LOCAL leaked to the session");
        }
        let committed = store.durable.committed.load(Ordering::SeqCst);
        assert_eq!(committed, 1);
        assert!(store.durable.synced.load(Ordering::SeqCst) >= committed);
        assert!(store.durable.flushes() >= 1);
        store.close().await;
    }

    #[tokio::test]
    async fn every_commit_by_another_store_moves_the_sqlite_change_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        let server = crate::MetaStore::open_sqlite(&path).await.unwrap();
        // Another process's store on the same file (the CLI while serve runs).
        let cli = crate::MetaStore::open_sqlite(&path).await.unwrap();
        let mut last = server.change_stamp().expect("a stamp on SQLite");
        assert_eq!(server.change_stamp(), Some(last), "stable while idle");
        for i in 0..50 {
            cli.add_immutable_rule("p", &format!("{{\"n\":{i}}}"))
                .await
                .unwrap();
            let now = server.change_stamp().unwrap();
            assert_ne!(now, last, "commit {i} went unnoticed");
            last = now;
        }
        cli.close().await;
        server.close().await;
    }

    #[tokio::test]
    async fn sqlite_commits_are_flushed_through_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::MetaStore::open_sqlite(&dir.path().join("meta.db"))
            .await
            .unwrap();
        let before = store.durable.flushes();
        let mut tasks = Vec::new();
        for i in 0..20 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .add_immutable_rule("p", &format!("{{\"n\":{i}}}"))
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let flushes = store.durable.flushes() - before;
        assert!((1..=20).contains(&flushes), "{flushes} flushes");
        assert!(dir.path().join("meta.db-wal").exists());
        let committed = store.durable.committed.load(Ordering::SeqCst);
        assert!(store.durable.synced.load(Ordering::SeqCst) >= committed);
        store.close().await;
    }
}
