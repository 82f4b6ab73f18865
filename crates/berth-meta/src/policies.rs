//! Project policies (retention, tag immutability, tag naming) and the queries
//! retention needs: every artifact of a repository with its tags and times,
//! index children, and guarded deletes that never remove something that changed
//! since the policy was evaluated.
//!
//! Policies and rules are stored as JSON text (Harbor's shapes); `berth-registry`
//! parses and validates them. Tables: `migrations/sqlite/0005_policies.sql`.

use berth_oci::Digest;
use sqlx::Row;

use crate::error::Result;
use crate::store::{digest_col, now_ms, MetaStore};

/// A stored retention policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicyRow {
    /// The project it applies to.
    pub project: String,
    /// The policy as JSON text.
    pub policy: String,
    /// When it was last set, Unix ms.
    pub updated_at: i64,
    /// When the scheduler last ran it, Unix ms.
    pub last_run_at: Option<i64>,
}

/// A stored immutable tag rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImmutableRuleRow {
    /// Its id (stable; used to update or remove it).
    pub id: i64,
    /// The rule as JSON text.
    pub rule: String,
}

/// A tag of an [`ArtifactRecord`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactTag {
    /// Tag name.
    pub name: String,
    /// When the tag was last pushed (created or moved), Unix ms.
    pub pushed_at: i64,
    /// When a client last pulled the manifest by this tag, Unix ms.
    pub last_pulled_at: Option<i64>,
}

/// A manifest of a repository with its tags and times, for retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRecord {
    /// Manifest digest.
    pub digest: Digest,
    /// Media type as pushed.
    pub media_type: String,
    /// Its `subject` (set for referrers such as signatures and SBOMs).
    pub subject: Option<Digest>,
    /// When the manifest was first pushed to the repository, Unix ms.
    pub pushed_at: i64,
    /// When it was last pulled (by tag or digest), Unix ms.
    pub last_pulled_at: Option<i64>,
    /// Tags pointing at it, by name.
    pub tags: Vec<ArtifactTag>,
}

/// What [`MetaStore::delete_manifest_if_untagged`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardedDelete {
    /// The manifest was deleted.
    Deleted,
    /// Not deleted: tags point at it now (pushed since the policy was evaluated).
    Tagged(Vec<String>),
    /// Not deleted: it is not in the repository (anymore).
    Absent,
}

impl MetaStore {
    // ------------------------------------------------------------- retention

