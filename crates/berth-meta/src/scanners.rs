//! External scanners (`scanner_registrations`, migration 24): adapters of
//! Harbor's pluggable scanner API that replace the built-in vulnerability
//! matcher when one is the default. The rules live in
//! `berth_registry::vuln::adapter`; this module stores the rows.

use sqlx::Row;

use crate::error::Result;
use crate::store::now_ms;
use crate::MetaStore;

/// A registered scanner adapter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScannerRow {
    /// Registration id (a UUID).
    pub uuid: String,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Base URL of the adapter (its API is under `/api/v1`).
    pub url: String,
    /// `''`, `Basic`, `Bearer` or `X-ScannerAdapter-API-Key`.
    pub auth: String,
    /// What `auth` sends (`user:password` for Basic).
    pub access_credential: String,
    /// Accept any TLS certificate from the adapter.
    pub skip_cert_verify: bool,
    /// A disabled scanner is never used.
    pub disabled: bool,
    /// The scanner that replaces the built-in one (at most one).
    pub is_default: bool,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

fn scanner_row(r: sqlx::any::AnyRow) -> ScannerRow {
    ScannerRow {
        uuid: r.get("uuid"),
        name: r.get("name"),
        description: r.get("description"),
        url: r.get("url"),
        auth: r.get("auth"),
        access_credential: r.get("access_credential"),
        skip_cert_verify: r.get::<i64, _>("skip_cert_verify") != 0,
        disabled: r.get::<i64, _>("disabled") != 0,
        is_default: r.get::<i64, _>("is_default") != 0,
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

impl MetaStore {
    /// Every registration, by name.
    pub async fn scanners(&self) -> Result<Vec<ScannerRow>> {
        let rows = sqlx::query("SELECT * FROM scanner_registrations ORDER BY name")
            .fetch_all(&self.read)
            .await?;
        Ok(rows.into_iter().map(scanner_row).collect())
    }

    /// A registration by its uuid.
    pub async fn scanner(&self, uuid: &str) -> Result<Option<ScannerRow>> {
        let row = sqlx::query("SELECT * FROM scanner_registrations WHERE uuid = $1")
            .bind(uuid)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(scanner_row))
    }

    /// The default scanner, unless it is disabled.
    pub async fn default_scanner(&self) -> Result<Option<ScannerRow>> {
        let row = sqlx::query(
            "SELECT * FROM scanner_registrations WHERE is_default = 1 AND disabled = 0 LIMIT 1",
        )
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(scanner_row))
    }

    /// Stores a registration (`created_at`, `updated_at` are set here; when
    /// it is the default, no other one stays the default). Errors: a UNIQUE
    /// violation when the name is taken ([`crate::access::is_conflict`]).
    pub async fn scanner_add(&self, s: &ScannerRow) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        if s.is_default {
            sqlx::query("UPDATE scanner_registrations SET is_default = 0")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO scanner_registrations (uuid, name, description, url, auth, access_credential,
               skip_cert_verify, disabled, is_default, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&s.uuid)
        .bind(&s.name)
        .bind(&s.description)
        .bind(&s.url)
        .bind(&s.auth)
        .bind(&s.access_credential)
        .bind(i64::from(s.skip_cert_verify))
        .bind(i64::from(s.disabled))
        .bind(i64::from(s.is_default))
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a registration's settings (all but its uuid and creation
    /// time); when it becomes the default, no other one stays the default.
    /// Returns false when absent. Errors: as [`MetaStore::scanner_add`].
    pub async fn scanner_update(&self, s: &ScannerRow) -> Result<bool> {
        let mut tx = self.begin().await?;
        if s.is_default {
            sqlx::query("UPDATE scanner_registrations SET is_default = 0 WHERE uuid <> $1")
                .bind(&s.uuid)
                .execute(&mut *tx)
                .await?;
        }
        let n = sqlx::query(
            "UPDATE scanner_registrations SET name = $1, description = $2, url = $3, auth = $4,
               access_credential = $5, skip_cert_verify = $6, disabled = $7, is_default = $8,
               updated_at = $9 WHERE uuid = $10",
        )
        .bind(&s.name)
        .bind(&s.description)
        .bind(&s.url)
        .bind(&s.auth)
        .bind(&s.access_credential)
        .bind(i64::from(s.skip_cert_verify))
        .bind(i64::from(s.disabled))
        .bind(i64::from(s.is_default))
        .bind(now_ms())
        .bind(&s.uuid)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Removes a registration; returns it, or `None` when absent.
    pub async fn scanner_delete(&self, uuid: &str) -> Result<Option<ScannerRow>> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("DELETE FROM scanner_registrations WHERE uuid = $1 RETURNING *")
            .bind(uuid)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row.map(scanner_row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner(uuid: &str, name: &str, is_default: bool) -> ScannerRow {
        ScannerRow {
            uuid: uuid.into(),
            name: name.into(),
            url: "http://127.0.0.1:9".into(),
            is_default,
            ..ScannerRow::default()
        }
    }

    #[tokio::test]
    async fn one_default_at_a_time_and_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let meta = MetaStore::open(&crate::testing::database_url(dir.path()).await)
            .await
            .unwrap();
        meta.scanner_add(&scanner("a", "trivy", true))
            .await
            .unwrap();
        meta.scanner_add(&scanner("b", "other", true))
            .await
            .unwrap();
        assert_eq!(meta.default_scanner().await.unwrap().unwrap().uuid, "b");
        let mut a = meta.scanner("a").await.unwrap().unwrap();
        assert!(!a.is_default);
        a.is_default = true;
        assert!(meta.scanner_update(&a).await.unwrap());
        assert_eq!(meta.default_scanner().await.unwrap().unwrap().uuid, "a");
        a.disabled = true;
        meta.scanner_update(&a).await.unwrap();
        assert!(meta.default_scanner().await.unwrap().is_none(), "disabled");
        let taken = meta.scanner_add(&scanner("c", "trivy", false)).await;
        assert!(taken.is_err_and(|e| crate::access::is_conflict(&e)));
        assert_eq!(
            meta.scanner_delete("b").await.unwrap().unwrap().name,
            "other"
        );
        assert!(meta.scanner_delete("b").await.unwrap().is_none());
        assert_eq!(meta.scanners().await.unwrap().len(), 1);
    }
}
