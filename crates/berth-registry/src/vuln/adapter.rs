//! External scanners through Harbor's pluggable scanner API
//! (goharbor/pluggable-scanner-spec, "Scanner Adapter API" v1.1): an
//! adapter such as harbor-scanner-trivy, registered with
//! `POST /api/v2.0/scanners` and made the default, replaces the built-in
//! matcher (docs/supply-chain.md "External scanners").
//!
//! For each image to scan, the node that takes it:
//! 1. makes a system robot account that may only pull that repository and
//!    expires in an hour (when accounts are on), as Harbor does, so the
//!    adapter can read the image;
//! 2. `POST {adapter}/api/v1/scan` with the registry's URL, `Basic` robot
//!    credentials and the artifact (repository, digest, media type): `202
//!    {"id"}`;
//! 3. polls `GET {adapter}/api/v1/scan/{id}/report` (`Accept` the
//!    vulnerability report type) while it answers `302` (waiting the
//!    `Refresh-After` seconds it asks for), until `200` and the report;
//! 4. deletes the robot and stores the report like the built-in one's, so
//!    `scan_overview`, `additions/vulnerabilities`, the pull gate and the
//!    webhooks work the same; the overview names the adapter's scanner.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use berth_meta::ScannerRow;
use berth_oci::{Digest, RepositoryName};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{Finding, Severity, VulnReport, KIND, REPORT_MIME};
use crate::auth::AccountError;
use crate::error::{Error, Result};
use crate::registry::Registry;

/// `Accept` of the adapter's metadata (spec §GET /metadata).
pub const METADATA_MIME: &str = "application/vnd.scanner.adapter.metadata+json; version=1.0";
/// `Content-Type` of a scan request (spec §POST /scan).
pub const SCAN_REQUEST_MIME: &str =
    "application/vnd.scanner.adapter.scan.request+json; version=1.0";
/// The `auth` schemes a registration may name.
pub const AUTH_SCHEMES: [&str; 4] = ["", "Basic", "Bearer", "X-ScannerAdapter-API-Key"];
/// How long one scan may take, polling included.
const SCAN_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// How long the robot account an adapter pulls with lives.
const GRANT_TTL: Duration = Duration::from_secs(60 * 60);
/// Largest report read (bytes).
const MAX_REPORT: usize = 64 << 20;

/// Who made a report: Harbor's `Scanner` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ScannerIdentity {
    /// Name (`Trivy`).
    #[serde(default)]
    pub name: String,
    /// Vendor (`Aqua Security`).
    #[serde(default)]
    pub vendor: String,
    /// Version.
    #[serde(default)]
    pub version: String,
}

/// The queue of images waiting for the external scanner on this node.
pub struct ExternalScans {
    tx: mpsc::UnboundedSender<(RepositoryName, Digest)>,
    /// The registry's URL as the adapter reaches it (`scan.registry_url`).
    registry_url: String,
    /// Accounts, to make the robot an adapter pulls with; `None` when the
    /// registry runs without them.
    auth: Option<Arc<crate::auth::Auth>>,
}

