//! [`TimedPool`]: a connection pool whose queries are timed into the
//! `berth_db_query_duration_seconds` histogram (by pool: `read`/`write` on SQLite, `shared` on PostgreSQL), so `/metrics`
//! shows the metadata database's latency as berth sees it: connection wait
//! plus the query's round trips.

use std::fmt;
use std::ops::Deref;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::StreamExt;
use sqlx::any::{AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::{Any, AnyPool, Either, Execute, Executor, SqlStr};

/// The histogram's name (`berth_registry::metrics::DB_QUERY_DURATION`).
pub const QUERY_DURATION: &str = "berth_db_query_duration_seconds";

/// Time to obtain a write transaction (`berth_registry::metrics::DB_BEGIN_DURATION`).
pub const BEGIN_DURATION: &str = "berth_db_begin_duration_seconds";

/// An [`AnyPool`] that times each query run on it (not those run inside a
/// transaction or on an acquired connection). Dereferences to the pool for
/// everything else (`begin`, `acquire`, `size`, `close`).
#[derive(Clone)]
pub struct TimedPool {
    pool: AnyPool,
    role: &'static str,
}

impl TimedPool {
    /// Wraps `pool`; `role` (`read`, `write`) is the histogram's `pool` label.
    pub fn new(pool: AnyPool, role: &'static str) -> TimedPool {
        TimedPool { pool, role }
    }

    /// The `pool` label.
    pub fn role(&self) -> &'static str {
        self.role
    }
}

impl Deref for TimedPool {
    type Target = AnyPool;
    fn deref(&self) -> &AnyPool {
        &self.pool
    }
}

impl fmt::Debug for TimedPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimedPool")
            .field("role", &self.role)
            .finish()
    }
}

/// Records the time since it was made when dropped: when a query's future
/// or stream completes, fails or is abandoned.
struct Timer {
    start: Instant,
    role: &'static str,
}

impl Drop for Timer {
    fn drop(&mut self) {
        metrics::histogram!(QUERY_DURATION, "pool" => self.role).record(self.start.elapsed());
    }
}

impl<'p> Executor<'p> for &'p TimedPool {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let timer = Timer {
            start: Instant::now(),
            role: self.role,
        };
        self.pool
            .fetch_many(query)
            .map(move |step| {
                let _ = &timer;
                step
            })
            .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let timer = Timer {
            start: Instant::now(),
            role: self.role,
        };
        let fut = self.pool.fetch_optional(query);
        Box::pin(async move {
            let row = fut.await;
            drop(timer);
            row
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement, sqlx::Error>>
    where
        'p: 'e,
    {
        self.pool.prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<Any>, sqlx::Error>>
    where
        'p: 'e,
    {
        self.pool.describe(sql)
    }
}

impl crate::MetaStore {
    /// Connections of each pool as `(role, open, idle, max)`, for
    /// `berth_db_connections`: `read` and `write` on SQLite, one `shared`
    /// pool on PostgreSQL.
    pub fn pool_usage(&self) -> Vec<(&'static str, u32, usize, u32)> {
        let usage = |p: &TimedPool| {
            (
                p.role(),
                p.size(),
                p.num_idle(),
                p.options().get_max_connections(),
            )
        };
        let mut out = vec![usage(&self.read)];
        if self.write.role() != self.read.role() {
            out.push(usage(&self.write));
        }
        out
    }
}
