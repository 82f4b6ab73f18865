//! Web UI sessions (`ui_sessions`, migration 18): one row per signed-in
//! browser, keyed by the SHA-256 of its cookie. What a session may do is
//! decided in `berth_registry::auth`; this module only stores the rows.

use sqlx::Row;

use crate::error::Result;
use crate::MetaStore;

/// One stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// SHA-256 hex of the cookie value.
    pub id_hash: String,
    /// Who signed in (for the audit trail of a sign-out).
    pub username: String,
    /// The credential signed in with, as JSON.
    pub credential: String,
    /// The token state-changing requests must echo (`X-Berth-CSRF-Token`).
    pub csrf_token: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms; the session is refused from then on.
    pub expires_at: i64,
}

impl MetaStore {
    /// Stores a new session and deletes every session expired before
    /// `row.created_at`.
    ///
    /// Errors: [`crate::MetaError::Database`] (a duplicate `id_hash` among them).
    pub async fn session_create(&self, row: &SessionRow) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM ui_sessions WHERE expires_at <= $1")
            .bind(row.created_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO ui_sessions (id_hash, username, credential, csrf_token, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&row.id_hash)
        .bind(&row.username)
        .bind(&row.credential)
        .bind(&row.csrf_token)
        .bind(row.created_at)
        .bind(row.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The session whose cookie hashes to `id_hash`, unless it expired
    /// before `now_ms`.
    ///
    /// Errors: [`crate::MetaError::Database`].
    pub async fn session_get(&self, id_hash: &str, now_ms: i64) -> Result<Option<SessionRow>> {
        let row = sqlx::query(
            "SELECT id_hash, username, credential, csrf_token, created_at, expires_at
             FROM ui_sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(now_ms)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|r| SessionRow {
            id_hash: r.get(0),
            username: r.get(1),
            credential: r.get(2),
            csrf_token: r.get(3),
            created_at: r.get(4),
            expires_at: r.get(5),
        }))
    }

    /// Deletes the session (sign-out); true when there was one.
    ///
    /// Errors: [`crate::MetaError::Database`].
    pub async fn session_delete(&self, id_hash: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM ui_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_session_is_found_until_it_expires_or_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let meta = MetaStore::open(&crate::testing::database_url(dir.path()).await)
            .await
            .unwrap();
        let row = |id: &str, created_at: i64, expires_at: i64| SessionRow {
            id_hash: id.into(),
            username: "alice".into(),
            credential: r#"{"k":"pw","uid":1,"gen":0}"#.into(),
            csrf_token: format!("csrf-{id}"),
            created_at,
            expires_at,
        };
        meta.session_create(&row("a", 1_000, 5_000)).await.unwrap();
        assert_eq!(
            meta.session_get("a", 4_999).await.unwrap(),
            Some(row("a", 1_000, 5_000))
        );
        assert_eq!(meta.session_get("a", 5_000).await.unwrap(), None);
        assert_eq!(meta.session_get("b", 1_000).await.unwrap(), None);
        // A later sign-in sweeps the expired one away.
        meta.session_create(&row("b", 6_000, 9_000)).await.unwrap();
        assert!(!meta.session_delete("a").await.unwrap());
        assert!(meta.session_delete("b").await.unwrap());
        assert_eq!(meta.session_get("b", 6_000).await.unwrap(), None);
        assert!(meta.session_create(&row("c", 6_000, 9_000)).await.is_ok());
        assert!(meta.session_create(&row("c", 6_000, 9_000)).await.is_err());
    }
}