/// One vulnerability of an adapter's report (spec `VulnerabilityItem`).
#[derive(Debug, Deserialize)]
struct Item {
    #[serde(default)]
    id: String,
    #[serde(default)]
    package: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    fix_version: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    links: Vec<String>,
    #[serde(default)]
    preferred_cvss: Option<Cvss>,
    #[serde(default)]
    cwe_ids: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Cvss {
    #[serde(default)]
    score_v3: Option<f64>,
    #[serde(default)]
    vector_v3: Option<String>,
}

/// An adapter's report (spec `HarborVulnerabilityReport`).
#[derive(Debug, Deserialize)]
struct AdapterReport {
    #[serde(default)]
    scanner: ScannerIdentity,
    #[serde(default)]
    vulnerabilities: Vec<Item>,
}

/// berth's report of an adapter's: findings worst first; levels the
/// adapter names outside Harbor's set are `Unknown`.
fn report_of(body: &[u8]) -> std::result::Result<VulnReport, String> {
    let r: AdapterReport = serde_json::from_slice(body)
        .map_err(|e| format!("the adapter's report is not a Harbor vulnerability report: {e}"))?;
    let mut findings: Vec<Finding> = r
        .vulnerabilities
        .into_iter()
        .filter(|v| !v.id.is_empty())
        .map(|v| Finding {
            aliases: if v.id.starts_with("CVE-") {
                vec![v.id.clone()]
            } else {
                Vec::new()
            },
            id: v.id,
            package: v.package,
            source: None,
            ecosystem: String::new(),
            version: v.version,
            fix_version: Some(v.fix_version).filter(|f| !f.is_empty()),
            severity: Severity::parse(&v.severity).unwrap_or_default(),
            score: v.preferred_cvss.as_ref().and_then(|c| c.score_v3),
            vector: v.preferred_cvss.and_then(|c| c.vector_v3),
            summary: v.description.chars().take(300).collect(),
            links: v.links.into_iter().take(10).collect(),
            purl: String::new(),
            cwe_ids: v.cwe_ids,
        })
        .collect();
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id)));
    Ok(VulnReport {
        generated_at: berth_meta::store::now_ms(),
        database: 0,
        packages: 0,
        severity: findings.first().map_or(Severity::None, |f| f.severity),
        findings,
        scanner: Some(r.scanner),
    })
}

/// An HTTP client for `scanner`.
fn client(scanner: &ScannerRow) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .danger_accept_invalid_certs(scanner.skip_cert_verify)
        .build()
        .map_err(|e| Error::Unsupported(format!("scanner client: {e}")))
}

/// `req` with the registration's credential.
fn authorized(req: reqwest::RequestBuilder, scanner: &ScannerRow) -> reqwest::RequestBuilder {
    let cred = scanner.access_credential.as_str();
    match scanner.auth.as_str() {
        "Basic" => req.header(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(cred)
            ),
        ),
        "Bearer" => req.header("authorization", format!("Bearer {cred}")),
        "X-ScannerAdapter-API-Key" => req.header("x-scanneradapter-api-key", cred),
        _ => req,
    }
}

fn url(scanner: &ScannerRow, path: &str) -> String {
    format!("{}/api/v1{path}", scanner.url.trim_end_matches('/'))
}

