//! Connecting to the metadata database: SQLite (embedded, the default) or
//! PostgreSQL (shared by many nodes), both through sqlx's `Any` driver so that
//! [`MetaStore`] is one type over either and most queries are one text.
//!
//! # One query text for both dialects
//!
//! Queries use `$1`, `$2`, … placeholders (SQLite accepts them as numbered
//! parameters), `BIGINT`-compatible integers (the PostgreSQL schema declares
//! every integer column `BIGINT`, so every integer reads back as `i64`),
//! `ON CONFLICT … DO NOTHING/UPDATE`, `RETURNING`, and no dialect functions.
//! Where the dialects differ, both texts sit side by side in the same function,
//! chosen by [`MetaStore::backend`].
//!
//! # Writers
//!
//! SQLite has one writer at a time; every read-check-write of the store
//! (quota checks, the audit hash chain, GC marks against commit holds, tag
//! moves) relies on that. On PostgreSQL each write transaction takes the
//! transaction-scoped advisory lock [`WRITE_LOCK_KEY`] first, so writers from
//! every node are serialised exactly as SQLite's are, and every guarantee the
//! store documents holds unchanged with many nodes. Reads take no lock. The
//! cost is that writes do not run in parallel; they are short (no I/O on blob
//! bytes happens inside one), which is how SQLite already runs them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::timed::TimedPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyPool, Arguments, ConnectOptions, Executor, Transaction};

use crate::durable::{GroupCommit, WriteTx};
use crate::error::{MetaError, Result};
use crate::MetaStore;

/// How long an SQLite writer waits for another process's transaction (ms).
const SQLITE_BUSY_TIMEOUT_MS: u64 = 30_000;

/// The PostgreSQL advisory lock every write transaction holds (see the module
/// docs): `pg_advisory_xact_lock(WRITE_LOCK_KEY)`. ASCII "berthWRT".
pub const WRITE_LOCK_KEY: i64 = 0x6265_7274_6857_5254;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database engine a [`MetaStore`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file (one node).
    Sqlite,
    /// PostgreSQL server (any number of nodes).
    Postgres,
}

/// Where the metadata lives: the `database.url` setting.
///
/// Forms: `sqlite://<path>` (a relative path is relative to the working
/// directory; `sqlite:///abs/path` is absolute) or
/// `postgres://user:pass@host:port/db` (`postgresql://` too, with libpq's
/// query parameters such as `sslmode`). [`fmt::Display`] hides the password.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl DatabaseUrl {
    /// The engine this URL names.
    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
            DatabaseUrl::Postgres(_) => Backend::Postgres,
        }
    }

    /// The default: `<data-dir>/meta.db`.
    pub fn sqlite_in(data_dir: &Path) -> DatabaseUrl {
        DatabaseUrl::Sqlite(data_dir.join("meta.db"))
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        if let Some(path) = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
        {
            if path.is_empty() || path.contains('?') {
                return Err(format!(
                    "database.url {s:?}: expected sqlite://<path to the database file> (no options)"
                ));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            sqlx::postgres::PgConnectOptions::from_str(s)
                .map_err(|e| format!("database.url {}: {e}", DatabaseUrl::Postgres(s.into())))?;
            return Ok(DatabaseUrl::Postgres(s.to_string()));
        }
        Err(format!(
            "database.url must start with sqlite:// or postgres:// (got {:?})",
            s.split("://").next().unwrap_or(s)
        ))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => match url::Url::parse(url) {
                Ok(mut u) if u.password().is_some() => {
                    let _ = u.set_password(Some("***"));
                    write!(f, "{u}")
                }
                Ok(u) => write!(f, "{u}"),
                Err(_) => f.write_str("postgres://(unparsable URL)"),
            },
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Creates an absent database file empty with mode 0600. SQLite would create it
/// 0644 (minus the umask), and it gives the `-wal` and `-shm` files the mode of
/// the database: created here first, all three are private to berth's user. An
/// existing file keeps its mode; failures are left for SQLite to report.
fn create_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if !path.exists() {
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path);
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn sqlite_options(path: &Path, read_only: bool, immutable: bool) -> AnyConnectOptions {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(!read_only)
        .read_only(read_only)
        .immutable(immutable);
    // The URL carries the file name, mode and immutability; the pragmas are
    // set per connection by sqlite_pool.
    AnyConnectOptions::from_url(&opts.to_url_lossy())
        .expect("BUG: sqlx could not parse the SQLite URL it generated")
}

/// A pool of SQLite connections with berth's settings: WAL with
/// `synchronous=NORMAL` plus a group-committed `fdatasync` of the WAL before
/// any commit is acknowledged ([`crate::durable`]: a commit survives power
/// loss), foreign keys on, and a busy timeout so writers in other processes
/// queue instead of failing.
async fn sqlite_pool(opts: AnyConnectOptions, max: u32, writer: bool) -> Result<AnyPool> {
    Ok(AnyPoolOptions::new()
        .max_connections(max)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"
                )))
                .await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                if writer {
                    // Commits reach the WAL without waiting for the disk;
                    // WriteTx::commit waits for a shared fdatasync of it
                    // (crate::durable). Checkpoints sync as under FULL.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                }
                Ok(())
            })
        })
        .connect_with(opts)
        .await?)
}

