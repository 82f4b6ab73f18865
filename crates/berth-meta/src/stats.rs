//! Usage statistics (pushes and pulls per manifest, tag and project-day) and the
//! history of background job runs. Statistics are written in batches by the
//! registry's background writer, never on a request's path.

use berth_oci::Digest;
use sqlx::Row;

use crate::error::Result;
use crate::store::{digest_col, now_ms, MetaStore};

/// Pulls of one manifest (optionally through one tag), coalesced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullAggregate {
    /// Repository name.
    pub repository: String,
    /// The manifest pulled.
    pub digest: Digest,
    /// The tag it was pulled by, when pulled by tag.
    pub tag: Option<String>,
    /// Number of pulls.
    pub count: u64,
    /// Time of the last one (Unix ms).
    pub last_at: i64,
}

/// One manifest push, with who pushed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEvent {
    /// Repository name.
    pub repository: String,
    /// The manifest pushed.
    pub digest: Digest,
    /// The tag it was pushed with, if any.
    pub tag: Option<String>,
    /// Who pushed it ("anonymous", a user name, a robot name).
    pub actor: String,
    /// When (Unix ms).
    pub at: i64,
}

/// Push time, pusher and pull figures of a manifest or tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactStats {
    /// Digest of the manifest (of the tag's target for a tag).
    pub digest: Digest,
    /// Last push time (Unix ms).
    pub pushed_at: i64,
    /// Who pushed it last, when known.
    pub pushed_by: Option<String>,
    /// Last pull (manifest GET) time (Unix ms), if ever pulled.
    pub last_pulled_at: Option<i64>,
    /// Pulls (manifest GETs; HEAD is not counted).
    pub pull_count: u64,
}

/// Pushes and pulls of a project on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyCount {
    /// The day, `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Manifest pushes.
    pub pushes: u64,
    /// Manifest pulls.
    pub pulls: u64,
}

/// A row of `job_runs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRunRecord {
    /// Id, increasing.
    pub id: i64,
    /// Kind of job (`gc`).
    pub kind: String,
    /// What started it: `manual` (API), `schedule`, `cli`.
    pub trigger: String,
    /// True for a dry run.
    pub dry_run: bool,
    /// The run's parameters as JSON text.
    pub parameters: String,
    /// `running`, `success` or `error`.
    pub status: String,
    /// Start (Unix ms).
    pub started_at: i64,
    /// End (Unix ms), when finished.
    pub finished_at: Option<i64>,
    /// Manifests deleted (or, in a dry run, that would be).
    pub manifests_deleted: u64,
    /// Repository links expired.
    pub links_deleted: u64,
    /// Blobs deleted.
    pub blobs_deleted: u64,
    /// Bytes of those blobs.
    pub bytes_deleted: u64,
    /// Upload sessions swept.
    pub uploads_deleted: u64,
    /// The failure, when `status` is `error`.
    pub error: Option<String>,
}

/// Counts to record when a job finishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// See [`JobRunRecord::manifests_deleted`].
    pub manifests_deleted: u64,
    /// See [`JobRunRecord::links_deleted`].
    pub links_deleted: u64,
    /// See [`JobRunRecord::blobs_deleted`].
    pub blobs_deleted: u64,
    /// See [`JobRunRecord::bytes_deleted`].
    pub bytes_deleted: u64,
    /// See [`JobRunRecord::uploads_deleted`].
    pub uploads_deleted: u64,
}

const MS_PER_DAY: i64 = 86_400_000;

const DAILY_UPSERT: &str = "INSERT INTO project_daily_stats (project, day, pushes, pulls)
    SELECT r.project, $2, $3, $4 FROM repositories r WHERE r.name = $1
    ON CONFLICT(project, day) DO UPDATE
        SET pushes = project_daily_stats.pushes + excluded.pushes,
            pulls = project_daily_stats.pulls + excluded.pulls";

