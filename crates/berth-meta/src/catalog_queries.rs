//! Queries behind the management API's inventory (Harbor `/api/v2.0`
//! repositories, artifacts, tags, search): filtered, counted, paged listings of
//! repositories and of the artifacts (manifests) in a repository.
//!
//! Projects are, until the projects table exists, the first component of a
//! repository name (`library` for one-component names), as
//! `RepositoryName::project` defines them.
//!
//! Ids: a repository's id is its `repositories.id`; an artifact's and a tag's id
//! are the SQLite `rowid` of their `manifests` / `tags` row (stable for the row's
//! life; a `VACUUM` may renumber them).

use std::str::FromStr;

use berth_oci::{ChildKind, Digest};
use sqlx::Row;

use crate::db::SqlBuilder;
use crate::Backend;

use crate::error::{MetaError, Result};
use crate::store::MetaStore;

/// How a text field must match a filter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextMatch {
    /// Equal to the value.
    Exact(String),
    /// Contains the value (Harbor's `k=~v`).
    Contains(String),
    /// Equal to one of the values (Harbor's `k=(a b)`).
    OneOf(Vec<String>),
}

/// Which repositories to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryFilter {
    /// Only repositories of this project.
    pub project: Option<String>,
    /// Only repositories whose full name matches.
    pub name: Option<TextMatch>,
}

/// A repository with the counts the management API shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryRow {
    /// `repositories.id`.
    pub id: i64,
    /// Full name (`team/app`).
    pub name: String,
    /// When it was created, Unix ms.
    pub created_at: i64,
    /// Latest of creation, manifest push and tag push, Unix ms.
    pub updated_at: i64,
    /// Top-level artifacts (see [`ArtifactFilter::include_children`]).
    pub artifact_count: u64,
    /// Sum of the pull counts of its manifests.
    pub pull_count: u64,
}

/// How the `tags` of an artifact must look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagMatch {
    /// At least one tag (Harbor's `tags=*`).
    Any,
    /// No tag (Harbor's `tags=nil`).
    None,
    /// A tag matching the text.
    Text(TextMatch),
}

/// Which artifacts of a repository to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactFilter {
    /// Tag condition.
    pub tags: Option<TagMatch>,
    /// Digest condition.
    pub digest: Option<TextMatch>,
    /// Manifest media type condition.
    pub media_type: Option<TextMatch>,
    /// Also list untagged children of an index and manifests with a `subject`
    /// (referrers such as signatures), which Harbor shows under their parent
    /// rather than as artifacts of their own.
    pub include_children: bool,
}

/// A manifest as an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRow {
    /// The `manifests` row id.
    pub id: i64,
    /// `repositories.id`.
    pub repository_id: i64,
    /// Digest.
    pub digest: Digest,
    /// Manifest media type.
    pub media_type: String,
    /// `artifactType`, or the config media type of an image manifest.
    pub artifact_type: Option<String>,
    /// `subject`, if any.
    pub subject: Option<Digest>,
    /// Manifest size in bytes.
    pub size: u64,
    /// Annotations as JSON object text.
    pub annotations: Option<String>,
    /// Push time, Unix ms.
    pub pushed_at: i64,
    /// Last pull time, Unix ms.
    pub last_pulled_at: Option<i64>,
    /// Pulls counted.
    pub pull_count: u64,
}

/// A tag as the management API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    /// The `tags` row id.
    pub id: i64,
    /// Tag name.
    pub name: String,
    /// Target manifest.
    pub digest: Digest,
    /// When the tag was last moved here, Unix ms.
    pub pushed_at: i64,
    /// Last pull by this tag, Unix ms.
    pub last_pulled_at: Option<i64>,
}

fn digest_col(s: String) -> Result<Digest> {
    Digest::from_str(&s).map_err(|e| MetaError::Database(sqlx::Error::Decode(Box::new(e))))
}

/// A repository of `project`: `p/…`, or for `library` also any one-component name.
fn push_project(q: &mut SqlBuilder, col: &str, project: &str) {
    q.push(format!("(substr({col}, 1, length("));
    q.push_bind(project.to_string());
    q.push(") + 1) = ");
    q.push_bind(format!("{project}/"));
    if project == berth_oci::DEFAULT_PROJECT {
        q.push(format!(" OR {col} NOT LIKE '%/%'"));
    }
    q.push(")");
}