/// A PostgreSQL pool. Sessions keep the server's settings: write transactions
/// turn `synchronous_commit` off for themselves only (`SET LOCAL`, see
/// [`MetaStore::begin`]), so nothing leaks to other users of a pooled server
/// connection (PgBouncer in transaction mode).
async fn postgres_pool(url: &str, max: u32) -> Result<AnyPool> {
    let opts = AnyConnectOptions::from_str(url)?;
    Ok(AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(opts)
        .await?)
}

fn migrator(backend: Backend) -> &'static sqlx::migrate::Migrator {
    match backend {
        Backend::Sqlite => &SQLITE_MIGRATOR,
        Backend::Postgres => &POSTGRES_MIGRATOR,
    }
}

impl MetaStore {
    /// Opens the database `url` names, creating (SQLite) and migrating its
    /// schema. On PostgreSQL the migration runs under sqlx's advisory lock, so
    /// nodes starting together migrate once; the others wait and find nothing
    /// left to do.
    ///
    /// Errors: [`MetaError::Database`] when the database cannot be reached or
    /// opened, [`MetaError::Migrate`] when the schema cannot be brought up to
    /// date.
    pub async fn open(url: &DatabaseUrl) -> Result<MetaStore> {
        sqlx::any::install_default_drivers();
        match url {
            DatabaseUrl::Sqlite(path) => {
                create_private(path);
                let write = sqlite_pool(sqlite_options(path, false, false), 1, true).await?;
                SQLITE_MIGRATOR.run(&write).await?;
                let durable = GroupCommit::sqlite(path);
                durable.flush_all().await?;
                let read = sqlite_pool(sqlite_options(path, true, false), 8, false).await?;
                Ok(MetaStore {
                    read: TimedPool::new(read, "read"),
                    write: TimedPool::new(write, "write"),
                    backend: Backend::Sqlite,
                    url: url.clone(),
                    durable,
                })
            }
            DatabaseUrl::Postgres(u) => {
                let pool = postgres_pool(u, 16).await?;
                POSTGRES_MIGRATOR.run(&pool).await?;
                let durable = GroupCommit::postgres(postgres_pool(u, 1).await?);
                durable.flush_all().await?;
                Ok(MetaStore {
                    read: TimedPool::new(pool.clone(), "shared"),
                    write: TimedPool::new(pool, "shared"),
                    backend: Backend::Postgres,
                    url: url.clone(),
                    durable,
                })
            }
        }
    }

    /// Opens the SQLite database at `path` ([`MetaStore::open`] of
    /// `sqlite://<path>`).
    pub async fn open_sqlite(path: &Path) -> Result<MetaStore> {
        Self::open(&DatabaseUrl::Sqlite(path.to_path_buf())).await
    }