impl MetaStore {
    /// Writes a batch of coalesced pulls and of pushes in one transaction:
    /// manifest and tag pull counts and last-pull times, pushers, and the
    /// per-project daily counters.
    pub async fn record_stats(&self, pulls: &[PullAggregate], pushes: &[PushEvent]) -> Result<()> {
        if pulls.is_empty() && pushes.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for p in pulls {
            sqlx::query(
                "UPDATE manifests SET pull_count = pull_count + $1,
                        last_pulled_at = CASE WHEN COALESCE(last_pulled_at, 0) > $2 THEN last_pulled_at ELSE $2 END
                 WHERE digest = $3 AND repo_id = (SELECT id FROM repositories WHERE name = $4)",
            )
            .bind(p.count as i64)
            .bind(p.last_at)
            .bind(p.digest.as_str())
            .bind(&p.repository)
            .execute(&mut *tx)
            .await?;
            if let Some(tag) = &p.tag {
                sqlx::query(
                    "UPDATE tags SET pull_count = pull_count + $1,
                            last_pulled_at = CASE WHEN COALESCE(last_pulled_at, 0) > $2 THEN last_pulled_at ELSE $2 END
                     WHERE name = $3 AND digest = $4
                       AND repo_id = (SELECT id FROM repositories WHERE name = $5)",
                )
                .bind(p.count as i64)
                .bind(p.last_at)
                .bind(tag)
                .bind(p.digest.as_str())
                .bind(&p.repository)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(DAILY_UPSERT)
                .bind(&p.repository)
                .bind(p.last_at / MS_PER_DAY)
                .bind(0i64)
                .bind(p.count as i64)
                .execute(&mut *tx)
                .await?;
        }
        for p in pushes {
            sqlx::query(
                "UPDATE manifests SET pushed_by = $1
                 WHERE digest = $2 AND repo_id = (SELECT id FROM repositories WHERE name = $3)",
            )
            .bind(&p.actor)
            .bind(p.digest.as_str())
            .bind(&p.repository)
            .execute(&mut *tx)
            .await?;
            if let Some(tag) = &p.tag {
                sqlx::query(
                    "UPDATE tags SET pushed_by = $1 WHERE name = $2 AND digest = $3
                       AND repo_id = (SELECT id FROM repositories WHERE name = $4)",
                )
                .bind(&p.actor)
                .bind(tag)
                .bind(p.digest.as_str())
                .bind(&p.repository)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(DAILY_UPSERT)
                .bind(&p.repository)
                .bind(p.at / MS_PER_DAY)
                .bind(1i64)
                .bind(0i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Push and pull figures of a manifest of the repository.
    pub async fn manifest_stats(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<ArtifactStats>> {
        let row = sqlx::query(
            "SELECT m.digest, m.pushed_at, m.pushed_by, m.last_pulled_at, m.pull_count
             FROM manifests m JOIN repositories r ON r.id = m.repo_id
             WHERE r.name = $1 AND m.digest = $2",
        )
        .bind(repo)
        .bind(digest.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.map(stats_row).transpose()
    }

    /// Push and pull figures of a tag (its own push time, pusher and pulls).
    pub async fn tag_stats(&self, repo: &str, tag: &str) -> Result<Option<ArtifactStats>> {
        let row = sqlx::query(
            "SELECT t.digest, t.pushed_at, t.pushed_by, t.last_pulled_at, t.pull_count
             FROM tags t JOIN repositories r ON r.id = t.repo_id
             WHERE r.name = $1 AND t.name = $2",
        )
        .bind(repo)
        .bind(tag)
        .fetch_optional(&self.read)
        .await?;
        row.map(stats_row).transpose()
    }

    /// Pushes and pulls of a project per day, newest first, for the last `days` days.
    pub async fn project_daily(&self, project: &str, days: u32) -> Result<Vec<DailyCount>> {
        let since = now_ms() / MS_PER_DAY - i64::from(days) + 1;
        let rows = sqlx::query(
            "SELECT day, pushes, pulls FROM project_daily_stats
             WHERE project = $1 AND day >= $2 ORDER BY day DESC",
        )
        .bind(project)
        .bind(since)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| DailyCount {
                day: chrono::DateTime::from_timestamp(r.get::<i64, _>("day") * 86_400, 0)
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
                pushes: r.get::<i64, _>("pushes") as u64,
                pulls: r.get::<i64, _>("pulls") as u64,
            })
            .collect())
    }

    // --------------------------------------------------------------- job runs

    /// Records the start of a job; returns its id.
    pub async fn job_start(
        &self,
        kind: &str,
        trigger: &str,
        dry_run: bool,
        parameters: &str,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO job_runs (kind, trigger, dry_run, parameters, status, started_at)
             VALUES ($1, $2, $3, $4, 'running', $5) RETURNING id",
        )
        .bind(kind)
        .bind(trigger)
        .bind(dry_run as i64)
        .bind(parameters)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Records the end of a job: its counts, and `error` when it failed.
    pub async fn job_finish(&self, id: i64, counts: &JobCounts, error: Option<&str>) -> Result<()> {
        self.write_one(sqlx::query(
            "UPDATE job_runs SET status = $1, finished_at = $2, manifests_deleted = $3,
                    links_deleted = $4, blobs_deleted = $5, bytes_deleted = $6, uploads_deleted = $7,
                    error = $8
             WHERE id = $9",
        )
        .bind(if error.is_some() { "error" } else { "success" })
        .bind(now_ms())
        .bind(counts.manifests_deleted as i64)
        .bind(counts.links_deleted as i64)
        .bind(counts.blobs_deleted as i64)
        .bind(counts.bytes_deleted as i64)
        .bind(counts.uploads_deleted as i64)
        .bind(error)
        .bind(id))
    .await?;
        Ok(())
    }

    /// Runs of a kind of job, newest first, `limit` from `offset`.
    pub async fn job_runs(&self, kind: &str, offset: u32, limit: u32) -> Result<Vec<JobRunRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM job_runs WHERE kind = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
        )
        .bind(kind)
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(job_row).collect())
    }

    /// How many runs of `kind` are recorded.
    pub async fn job_runs_count(&self, kind: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_runs WHERE kind = $1")
            .bind(kind)
            .fetch_one(&self.read)
            .await?;
        Ok(n.max(0) as u64)
    }

    /// One job run by id.
    pub async fn job_run(&self, id: i64) -> Result<Option<JobRunRecord>> {
        let row = sqlx::query("SELECT * FROM job_runs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(job_row))
    }
}

fn stats_row(r: sqlx::any::AnyRow) -> Result<ArtifactStats> {
    Ok(ArtifactStats {
        digest: digest_col(r.get("digest"))?,
        pushed_at: r.get("pushed_at"),
        pushed_by: r.get("pushed_by"),
        last_pulled_at: r.get("last_pulled_at"),
        pull_count: r.get::<i64, _>("pull_count") as u64,
    })
}

fn job_row(r: sqlx::any::AnyRow) -> JobRunRecord {
    let n = |c: &str| r.get::<i64, _>(c) as u64;
    JobRunRecord {
        id: r.get("id"),
        kind: r.get("kind"),
        trigger: r.get("trigger"),
        dry_run: r.get::<i64, _>("dry_run") != 0,
        parameters: r.get("parameters"),
        status: r.get("status"),
        started_at: r.get("started_at"),
        finished_at: r.get("finished_at"),
        manifests_deleted: n("manifests_deleted"),
        links_deleted: n("links_deleted"),
        blobs_deleted: n("blobs_deleted"),
        bytes_deleted: n("bytes_deleted"),
        uploads_deleted: n("uploads_deleted"),
        error: r.get("error"),
    }
}

/// A project's figures for `/api/v2.0/statistics` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectStatistic {
    /// Project name.
    pub name: String,
    /// Public (anyone may pull).
    pub public: bool,
    /// Repositories of the project.
    pub repositories: u64,
    /// Bytes its repositories reference, each blob once (its quota usage).
    pub storage_bytes: u64,
}

/// Registry-wide figures (see [`MetaStore::registry_statistics`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryStatistics {
    /// Every project, by name.
    pub projects: Vec<ProjectStatistic>,
    /// Bytes of all blobs, each once.
    pub storage_bytes: u64,
    /// Upload sessions open.
    pub upload_sessions: u64,
}

/// Each project's usage in one pass: the distinct (project, digest) pairs of
/// blob links and manifests, summed by project.
const USAGE_BY_PROJECT: &str = "SELECT u.project, CAST(COALESCE(SUM(b.size), 0) AS BIGINT)
    FROM (SELECT r.project AS project, l.digest AS digest
            FROM repo_blobs l JOIN repositories r ON r.id = l.repo_id
          UNION
          SELECT r.project, m.digest FROM manifests m JOIN repositories r ON r.id = m.repo_id) u
    JOIN blobs b ON b.digest = u.digest
    GROUP BY u.project";

impl MetaStore {
    /// Projects with their visibility, repository count and storage, the
    /// bytes of all blobs and the open upload sessions, in five queries
    /// whatever the number of projects.
    pub async fn registry_statistics(&self) -> Result<RegistryStatistics> {
        let mut projects: Vec<ProjectStatistic> = sqlx::query("SELECT name, public FROM projects")
            .fetch_all(&self.read)
            .await?
            .into_iter()
            .map(|r| {
                Ok(ProjectStatistic {
                    name: r.try_get(0)?,
                    public: r.try_get::<i64, _>(1)? != 0,
                    repositories: 0,
                    storage_bytes: 0,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()?;
        // Sorted here, not by the database, whose collation may differ.
        projects.sort_by(|a, b| a.name.cmp(&b.name));
        let find = |projects: &[ProjectStatistic], name: &str| -> Option<usize> {
            projects
                .binary_search_by(|p| p.name.as_str().cmp(name))
                .ok()
        };
        let repos = sqlx::query(
            "SELECT project, CAST(COUNT(*) AS BIGINT) FROM repositories GROUP BY project",
        )
        .fetch_all(&self.read)
        .await?;
        for r in repos {
            let name: String = r.try_get(0)?;
            if let Some(i) = find(&projects, &name) {
                projects[i].repositories = r.try_get::<i64, _>(1)? as u64;
            }
        }
        for r in sqlx::query(USAGE_BY_PROJECT).fetch_all(&self.read).await? {
            let name: String = r.try_get(0)?;
            if let Some(i) = find(&projects, &name) {
                projects[i].storage_bytes = r.try_get::<i64, _>(1)? as u64;
            }
        }
        let storage: i64 =
            sqlx::query_scalar("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs")
                .fetch_one(&self.read)
                .await?;
        let uploads: i64 =
            sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM upload_sessions")
                .fetch_one(&self.read)
                .await?;
        Ok(RegistryStatistics {
            projects,
            storage_bytes: storage as u64,
            upload_sessions: uploads as u64,
        })
    }
}