    /// The project's retention policy JSON, if one is set.
    pub async fn retention_policy(&self, project: &str) -> Result<Option<RetentionPolicyRow>> {
        let row = sqlx::query(
            "SELECT project, policy, updated_at, last_run_at FROM retention_policies WHERE project = $1",
        )
        .bind(project)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(retention_row))
    }

    /// Every project's retention policy, by project.
    pub async fn retention_policies(&self) -> Result<Vec<RetentionPolicyRow>> {
        let rows = sqlx::query(
            "SELECT project, policy, updated_at, last_run_at FROM retention_policies ORDER BY project",
        )
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(retention_row).collect())
    }

    /// Sets (replaces) the project's retention policy JSON.
    pub async fn set_retention_policy(&self, project: &str, policy: &str) -> Result<()> {
        self.write_one(sqlx::query(
            "INSERT INTO retention_policies (project, policy, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT(project) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at",
        )
        .bind(project)
        .bind(policy)
        .bind(now_ms()))
    .await?;
        Ok(())
    }

    /// Removes the project's retention policy; false when there was none.
    pub async fn delete_retention_policy(&self, project: &str) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query("DELETE FROM retention_policies WHERE project = $1").bind(project),
            )
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Records that the scheduler ran the project's policy at `at` (Unix ms).
    pub async fn mark_retention_run(&self, project: &str, at: i64) -> Result<()> {
        self.write_one(
            sqlx::query("UPDATE retention_policies SET last_run_at = $1 WHERE project = $2")
                .bind(at)
                .bind(project),
        )
        .await?;
        Ok(())
    }

    // ----------------------------------------------------------- immutability

    /// The project's immutable tag rules, by id.
    pub async fn immutable_rules(&self, project: &str) -> Result<Vec<ImmutableRuleRow>> {
        let rows =
            sqlx::query("SELECT id, rule FROM immutable_rules WHERE project = $1 ORDER BY id")
                .bind(project)
                .fetch_all(&self.read)
                .await?;
        Ok(rows
            .into_iter()
            .map(|r| ImmutableRuleRow {
                id: r.get("id"),
                rule: r.get("rule"),
            })
            .collect())
    }

    /// Adds an immutable tag rule to the project; returns its id.
    pub async fn add_immutable_rule(&self, project: &str, rule: &str) -> Result<i64> {
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO immutable_rules (project, rule, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(project)
        .bind(rule)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Replaces rule `id` of the project; false when it does not exist there.
    pub async fn update_immutable_rule(&self, project: &str, id: i64, rule: &str) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query("UPDATE immutable_rules SET rule = $1 WHERE project = $2 AND id = $3")
                    .bind(rule)
                    .bind(project)
                    .bind(id),
            )
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Removes rule `id` of the project; false when it does not exist there.
    pub async fn delete_immutable_rule(&self, project: &str, id: i64) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query("DELETE FROM immutable_rules WHERE project = $1 AND id = $2")
                    .bind(project)
                    .bind(id),
            )
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    // ------------------------------------------------------------ tag naming

    /// The project's tag naming pattern, if one is set.
    pub async fn tag_naming_rule(&self, project: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT pattern FROM tag_naming_rules WHERE project = $1")
                .bind(project)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    /// Sets (`Some`) or clears (`None`) the project's tag naming pattern.
    pub async fn set_tag_naming_rule(&self, project: &str, pattern: Option<&str>) -> Result<()> {
        match pattern {
            Some(p) => {
                self.write_one(sqlx::query(
                    "INSERT INTO tag_naming_rules (project, pattern, updated_at) VALUES ($1, $2, $3)
                     ON CONFLICT(project) DO UPDATE SET pattern = excluded.pattern, updated_at = excluded.updated_at",
                )
                .bind(project)
                .bind(p)
                .bind(now_ms()))
            .await?;
            }
            None => {
                self.write_one(
                    sqlx::query("DELETE FROM tag_naming_rules WHERE project = $1").bind(project),
                )
                .await?;
            }
        }
        Ok(())
    }

    // ------------------------------------------------- retention: the inputs

    /// Every repository name, in lexical order.
    pub async fn repository_names(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT name FROM repositories ORDER BY name")
                .fetch_all(&self.read)
                .await?,
        )
    }

    /// Every manifest of the repository with its tags and times, by digest.
    pub async fn artifacts(&self, repo: &str) -> Result<Vec<ArtifactRecord>> {
        let rows = sqlx::query(
            "SELECT m.digest, m.media_type, m.subject, m.pushed_at, m.last_pulled_at
             FROM manifests m JOIN repositories r ON r.id = m.repo_id
             WHERE r.name = $1 ORDER BY m.digest",
        )
        .bind(repo)
        .fetch_all(&self.read)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(ArtifactRecord {
                digest: digest_col(r.get("digest"))?,
                media_type: r.get("media_type"),
                subject: r
                    .get::<Option<String>, _>("subject")
                    .map(digest_col)
                    .transpose()?,
                pushed_at: r.get("pushed_at"),
                last_pulled_at: r.get("last_pulled_at"),
                tags: Vec::new(),
            });
        }
        let tags = sqlx::query(
            "SELECT t.name, t.digest, t.pushed_at, t.last_pulled_at
             FROM tags t JOIN repositories r ON r.id = t.repo_id
             WHERE r.name = $1 ORDER BY t.name",
        )
        .bind(repo)
        .fetch_all(&self.read)
        .await?;
        for t in tags {
            let digest: String = t.get("digest");
            if let Ok(i) = out.binary_search_by(|a| a.digest.as_str().cmp(digest.as_str())) {
                out[i].tags.push(ArtifactTag {
                    name: t.get("name"),
                    pushed_at: t.get("pushed_at"),
                    last_pulled_at: t.get("last_pulled_at"),
                });
            }
        }
        Ok(out)
    }

    /// Every (index digest, child manifest digest) of the repository.
    pub async fn index_children(&self, repo: &str) -> Result<Vec<(Digest, Digest)>> {
        let rows = sqlx::query(
            "SELECT f.manifest_digest, f.child_digest FROM manifest_refs f
             JOIN repositories r ON r.id = f.repo_id
             WHERE r.name = $1 AND f.kind = 'manifest'",
        )
        .bind(repo)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    digest_col(r.get("manifest_digest"))?,
                    digest_col(r.get("child_digest"))?,
                ))
            })
            .collect()
    }

    /// Names of the tags pointing at a manifest of the repository.
    pub async fn tags_of_manifest(&self, repo: &str, digest: &Digest) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repo_id
             WHERE r.name = $1 AND t.digest = $2 ORDER BY t.name",
        )
        .bind(repo)
        .bind(digest.as_str())
        .fetch_all(&self.read)
        .await?)
    }

    /// Deletes a tag only while it still points at `digest`; false otherwise.
    pub async fn delete_tag_if_target(
        &self,
        repo: &str,
        tag: &str,
        digest: &Digest,
    ) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query(
                    "DELETE FROM tags WHERE name = $1 AND digest = $2
             AND repo_id = (SELECT id FROM repositories WHERE name = $3)",
                )
                .bind(tag)
                .bind(digest.as_str())
                .bind(repo),
            )
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Deletes a manifest only when no tag points at it, in one transaction.
    pub async fn delete_manifest_if_untagged(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<GuardedDelete> {
        let mut tx = self.begin().await?;
        let repo_id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM repositories WHERE name = $1")
                .bind(repo)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(repo_id) = repo_id else {
            return Ok(GuardedDelete::Absent);
        };
        let tags: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM tags WHERE repo_id = $1 AND digest = $2 ORDER BY name",
        )
        .bind(repo_id)
        .bind(digest.as_str())
        .fetch_all(&mut *tx)
        .await?;
        if !tags.is_empty() {
            return Ok(GuardedDelete::Tagged(tags));
        }
        let n = sqlx::query("DELETE FROM manifests WHERE repo_id = $1 AND digest = $2")
            .bind(repo_id)
            .bind(digest.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(if n > 0 {
            GuardedDelete::Deleted
        } else {
            GuardedDelete::Absent
        })
    }

    // ---------------------------------------------- imports and tests: times

    /// Overwrites a manifest's push and pull times (Unix ms). For imports from
    /// another registry and for tests with a fixed clock; false when absent.
    pub async fn set_manifest_times(
        &self,
        repo: &str,
        digest: &Digest,
        pushed_at: i64,
        last_pulled_at: Option<i64>,
    ) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query(
                    "UPDATE manifests SET pushed_at = $1, last_pulled_at = $2
             WHERE digest = $3 AND repo_id = (SELECT id FROM repositories WHERE name = $4)",
                )
                .bind(pushed_at)
                .bind(last_pulled_at)
                .bind(digest.as_str())
                .bind(repo),
            )
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Overwrites a tag's push and pull times (Unix ms). For imports and tests;
    /// false when absent.
    pub async fn set_tag_times(
        &self,
        repo: &str,
        tag: &str,
        pushed_at: i64,
        last_pulled_at: Option<i64>,
    ) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query(
                    "UPDATE tags SET pushed_at = $1, last_pulled_at = $2
             WHERE name = $3 AND repo_id = (SELECT id FROM repositories WHERE name = $4)",
                )
                .bind(pushed_at)
                .bind(last_pulled_at)
                .bind(tag)
                .bind(repo),
            )
            .await?
            .rows_affected();
        Ok(n > 0)
    }
}

fn retention_row(r: sqlx::any::AnyRow) -> RetentionPolicyRow {
    RetentionPolicyRow {
        project: r.get("project"),
        policy: r.get("policy"),
        updated_at: r.get("updated_at"),
        last_run_at: r.get("last_run_at"),
    }
}
