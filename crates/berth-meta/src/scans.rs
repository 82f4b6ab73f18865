//! The scan queue and its outcomes (`scan_tasks`, migration 14; the
//! `projects.auto_sbom` switch is in [`crate::switches`]). One row per (repository, manifest digest,
//! kind): requested (`pending`), claimed by a node for a lease
//! (`running`), finished (`success` or `error`). Any node claims; a lease
//! that runs out (its node died) is claimed again. The rules live in
//! `berth_registry::sbom`; this module stores the rows.

use sqlx::Row;

use crate::error::Result;
use crate::signatures::LIVE;
use crate::store::now_ms;
use crate::MetaStore;

/// One scan task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanTaskRow {
    /// Repository holding the manifest.
    pub repository: String,
    /// The image manifest's digest.
    pub digest: String,
    /// `sbom`.
    pub kind: String,
    /// `pending`, `running`, `success` or `error`.
    pub status: String,
    /// How many times it was claimed.
    pub attempts: i64,
    /// Why it failed, in words (empty otherwise).
    pub detail: String,
    /// What the run made, as JSON text.
    pub report: Option<String>,
    /// Unix ms.
    pub requested_at: i64,
    /// Unix ms of the latest claim.
    pub started_at: Option<i64>,
    /// Unix ms.
    pub finished_at: Option<i64>,
}

fn task_row(r: sqlx::any::AnyRow) -> ScanTaskRow {
    ScanTaskRow {
        repository: r.get("repository"),
        digest: r.get("digest"),
        kind: r.get("kind"),
        status: r.get("status"),
        attempts: r.get("attempts"),
        detail: r.get("detail"),
        report: r.get("report"),
        requested_at: r.get("requested_at"),
        started_at: r.get("started_at"),
        finished_at: r.get("finished_at"),
    }
}

impl MetaStore {
    /// Queues a scan of `digest` in `repository` (again, when one ran or
    /// failed before; a push queues its own in its transaction, see
    /// [`crate::NewManifest::scan`]). A running task whose lease holds is
    /// left alone. True when a task is now pending.
    pub async fn scan_request(&self, repository: &str, digest: &str, kind: &str) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query(
                    "INSERT INTO scan_tasks (repository, digest, kind, status, requested_at)
                     VALUES ($1, $2, $3, 'pending', $4)
                     ON CONFLICT (repository, digest, kind) DO UPDATE SET status = 'pending',
                       attempts = 0, detail = '', requested_at = excluded.requested_at
                     WHERE scan_tasks.status <> 'running'
                        OR scan_tasks.claimed_until < excluded.requested_at",
                )
                .bind(repository.to_string())
                .bind(digest.to_string())
                .bind(kind.to_string())
                .bind(now_ms()),
            )
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Claims the oldest pending task of `kind` (or a running one whose
    /// lease ran out) for `lease_ms`; `None` when there is none. Tasks of
    /// manifests deleted since are dropped on the way.
    pub async fn scan_claim(&self, kind: &str, lease_ms: i64) -> Result<Option<ScanTaskRow>> {
        let now = now_ms();
        let claimable = "(status = 'pending' OR (status = 'running' AND claimed_until < $2))";
        // Idle nodes poll: look before taking the write lock.
        let sql = format!("SELECT 1 FROM scan_tasks WHERE kind = $1 AND {claimable} LIMIT 1");
        let any: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(kind)
            .bind(now)
            .fetch_optional(&self.read)
            .await?;
        if any.is_none() {
            return Ok(None);
        }
        let mut tx = self.begin().await?;
        let sql = format!(
            "DELETE FROM scan_tasks WHERE kind = $1 AND {claimable} AND NOT {}",
            LIVE.replace("s.repository", "scan_tasks.repository")
                .replace("s.digest", "scan_tasks.digest")
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(kind)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        // The outer condition is checked again against the row as it is
        // when updated, so two nodes never both claim one task.
        let sql = format!(
            "UPDATE scan_tasks SET status = 'running', attempts = attempts + 1,
               claimed_until = $3, started_at = $2
             WHERE kind = $1 AND {claimable} AND (repository, digest) IN
               (SELECT repository, digest FROM scan_tasks WHERE kind = $1 AND {claimable}
                ORDER BY requested_at, repository, digest LIMIT 1)
             RETURNING *"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(kind)
            .bind(now)
            .bind(now.saturating_add(lease_ms))
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row.map(task_row))
    }

    /// Marks a task started now by a caller that does not claim it (an
    /// in-line vulnerability match).
    pub async fn scan_started(&self, repository: &str, digest: &str, kind: &str) -> Result<()> {
        self.write_one(
            sqlx::query(
                "UPDATE scan_tasks SET status = 'running', started_at = $4
                 WHERE repository = $1 AND digest = $2 AND kind = $3",
            )
            .bind(repository.to_string())
            .bind(digest.to_string())
            .bind(kind.to_string())
            .bind(now_ms()),
        )
        .await?;
        Ok(())
    }

    /// Records how a claimed task ended: `success` (with `report`) or
    /// `error` (with `detail`).
    pub async fn scan_finish(
        &self,
        repository: &str,
        digest: &str,
        kind: &str,
        status: &str,
        detail: &str,
        report: Option<&str>,
    ) -> Result<()> {
        self.write_one(
            sqlx::query(
                "UPDATE scan_tasks SET status = $4, detail = $5, report = $6, finished_at = $7,
                   claimed_until = 0
                 WHERE repository = $1 AND digest = $2 AND kind = $3",
            )
            .bind(repository.to_string())
            .bind(digest.to_string())
            .bind(kind.to_string())
            .bind(status.to_string())
            .bind(detail.to_string())
            .bind(report.map(str::to_string))
            .bind(now_ms()),
        )
        .await?;
        Ok(())
    }

    /// Puts a claimed task back in the queue, its claim not counted (the
    /// node that held it is stopping).
    pub async fn scan_release(&self, repository: &str, digest: &str, kind: &str) -> Result<()> {
        self.write_one(
            sqlx::query(
                "UPDATE scan_tasks SET status = 'pending', claimed_until = 0,
                   attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END
                 WHERE repository = $1 AND digest = $2 AND kind = $3 AND status = 'running'",
            )
            .bind(repository.to_string())
            .bind(digest.to_string())
            .bind(kind.to_string()),
        )
        .await?;
        Ok(())
    }

    /// The task of `kind` for `digest` in `repository`, if any.
    pub async fn scan_task(
        &self,
        repository: &str,
        digest: &str,
        kind: &str,
    ) -> Result<Option<ScanTaskRow>> {
        let row = sqlx::query(
            "SELECT * FROM scan_tasks WHERE repository = $1 AND digest = $2 AND kind = $3",
        )
        .bind(repository)
        .bind(digest)
        .bind(kind)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(task_row))
    }

    /// The tasks of `kind` in `status` whose manifest still exists.
    pub async fn scan_tasks_where(&self, kind: &str, status: &str) -> Result<Vec<ScanTaskRow>> {
        let sql = format!(
            "SELECT * FROM scan_tasks s WHERE s.kind = $1 AND s.status = $2 AND {LIVE}
             ORDER BY s.repository, s.digest"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(kind)
            .bind(status)
            .fetch_all(&self.read)
            .await?;
        Ok(rows.into_iter().map(task_row).collect())
    }
}
