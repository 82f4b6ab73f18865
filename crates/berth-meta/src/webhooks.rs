//! Webhook policies and their deliveries (migration 17; docs/webhooks.md).
//! Policies are Harbor's, per project; a delivery is one event sent to one
//! target, queued here and claimed by one node at a time.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::Result;
use crate::store::{now_ms, MetaStore};

/// A stored webhook policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookPolicyRow {
    /// Id.
    pub id: i64,
    /// Project name.
    pub project: String,
    /// Name, unique in the project.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Delivers only when true.
    pub enabled: bool,
    /// JSON array of event type names.
    pub event_types: String,
    /// JSON array of targets.
    pub targets: String,
    /// HMAC-SHA256 key of the signature header; empty = unsigned.
    pub secret: String,
    /// Who created it.
    pub creator: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// A policy to store (see [`WebhookPolicyRow`] for the fields).
#[derive(Debug, Clone)]
pub struct NewWebhookPolicy<'a> {
    /// Project name.
    pub project: &'a str,
    /// Name.
    pub name: &'a str,
    /// Free text.
    pub description: &'a str,
    /// Enabled.
    pub enabled: bool,
    /// JSON array of event type names.
    pub event_types: &'a str,
    /// JSON array of targets.
    pub targets: &'a str,
    /// HMAC key; empty = unsigned.
    pub secret: &'a str,
    /// Creator (ignored by updates).
    pub creator: &'a str,
}

/// A delivery to queue.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// The policy it is for.
    pub policy_id: i64,
    /// Harbor's event type name.
    pub event_type: String,
    /// Target URL.
    pub address: String,
    /// The body to send.
    pub payload: String,
    /// Its `Content-Type`.
    pub content_type: String,
}

/// A queued or finished delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// Id (also the execution's and its one task's id in the API).
    pub id: i64,
    /// Its policy.
    pub policy_id: i64,
    /// Harbor's event type name.
    pub event_type: String,
    /// Target URL.
    pub address: String,
    /// The body.
    pub payload: String,
    /// Its `Content-Type`.
    pub content_type: String,
    /// `pending`, `running`, `success`, `error`.
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// Next attempt due (Unix ms).
    pub next_at: i64,
    /// One line per attempt.
    pub log: String,
    /// Queued (Unix ms).
    pub created_at: i64,
    /// First attempt (Unix ms).
    pub started_at: Option<i64>,
    /// Success or giving up (Unix ms).
    pub finished_at: Option<i64>,
}

