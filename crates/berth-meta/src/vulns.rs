//! The vulnerability database (`vulnerabilities`, `vuln_affected`,
//! `vuln_db_imports`), what each image holds (`artifact_packages`), CVE
//! allow-lists (`cve_allowlists`) and the vulnerability pull gate's
//! setter (`projects.prevent_severity`, `projects.deny_unscanned`, read with
//! the other settings in [`crate::switches`]), migration 15. The matching rules live in `berth_registry::vuln`; this
//! module stores the rows.

use std::collections::BTreeSet;

use sqlx::Row;

use crate::error::Result;
use crate::store::now_ms;
use crate::MetaStore;

/// One OSV record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VulnerabilityRow {
    /// OSV id.
    pub id: String,
    /// The record's `modified` (an import skips a record it has at this time).
    pub modified: String,
    /// JSON array of other ids (CVEs).
    pub aliases: String,
    /// One line.
    pub summary: String,
    /// Harbor's level.
    pub severity: String,
    /// Highest CVSS base score, as text (`9.8`).
    pub score: Option<String>,
    /// Its vector.
    pub vector: Option<String>,
    /// JSON array of URLs.
    pub links: String,
    /// JSON array of CWE ids (`CWE-79`), from `database_specific.cwe_ids`.
    pub cwe_ids: String,
    /// Withdrawn records match nothing.
    pub withdrawn: bool,
}

/// One `affected[]` entry of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffectedRow {
    /// OSV ecosystem (`Debian:12`).
    pub ecosystem: String,
    /// Package as the ecosystem names it.
    pub package: String,
    /// The entry as JSON (ranges, versions).
    pub affected: String,
    /// A per-package level, if the record gives one.
    pub severity: Option<String>,
}

/// One package an image holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ArtifactPackageRow {
    /// OSV ecosystem.
    pub ecosystem: String,
    /// Name advisories use (the source package for dpkg and apk).
    pub package: String,
    /// Version advisories compare against.
    pub version: String,
    /// Name as installed.
    pub name: String,
    /// Package URL.
    pub purl: String,
}

/// A package of an image and an advisory about a package of that name.
#[derive(Debug, Clone)]
pub struct CandidateRow {
    /// The image's package.
    pub package: ArtifactPackageRow,
    /// The advisory.
    pub vulnerability: VulnerabilityRow,
    /// Its `affected[]` entry for the package, JSON.
    pub affected: String,
    /// The entry's own level, if any.
    pub package_severity: Option<String>,
}

/// One import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VulnImportRow {
    /// Row id (the database's version).
    pub id: i64,
    /// Unix ms.
    pub imported_at: i64,
    /// The path imported.
    pub source: String,
    /// Records read.
    pub records: i64,
    /// Records new or changed.
    pub changed: i64,
    /// Images matched again.
    pub rematched: i64,
}

fn vulnerability_row(r: &sqlx::any::AnyRow) -> VulnerabilityRow {
    VulnerabilityRow {
        id: r.get("id"),
        modified: r.get("modified"),
        aliases: r.get("aliases"),
        summary: r.get("summary"),
        severity: r.get("severity"),
        score: r.get("score"),
        vector: r.get("vector"),
        links: r.get("links"),
        cwe_ids: r.get("cwe_ids"),
        withdrawn: r.get::<i64, _>("withdrawn") != 0,
    }
}

