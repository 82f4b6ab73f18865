//! Upstream registries (`registries`, migration 9), the proxy projects bound
//! to them (`projects.registry_id`), when proxied tags were last confirmed
//! upstream (`proxy_tags`) and proxy hit/miss counters (`proxy_stats`). The
//! rules live in `berth_registry::proxy`; this module stores the rows.

use sqlx::Row;

use crate::error::Result;
use crate::store::now_ms;
use crate::MetaStore;

/// A registry berth talks to (Harbor's `Registry` model, `/api/v2.0/registries`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRecord {
    /// Row id (Harbor's `id`).
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Adapter: `docker-registry`, `harbor` or `docker-hub`.
    pub kind: String,
    /// Base URL, e.g. `https://registry-1.docker.io` (no `/v2`).
    pub url: String,
    /// Accept any TLS certificate.
    pub insecure: bool,
    /// Free text.
    pub description: String,
    /// Basic credential: user name (or access key).
    pub access_key: Option<String>,
    /// Basic credential: password (or secret). Never shown by the API.
    pub access_secret: Option<String>,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Last update, Unix ms.
    pub updated_at: i64,
}

/// What [`MetaStore::registry_create`] and [`MetaStore::registry_update`] take.
#[derive(Debug, Clone, Default)]
pub struct NewRegistry {
    /// Unique name.
    pub name: String,
    /// Adapter type.
    pub kind: String,
    /// Base URL.
    pub url: String,
    /// Accept any TLS certificate.
    pub insecure: bool,
    /// Free text.
    pub description: String,
    /// Basic credential, both or neither.
    pub access_key: Option<String>,
    /// Basic credential secret.
    pub access_secret: Option<String>,
}

/// Hit and miss counters of one proxy project, summed over nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyCounts {
    /// Requests served from what was already stored.
    pub hits: i64,
    /// Requests that fetched from upstream.
    pub misses: i64,
    /// Upstream errors (unreachable, 429, 5xx) answered from the cache or refused.
    pub upstream_failures: i64,
}

fn registry_row(r: sqlx::any::AnyRow) -> RegistryRecord {
    RegistryRecord {
        id: r.get("id"),
        name: r.get("name"),
        kind: r.get("type"),
        url: r.get("url"),
        insecure: r.get::<i64, _>("insecure") != 0,
        description: r.get("description"),
        access_key: r.get("access_key"),
        access_secret: r.get("access_secret"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

impl MetaStore {
    /// Adds a registry. Errors: a UNIQUE violation when the name is taken
    /// ([`crate::access::is_conflict`]).
    pub async fn registry_create(&self, r: &NewRegistry) -> Result<RegistryRecord> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "INSERT INTO registries (name, type, url, insecure, description, access_key, access_secret, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
        )
        .bind(&r.name)
        .bind(&r.kind)
        .bind(&r.url)
        .bind(r.insecure as i64)
        .bind(&r.description)
        .bind(r.access_key.as_deref())
        .bind(r.access_secret.as_deref())
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(registry_row(row))
    }

    /// Replaces a registry's settings. Returns false when absent.
    pub async fn registry_update(&self, id: i64, r: &NewRegistry) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query(
                    "UPDATE registries SET name = $1, type = $2, url = $3, insecure = $4, description = $5,
                     access_key = $6, access_secret = $7, updated_at = $8 WHERE id = $9",
                )
                .bind(r.name.clone())
                .bind(r.kind.clone())
                .bind(r.url.clone())
                .bind(r.insecure as i64)
                .bind(r.description.clone())
                .bind(r.access_key.clone())
                .bind(r.access_secret.clone())
                .bind(now_ms())
                .bind(id),
            )
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// A registry by id.
    pub async fn registry_by_id(&self, id: i64) -> Result<Option<RegistryRecord>> {
        let row = sqlx::query("SELECT * FROM registries WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(registry_row))
    }

    /// A registry by name.
    pub async fn registry_by_name(&self, name: &str) -> Result<Option<RegistryRecord>> {
        let row = sqlx::query("SELECT * FROM registries WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(registry_row))
    }

    /// Every registry, by id.
    pub async fn registries_all(&self) -> Result<Vec<RegistryRecord>> {
        let rows = sqlx::query("SELECT * FROM registries ORDER BY id")
            .fetch_all(&self.read)
            .await?;
        Ok(rows.into_iter().map(registry_row).collect())
    }

    /// The names of the projects bound to registry `id` (proxy projects).
    pub async fn registry_projects(&self, id: i64) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT name FROM projects WHERE registry_id = $1 ORDER BY name")
                .bind(id)
                .fetch_all(&self.read)
                .await?,
        )
    }

    /// Deletes a registry no project uses. Returns false when absent.
    pub async fn registry_delete(&self, id: i64) -> Result<bool> {
        let n = self
            .write_one(sqlx::query("DELETE FROM registries WHERE id = $1").bind(id))
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Binds project `project_id` to registry `registry_id` (a proxy project)
    /// or unbinds it (`None`). Returns false when the project is absent.
    pub async fn project_set_registry(
        &self,
        project_id: i64,
        registry_id: Option<i64>,
    ) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query("UPDATE projects SET registry_id = $1, updated_at = $2 WHERE id = $3")
                    .bind(registry_id)
                    .bind(now_ms())
                    .bind(project_id),
            )
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// When tag `tag` of proxied `repository` was last confirmed upstream
    /// (Unix ms).
    pub async fn proxy_tag_checked(&self, repository: &str, tag: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT checked_at FROM proxy_tags WHERE repository = $1 AND tag = $2",
        )
        .bind(repository)
        .bind(tag)
        .fetch_optional(&self.read)
        .await?)
    }

    /// Records that tag `tag` of `repository` was confirmed upstream now.
    pub async fn proxy_tag_confirm(&self, repository: &str, tag: &str) -> Result<()> {
        self.write_one(
            sqlx::query(
                "INSERT INTO proxy_tags (repository, tag, checked_at) VALUES ($1, $2, $3)
                 ON CONFLICT (repository, tag) DO UPDATE SET checked_at = excluded.checked_at",
            )
            .bind(repository.to_string())
            .bind(tag.to_string())
            .bind(now_ms()),
        )
        .await?;
        Ok(())
    }

    /// Adds to project `project`'s proxy counters.
    pub async fn proxy_count(&self, project: &str, add: ProxyCounts) -> Result<()> {
        self.write_one(
            sqlx::query(
                "INSERT INTO proxy_stats (project, hits, misses, upstream_failures) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (project) DO UPDATE SET hits = proxy_stats.hits + excluded.hits,
                 misses = proxy_stats.misses + excluded.misses,
                 upstream_failures = proxy_stats.upstream_failures + excluded.upstream_failures",
            )
            .bind(project.to_string())
            .bind(add.hits)
            .bind(add.misses)
            .bind(add.upstream_failures),
        )
        .await?;
        Ok(())
    }

    /// Project `project`'s proxy counters (zero when never counted).
    pub async fn proxy_counts(&self, project: &str) -> Result<ProxyCounts> {
        let row = sqlx::query(
            "SELECT hits, misses, upstream_failures FROM proxy_stats WHERE project = $1",
        )
        .bind(project)
        .fetch_optional(&self.read)
        .await?;
        Ok(row
            .map(|r| ProxyCounts {
                hits: r.get("hits"),
                misses: r.get("misses"),
                upstream_failures: r.get("upstream_failures"),
            })
            .unwrap_or_default())
    }
}
