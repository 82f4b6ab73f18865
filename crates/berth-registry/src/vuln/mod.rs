//! Vulnerabilities (docs/supply-chain.md "Vulnerabilities"): an offline
//! database loaded from OSV files ([`Registry::vuln_db_import`]: a
//! directory, OSV's per-ecosystem `all.zip` exports or single records),
//! each image's packages (recorded by its SBOM, see [`crate::sbom`]) matched
//! against it by each ecosystem's version order ([`version`]) and the OSV
//! ranges ([`osv`]), the report stored per image ([`Registry::vuln_match`])
//! and matched again when the database changes, without reading layers; and
//! the pull gate ([`Registry::vuln_gate`]: Harbor's "prevent vulnerable
//! images from running", with CVE allow-lists).

pub mod adapter;
pub mod osv;
pub mod version;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use berth_meta::{AffectedRow, ArtifactPackageRow, VulnerabilityRow};
use berth_oci::{Digest, RepositoryName};
use serde::{Deserialize, Serialize};

pub use osv::Severity;

use crate::error::{Error, Result};
use crate::registry::Registry;
use crate::sbom::{Ecosystem, Inventory};

/// `scan_tasks.kind` of a vulnerability report.
pub const KIND: &str = "vulnerability";
/// Harbor's media type of a vulnerability report (the key of
/// `scan_overview` and of `additions/vulnerabilities`).
pub const REPORT_MIME: &str = "application/vnd.security.vulnerability.report; version=1.1";
/// Records stored per transaction during an import.
const BATCH: usize = 500;
/// Largest OSV JSON file read.
const MAX_RECORD: u64 = 16 << 20;

/// One vulnerability found in an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// OSV id (`DSA-5417-1`, `GHSA-…`).
    pub id: String,
    /// Other ids (CVEs).
    pub aliases: Vec<String>,
    /// The package as installed.
    pub package: String,
    /// The name advisories use, when it differs (a Debian source package).
    pub source: Option<String>,
    /// OSV ecosystem.
    pub ecosystem: String,
    /// Installed version (the source version for dpkg).
    pub version: String,
    /// First fixed version above it, when known.
    pub fix_version: Option<String>,
    /// Level.
    pub severity: Severity,
    /// CVSS base score, when the record has a vector.
    pub score: Option<f64>,
    /// Its vector.
    pub vector: Option<String>,
    /// One line.
    pub summary: String,
    /// Links.
    pub links: Vec<String>,
    /// The package's purl.
    pub purl: String,
    /// CWE ids (`CWE-79`) the advisory names (reports stored before they
    /// were recorded have none).
    #[serde(default)]
    pub cwe_ids: Vec<String>,
}

/// An image's vulnerability report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VulnReport {
    /// When it was made (Unix ms).
    pub generated_at: i64,
    /// The database import it was matched against (its id).
    pub database: i64,
    /// Packages matched.
    pub packages: usize,
    /// Worst level found (`None` when nothing).
    pub severity: Severity,
    /// Findings, worst first.
    pub findings: Vec<Finding>,
    /// The external scanner that made it (`None`: berth's own matcher).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanner: Option<adapter::ScannerIdentity>,
}

/// The scanner's name in reports and webhook payloads.
pub const SCANNER: &str = "berth";

/// Harbor's `Scanner` object of berth's reports, for webhook payloads.
pub fn scanner_json() -> serde_json::Value {
    serde_json::json!({ "name": SCANNER, "vendor": SCANNER, "version": env!("CARGO_PKG_VERSION") })
}

