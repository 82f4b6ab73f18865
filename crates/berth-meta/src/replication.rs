//! Replication policies, executions and tasks (migration 10). The policy's
//! settings are Harbor's `ReplicationPolicy` JSON, kept whole in `body`; the
//! engine (`berth_registry::replication`) gives them meaning.

use sqlx::Row;

use crate::error::Result;
use crate::store::now_ms;
use crate::MetaStore;

/// A stored policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRow {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Runs at all (triggers other than manual are ignored when false).
    pub enabled: bool,
    /// `manual`, `scheduled` or `event_based`.
    pub trigger_type: String,
    /// The settings, JSON.
    pub body: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// One run of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRow {
    /// Id.
    pub id: i64,
    /// Its policy.
    pub policy_id: i64,
    /// `InProgress`, `Succeed`, `Failed`, `Stopped`.
    pub status: String,
    /// Why, for people.
    pub status_text: String,
    /// `manual`, `scheduled`, `event_based`.
    pub trigger: String,
    /// JSON `{"repository","tag"}` of an event-triggered run.
    pub scope: Option<String>,
    /// A stop was asked.
    pub stop_requested: bool,
    /// Unix ms.
    pub start_time: i64,
    /// Unix ms, when ended.
    pub end_time: Option<i64>,
}

/// One artifact of an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    /// Id.
    pub id: i64,
    /// Its execution.
    pub execution_id: i64,
    /// `artifact`.
    pub resource_type: String,
    /// `repository:tag` at the source.
    pub src_resource: String,
    /// `repository:tag` at the destination.
    pub dst_resource: String,
    /// `copy`.
    pub operation: String,
    /// `Pending`, `InProgress`, `Succeed`, `Failed`, `Stopped`.
    pub status: String,
    /// Blob and manifest bytes sent.
    pub bytes: i64,
    /// Attempts made.
    pub attempts: i64,
    /// The last error.
    pub error: String,
    /// What it did, a line per step.
    pub log: String,
    /// Unix ms.
    pub start_time: Option<i64>,
    /// Unix ms.
    pub end_time: Option<i64>,
}