fn push_text(q: &mut SqlBuilder, backend: Backend, col: &str, m: &TextMatch) {
    match m {
        TextMatch::Exact(v) => {
            q.push(format!("{col} = "));
            q.push_bind(v.clone());
        }
        TextMatch::Contains(v) => {
            // The position of a substring: instr(haystack, needle) on SQLite,
            // strpos(haystack, needle) on PostgreSQL; both 0 when absent.
            let position = match backend {
                Backend::Sqlite => "instr",
                Backend::Postgres => "strpos",
            };
            q.push(format!("{position}({col}, "));
            q.push_bind(v.clone());
            q.push(") > 0");
        }
        TextMatch::OneOf(vs) if vs.is_empty() => {
            q.push("1 = 0");
        }
        TextMatch::OneOf(vs) => {
            q.push(format!("{col} IN ("));
            q.push_bind_list(vs.iter().cloned());
            q.push(")");
        }
    }
}

/// Manifests listed as artifacts of their own: not an untagged child of an index
/// of the repository, not a referrer.
macro_rules! top_level {
    () => {
        "(m.subject IS NULL AND (NOT EXISTS (SELECT 1 FROM manifest_refs f
         WHERE f.repo_id = m.repo_id AND f.kind = 'manifest' AND f.child_digest = m.digest)
         OR EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = m.repo_id AND t.digest = m.digest)))"
    };
}

fn push_repository_where(q: &mut SqlBuilder, backend: Backend, f: &RepositoryFilter) {
    q.push(" WHERE 1 = 1");
    if let Some(p) = &f.project {
        q.push(" AND ");
        push_project(q, "r.name", p);
    }
    if let Some(n) = &f.name {
        q.push(" AND ");
        push_text(q, backend, "r.name", n);
    }
}

fn push_artifact_where(q: &mut SqlBuilder, backend: Backend, repo_id: i64, f: &ArtifactFilter) {
    q.push(" WHERE m.repo_id = ");
    q.push_bind(repo_id);
    if !f.include_children {
        q.push(" AND ");
        q.push(top_level!());
    }
    match &f.tags {
        None => {}
        Some(TagMatch::Any) => {
            q.push(" AND EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = m.repo_id AND t.digest = m.digest)");
        }
        Some(TagMatch::None) => {
            q.push(" AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = m.repo_id AND t.digest = m.digest)");
        }
        Some(TagMatch::Text(t)) => {
            q.push(" AND EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = m.repo_id AND t.digest = m.digest AND ");
            push_text(q, backend, "t.name", t);
            q.push(")");
        }
    }
    if let Some(d) = &f.digest {
        q.push(" AND ");
        push_text(q, backend, "m.digest", d);
    }
    if let Some(t) = &f.media_type {
        q.push(" AND ");
        push_text(q, backend, "m.media_type", t);
    }
}

const ARTIFACT_COLUMNS: &str =
    "SELECT m.rowid AS id, m.repo_id, m.digest, m.media_type, m.artifact_type,
    m.subject, m.size, m.annotations, m.pushed_at, m.last_pulled_at, m.pull_count FROM manifests m";

fn artifact_row(r: sqlx::any::AnyRow) -> Result<ArtifactRow> {
    Ok(ArtifactRow {
        id: r.get("id"),
        repository_id: r.get("repo_id"),
        digest: digest_col(r.get("digest"))?,
        media_type: r.get("media_type"),
        artifact_type: r.get("artifact_type"),
        subject: r
            .get::<Option<String>, _>("subject")
            .map(digest_col)
            .transpose()?,
        size: r.get::<i64, _>("size") as u64,
        annotations: r.get("annotations"),
        pushed_at: r.get("pushed_at"),
        last_pulled_at: r.get("last_pulled_at"),
        pull_count: r.get::<i64, _>("pull_count") as u64,
    })
}