impl VulnReport {
    /// Harbor's `scan_overview` (a `NativeReportSummary` keyed by the
    /// report's MIME type) for webhook payloads; `started` is when the
    /// match began (Unix ms).
    pub fn webhook_overview(&self, started: i64) -> serde_json::Value {
        let time = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        let by_level: serde_json::Map<String, serde_json::Value> = self
            .counts()
            .into_iter()
            .map(|(level, n)| (level.as_str().to_string(), n.into()))
            .collect();
        let fixable = self
            .findings
            .iter()
            .filter(|f| f.fix_version.is_some())
            .count();
        serde_json::json!({ REPORT_MIME: {
            "scan_status": "Success",
            "severity": self.severity.as_str(),
            "duration": (self.generated_at - started).max(0) / 1000,
            "summary": { "total": self.findings.len(), "fixable": fixable, "summary": by_level },
            "start_time": time(started),
            "end_time": time(self.generated_at),
            "complete_percent": 100,
            "scanner": scanner_json(),
        }})
    }

    /// Findings counted by level.
    pub fn counts(&self) -> BTreeMap<Severity, usize> {
        let mut out = BTreeMap::new();
        for f in &self.findings {
            *out.entry(f.severity).or_insert(0) += 1;
        }
        out
    }
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    /// The stored import (its id is the database's version).
    pub import: berth_meta::VulnImportRow,
    /// Files that were not OSV records, with why (at most 20).
    pub skipped: Vec<String>,
}

/// PyPI names compare after PEP 503 normalization.
fn normalized(ecosystem: &str, name: &str) -> String {
    if ecosystem == "PyPI" {
        name.to_ascii_lowercase().replace(['_', '.'], "-")
    } else {
        name.to_string()
    }
}

/// OSV's ecosystem as berth matches it: Ubuntu's `:LTS`/`:Pro` suffix
/// dropped.
fn ecosystem_key(ecosystem: &str) -> String {
    let mut parts = ecosystem.split(':');
    match (parts.next(), parts.next()) {
        (Some("Ubuntu"), Some(v)) => format!("Ubuntu:{v}"),
        _ => ecosystem.to_string(),
    }
}

/// The rows of one OSV record.
fn rows_of(record: &osv::Record) -> (VulnerabilityRow, Vec<AffectedRow>) {
    let cvss = osv::cvss(&record.severity);
    let severity = match &cvss {
        Some((score, _)) => Severity::of_score(*score),
        None => osv::stated(record.database_specific.as_ref()).unwrap_or_default(),
    };
    let links: Vec<&str> = record
        .references
        .iter()
        .map(|r| r.url.as_str())
        .take(10)
        .collect();
    let vulnerability = VulnerabilityRow {
        id: record.id.clone(),
        modified: record.modified.clone(),
        aliases: serde_json::to_string(&record.aliases).unwrap_or_else(|_| "[]".into()),
        summary: if record.summary.is_empty() {
            record.details.chars().take(300).collect()
        } else {
            record.summary.clone()
        },
        severity: severity.as_str().to_string(),
        score: cvss.as_ref().map(|(s, _)| format!("{s:.1}")),
        vector: cvss.map(|(_, v)| v),
        links: serde_json::to_string(&links).unwrap_or_else(|_| "[]".into()),
        cwe_ids: serde_json::to_string(&osv::cwe_ids(record.database_specific.as_ref()))
            .unwrap_or_else(|_| "[]".into()),
        withdrawn: record.withdrawn.is_some(),
    };
    let affected = record
        .affected
        .iter()
        .filter_map(|a| {
            let p = a.package.as_ref()?;
            let ecosystem = ecosystem_key(&p.ecosystem);
            let level = osv::cvss(&a.severity)
                .map(|(s, _)| Severity::of_score(s))
                .or_else(|| osv::stated(a.database_specific.as_ref()));
            Some(AffectedRow {
                package: normalized(&ecosystem, &p.name),
                ecosystem,
                affected: serde_json::to_string(a).ok()?,
                severity: level.map(|l| l.as_str().to_string()),
            })
        })
        .collect();
    (vulnerability, affected)
}