/// A request error with its causes (`error sending request …: connection
/// refused`): reqwest's own text names only the URL.
fn cause(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// "scanner NAME (URL) cannot be reached: …".
fn unreachable(scanner: &ScannerRow, e: &reqwest::Error) -> String {
    format!(
        "scanner {} ({}) cannot be reached: {}",
        scanner.name,
        scanner.url,
        cause(e)
    )
}

/// An answer's body as text for an error message (at most 300 characters).
async fn snippet(resp: reqwest::Response) -> String {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    format!(
        "HTTP {status}: {}",
        text.chars().take(300).collect::<String>()
    )
}

/// Checks a registration's settings: a name, an `http(s)` URL, a known
/// auth scheme.
///
/// Errors: [`AccountError::Invalid`] saying what is wrong.
pub fn validate(scanner: &ScannerRow) -> std::result::Result<(), AccountError> {
    if scanner.name.trim().is_empty() || scanner.name.len() > 255 {
        return Err(AccountError::Invalid(
            "a scanner needs a name (1 to 255 characters)".into(),
        ));
    }
    let ok_url = reqwest::Url::parse(&scanner.url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !ok_url {
        return Err(AccountError::Invalid(format!(
            "scanner url {:?} is not an http(s) URL such as http://trivy-adapter:8080",
            scanner.url
        )));
    }
    if !AUTH_SCHEMES.contains(&scanner.auth.as_str()) {
        return Err(AccountError::Invalid(format!(
            "auth {:?} is not one of \"\", Basic, Bearer, X-ScannerAdapter-API-Key",
            scanner.auth
        )));
    }
    if !scanner.auth.is_empty() && scanner.access_credential.is_empty() {
        return Err(AccountError::Invalid(format!(
            "auth {} needs an access_credential",
            scanner.auth
        )));
    }
    if scanner.auth == "Basic" && !scanner.access_credential.contains(':') {
        return Err(AccountError::Invalid(
            "auth Basic takes the access_credential as user:password".into(),
        ));
    }
    Ok(())
}

/// The adapter's metadata (spec `ScannerAdapterMetadata`: `scanner`,
/// `capabilities`, `properties`), checked to produce Harbor's
/// vulnerability report.
///
/// Errors: [`Error::Unsupported`] when the adapter cannot be reached, does
/// not answer 200 with JSON, or produces no vulnerability report.
pub async fn metadata(scanner: &ScannerRow) -> Result<serde_json::Value> {
    let resp = authorized(client(scanner)?.get(url(scanner, "/metadata")), scanner)
        .header("accept", METADATA_MIME)
        .send()
        .await
        .map_err(|e| Error::Unsupported(unreachable(scanner, &e)))?;
    if !resp.status().is_success() {
        return Err(Error::Unsupported(format!(
            "scanner {} ({}) answered its metadata with {}",
            scanner.name,
            scanner.url,
            snippet(resp).await
        )));
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| Error::Unsupported(unreachable(scanner, &e)))?;
    let meta: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        Error::Unsupported(format!(
            "scanner {} ({}) answered metadata that is not JSON ({e}): {}",
            scanner.name,
            scanner.url,
            String::from_utf8_lossy(&body)
                .chars()
                .take(120)
                .collect::<String>()
        ))
    })?;
    let produces = meta["capabilities"].as_array().is_some_and(|caps| {
        caps.iter().any(|c| {
            c["produces_mime_types"].as_array().is_some_and(|m| {
                m.iter()
                    .filter_map(|t| t.as_str())
                    .any(|t| t.starts_with("application/vnd.security.vulnerability.report"))
            })
        })
    });
    if !produces {
        return Err(Error::Unsupported(format!(
            "scanner {} produces no vulnerability report ({REPORT_MIME})",
            scanner.url
        )));
    }
    Ok(meta)
}