    /// Opens an existing database for reading, without migrating: for readers
    /// in another process (`berth audit verify`/`export`, `fsck`) while
    /// `serve` runs. Every write through an SQLite store opened this way fails;
    /// on PostgreSQL the connection is the same as [`MetaStore::open`]'s and
    /// read-only by convention (the callers only read).
    ///
    /// Errors: [`MetaError::Database`] when the file is missing or unreadable,
    /// or the server cannot be reached.
    ///
    /// A reader of a WAL database needs its `-shm` file, which SQLite creates
    /// beside the database: in a directory this process may only read (an
    /// auditor's account, a read-only mount) that fails, and the database is
    /// then opened as immutable (SQLite's `immutable=1`: no locks, no `-shm`),
    /// which is correct as long as nothing writes it meanwhile, as nothing can
    /// through this process's permissions.
    pub async fn open_read_only(url: &DatabaseUrl) -> Result<MetaStore> {
        sqlx::any::install_default_drivers();
        let read = match url {
            DatabaseUrl::Postgres(u) => {
                let pool = postgres_pool(u, 4).await?;
                return Ok(MetaStore {
                    read: TimedPool::new(pool.clone(), "shared"),
                    write: TimedPool::new(pool, "shared"),
                    backend: Backend::Postgres,
                    url: url.clone(),
                    durable: GroupCommit::nothing(),
                });
            }
            DatabaseUrl::Sqlite(path) => {
                match Self::sqlite_read_pool(sqlite_options(path, true, false)).await {
                    Ok(pool) => pool,
                    Err(first) => {
                        if std::fs::File::open(path).is_err() {
                            return Err(first);
                        }
                        tracing::debug!(
                            "{}: opening read-only failed ({first}); opening it as immutable",
                            path.display()
                        );
                        Self::sqlite_read_pool(sqlite_options(path, true, true)).await?
                    }
                }
            }
        };
        Ok(MetaStore {
            write: TimedPool::new(read.clone(), "read"),
            read: TimedPool::new(read, "read"),
            backend: Backend::Sqlite,
            url: url.clone(),
            durable: GroupCommit::nothing(),
        })
    }

    /// [`MetaStore::open_read_only`] of `sqlite://<path>`.
    pub async fn open_sqlite_read_only(path: &Path) -> Result<MetaStore> {
        Self::open_read_only(&DatabaseUrl::Sqlite(path.to_path_buf())).await
    }

    /// A small read-only SQLite pool whose first query has succeeded.
    async fn sqlite_read_pool(opts: AnyConnectOptions) -> Result<AnyPool> {
        let pool = sqlite_pool(opts, 2, false).await?;
        sqlx::query("SELECT count(*) FROM sqlite_master")
            .fetch_one(&pool)
            .await?;
        Ok(pool)
    }

    /// The engine under this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database this store was opened on.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// On SQLite, a stamp that changes with every commit to the database by
    /// any process ([`crate::durable::ChangeStamp`]): caches of this process
    /// compare it to notice another process's writes (the `berth` CLI while
    /// `serve` runs). `None` on PostgreSQL, whose nodes announce their
    /// changes ([`crate::Change`]), and when the WAL cannot be read.
    pub fn change_stamp(&self) -> Option<crate::durable::ChangeStamp> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let mut wal = path.as_os_str().to_owned();
                wal.push("-wal");
                crate::durable::change_stamp(std::path::Path::new(&wal))
            }
            DatabaseUrl::Postgres(_) => None,
        }
    }

    /// The schema migrations the database still needs, as `(version,
    /// description)` in the order they would run, without changing anything:
    /// every migration when the SQLite file or the PostgreSQL schema is new;
    /// those not recorded as applied in its `_sqlx_migrations` table otherwise.
    /// For `berth migrate --dry-run`. (Every [`MetaStore::open`] applies them.)
    ///
    /// Errors: [`MetaError::Database`] when the database cannot be read.
    pub async fn pending_migrations(url: &DatabaseUrl) -> Result<Vec<(i64, String)>> {
        let all = || {
            migrator(url.backend())
                .iter()
                .filter(|m| m.migration_type.is_up_migration())
                .map(|m| (m.version, m.description.to_string()))
        };
        if let DatabaseUrl::Sqlite(path) = url {
            if !path.exists() {
                return Ok(all().collect());
            }
        }
        let store = MetaStore::open_read_only(url).await?;
        let has_table: i64 = match store.backend {
            Backend::Sqlite => sqlx::query_scalar(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            ),
            Backend::Postgres => sqlx::query_scalar(
                "SELECT count(*) FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'",
            ),
        }
        .fetch_one(&store.read)
        .await?;
        let applied: Vec<i64> = if has_table > 0 {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&store.read)
                .await?
        } else {
            Vec::new()
        };
        store.close().await;
        Ok(all().filter(|(v, _)| !applied.contains(v)).collect())
    }

    /// Proves the database takes writes, changing nothing.
    ///
    /// SQLite: in a transaction that is rolled back, rewrites the header's
    /// `user_version` with its own value (a write SQLite refuses on a
    /// read-only file, where `BEGIN IMMEDIATE` alone passes). PostgreSQL: the
    /// server is not a read-only standby and the session is not read-only.
    ///
    /// Errors: [`MetaError::Database`], e.g. "attempt to write a readonly
    /// database" or "the PostgreSQL server is read-only".
    pub async fn check_writable(&self) -> Result<()> {
        let mut tx = self.begin().await?;
        match self.backend {
            Backend::Sqlite => {
                let version: i64 = sqlx::query_scalar("PRAGMA user_version")
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "PRAGMA user_version = {version}"
                )))
                .execute(&mut *tx)
                .await?;
            }
            Backend::Postgres => {
                let read_only: i64 = sqlx::query_scalar(
                    "SELECT CASE WHEN pg_is_in_recovery()
                     OR current_setting('transaction_read_only') = 'on' THEN 1 ELSE 0 END",
                )
                .fetch_one(&mut *tx)
                .await?;
                if read_only != 0 {
                    return Err(MetaError::Database(sqlx::Error::Protocol(
                        "the PostgreSQL server is read-only (a standby, or \
                         default_transaction_read_only is on)"
                            .into(),
                    )));
                }
            }
        }
        tx.rollback().await?;
        Ok(())
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite (takes the one
    /// writer lock now, so a transaction never fails to upgrade later); on
    /// PostgreSQL `BEGIN` plus the advisory lock [`WRITE_LOCK_KEY`], held to
    /// commit or rollback.
    /// [`WriteTx::commit`] returns once the transaction is durable, sharing the
    /// flush with concurrent writers ([`crate::durable`]).
    pub(crate) async fn begin(&self) -> Result<WriteTx> {
        let start = std::time::Instant::now();
        let tx = self.begin_locked().await;
        metrics::histogram!(crate::timed::BEGIN_DURATION).record(start.elapsed());
        Ok(WriteTx::new(tx?, self.durable.clone()))
    }

    async fn begin_locked(&self) -> Result<Transaction<'static, Any>> {
        match self.backend {
            Backend::Sqlite => Ok(self.write.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres => {
                let mut tx = self.write.begin().await?;
                // The write lock, and this transaction's commit not waiting
                // for the WAL flush (crate::durable waits for a shared one),
                // in one round trip.
                sqlx::query(
                    "SELECT pg_advisory_xact_lock($1), set_config('synchronous_commit', 'off', true)",
                )
                .bind(WRITE_LOCK_KEY)
                .execute(&mut *tx)
                .await?;
                Ok(tx)
            }
        }
    }

    /// Runs one write statement in its own write transaction (so it is
    /// ordered against every other writer on PostgreSQL too).
    pub(crate) async fn write_one<'q>(
        &self,
        q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    ) -> Result<sqlx::any::AnyQueryResult> {
        let mut tx = self.begin().await?;
        let done = q.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Closes the pools (on SQLite the last close checkpoints the WAL).
    pub async fn close(&self) {
        if let Err(e) = self.durable.flush_all().await {
            tracing::warn!("flushing the metadata database before closing: {e}");
        }
        self.read.close().await;
        self.write.close().await;
    }
}