/// What the database matches an inventory's packages by.
pub fn package_rows(inventory: &Inventory) -> Vec<ArtifactPackageRow> {
    let os = inventory.os.as_ref();
    let mut rows: Vec<ArtifactPackageRow> = inventory
        .packages
        .iter()
        .filter_map(|p| {
            let ecosystem = p.osv_ecosystem(os)?;
            let (package, version) = match (p.ecosystem, &p.source) {
                (Ecosystem::Deb | Ecosystem::Apk, Some((name, version))) => {
                    (name.clone(), version.clone())
                }
                _ => (normalized(&ecosystem, &p.name), p.version.clone()),
            };
            Some(ArtifactPackageRow {
                ecosystem,
                package,
                version,
                name: p.name.clone(),
                purl: p.purl(os).unwrap_or_default(),
            })
        })
        .collect();
    rows.sort();
    rows.dedup();
    rows
}

/// Notes on why files were skipped, at most 20.
fn note(skipped: &mut Vec<String>, what: String) {
    if skipped.len() < 20 {
        skipped.push(what);
    }
}

/// Reads one `.json` file named `source` (up to [`MAX_RECORD`]) into `out`
/// when it is an OSV record with the schema's `modified`.
fn read_record(
    source: &str,
    file: impl Read,
    out: &mut Vec<osv::Record>,
    skipped: &mut Vec<String>,
) {
    let mut text = Vec::new();
    if file.take(MAX_RECORD).read_to_end(&mut text).is_err() {
        note(skipped, format!("{source}: not readable"));
        return;
    }
    match serde_json::from_slice::<osv::Record>(&text) {
        Ok(r) if r.modified.is_empty() => note(
            skipped,
            format!("{source}: not an OSV record: no `modified`"),
        ),
        Ok(r) => out.push(r),
        Err(e) => note(skipped, format!("{source}: not an OSV record: {e}")),
    }
}

/// Reads the OSV records under `path` into `out` (a `.json` file, a `.zip`
/// export, or a directory of either, recursively).
fn read_records(path: &Path, out: &mut Vec<osv::Record>, skipped: &mut Vec<String>) {
    if path.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            note(skipped, format!("{}: not readable", path.display()));
            return;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            read_records(&p, out, skipped);
        }
        return;
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    match ext {
        "json" => match std::fs::File::open(path) {
            Ok(f) => read_record(&path.display().to_string(), f, out, skipped),
            Err(e) => note(skipped, format!("{}: {e}", path.display())),
        },
        "zip" => {
            let archive = std::fs::File::open(path)
                .map_err(|e| e.to_string())
                .and_then(|f| zip::ZipArchive::new(f).map_err(|e| e.to_string()));
            let mut archive = match archive {
                Ok(a) => a,
                Err(e) => {
                    note(skipped, format!("{}: not a zip: {e}", path.display()));
                    return;
                }
            };
            for i in 0..archive.len() {
                let Ok(file) = archive.by_index(i) else {
                    continue;
                };
                let Ok(name) = file.name().map(|n| n.to_string()) else {
                    continue;
                };
                if name.ends_with(".json") {
                    read_record(&format!("{}!{name}", path.display()), file, out, skipped);
                }
            }
        }
        _ => {}
    }
}