impl MetaStore {
    /// Repositories matching `filter`, ordered by name: the `limit` rows after
    /// skipping `offset`, and the total number matching.
    pub async fn repository_rows(
        &self,
        filter: &RepositoryFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<RepositoryRow>, u64)> {
        let mut count = SqlBuilder::new("SELECT COUNT(*) FROM repositories r");
        push_repository_where(&mut count, self.backend, filter);
        let total: i64 = count.build_scalar().fetch_one(&self.read).await?;
        let mut q = SqlBuilder::new(repository_columns(self.backend));
        push_repository_where(&mut q, self.backend, filter);
        q.push(" ORDER BY r.name LIMIT ");
        q.push_bind(limit.min(i64::MAX as u64) as i64);
        q.push(" OFFSET ");
        q.push_bind(offset.min(i64::MAX as u64) as i64);
        let rows = q.build().fetch_all(&self.read).await?;
        Ok((rows.into_iter().map(repository_row).collect(), total as u64))
    }

    /// One repository by full name.
    pub async fn repository_row(&self, name: &str) -> Result<Option<RepositoryRow>> {
        let mut q = SqlBuilder::new(repository_columns(self.backend));
        q.push(" WHERE r.name = ");
        q.push_bind(name.to_string());
        Ok(q.build()
            .fetch_optional(&self.read)
            .await?
            .map(repository_row))
    }

