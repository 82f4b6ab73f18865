//! OSV records (the OSV schema, ossf.github.io/osv-schema): what berth keeps
//! of one ([`Advisory`]), whether a package version is affected
//! ([`affected_by`], §Evaluation) and the severity level
//! ([`Severity`], from a CVSS vector through the `cvss` crate, else the
//! record's `database_specific.severity`).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::version::Scheme;

/// Harbor's severity levels, lowest first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub enum Severity {
    /// No level could be found.
    #[default]
    Unknown,
    /// CVSS 0.0.
    None,
    /// CVSS 0.1–3.9.
    Low,
    /// CVSS 4.0–6.9.
    Medium,
    /// CVSS 7.0–8.9.
    High,
    /// CVSS 9.0–10.0.
    Critical,
}

impl Severity {
    /// Harbor's word: `Unknown`, `None`, `Low`, `Medium`, `High`, `Critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "Unknown",
            Severity::None => "None",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }

    /// Parses a level, any case (`high`, `MODERATE` = Medium, `negligible`
    /// = Low).
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.to_ascii_lowercase().as_str() {
            "unknown" => Severity::Unknown,
            "none" => Severity::None,
            "low" | "negligible" => Severity::Low,
            "medium" | "moderate" => Severity::Medium,
            "high" | "important" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }

    /// The level of a CVSS base score (CVSS v3.1 §5 qualitative ratings).
    pub fn of_score(score: f64) -> Severity {
        match score {
            s if s >= 9.0 => Severity::Critical,
            s if s >= 7.0 => Severity::High,
            s if s >= 4.0 => Severity::Medium,
            s if s > 0.0 => Severity::Low,
            _ => Severity::None,
        }
    }
}

/// OSV JSON, as much as berth reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    /// `DSA-5417-1`, `GHSA-…`, `PYSEC-…`, `GO-…`, `RUSTSEC-…`, `CVE-…`.
    pub id: String,
    /// RFC 3339.
    #[serde(default)]
    pub modified: String,
    /// Set when the record was withdrawn: it matches nothing.
    #[serde(default)]
    pub withdrawn: Option<String>,
    /// Other ids (CVEs).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// One line.
    #[serde(default)]
    pub summary: String,
    /// Longer text.
    #[serde(default)]
    pub details: String,
    /// CVSS vectors.
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    /// What is affected.
    #[serde(default)]
    pub affected: Vec<Affected>,
    /// Links.
    #[serde(default)]
    pub references: Vec<Reference>,
    /// Database-specific: `severity` (GitHub, Debian's `urgency`).
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

/// `severity[]`: `{type: CVSS_V2|CVSS_V3|CVSS_V4, score: <vector>}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SeverityEntry {
    /// `CVSS_V3` …
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector.
    pub score: String,
}

/// `affected[]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Affected {
    /// `{ecosystem, name}`.
    pub package: Option<PackageRef>,
    /// Ranges of versions.
    #[serde(default)]
    pub ranges: Vec<Range>,
    /// Versions listed one by one.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Per-package severity vectors.
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    /// Per-package database-specific data (`severity`).
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

/// `affected[].package`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PackageRef {
    /// `Debian:12`, `PyPI`, …
    pub ecosystem: String,
    /// As the ecosystem names it (a source package for Debian and Alpine).
    pub name: String,
}

/// `affected[].ranges[]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Range {
    /// `ECOSYSTEM`, `SEMVER` or `GIT` (ignored: no commit is known for an
    /// installed package).
    #[serde(rename = "type")]
    pub kind: String,
    /// `{introduced}`, `{fixed}`, `{last_affected}`, `{limit}`.
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One range event.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Event {
    /// Affected from this version on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    /// Not affected from this version on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// Affected up to and including this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    /// Not affected from this version on (an upper bound of the range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

/// `references[]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Reference {
    /// `ADVISORY`, `WEB`, …
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The URL.
    pub url: String,
}

impl Event {
    fn version(&self) -> Option<&str> {
        self.introduced
            .as_deref()
            .or(self.fixed.as_deref())
            .or(self.last_affected.as_deref())
            .or(self.limit.as_deref())
    }
}

/// Whether `version` falls in `affected` (its `versions` list or one of its
/// `ECOSYSTEM`/`SEMVER` ranges): `Some(fixed)` when it does, with the
/// first fixed version above it (`None` inside when no fix is known);
/// `None` when it does not, or cannot be compared.
pub fn affected_by(scheme: Scheme, affected: &Affected, version: &str) -> Option<Option<String>> {
    let listed = affected
        .versions
        .iter()
        .any(|v| scheme.compare(v, version) == Some(Ordering::Equal));
    let mut hit = listed;
    let mut fix: Option<String> = None;
    for range in affected.ranges.iter().filter(|r| r.kind != "GIT") {
        let mut events: Vec<&Event> = range
            .events
            .iter()
            .filter(|e| e.version().is_some())
            .collect();
        // Sort by version; events that cannot be compared keep their order.
        events.sort_by(|a, b| {
            scheme
                .compare(a.version().unwrap_or("0"), b.version().unwrap_or("0"))
                .unwrap_or(Ordering::Equal)
        });
        let mut inside = false;
        for e in &events {
            let at = e.version().unwrap_or("0");
            let Some(order) = scheme.compare(version, at) else {
                continue;
            };
            let reached = order != Ordering::Less;
            if e.introduced.is_some() {
                inside |= reached;
            } else if e.fixed.is_some() || e.limit.is_some() {
                inside &= !reached;
            } else if e.last_affected.is_some() && order == Ordering::Greater {
                inside = false;
            }
        }
        if inside {
            hit = true;
            let next_fix = events
                .iter()
                .filter_map(|e| e.fixed.as_deref())
                .find(|f| scheme.compare(f, version) == Some(Ordering::Greater));
            if let Some(f) = next_fix {
                fix = Some(f.to_string());
            }
        }
    }
    hit.then_some(fix)
}