impl Registry {
    /// Loads or updates the vulnerability database from OSV files at `path`
    /// (a record, a `.zip` export, or a directory of them). Idempotent: a
    /// record stored with the same `modified` is skipped. The images holding
    /// a package a new or changed record names, and those without a report
    /// yet, are matched again.
    ///
    /// Errors: [`Error::Unsupported`] when `path` holds no OSV record.
    pub async fn vuln_db_import(&self, path: &Path) -> Result<ImportOutcome> {
        if !path.exists() {
            return Err(Error::Unsupported(format!(
                "{} does not exist",
                path.display()
            )));
        }
        let owned = path.to_path_buf();
        let (records, skipped) = tokio::task::spawn_blocking(move || {
            let mut records = Vec::new();
            let mut skipped = Vec::new();
            read_records(&owned, &mut records, &mut skipped);
            (records, skipped)
        })
        .await
        .map_err(|e| Error::Unsupported(format!("reading {}: {e}", path.display())))?;
        if records.is_empty() {
            return Err(Error::Unsupported(format!(
                "{} holds no OSV record (a .json record, a .zip export such as OSV's <ecosystem>/all.zip, or a directory of them){}",
                path.display(),
                skipped.first().map(|s| format!("; {s}")).unwrap_or_default()
            )));
        }
        let mut changed = 0;
        let mut pairs = BTreeSet::new();
        for chunk in records.chunks(BATCH) {
            let rows: Vec<_> = chunk.iter().map(rows_of).collect();
            let (n, p) = self.meta.vuln_records_put(&rows).await?;
            changed += n;
            pairs.extend(p);
        }
        let mut todo: BTreeSet<(String, String)> = self
            .meta
            .artifacts_holding(&pairs)
            .await?
            .into_iter()
            .collect();
        // Images with an SBOM but no report yet (none was possible without
        // a database).
        for t in self
            .meta
            .scan_tasks_where(crate::sbom::KIND, "success")
            .await?
        {
            match self.meta.scan_task(&t.repository, &t.digest, KIND).await? {
                Some(v) if v.status == "success" => {}
                _ => {
                    todo.insert((t.repository, t.digest));
                }
            }
        }
        let import = self
            .meta
            .vuln_import_record(
                &path.display().to_string(),
                records.len() as i64,
                changed as i64,
                todo.len() as i64,
            )
            .await?;
        self.vuln_match_each(todo).await;
        Ok(ImportOutcome { import, skipped })
    }

    /// Matches each `(repository, digest)` again, one after the other;
    /// returns how many were matched (a failure is logged and skipped).
    async fn vuln_match_each(&self, images: impl IntoIterator<Item = (String, String)>) -> usize {
        let mut matched = 0;
        for (repository, digest) in images {
            let (Ok(repo), Ok(d)) = (RepositoryName::parse(&repository), digest.parse()) else {
                continue;
            };
            match self.vuln_match(&repo, &d).await {
                Ok(Some(_)) => matched += 1,
                Ok(None) => {}
                Err(e) => tracing::warn!(%repository, %digest, error = %e, "matching again failed"),
            }
        }
        matched
    }

    /// Harbor's "scan all": matches every image with an SBOM against the
    /// database again (stored packages; no layer is read), one after the
    /// other; returns how many were matched. For `scan.schedule` and
    /// `POST /system/scanAll/schedule`. With a default external scanner,
    /// each is handed to it instead (and not counted).
    ///
    /// Errors: [`Error::Unsupported`] without a database or a default
    /// scanner; [`Error::Meta`].
    pub async fn vuln_scan_all(&self) -> Result<usize> {
        if self.meta.default_scanner().await?.is_none()
            && self.meta.vuln_imports(1).await?.is_empty()
        {
            return Err(Error::Unsupported(
                "no vulnerability database: load one with `berth vuln-db import PATH`".into(),
            ));
        }
        let images = self
            .meta
            .scan_tasks_where(crate::sbom::KIND, "success")
            .await?
            .into_iter()
            .map(|t| (t.repository, t.digest));
        Ok(self.vuln_match_each(images).await)
    }