fn policy_row(r: &AnyRow) -> std::result::Result<WebhookPolicyRow, sqlx::Error> {
    Ok(WebhookPolicyRow {
        id: r.try_get("id")?,
        project: r.try_get("project")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        event_types: r.try_get("event_types")?,
        targets: r.try_get("targets")?,
        secret: r.try_get("secret")?,
        creator: r.try_get("creator")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn delivery_row(r: &AnyRow) -> std::result::Result<DeliveryRow, sqlx::Error> {
    Ok(DeliveryRow {
        id: r.try_get("id")?,
        policy_id: r.try_get("policy_id")?,
        event_type: r.try_get("event_type")?,
        address: r.try_get("address")?,
        payload: r.try_get("payload")?,
        content_type: r.try_get("content_type")?,
        status: r.try_get("status")?,
        attempts: r.try_get::<i64, _>("attempts")?.clamp(0, u32::MAX.into()) as u32,
        next_at: r.try_get("next_at")?,
        log: r.try_get("log")?,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

impl MetaStore {
    /// Stores a policy; returns its id.
    ///
    /// Errors: a unique violation ([`crate::is_conflict`]) when the project
    /// has a policy of that name.
    pub async fn webhook_policy_create(&self, p: &NewWebhookPolicy<'_>) -> Result<i64> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO webhook_policies
               (project, name, description, enabled, event_types, targets, secret, creator, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
        )
        .bind(p.project)
        .bind(p.name)
        .bind(p.description)
        .bind(i64::from(p.enabled))
        .bind(p.event_types)
        .bind(p.targets)
        .bind(p.secret)
        .bind(p.creator)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        ?;
        tx.commit().await?;
        Ok(id)
    }

    /// Replaces policy `id` of `project` (all fields but the creator);
    /// false when there is none.
    ///
    /// Errors: a unique violation ([`crate::is_conflict`]) when another
    /// policy has the new name.
    pub async fn webhook_policy_update(&self, id: i64, p: &NewWebhookPolicy<'_>) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE webhook_policies SET name = $1, description = $2, enabled = $3,
               event_types = $4, targets = $5, secret = $6, updated_at = $7
             WHERE id = $8 AND project = $9",
        )
        .bind(p.name)
        .bind(p.description)
        .bind(i64::from(p.enabled))
        .bind(p.event_types)
        .bind(p.targets)
        .bind(p.secret)
        .bind(now_ms())
        .bind(id)
        .bind(p.project)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes policy `id` of `project` with its deliveries; false when
    /// there is none.
    pub async fn webhook_policy_delete(&self, project: &str, id: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE policy_id IN
               (SELECT id FROM webhook_policies WHERE id = $1 AND project = $2)",
        )
        .bind(id)
        .bind(project)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query("DELETE FROM webhook_policies WHERE id = $1 AND project = $2")
            .bind(id)
            .bind(project)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// The policies of `project`, by id.
    pub async fn webhook_policies(&self, project: &str) -> Result<Vec<WebhookPolicyRow>> {
        let rows = sqlx::query("SELECT * FROM webhook_policies WHERE project = $1 ORDER BY id")
            .bind(project)
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .iter()
            .map(policy_row)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// Policy `id` of `project`.
    pub async fn webhook_policy(&self, project: &str, id: i64) -> Result<Option<WebhookPolicyRow>> {
        Ok(self
            .webhook_policy_by_id(id)
            .await?
            .filter(|p| p.project == project))
    }

    /// Queues deliveries (due now) in one transaction and returns true,
    /// unless `max_pending` or more are already waiting: then none is
    /// queued (false).
    pub async fn webhook_enqueue(
        &self,
        deliveries: &[NewDelivery],
        max_pending: u64,
    ) -> Result<bool> {
        if deliveries.is_empty() {
            return Ok(true);
        }
        let waiting: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_deliveries WHERE status IN ('pending', 'running')",
        )
        .fetch_one(&self.read)
        .await?;
        if waiting as u64 >= max_pending {
            return Ok(false);
        }
        let now = now_ms();
        let mut tx = self.begin().await?;
        for d in deliveries {
            sqlx::query(
                "INSERT INTO webhook_deliveries
                   (policy_id, event_type, address, payload, content_type, status, next_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)",
            )
            .bind(d.policy_id)
            .bind(&d.event_type)
            .bind(&d.address)
            .bind(&d.payload)
            .bind(&d.content_type)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Claims up to `limit` due deliveries for `lease_ms`: pending ones whose
    /// time has come, and running ones whose claim ran out (a node died
    /// mid-send). A claim is a conditional UPDATE, so two nodes never
    /// claim one delivery. Idle nodes only read.
    pub async fn webhook_claim(&self, limit: u32, lease_ms: i64) -> Result<Vec<DeliveryRow>> {
        let now = now_ms();
        let due = "((status = 'pending' AND next_at <= $1) OR (status = 'running' AND claimed_until < $1))";
        let sql = format!(
            "SELECT id FROM webhook_deliveries WHERE {due} ORDER BY next_at, id LIMIT {limit}"
        );
        let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .fetch_all(&self.read)
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut claimed = Vec::new();
        let mut tx = self.begin().await?;
        for id in ids {
            let sql = format!(
                "UPDATE webhook_deliveries SET status = 'running', claimed_until = $2,
                   started_at = COALESCE(started_at, $1)
                 WHERE id = $3 AND {due} RETURNING *"
            );
            if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .bind(now.saturating_add(lease_ms))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
            {
                claimed.push(delivery_row(&row)?);
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records an attempt of a claimed delivery: `log_line` appended,
    /// attempts + 1; `next_at` = `Some(t)` retries at `t` (status
    /// pending), `None` finishes it as `status` (`success` or `error`).
    pub async fn webhook_attempted(
        &self,
        id: i64,
        log_line: &str,
        next_at: Option<i64>,
        status: &str,
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let q = match next_at {
            Some(at) => sqlx::query(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, log = log || $1,
                   status = 'pending', next_at = $2, claimed_until = 0 WHERE id = $3",
            )
            .bind(log_line)
            .bind(at)
            .bind(id),
            None => sqlx::query(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, log = log || $1,
                   status = $2, finished_at = $3, claimed_until = 0 WHERE id = $4",
            )
            .bind(log_line)
            .bind(status)
            .bind(now)
            .bind(id),
        };
        q.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deliveries of policy `policy_id`, newest first, with the total.
    pub async fn webhook_deliveries(
        &self,
        policy_id: i64,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<DeliveryRow>, u64)> {
        let total: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_deliveries WHERE policy_id = $1",
        )
        .bind(policy_id)
        .fetch_one(&self.read)
        .await?;
        let rows = sqlx::query(
            "SELECT * FROM webhook_deliveries WHERE policy_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
        )
        .bind(policy_id)
        .bind(limit.min(i64::MAX as u64) as i64)
        .bind(offset.min(i64::MAX as u64) as i64)
        .fetch_all(&self.read)
        .await?;
        Ok((
            rows.iter()
                .map(delivery_row)
                .collect::<std::result::Result<_, _>>()?,
            total as u64,
        ))
    }

    /// Delivery `id` of policy `policy_id`.
    pub async fn webhook_delivery(&self, policy_id: i64, id: i64) -> Result<Option<DeliveryRow>> {
        let row = sqlx::query("SELECT * FROM webhook_deliveries WHERE id = $1 AND policy_id = $2")
            .bind(id)
            .bind(policy_id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(delivery_row).transpose()?)
    }
}

impl MetaStore {
    /// Policy `id`, whatever its project (for a delivery).
    pub async fn webhook_policy_by_id(&self, id: i64) -> Result<Option<WebhookPolicyRow>> {
        let row = sqlx::query("SELECT * FROM webhook_policies WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(policy_row).transpose()?)
    }

    /// For an event's payload: when `repository` was created (Unix ms, if
    /// it exists) and whether `project` is public.
    pub async fn webhook_repository_facts(
        &self,
        repository: Option<&str>,
        project: &str,
    ) -> Result<(Option<i64>, bool)> {
        let created = match repository {
            Some(r) => {
                sqlx::query_scalar("SELECT created_at FROM repositories WHERE name = $1")
                    .bind(r)
                    .fetch_optional(&self.read)
                    .await?
            }
            None => None,
        };
        let public: Option<i64> = sqlx::query_scalar("SELECT public FROM projects WHERE name = $1")
            .bind(project)
            .fetch_optional(&self.read)
            .await?;
        Ok((created, public.unwrap_or(0) != 0))
    }
}

impl MetaStore {
    /// Deletes finished deliveries (success or error) that finished before
    /// `before_ms`; returns how many. Waiting ones are kept whatever their age.
    pub async fn webhook_trim(&self, before_ms: i64) -> Result<u64> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "DELETE FROM webhook_deliveries
             WHERE status IN ('success', 'error') AND finished_at < $1",
        )
        .bind(before_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store(dir: &std::path::Path) -> MetaStore {
        MetaStore::open(&crate::testing::database_url(dir).await)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn deliveries_are_claimed_once_retried_and_trimmed_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let meta = store(dir.path()).await;
        let policy = meta
            .webhook_policy_create(&NewWebhookPolicy {
                project: "team",
                name: "ci",
                description: "",
                enabled: true,
                event_types: r#"["PUSH_ARTIFACT"]"#,
                targets: r#"[{"type":"http","address":"http://127.0.0.1:9/"}]"#,
                secret: "",
                creator: "admin",
            })
            .await
            .unwrap();
        let delivery = |n: usize| NewDelivery {
            policy_id: policy,
            event_type: "PUSH_ARTIFACT".into(),
            address: "http://127.0.0.1:9/".into(),
            payload: format!("{{\"n\":{n}}}"),
            content_type: "application/json".into(),
        };
        assert!(meta
            .webhook_enqueue(&[delivery(1), delivery(2)], 10)
            .await
            .unwrap());
        // The backlog bound: two wait, a limit of 2 refuses more.
        assert!(!meta.webhook_enqueue(&[delivery(3)], 2).await.unwrap());
        let first = meta.webhook_claim(8, 60_000).await.unwrap();
        assert_eq!(first.len(), 2);
        assert!(first.iter().all(|d| d.status == "running"));
        // Claimed rows are not claimed again while their lease holds.
        assert!(meta.webhook_claim(8, 60_000).await.unwrap().is_empty());
        // One delivered, one to retry later.
        meta.webhook_attempted(first[0].id, "ok\n", None, "success")
            .await
            .unwrap();
        meta.webhook_attempted(first[1].id, "500\n", Some(now_ms() + 60_000), "error")
            .await
            .unwrap();
        assert!(meta.webhook_claim(8, 60_000).await.unwrap().is_empty());
        let retried = meta
            .webhook_delivery(policy, first[1].id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((retried.status.as_str(), retried.attempts), ("pending", 1));
        // Trimming removes the finished one only.
        assert_eq!(meta.webhook_trim(now_ms() + 1).await.unwrap(), 1);
        let (left, total) = meta.webhook_deliveries(policy, 0, 10).await.unwrap();
        assert_eq!((total, left[0].id), (1, first[1].id));
    }
}