/// A cluster-wide lock on a background job (garbage collection, scheduled
/// retention, the audit trim), so one node at a time runs it: a PostgreSQL
/// session advisory lock on a connection held for the job's length. When the
/// node dies its connection closes and the lock goes with it, so another
/// node takes over at its next turn. On SQLite (one node) it is always
/// granted; the process's own mutexes order its jobs.
pub struct JobLock {
    held: Option<(sqlx::pool::PoolConnection<Any>, i64)>,
}

impl JobLock {
    /// Releases the lock.
    pub async fn release(mut self) {
        if let Some((mut conn, key)) = self.held.take() {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(key)
                .execute(&mut *conn)
                .await;
            if unlocked.is_err() {
                // Closing the session releases it as surely.
                conn.close_on_drop();
            }
        }
    }
}

impl Drop for JobLock {
    fn drop(&mut self) {
        // Not released by `release` (a panic, a cancelled task): end the
        // session instead of returning it to the pool still holding the lock.
        if let Some((mut conn, _)) = self.held.take() {
            conn.close_on_drop();
        }
    }
}

/// The PostgreSQL advisory lock key of a job name ([`MetaStore::job_lock`]):
/// FNV-1a over its bytes (stable across builds and nodes), with the high byte
/// set to berth's ("b", 0x62). Operators can see who holds it in `pg_locks`.
pub fn job_lock_key(job: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in job.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    ((h & 0x00ff_ffff_ffff_ffff) | 0x6200_0000_0000_0000) as i64
}

impl MetaStore {
    /// Takes the cluster-wide lock of `job` ([`JobLock`]). With `wait`, waits
    /// until the node running it finishes; without, `None` when another
    /// node holds it.
    ///
    /// Errors: [`MetaError::Database`].
    pub async fn job_lock(&self, job: &str, wait: bool) -> Result<Option<JobLock>> {
        if self.backend == Backend::Sqlite {
            return Ok(Some(JobLock { held: None }));
        }
        let key = job_lock_key(job);
        let mut conn = self.write.acquire().await?;
        let got: bool = if wait {
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(key)
                .execute(&mut *conn)
                .await?;
            true
        } else {
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut *conn)
                .await?
        };
        Ok(got.then_some(JobLock {
            held: Some((conn, key)),
        }))
    }
}