impl MetaStore {
    /// Stores a batch of records in one transaction: a record already
    /// stored with the same `modified` is skipped; any other replaces the
    /// stored one and its affected entries. Returns how many were new or
    /// changed, and the `(ecosystem, package)` pairs they name (before and
    /// after the change).
    pub async fn vuln_records_put(
        &self,
        batch: &[(VulnerabilityRow, Vec<AffectedRow>)],
    ) -> Result<(usize, BTreeSet<(String, String)>)> {
        let mut tx = self.begin().await?;
        let mut changed = 0;
        let mut pairs = BTreeSet::new();
        for (v, affected) in batch {
            let stored: Option<String> =
                sqlx::query_scalar("SELECT modified FROM vulnerabilities WHERE id = $1")
                    .bind(&v.id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if stored.as_deref() == Some(v.modified.as_str()) {
                continue;
            }
            changed += 1;
            if stored.is_some() {
                let old =
                    sqlx::query("SELECT ecosystem, package FROM vuln_affected WHERE vuln_id = $1")
                        .bind(&v.id)
                        .fetch_all(&mut *tx)
                        .await?;
                for r in old {
                    pairs.insert((r.get("ecosystem"), r.get("package")));
                }
                sqlx::query("DELETE FROM vuln_affected WHERE vuln_id = $1")
                    .bind(&v.id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO vulnerabilities (id, modified, aliases, summary, severity, score, vector, links, withdrawn, cwe_ids)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, aliases = excluded.aliases,
                   summary = excluded.summary, severity = excluded.severity, score = excluded.score,
                   vector = excluded.vector, links = excluded.links, withdrawn = excluded.withdrawn,
                   cwe_ids = excluded.cwe_ids",
            )
            .bind(&v.id)
            .bind(&v.modified)
            .bind(&v.aliases)
            .bind(&v.summary)
            .bind(&v.severity)
            .bind(v.score.clone())
            .bind(v.vector.clone())
            .bind(&v.links)
            .bind(i64::from(v.withdrawn))
            .bind(&v.cwe_ids)
            .execute(&mut *tx)
            .await?;
            for a in affected {
                sqlx::query(
                    "INSERT INTO vuln_affected (vuln_id, ecosystem, package, affected, severity)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&v.id)
                .bind(&a.ecosystem)
                .bind(&a.package)
                .bind(&a.affected)
                .bind(a.severity.clone())
                .execute(&mut *tx)
                .await?;
                pairs.insert((a.ecosystem.clone(), a.package.clone()));
            }
        }
        tx.commit().await?;
        Ok((changed, pairs))
    }

    /// Records an import.
    pub async fn vuln_import_record(
        &self,
        source: &str,
        records: i64,
        changed: i64,
        rematched: i64,
    ) -> Result<VulnImportRow> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "INSERT INTO vuln_db_imports (imported_at, source, records, changed, rematched)
             VALUES ($1, $2, $3, $4, $5) RETURNING *",
        )
        .bind(now_ms())
        .bind(source)
        .bind(records)
        .bind(changed)
        .bind(rematched)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(import_row(&row))
    }

    /// The imports, newest first (at most `limit`).
    pub async fn vuln_imports(&self, limit: i64) -> Result<Vec<VulnImportRow>> {
        let rows = sqlx::query("SELECT * FROM vuln_db_imports ORDER BY id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(import_row).collect())
    }

    /// How many records the database holds.
    pub async fn vuln_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM vulnerabilities")
            .fetch_one(&self.read)
            .await?)
    }

