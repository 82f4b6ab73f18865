//! Failed-login counters (`login_throttle`, migration 7), shared by every
//! node on the database. The counting rules live in
//! `berth_registry::auth::throttle`; this module only stores the rows.

use sqlx::Row;

use crate::error::Result;
use crate::MetaStore;

/// One counter: failures in the current window and the lockout state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRow {
    /// Start of the counting window, Unix ms.
    pub window_start: i64,
    /// Failures in the window.
    pub failures: i64,
    /// Lockouts so far (the backoff exponent).
    pub lockouts: i64,
    /// Locked out until then (Unix ms), if ever.
    pub locked_until: Option<i64>,
}

impl MetaStore {
    /// The latest `locked_until` among `keys` (Unix ms), if any.
    ///
    /// Errors: [`crate::MetaError::Database`].
    pub async fn throttle_locked_until(&self, keys: &[&str]) -> Result<Option<i64>> {
        if keys.is_empty() {
            return Ok(None);
        }
        let mut q = crate::db::SqlBuilder::new(
            "SELECT MAX(locked_until) FROM login_throttle WHERE key IN (",
        );
        q.push_bind_list(keys.iter().map(|k| k.to_string()));
        q.push(")");
        Ok(q.build_scalar::<Option<i64>>()
            .fetch_one(&self.read)
            .await?)
    }

    /// Replaces the counter `key` with `update(current)` in one write
    /// transaction (so concurrent failures on several nodes all count), and
    /// drops counters idle since before `prune_before` (Unix ms).
    ///
    /// Errors: [`crate::MetaError::Database`].
    pub async fn throttle_update(
        &self,
        key: &str,
        prune_before: i64,
        update: impl FnOnce(Option<ThrottleRow>) -> ThrottleRow,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT window_start, failures, lockouts, locked_until FROM login_throttle WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        let current = match row {
            Some(r) => Some(ThrottleRow {
                window_start: r.try_get("window_start")?,
                failures: r.try_get("failures")?,
                lockouts: r.try_get("lockouts")?,
                locked_until: r.try_get("locked_until")?,
            }),
            None => None,
        };
        let next = update(current);
        sqlx::query(
            "INSERT INTO login_throttle (key, window_start, failures, lockouts, locked_until)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT(key) DO UPDATE SET window_start = excluded.window_start,
                failures = excluded.failures, lockouts = excluded.lockouts,
                locked_until = excluded.locked_until",
        )
        .bind(key)
        .bind(next.window_start)
        .bind(next.failures)
        .bind(next.lockouts)
        .bind(next.locked_until)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM login_throttle WHERE window_start < $1
             AND (locked_until IS NULL OR locked_until < $1)",
        )
        .bind(prune_before)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets the counter `key` (a successful login).
    ///
    /// Errors: [`crate::MetaError::Database`].
    pub async fn throttle_forget(&self, key: &str) -> Result<()> {
        self.write_one(sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(key))
            .await?;
        Ok(())
    }
}