/// A query assembled at run time (filters, `IN` lists) with `$n`
/// placeholders numbered as values are bound: sqlx's `QueryBuilder` writes
/// `?` for the `Any` driver, which PostgreSQL does not accept.
pub(crate) struct SqlBuilder {
    sql: String,
    args: sqlx::any::AnyArguments,
}

impl SqlBuilder {
    /// Starts with `sql`.
    pub(crate) fn new(sql: impl Into<String>) -> SqlBuilder {
        SqlBuilder {
            sql: sql.into(),
            args: Default::default(),
        }
    }

    /// Appends SQL text (never input: values go through [`SqlBuilder::push_bind`]).
    pub(crate) fn push(&mut self, sql: impl AsRef<str>) -> &mut Self {
        self.sql.push_str(sql.as_ref());
        self
    }

    /// Appends the next placeholder and binds `value` to it.
    pub(crate) fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: for<'a> sqlx::Encode<'a, Any> + sqlx::Type<Any> + 'static,
    {
        // Encoding an owned integer or string into the Any buffer cannot fail;
        // an error here would be a bug in the caller's type, surfaced as SQL
        // with a missing argument (the database then reports it).
        if self.args.add(value).is_ok() {
            self.sql.push_str(&format!("${}", self.args.len()));
        }
        self
    }

    /// Appends `values` as placeholders separated by `, `.
    pub(crate) fn push_bind_list<T>(&mut self, values: impl IntoIterator<Item = T>) -> &mut Self
    where
        T: for<'a> sqlx::Encode<'a, Any> + sqlx::Type<Any> + 'static,
    {
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.push_bind(v);
        }
        self
    }

    /// The query, ready to run.
    pub(crate) fn build(self) -> sqlx::query::Query<'static, Any, sqlx::any::AnyArguments> {
        sqlx::query_with(sqlx::AssertSqlSafe(self.sql), self.args)
    }

    /// The query as a scalar query.
    pub(crate) fn build_scalar<O>(
        self,
    ) -> sqlx::query::QueryScalar<'static, Any, O, sqlx::any::AnyArguments>
    where
        (O,): for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_scalar_with(sqlx::AssertSqlSafe(self.sql), self.args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_node_at_a_time_holds_a_job_lock_and_a_dropped_holder_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::testing::database_url(dir.path()).await;
        let (a, b) = (
            MetaStore::open(&url).await.unwrap(),
            MetaStore::open(&url).await.unwrap(),
        );
        let held = a.job_lock("gc", false).await.unwrap().expect("free");
        if a.backend() == Backend::Postgres {
            assert!(b.job_lock("gc", false).await.unwrap().is_none());
            // Another job is independent.
            b.job_lock("retention", false)
                .await
                .unwrap()
                .expect("other job");
            // A holder that goes away without releasing (a crashed task)
            // frees it too.
            drop(held);
            let mut again = None;
            for _ in 0..50 {
                again = b.job_lock("gc", false).await.unwrap();
                if again.is_some() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            let again = again.expect("freed by the dropped holder");
            again.release().await;
            let waited = b.job_lock("gc", true).await.unwrap();
            assert!(waited.is_some());
        } else {
            held.release().await;
        }
        assert_ne!(job_lock_key("gc"), job_lock_key("retention"));
    }

    #[test]
    fn database_urls_parse_and_hide_the_password() {
        assert_eq!(
            "sqlite:///var/lib/berth/meta.db".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Sqlite("/var/lib/berth/meta.db".into()))
        );
        assert_eq!(
            "sqlite://data/meta.db".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Sqlite("data/meta.db".into()))
        );
        let pg: DatabaseUrl = "postgres://berth:s3cret@db:5432/berth".parse().unwrap();
        assert_eq!(pg.backend(), Backend::Postgres);
        assert_eq!(pg.to_string(), "postgres://berth:***@db:5432/berth");
        assert!(!format!("{pg:?}").contains("s3cret"));
        let err = "mysql://x".parse::<DatabaseUrl>().unwrap_err();
        assert!(err.contains("sqlite:// or postgres://"), "{err}");
        assert!("sqlite://".parse::<DatabaseUrl>().is_err());
    }
}