    /// Replaces what image `digest` of `repository` holds.
    pub async fn artifact_packages_set(
        &self,
        repository: &str,
        digest: &str,
        packages: &[ArtifactPackageRow],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM artifact_packages WHERE repository = $1 AND digest = $2")
            .bind(repository)
            .bind(digest)
            .execute(&mut *tx)
            .await?;
        for p in packages {
            sqlx::query(
                "INSERT INTO artifact_packages (repository, digest, ecosystem, package, version, name, purl)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(repository)
            .bind(digest)
            .bind(&p.ecosystem)
            .bind(&p.package)
            .bind(&p.version)
            .bind(&p.name)
            .bind(&p.purl)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The packages the SBOM of `digest` in `repository` recorded (none
    /// before its first SBOM, and none for an image where nothing was found:
    /// its `sbom` scan task tells the two apart).
    pub async fn artifact_packages(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Vec<ArtifactPackageRow>> {
        let rows = sqlx::query(
            "SELECT ecosystem, package, version, name, purl FROM artifact_packages
             WHERE repository = $1 AND digest = $2 ORDER BY ecosystem, package, name",
        )
        .bind(repository)
        .bind(digest)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| ArtifactPackageRow {
                ecosystem: r.get("ecosystem"),
                package: r.get("package"),
                version: r.get("version"),
                name: r.get("name"),
                purl: r.get("purl"),
            })
            .collect())
    }

    /// The images (repository, digest) that hold a package of one of
    /// `pairs` ((ecosystem, package)) and still exist.
    pub async fn artifacts_holding(
        &self,
        pairs: &BTreeSet<(String, String)>,
    ) -> Result<Vec<(String, String)>> {
        let mut out = BTreeSet::new();
        for (ecosystem, package) in pairs {
            let rows = sqlx::query(
                "SELECT DISTINCT p.repository, p.digest FROM artifact_packages p
                 WHERE p.ecosystem = $1 AND p.package = $2 AND EXISTS
                   (SELECT 1 FROM manifests m JOIN repositories r ON r.id = m.repo_id
                    WHERE r.name = p.repository AND m.digest = p.digest)",
            )
            .bind(ecosystem)
            .bind(package)
            .fetch_all(&self.read)
            .await?;
            for r in rows {
                out.insert((r.get("repository"), r.get("digest")));
            }
        }
        Ok(out.into_iter().collect())
    }

    /// The advisories about packages image `digest` of `repository` holds
    /// (by ecosystem and name; versions are compared by the caller),
    /// withdrawn ones left out.
    pub async fn vuln_candidates(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Vec<CandidateRow>> {
        let rows = sqlx::query(
            "SELECT p.ecosystem, p.package, p.version, p.name, p.purl,
                    a.affected, a.severity AS package_severity,
                    v.id, v.modified, v.aliases, v.summary, v.severity, v.score, v.vector, v.links, v.withdrawn, v.cwe_ids
             FROM artifact_packages p
             JOIN vuln_affected a ON a.ecosystem = p.ecosystem AND a.package = p.package
             JOIN vulnerabilities v ON v.id = a.vuln_id
             WHERE p.repository = $1 AND p.digest = $2 AND v.withdrawn = 0
             ORDER BY v.id, p.name",
        )
        .bind(repository)
        .bind(digest)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .iter()
            .map(|r| CandidateRow {
                package: ArtifactPackageRow {
                    ecosystem: r.get("ecosystem"),
                    package: r.get("package"),
                    version: r.get("version"),
                    name: r.get("name"),
                    purl: r.get("purl"),
                },
                vulnerability: vulnerability_row(r),
                affected: r.get("affected"),
                package_severity: r.get("package_severity"),
            })
            .collect())
    }

    /// The CVE allow-list of `scope` (`""`: the system's; else a project):
    /// `(ids, expires_at in Unix seconds)`.
    pub async fn cve_allowlist(&self, scope: &str) -> Result<Option<(String, Option<i64>)>> {
        let row = sqlx::query("SELECT items, expires_at FROM cve_allowlists WHERE scope = $1")
            .bind(scope)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(|r| (r.get("items"), r.get("expires_at"))))
    }

    /// Replaces the CVE allow-list of `scope` (`items`: JSON array of ids).
    pub async fn cve_allowlist_set(
        &self,
        scope: &str,
        items: &str,
        expires_at: Option<i64>,
    ) -> Result<()> {
        self.write_one(
            sqlx::query(
                "INSERT INTO cve_allowlists (scope, items, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (scope) DO UPDATE SET items = excluded.items, expires_at = excluded.expires_at",
            )
            .bind(scope.to_string())
            .bind(items.to_string())
            .bind(expires_at),
        )
        .await?;
        Ok(())
    }

    /// Sets the vulnerability pull gate of `project`; false when the
    /// project is not stored.
    pub async fn vulnerability_gate_set(
        &self,
        project: &str,
        prevent_severity: Option<&str>,
        deny_unscanned: bool,
    ) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query(
                    "UPDATE projects SET prevent_severity = $1, deny_unscanned = $2, updated_at = $3
                     WHERE name = $4",
                )
                .bind(prevent_severity.map(str::to_string))
                .bind(i64::from(deny_unscanned))
                .bind(now_ms())
                .bind(project.to_string()),
            )
            .await?
            .rows_affected();
        Ok(n > 0)
    }
}

fn import_row(r: &sqlx::any::AnyRow) -> VulnImportRow {
    VulnImportRow {
        id: r.get("id"),
        imported_at: r.get("imported_at"),
        source: r.get("source"),
        records: r.get("records"),
        changed: r.get("changed"),
        rematched: r.get("rematched"),
    }
}