    /// Distinct projects (first name component, `library` for one-component
    /// names) of all repositories, in name order.
    pub async fn repository_projects(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT DISTINCT project FROM repositories ORDER BY project")
                .fetch_all(&self.read)
                .await?,
        )
    }

    /// Artifacts of repository `repo_id` matching `filter`, newest push first: the
    /// `limit` rows after skipping `offset`, and the total number matching.
    pub async fn artifact_rows(
        &self,
        repo_id: i64,
        filter: &ArtifactFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<ArtifactRow>, u64)> {
        let mut count = SqlBuilder::new("SELECT COUNT(*) FROM manifests m");
        push_artifact_where(&mut count, self.backend, repo_id, filter);
        let total: i64 = count.build_scalar().fetch_one(&self.read).await?;
        let mut q = SqlBuilder::new(ARTIFACT_COLUMNS);
        push_artifact_where(&mut q, self.backend, repo_id, filter);
        q.push(" ORDER BY m.pushed_at DESC, m.rowid DESC LIMIT ");
        q.push_bind(limit.min(i64::MAX as u64) as i64);
        q.push(" OFFSET ");
        q.push_bind(offset.min(i64::MAX as u64) as i64);
        let rows = q.build().fetch_all(&self.read).await?;
        let rows = rows.into_iter().map(artifact_row).collect::<Result<_>>()?;
        Ok((rows, total as u64))
    }

    /// One manifest of repository `repo_id` as an artifact.
    pub async fn artifact_row(&self, repo_id: i64, digest: &Digest) -> Result<Option<ArtifactRow>> {
        let mut q = SqlBuilder::new(ARTIFACT_COLUMNS);
        q.push(" WHERE m.repo_id = ");
        q.push_bind(repo_id);
        q.push(" AND m.digest = ");
        q.push_bind(digest.as_str().to_string());
        q.build()
            .fetch_optional(&self.read)
            .await?
            .map(artifact_row)
            .transpose()
    }

    /// Tags of repository `repo_id` pointing at any of `digests`, by name.
    pub async fn tags_of(&self, repo_id: i64, digests: &[Digest]) -> Result<Vec<TagRow>> {
        if digests.is_empty() {
            return Ok(vec![]);
        }
        let mut q = SqlBuilder::new(
            "SELECT rowid AS id, name, digest, pushed_at, last_pulled_at FROM tags WHERE repo_id = ",
        );
        q.push_bind(repo_id);
        q.push(" AND digest IN (");
        q.push_bind_list(digests.iter().map(|d| d.as_str().to_string()));
        q.push(") ORDER BY name");
        let rows = q.build().fetch_all(&self.read).await?;
        rows.into_iter()
            .map(|r| {
                Ok(TagRow {
                    id: r.get("id"),
                    name: r.get("name"),
                    digest: digest_col(r.get("digest"))?,
                    pushed_at: r.get("pushed_at"),
                    last_pulled_at: r.get("last_pulled_at"),
                })
            })
            .collect()
    }

    /// The references a manifest of repository `repo_id` recorded at push:
    /// config, layers (blobs) or child manifests, with each blob's stored size
    /// (`None` for child manifests and for blobs without a row).
    pub async fn manifest_children(
        &self,
        repo_id: i64,
        digest: &Digest,
    ) -> Result<Vec<(ChildKind, Digest, Option<u64>)>> {
        let rows = sqlx::query(
            "SELECT f.kind, f.child_digest, b.size FROM manifest_refs f
             LEFT JOIN blobs b ON b.digest = f.child_digest AND f.kind <> 'manifest'
             WHERE f.repo_id = $1 AND f.manifest_digest = $2 ORDER BY f.kind, f.child_digest",
        )
        .bind(repo_id)
        .bind(digest.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|r| {
                let kind: String = r.get("kind");
                Ok((
                    ChildKind::parse(&kind).unwrap_or(ChildKind::Layer),
                    digest_col(r.get("child_digest"))?,
                    r.get::<Option<i64>, _>("size").map(|s| s as u64),
                ))
            })
            .collect()
    }

    /// Deletes a repository with its manifests, tags and blob links in one
    /// transaction; blobs stay for garbage collection. Returns the tags and
    /// manifest digests it held (for cache invalidation), or `None` when it did
    /// not exist.
    pub async fn delete_repository(
        &self,
        name: &str,
    ) -> Result<Option<(Vec<String>, Vec<Digest>)>> {
        let mut tx = self.begin().await?;
        let repo_id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM repositories WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(repo_id) = repo_id else {
            return Ok(None);
        };
        let tags: Vec<String> = sqlx::query_scalar("SELECT name FROM tags WHERE repo_id = $1")
            .bind(repo_id)
            .fetch_all(&mut *tx)
            .await?;
        let digests: Vec<String> =
            sqlx::query_scalar("SELECT digest FROM manifests WHERE repo_id = $1")
                .bind(repo_id)
                .fetch_all(&mut *tx)
                .await?;
        // Children first: tags and references point at manifests of the repository.
        for sql in [
            "DELETE FROM tags WHERE repo_id = $1",
            "DELETE FROM manifest_refs WHERE repo_id = $1",
            "DELETE FROM manifests WHERE repo_id = $1",
            "DELETE FROM repo_blobs WHERE repo_id = $1",
            "DELETE FROM repositories WHERE id = $1",
        ] {
            sqlx::query(sql).bind(repo_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let digests = digests.into_iter().map(digest_col).collect::<Result<_>>()?;
        Ok(Some((tags, digests)))
    }

    /// Runs a trivial query (the health check's database probe).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }
}

/// The largest of its arguments: SQLite's many-argument `MAX(a, b, …)`, PostgreSQL's
/// `GREATEST(a, b, …)`.
fn repository_columns(backend: Backend) -> String {
    let greatest = match backend {
        Backend::Sqlite => "MAX",
        Backend::Postgres => "GREATEST",
    };
    REPOSITORY_COLUMNS.replacen("GREATEST_OF(", &format!("{greatest}("), 1)
}

const REPOSITORY_COLUMNS: &str = concat!(
    "SELECT r.id, r.name, r.created_at,
    GREATEST_OF(r.created_at,
        COALESCE((SELECT MAX(m.pushed_at) FROM manifests m WHERE m.repo_id = r.id), 0),
        COALESCE((SELECT MAX(t.pushed_at) FROM tags t WHERE t.repo_id = r.id), 0)) AS updated_at,
    (SELECT COUNT(*) FROM manifests m WHERE m.repo_id = r.id AND ",
    top_level!(),
    ") AS artifact_count,
    (SELECT CAST(COALESCE(SUM(m.pull_count), 0) AS BIGINT) FROM manifests m WHERE m.repo_id = r.id) AS pull_count
    FROM repositories r"
);

fn repository_row(r: sqlx::any::AnyRow) -> RepositoryRow {
    RepositoryRow {
        id: r.get("id"),
        name: r.get("name"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        artifact_count: r.get::<i64, _>("artifact_count") as u64,
        pull_count: r.get::<i64, _>("pull_count") as u64,
    }
}