/// Asks `scanner` to scan and waits for its report.
async fn scan_with(
    scanner: &ScannerRow,
    request: &serde_json::Value,
) -> std::result::Result<VulnReport, String> {
    let http = client(scanner).map_err(|e| e.to_string())?;
    let resp = authorized(http.post(url(scanner, "/scan")), scanner)
        .header("content-type", SCAN_REQUEST_MIME)
        .header(
            "accept",
            "application/vnd.scanner.adapter.scan.response+json; version=1.0",
        )
        .body(request.to_string())
        .send()
        .await
        .map_err(|e| unreachable(scanner, &e))?;
    if resp.status() != reqwest::StatusCode::ACCEPTED && !resp.status().is_success() {
        return Err(format!(
            "scanner {} refused the scan: {}",
            scanner.name,
            snippet(resp).await
        ));
    }
    let accepted: serde_json::Value = resp.json().await.map_err(|e| {
        format!(
            "scanner {} answered the scan without JSON: {e}",
            scanner.name
        )
    })?;
    let id = accepted["id"]
        .as_str()
        .filter(|i| !i.is_empty() && i.len() < 256)
        .ok_or_else(|| format!("scanner {} gave the scan no id", scanner.name))?
        .to_string();
    let deadline = tokio::time::Instant::now() + SCAN_DEADLINE;
    let no_redirects = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .danger_accept_invalid_certs(scanner.skip_cert_verify)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("scanner client: {e}"))?;
    let report_url = url(scanner, &format!("/scan/{id}/report"));
    loop {
        let resp = authorized(no_redirects.get(&report_url), scanner)
            .header("accept", REPORT_MIME)
            .send()
            .await
            .map_err(|e| unreachable(scanner, &e))?;
        match resp.status().as_u16() {
            200 => {
                let bytes = resp
                    .bytes()
                    .await
                    .map_err(|e| format!("reading the report: {e}"))?;
                if bytes.len() > MAX_REPORT {
                    return Err(format!("the report is over {MAX_REPORT} bytes"));
                }
                return report_of(&bytes).map_err(|why| format!("scanner {}: {why}", scanner.name));
            }
            302 => {
                let wait = resp
                    .headers()
                    .get("refresh-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(2)
                    .clamp(1, 60);
                if tokio::time::Instant::now() + Duration::from_secs(wait) > deadline {
                    return Err(format!(
                        "scanner {} gave no report within {} minutes",
                        scanner.name,
                        SCAN_DEADLINE.as_secs() / 60
                    ));
                }
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            _ => {
                return Err(format!(
                    "scanner {} failed the scan: {}",
                    scanner.name,
                    snippet(resp).await
                ))
            }
        }
    }
}

impl Registry {
    /// Every registered scanner, by name.
    ///
    /// Errors: [`Error::Meta`].
    pub async fn scanners(&self) -> Result<Vec<ScannerRow>> {
        Ok(self.meta.scanners().await?)
    }

    /// The default scanner, unless it is disabled.
    ///
    /// Errors: [`Error::Meta`].
    pub async fn scanner_default(&self) -> Result<Option<ScannerRow>> {
        Ok(self.meta.default_scanner().await?)
    }

    /// A registered scanner by its registration id.
    ///
    /// Errors: [`AccountError::NotFound`].
    pub async fn scanner(&self, uuid: &str) -> std::result::Result<ScannerRow, AccountError> {
        self.meta
            .scanner(uuid)
            .await?
            .ok_or_else(|| AccountError::NotFound(format!("scanner registration {uuid} not found")))
    }

    /// Registers a scanner (a new registration id is given to it); returns
    /// it as stored.
    ///
    /// Errors: [`AccountError::Invalid`] ([`validate`]),
    /// [`AccountError::Conflict`] when the name is taken.
    pub async fn scanner_add(
        &self,
        mut scanner: ScannerRow,
    ) -> std::result::Result<ScannerRow, AccountError> {
        validate(&scanner)?;
        scanner.uuid = uuid::Uuid::new_v4().to_string();
        self.meta.scanner_add(&scanner).await.map_err(|e| {
            if berth_meta::access::is_conflict(&e) {
                AccountError::Conflict(format!("scanner {} already exists", scanner.name))
            } else {
                e.into()
            }
        })?;
        self.scanner(&scanner.uuid).await
    }

    /// Replaces a registration's settings (making it the default takes
    /// that from any other).
    ///
    /// Errors: as [`Registry::scanner_add`]; [`AccountError::NotFound`].
    pub async fn scanner_change(
        &self,
        scanner: &ScannerRow,
    ) -> std::result::Result<(), AccountError> {
        validate(scanner)?;
        let changed = self.meta.scanner_update(scanner).await.map_err(|e| {
            if berth_meta::access::is_conflict(&e) {
                AccountError::Conflict(format!("scanner {} already exists", scanner.name))
            } else {
                e.into()
            }
        })?;
        if !changed {
            return Err(AccountError::NotFound(format!(
                "scanner registration {} not found",
                scanner.uuid
            )));
        }
        Ok(())
    }

    /// Removes a registration; returns it.
    ///
    /// Errors: [`AccountError::NotFound`].
    pub async fn scanner_remove(
        &self,
        uuid: &str,
    ) -> std::result::Result<ScannerRow, AccountError> {
        self.meta
            .scanner_delete(uuid)
            .await?
            .ok_or_else(|| AccountError::NotFound(format!("scanner registration {uuid} not found")))
    }

    /// Starts this node's client of the default external scanner: images
    /// handed over by [`Registry::vuln_match`] are scanned one after the
    /// other. `registry_url`: how the adapter reaches this registry
    /// (`scan.registry_url`); `auth`: accounts, to make the robot each scan
    /// pulls with (`None` without accounts). Once per registry.
    pub fn external_scans_start(
        self: &Arc<Self>,
        registry_url: String,
        auth: Option<Arc<crate::auth::Auth>>,
    ) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        if self
            .external_scans
            .set(ExternalScans {
                tx,
                registry_url,
                auth,
            })
            .is_err()
        {
            return;
        }
        let registry = Arc::clone(self);
        tokio::spawn(async move {
            while let Some((repo, digest)) = rx.recv().await {
                registry.external_scan(&repo, &digest).await;
            }
        });
    }

    /// Hands image `digest` of `repo` to the default external scanner when
    /// one is registered: `Ok(true)` once queued (its task is `Pending`),
    /// `Ok(false)` when the built-in matcher is to scan it. Without a
    /// started client (the CLI), a default scanner still takes the image
    /// away from the built-in matcher, and nothing is queued.
    ///
    /// Errors: [`Error::Meta`].
    pub(crate) async fn external_scan_queue(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool> {
        if self.meta.default_scanner().await?.is_none() {
            return Ok(false);
        }
        if let Some(scans) = self.external_scans.get() {
            self.meta
                .scan_request(repo.as_str(), digest.as_str(), KIND)
                .await?;
            let _ = scans.tx.send((repo.clone(), digest.clone()));
        }
        Ok(true)
    }

    /// Scans image `digest` of `repo` with the default external scanner
    /// and records the outcome (a report, or the error).
    async fn external_scan(&self, repo: &RepositoryName, digest: &Digest) {
        let (r, d) = (repo.as_str(), digest.as_str());
        let outcome = async {
            let scanner = self
                .meta
                .default_scanner()
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the default scanner was removed or disabled")?;
            self.meta
                .scan_started(r, d, KIND)
                .await
                .map_err(|e| e.to_string())?;
            let media_type = self
                .manifest_read(repo, digest)
                .await
                .map(|m| m.media_type)
                .map_err(|e| e.to_string())?;
            let scans = self
                .external_scans
                .get()
                .ok_or("the scanner client is not started")?;
            let grant = self.scan_grant(scans, repo).await?;
            let mut registry = serde_json::json!({ "url": scans.registry_url });
            if let Some((authorization, _)) = &grant {
                registry["authorization"] = authorization.clone().into();
            }
            let request = serde_json::json!({
                "registry": registry,
                "artifact": {"repository": r, "digest": d, "mime_type": media_type},
            });
            let report = scan_with(&scanner, &request).await;
            if let (Some(auth), Some((_, robot))) = (&scans.auth, grant) {
                if let Err(e) = auth.delete_robot(robot).await {
                    tracing::warn!(robot, error = %e, "could not delete a scanner's robot account; it expires within the hour");
                }
            }
            report
        }
        .await;
        let recorded = match &outcome {
            Ok(report) => {
                let text = serde_json::to_string(report).ok();
                self.meta
                    .scan_finish(r, d, KIND, "success", "", text.as_deref())
                    .await
            }
            // A failed scan keeps the image's last report: the gate keeps
            // judging by it, and `additions/vulnerabilities` still shows it.
            Err(why) => {
                let last = match self.vuln_report(repo, digest).await {
                    Ok(Some((_, Some(report)))) => serde_json::to_string(&report).ok(),
                    _ => None,
                };
                self.meta
                    .scan_finish(r, d, KIND, "error", why, last.as_deref())
                    .await
            }
        };
        match (&outcome, recorded) {
            (_, Err(e)) => {
                tracing::error!(repository = r, digest = d, error = %e, "could not record an external scan")
            }
            (Ok(report), Ok(())) => {
                tracing::info!(
                    repository = r,
                    digest = d,
                    findings = report.findings.len(),
                    "external scan done"
                );
                let mut event = crate::webhook::Event::on_repository(
                    crate::webhook::EventType::ScanningCompleted,
                    r,
                    super::SCANNER,
                );
                event.digest = Some(d.to_string());
                event.extra = Some(report.webhook_overview(report.generated_at));
                self.webhook_notify(event);
            }
            (Err(why), Ok(())) => {
                tracing::warn!(repository = r, digest = d, error = %why, "external scan failed")
            }
        }
    }

    /// The credentials an adapter pulls `repo` with: `Basic` of a new
    /// system robot that may only pull that repository and expires in an
    /// hour, and the robot's id to delete it after; `None` without
    /// accounts.
    async fn scan_grant(
        &self,
        scans: &ExternalScans,
        repo: &RepositoryName,
    ) -> std::result::Result<Option<(String, i64)>, String> {
        let Some(auth) = &scans.auth else {
            return Ok(None);
        };
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("scanner-{}", &suffix[..12]);
        let within = repo
            .as_str()
            .strip_prefix(&format!("{}/", repo.project()))
            .unwrap_or(repo.as_str())
            .to_string();
        let permission = crate::auth::RobotPermission {
            project: repo.project().to_string(),
            repositories: vec![within],
            actions: vec!["pull".into()],
        };
        let expires = berth_meta::store::now_ms() + GRANT_TTL.as_millis() as i64;
        let created = auth
            .create_robot(
                None,
                &name,
                "made by berth for one external scan; deleted after it",
                &[permission],
                Some(expires),
                None,
            )
            .await
            .map_err(|e| format!("could not make the scanner's robot account: {e}"))?;
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", created.robot.name, created.secret));
        Ok(Some((format!("Basic {basic}"), created.robot.id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapter_reports_become_berth_reports_worst_first() {
        let body = serde_json::json!({
            "generated_at": "2026-12-07T10:00:00Z",
            "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "0.50"},
            "severity": "High",
            "vulnerabilities": [
                {"id": "GHSA-x", "package": "a", "version": "1", "severity": "Low"},
                {"id": "CVE-2099-1", "package": "b", "version": "2", "fix_version": "3",
                 "severity": "High", "cwe_ids": ["CWE-79"],
                 "preferred_cvss": {"score_v3": 7.5, "vector_v3": "CVSS:3.1/AV:N"}},
                {"id": "", "package": "ignored"},
                {"id": "X-1", "package": "c", "severity": "Bogus"}
            ]
        });
        let r = report_of(body.to_string().as_bytes()).unwrap();
        let ids: Vec<&str> = r.findings.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["CVE-2099-1", "GHSA-x", "X-1"]);
        assert_eq!(r.severity, Severity::High);
        assert_eq!(r.findings[0].aliases, ["CVE-2099-1"]);
        assert_eq!(r.findings[0].fix_version.as_deref(), Some("3"));
        assert_eq!(r.findings[0].cwe_ids, ["CWE-79"]);
        assert_eq!(r.findings[2].severity, Severity::Unknown);
        assert_eq!(r.scanner.unwrap().name, "Trivy");
        assert!(report_of(b"not json").is_err());
    }

    #[test]
    fn registrations_need_a_name_an_http_url_and_a_known_scheme() {
        let mut s = ScannerRow {
            name: "trivy".into(),
            url: "http://127.0.0.1:8080".into(),
            auth: "Bearer".into(),
            access_credential: "t".into(),
            ..ScannerRow::default()
        };
        assert!(validate(&s).is_ok());
        s.access_credential = String::new();
        assert!(validate(&s).is_err(), "Bearer without a token");
        s.auth = "Basic".into();
        s.access_credential = "no-colon".into();
        assert!(validate(&s).is_err(), "Basic wants user:password");
        s.access_credential = "u:p".into();
        assert!(validate(&s).is_ok());
        s.url = "ftp://x".into();
        assert!(validate(&s).is_err());
        s.url = "http://x".into();
        s.auth = "Digest".into();
        assert!(validate(&s).is_err());
    }
}