    /// Matches the packages image `digest` of `repo` holds against the
    /// database and stores the report (`scan_tasks`, kind
    /// `vulnerability`).
    ///
    /// Without a database nothing is recorded: the image stays "not
    /// scanned" (no `scan_overview`, as Harbor shows an artifact no scanner
    /// looked at), not "failed", and the import matches it once there is
    /// one.
    ///
    /// With a default external scanner ([`adapter`]) the image is handed to
    /// it instead, and `None` is returned: its report comes later.
    ///
    /// Errors: [`Error::Unsupported`] without a database; [`Error::Meta`].
    pub async fn vuln_match(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<VulnReport>> {
        if self.external_scan_queue(repo, digest).await? {
            return Ok(None);
        }
        let (r, d) = (repo.as_str(), digest.as_str());
        let Some(database) = self.meta.vuln_imports(1).await?.into_iter().next() else {
            return Err(Error::Unsupported(
                "no vulnerability database: load one with `berth vuln-db import PATH` (OSV files)"
                    .into(),
            ));
        };
        self.meta.scan_request(r, d, KIND).await?;
        self.meta.scan_started(r, d, KIND).await?;
        let started = berth_meta::store::now_ms();
        let packages = self.meta.artifact_packages(r, d).await?.len();
        let mut findings: BTreeMap<(String, String), Finding> = BTreeMap::new();
        for c in self.meta.vuln_candidates(r, d).await? {
            let Some(scheme) = version::Scheme::of(&c.package.ecosystem) else {
                continue;
            };
            let Ok(affected) = serde_json::from_str::<osv::Affected>(&c.affected) else {
                continue;
            };
            let Some(fix) = osv::affected_by(scheme, &affected, &c.package.version) else {
                continue;
            };
            let v = &c.vulnerability;
            let severity = c
                .package_severity
                .as_deref()
                .and_then(Severity::parse)
                .or_else(|| Severity::parse(&v.severity))
                .unwrap_or_default();
            findings.insert(
                (v.id.clone(), c.package.name.clone()),
                Finding {
                    id: v.id.clone(),
                    aliases: serde_json::from_str(&v.aliases).unwrap_or_default(),
                    package: c.package.name.clone(),
                    source: (c.package.package != c.package.name)
                        .then(|| c.package.package.clone()),
                    ecosystem: c.package.ecosystem.clone(),
                    version: c.package.version.clone(),
                    fix_version: fix,
                    severity,
                    score: v.score.as_deref().and_then(|s| s.parse().ok()),
                    vector: v.vector.clone(),
                    summary: v.summary.clone(),
                    links: serde_json::from_str(&v.links).unwrap_or_default(),
                    purl: c.package.purl.clone(),
                    cwe_ids: serde_json::from_str(&v.cwe_ids).unwrap_or_default(),
                },
            );
        }
        let mut findings: Vec<Finding> = findings.into_values().collect();
        findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id)));
        let report = VulnReport {
            generated_at: berth_meta::store::now_ms(),
            database: database.id,
            packages,
            severity: findings.first().map_or(Severity::None, |f| f.severity),
            findings,
            scanner: None,
        };
        let text = serde_json::to_string(&report).ok();
        self.meta
            .scan_finish(r, d, KIND, "success", "", text.as_deref())
            .await?;
        let mut event = crate::webhook::Event::on_repository(
            crate::webhook::EventType::ScanningCompleted,
            r,
            SCANNER,
        );
        event.digest = Some(d.to_string());
        event.extra = Some(report.webhook_overview(started));
        self.webhook_notify(event);
        Ok(Some(report))
    }

    /// Harbor's vulnerability scan of `digest` in `repo` (each platform
    /// manifest of an index): an image whose SBOM is known is matched now;
    /// one without is queued for an SBOM, which matches when it is made.
    /// With a default external scanner, each is handed to it instead
    /// ([`adapter`]). Returns the image manifests scanned or queued.
    ///
    /// Errors: as [`Registry::sbom_request`]; [`Error::Unsupported`] when
    /// no vulnerability database was imported and no external scanner is
    /// the default.
    pub async fn vuln_scan(&self, repo: &RepositoryName, digest: &Digest) -> Result<Vec<Digest>> {
        if self.meta.default_scanner().await?.is_some() {
            // The external scanner reads the image itself: no SBOM first.
            let images = self.sbom_images(repo, digest).await?;
            for image in &images {
                self.external_scan_queue(repo, image).await?;
            }
            return Ok(images);
        }
        if self.meta.vuln_imports(1).await?.is_empty() {
            return Err(Error::Unsupported(
                "no vulnerability database: load one with `berth vuln-db import PATH` (OSV files; docs/supply-chain.md)".into(),
            ));
        }
        let images = self.sbom_images(repo, digest).await?;
        let mut queue = Vec::new();
        for image in &images {
            let known = self
                .meta
                .scan_task(repo.as_str(), image.as_str(), crate::sbom::KIND)
                .await?
                .is_some_and(|t| t.status == "success");
            if known {
                self.vuln_match(repo, image).await?;
            } else {
                queue.push(image.clone());
            }
        }
        for image in &queue {
            self.meta
                .scan_request(repo.as_str(), image.as_str(), crate::sbom::KIND)
                .await?;
            self.meta
                .scan_request(repo.as_str(), image.as_str(), KIND)
                .await?;
        }
        if !queue.is_empty() {
            self.scan_wakeup.notify_one();
        }
        Ok(images)
    }

    /// The stored vulnerability task of `digest` in `repo` and its report.
    ///
    /// Errors: [`Error::Meta`].
    pub async fn vuln_report(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<(berth_meta::ScanTaskRow, Option<VulnReport>)>> {
        let Some(task) = self
            .meta
            .scan_task(repo.as_str(), digest.as_str(), KIND)
            .await?
        else {
            return Ok(None);
        };
        let report = task
            .report
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok());
        Ok(Some((task, report)))
    }

    /// The database's imports, newest first, and how many records it holds.
    ///
    /// Errors: [`Error::Meta`].
    pub async fn vuln_db_status(&self) -> Result<(Vec<berth_meta::VulnImportRow>, i64)> {
        Ok((
            self.meta.vuln_imports(20).await?,
            self.meta.vuln_count().await?,
        ))
    }

    /// The CVE allow-list of `project` (`None`: the system's): ids and
    /// expiry (Unix seconds).
    ///
    /// Errors: [`Error::Meta`].
    pub async fn cve_allowlist(&self, project: Option<&str>) -> Result<(Vec<String>, Option<i64>)> {
        Ok(
            match self.meta.cve_allowlist(project.unwrap_or("")).await? {
                Some((items, expires)) => {
                    (serde_json::from_str(&items).unwrap_or_default(), expires)
                }
                None => (Vec::new(), None),
            },
        )
    }

    /// Replaces the CVE allow-list of `project` (`None`: the system's).
    ///
    /// Errors: [`Error::Meta`].
    pub async fn cve_allowlist_set(
        &self,
        project: Option<&str>,
        items: &[String],
        expires_at: Option<i64>,
    ) -> Result<()> {
        let text = serde_json::to_string(items).unwrap_or_else(|_| "[]".into());
        self.meta
            .cve_allowlist_set(project.unwrap_or(""), &text, expires_at)
            .await?;
        Ok(())
    }

    /// Sets the vulnerability pull gate of `project`: refuse pulls of images
    /// with a vulnerability at `prevent` or above (`None`: off), and of
    /// images without a report when `deny_unscanned`.
    ///
    /// Errors: [`crate::auth::AccountError::NotFound`] without such a project.
    pub async fn vulnerability_gate_set(
        &self,
        project: &str,
        prevent: Option<Severity>,
        deny_unscanned: bool,
    ) -> std::result::Result<(), crate::auth::AccountError> {
        if !self
            .meta
            .vulnerability_gate_set(project, prevent.map(Severity::as_str), deny_unscanned)
            .await?
        {
            return Err(crate::auth::AccountError::NotFound(format!(
                "project {project} not found"
            )));
        }
        self.forget_rules(project).await;
        Ok(())
    }

    /// The vulnerability pull gate of `project`: `(lowest level refused,
    /// deny unscanned)`.
    ///
    /// Errors: [`Error::Meta`].
    pub async fn vulnerability_gate(&self, project: &str) -> Result<(Option<Severity>, bool)> {
        let rules = self.project_rules(project).await?;
        Ok((rules.prevent_severity, rules.deny_unscanned))
    }

    /// The vulnerability pull gate for manifest `digest` of `repo`: passes
    /// indexes (their platform manifests are gated), accessories, and
    /// images whose findings are all below the project's level or on an
    /// allow-list (the project's and the system's, unless expired);
    /// images without a report pass unless the project denies them.
    ///
    /// Errors: [`Error::PolicyDenied`] naming the policy, the digest and the
    /// worst vulnerability (or that it was not scanned).
    pub(crate) async fn vuln_gate(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        body: &[u8],
        prevent: Option<Severity>,
        deny_unscanned: bool,
    ) -> Result<()> {
        if crate::sbom::index_children(body).is_some() || crate::signing::cosign::is_accessory(body)
        {
            return Ok(());
        }
        let project = repo.project();
        // The last report, whatever became of a later scan: a rescan that
        // is pending, running or failed does not open the gate.
        let report = match self.vuln_report(repo, digest).await? {
            Some((_, Some(report))) => report,
            other => {
                if !deny_unscanned {
                    return Ok(());
                }
                let sbom = self
                    .meta
                    .scan_task(repo.as_str(), digest.as_str(), crate::sbom::KIND)
                    .await?;
                let why = match (other, sbom) {
                    (Some((task, _)), _) if !task.detail.is_empty() => {
                        format!("its scan is {}: {}", task.status, task.detail)
                    }
                    (Some((task, _)), _) => format!("its scan is {}", task.status),
                    (None, Some(s)) if s.status == "pending" || s.status == "running" => {
                        "its SBOM and scan are queued; pull again in a moment".to_string()
                    }
                    (None, _) => "it was never scanned".to_string(),
                };
                let name = repo
                    .as_str()
                    .strip_prefix(&format!("{project}/"))
                    .unwrap_or(repo.as_str())
                    .replace('/', "%252F");
                return Err(Error::PolicyDenied(format!(
                    "pull refused by project {project}'s vulnerability policy (prevent_unscanned): {digest} has no vulnerability report ({why}); scan it: POST /api/v2.0/projects/{project}/repositories/{name}/artifacts/{digest}/scan (docs/supply-chain.md)"
                )));
            }
        };
        let Some(threshold) = prevent else {
            return Ok(());
        };
        let now = chrono::Utc::now().timestamp();
        let mut allowed: BTreeSet<String> = BTreeSet::new();
        for scope in [Some(project), None] {
            let (items, expires) = self.cve_allowlist(scope).await?;
            if expires.is_none_or(|e| e > now) {
                allowed.extend(items);
            }
        }
        let worst = report.findings.iter().find(|f| {
            f.severity >= threshold
                && f.severity != Severity::Unknown
                && !allowed.contains(&f.id)
                && !f.aliases.iter().any(|a| allowed.contains(a))
        });
        match worst {
            None => Ok(()),
            Some(f) => {
                let name = f
                    .aliases
                    .iter()
                    .find(|a| a.starts_with("CVE-"))
                    .unwrap_or(&f.id);
                Err(Error::PolicyDenied(format!(
                    "pull refused by project {project}'s vulnerability policy (prevent_vul, severity {} and above): {digest} has {name} ({}, {} in {} {}{}); allow-list it or update the image (docs/supply-chain.md)",
                    threshold.as_str(),
                    f.id,
                    f.severity.as_str(),
                    f.package,
                    f.version,
                    f.fix_version.as_deref().map(|v| format!(", fixed in {v}")).unwrap_or_default(),
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_a_record() {
        let record: osv::Record = serde_json::from_value(serde_json::json!({
            "id": "DSA-0001-1", "modified": "2026-01-01T00:00:00Z",
            "aliases": ["CVE-2026-0001"], "details": "a bug",
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
            "affected": [
                {"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "bash"}, "ranges": []},
                {"package": {"ecosystem": "PyPI", "name": "Typing_Extensions"}, "versions": ["1.0"]}
            ],
            "references": [{"type": "ADVISORY", "url": "https://example.invalid/DSA-0001-1"}]
        }))
        .unwrap();
        let (v, a) = rows_of(&record);
        assert_eq!(v.severity, "High");
        assert_eq!(v.score.as_deref(), Some("7.5"));
        assert_eq!(v.summary, "a bug");
        assert_eq!(a[0].ecosystem, "Ubuntu:22.04");
        assert_eq!(a[1].package, "typing-extensions");
    }
}