fn policy_row(r: sqlx::any::AnyRow) -> PolicyRow {
    PolicyRow {
        id: r.get("id"),
        name: r.get("name"),
        enabled: r.get::<i64, _>("enabled") != 0,
        trigger_type: r.get("trigger_type"),
        body: r.get("body"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

fn execution_row(r: sqlx::any::AnyRow) -> ExecutionRow {
    ExecutionRow {
        id: r.get("id"),
        policy_id: r.get("policy_id"),
        status: r.get("status"),
        status_text: r.get("status_text"),
        trigger: r.get("trigger_kind"),
        scope: r.get("scope"),
        stop_requested: r.get::<i64, _>("stop_requested") != 0,
        start_time: r.get("start_time"),
        end_time: r.get("end_time"),
    }
}

fn task_row(r: sqlx::any::AnyRow) -> TaskRow {
    TaskRow {
        id: r.get("id"),
        execution_id: r.get("execution_id"),
        resource_type: r.get("resource_type"),
        src_resource: r.get("src_resource"),
        dst_resource: r.get("dst_resource"),
        operation: r.get("operation"),
        status: r.get("status"),
        bytes: r.get("bytes"),
        attempts: r.get("attempts"),
        error: r.get("error"),
        log: r.get("log"),
        start_time: r.get("start_time"),
        end_time: r.get("end_time"),
    }
}

impl MetaStore {
    /// Adds a policy. Errors: a UNIQUE violation when the name is taken.
    pub async fn replication_policy_create(
        &self,
        name: &str,
        enabled: bool,
        trigger_type: &str,
        body: &str,
    ) -> Result<PolicyRow> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "INSERT INTO replication_policies (name, enabled, trigger_type, body, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        )
        .bind(name)
        .bind(enabled as i64)
        .bind(trigger_type)
        .bind(body)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(policy_row(row))
    }

    /// Replaces a policy. Returns false when absent.
    pub async fn replication_policy_update(
        &self,
        id: i64,
        name: &str,
        enabled: bool,
        trigger_type: &str,
        body: &str,
    ) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query(
                    "UPDATE replication_policies SET name = $1, enabled = $2, trigger_type = $3, body = $4, updated_at = $5 WHERE id = $6",
                )
                .bind(name.to_string())
                .bind(enabled as i64)
                .bind(trigger_type.to_string())
                .bind(body.to_string())
                .bind(now_ms())
                .bind(id),
            )
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Deletes a policy with its executions and tasks. Returns false when absent.
    pub async fn replication_policy_delete(&self, id: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "DELETE FROM replication_tasks WHERE execution_id IN (SELECT id FROM replication_executions WHERE policy_id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM replication_executions WHERE policy_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM replication_policies WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// A policy by id.
    pub async fn replication_policy(&self, id: i64) -> Result<Option<PolicyRow>> {
        let row = sqlx::query("SELECT * FROM replication_policies WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(policy_row))
    }

    /// Every policy, by id.
    pub async fn replication_policies(&self) -> Result<Vec<PolicyRow>> {
        let rows = sqlx::query("SELECT * FROM replication_policies ORDER BY id")
            .fetch_all(&self.read)
            .await?;
        Ok(rows.into_iter().map(policy_row).collect())
    }

    /// Starts an execution (status `InProgress`).
    pub async fn replication_execution_create(
        &self,
        policy_id: i64,
        trigger: &str,
        scope: Option<&str>,
    ) -> Result<ExecutionRow> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "INSERT INTO replication_executions (policy_id, status, trigger_kind, scope, start_time)
             VALUES ($1, 'InProgress', $2, $3, $4) RETURNING *",
        )
        .bind(policy_id)
        .bind(trigger)
        .bind(scope)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(execution_row(row))
    }

    /// An execution by id.
    pub async fn replication_execution(&self, id: i64) -> Result<Option<ExecutionRow>> {
        let row = sqlx::query("SELECT * FROM replication_executions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(execution_row))
    }

    /// Executions, newest first, of one policy or all.
    pub async fn replication_executions(
        &self,
        policy_id: Option<i64>,
    ) -> Result<Vec<ExecutionRow>> {
        let rows =
            match policy_id {
                Some(p) => sqlx::query(
                    "SELECT * FROM replication_executions WHERE policy_id = $1 ORDER BY id DESC",
                )
                .bind(p)
                .fetch_all(&self.read)
                .await?,
                None => {
                    sqlx::query("SELECT * FROM replication_executions ORDER BY id DESC")
                        .fetch_all(&self.read)
                        .await?
                }
            };
        Ok(rows.into_iter().map(execution_row).collect())
    }

    /// Ends an execution (or records a stop request with `stop_only`).
    pub async fn replication_execution_finish(
        &self,
        id: i64,
        status: &str,
        status_text: &str,
    ) -> Result<()> {
        self.write_one(
            sqlx::query(
                "UPDATE replication_executions SET status = $1, status_text = $2, end_time = $3 WHERE id = $4",
            )
            .bind(status.to_string())
            .bind(status_text.to_string())
            .bind(now_ms())
            .bind(id),
        )
        .await?;
        Ok(())
    }

    /// Asks a running execution to stop. Returns false unless it is in progress.
    pub async fn replication_execution_stop(&self, id: i64) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query(
                    "UPDATE replication_executions SET stop_requested = 1 WHERE id = $1 AND status = 'InProgress'",
                )
                .bind(id),
            )
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Adds a task (status `Pending`) of `operation`: `copy` or `deletion`.
    pub async fn replication_task_create(
        &self,
        execution_id: i64,
        src: &str,
        dst: &str,
        operation: &str,
    ) -> Result<TaskRow> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "INSERT INTO replication_tasks (execution_id, src_resource, dst_resource, operation, status)
             VALUES ($1, $2, $3, $4, 'Pending') RETURNING *",
        )
        .bind(execution_id)
        .bind(src)
        .bind(dst)
        .bind(operation)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(task_row(row))
    }

    /// Records a task's progress.
    pub async fn replication_task_update(&self, t: &TaskRow) -> Result<()> {
        self.write_one(
            sqlx::query(
                "UPDATE replication_tasks SET status = $1, bytes = $2, attempts = $3, error = $4, log = $5,
                 start_time = $6, end_time = $7 WHERE id = $8",
            )
            .bind(t.status.clone())
            .bind(t.bytes)
            .bind(t.attempts)
            .bind(t.error.clone())
            .bind(t.log.clone())
            .bind(t.start_time)
            .bind(t.end_time)
            .bind(t.id),
        )
        .await?;
        Ok(())
    }

    /// An execution's tasks, in order.
    pub async fn replication_tasks(&self, execution_id: i64) -> Result<Vec<TaskRow>> {
        let rows =
            sqlx::query("SELECT * FROM replication_tasks WHERE execution_id = $1 ORDER BY id")
                .bind(execution_id)
                .fetch_all(&self.read)
                .await?;
        Ok(rows.into_iter().map(task_row).collect())
    }
}