/// The highest CVSS base score of `entries` with its vector.
pub fn cvss(entries: &[SeverityEntry]) -> Option<(f64, String)> {
    entries
        .iter()
        .filter_map(|e| {
            let parsed: cvss::Cvss = e.score.parse().ok()?;
            Some((parsed.score(), e.score.clone()))
        })
        .max_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal))
}

/// The CWE ids of a record's `database_specific.cwe_ids` (GitHub's
/// advisories carry them: `["CWE-79", "CWE-116"]`); anything that is not
/// `CWE-<number>` is left out, at most 20.
pub fn cwe_ids(database_specific: Option<&serde_json::Value>) -> Vec<String> {
    database_specific
        .and_then(|d| d.get("cwe_ids"))
        .and_then(|c| c.as_array())
        .map(|ids| {
            ids.iter()
                .filter_map(|i| i.as_str())
                .filter(|i| {
                    i.strip_prefix("CWE-")
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                })
                .take(20)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The level stated as text in a `database_specific` object (`severity`,
/// or Debian's `urgency`).
pub fn stated(db: Option<&serde_json::Value>) -> Option<Severity> {
    let db = db?;
    db.get("severity")
        .or_else(|| db.get("urgency"))
        .and_then(|s| s.as_str())
        .and_then(|s| Severity::parse(s.trim_end_matches('*')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cwe_ids_come_from_database_specific() {
        let d = serde_json::json!({"cwe_ids": ["CWE-79", "CWE-", "not a cwe", 7, "CWE-1321"]});
        assert_eq!(cwe_ids(Some(&d)), vec!["CWE-79", "CWE-1321"]);
        assert!(cwe_ids(None).is_empty());
    }

    fn affected(events: serde_json::Value, versions: &[&str]) -> Affected {
        serde_json::from_value(serde_json::json!({
            "package": {"ecosystem": "Debian:12", "name": "openssl"},
            "ranges": [{"type": "ECOSYSTEM", "events": events}],
            "versions": versions,
        }))
        .unwrap()
    }

    #[test]
    fn ranges_are_evaluated_as_the_osv_schema_says() {
        let a = affected(
            serde_json::json!([{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]),
            &[],
        );
        let d = Scheme::Dpkg;
        assert_eq!(
            affected_by(d, &a, "3.0.9-1"),
            Some(Some("3.0.11-1~deb12u2".into()))
        );
        assert_eq!(affected_by(d, &a, "3.0.11-1~deb12u2"), None, "fixed");
        assert_eq!(affected_by(d, &a, "3.0.11-1"), None, "after the fix");
        // Two ranges in one: introduced, fixed, introduced again, no fix.
        let a = affected(
            serde_json::json!([{"introduced": "1.0"}, {"fixed": "1.2"}, {"introduced": "2.0"}]),
            &[],
        );
        assert_eq!(affected_by(d, &a, "0.9"), None);
        assert_eq!(affected_by(d, &a, "1.1"), Some(Some("1.2".into())));
        assert_eq!(affected_by(d, &a, "1.5"), None);
        assert_eq!(affected_by(d, &a, "2.1"), Some(None), "no fix known");
        // last_affected is inclusive.
        let a = affected(
            serde_json::json!([{"introduced": "0"}, {"last_affected": "1.4"}]),
            &[],
        );
        assert_eq!(affected_by(d, &a, "1.4"), Some(None));
        assert_eq!(affected_by(d, &a, "1.4.1"), None);
        // A version listed on its own.
        let a = affected(serde_json::json!([]), &["7.1"]);
        assert_eq!(affected_by(d, &a, "7.1"), Some(None));
        assert_eq!(affected_by(d, &a, "7.2"), None);
    }

    #[test]
    fn severity_from_cvss_or_the_stated_level() {
        let v = vec![SeverityEntry {
            kind: "CVSS_V3".into(),
            score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".into(),
        }];
        let (score, _) = cvss(&v).unwrap();
        assert!((score - 9.8).abs() < 0.01, "{score}");
        assert_eq!(Severity::of_score(score), Severity::Critical);
        assert_eq!(
            stated(Some(&serde_json::json!({"severity": "MODERATE"}))),
            Some(Severity::Medium)
        );
        assert!(cvss(&[SeverityEntry {
            kind: "CVSS_V3".into(),
            score: "garbage".into()
        }])
        .is_none());
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Unknown);
    }
}
