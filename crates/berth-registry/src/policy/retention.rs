//! Retention policies (Harbor's tag retention): storage, validation, dry-run and
//! run with a report, and cron schedules. The evaluation itself is
//! [`super::engine`].
//!
//! Policy JSON (Harbor's field names, so its clients carry over; unknown fields
//! such as `scope` or a rule's `priority` are accepted and ignored):
//! ```json
//! {"algorithm":"or",
//!  "rules":[{"action":"retain","template":"latestPushedK","params":{"latestPushedK":5},
//!            "tag_selectors":[{"kind":"regex","decoration":"matches","pattern":"v?\\d+\\.\\d+\\.\\d+"}],
//!            "scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}}],
//!  "trigger":{"kind":"Schedule","settings":{"cron":"0 0 3 * * *"}}}
//! ```
//! Templates: `latestPushedK`, `latestPulledN`, `nDaysSinceLastPush`,
//! `nDaysSinceLastPull` (each with a same-named integer param) and `always`.
//! The cron has six fields with seconds first, as Harbor's (`0 0 3 * * *` is
//! 03:00 UTC daily); schedules are evaluated in UTC.
//!
//! A run deletes through the registry core, so caches stay consistent: tags
//! first (only while they still point where they did at evaluation), then
//! untagged manifests (only while still untagged). Blobs are left for garbage
//! collection.

use std::fmt;
use std::str::FromStr;

use berth_oci::{Digest, Reference, RepositoryName};
use serde::{Deserialize, Serialize};

use super::engine::{self, CompiledRule, ReportItem, Template};
use super::immutability::protecting;
use super::selector::{self, ScopeSelectors, Selector};
use super::PolicyError;
use crate::registry::Registry;

/// A project's retention policy in Harbor's JSON shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Harbor's combination algorithm; only `or` (retained by any rule) exists.
    #[serde(default = "or")]
    pub algorithm: String,
    /// The rules.
    #[serde(default)]
    pub rules: Vec<RetentionRule>,
    /// When it runs by itself; `None` or kind `Manual`: only on demand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
}

fn or() -> String {
    "or".to_string()
}

fn retain_action() -> String {
    "retain".to_string()
}

/// One retention rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionRule {
    /// Harbor's rule id; kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// A disabled rule retains nothing and selects no repository.
    #[serde(default)]
    pub disabled: bool,
    /// Always `retain` (Harbor has no other action).
    #[serde(default = "retain_action")]
    pub action: String,
    /// `latestPushedK`, `latestPulledN`, `nDaysSinceLastPush`, `nDaysSinceLastPull`, `always`.
    pub template: String,
    /// The template's parameter, keyed by the template name, e.g. `{"latestPushedK": 5}`.
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Which tags (and whether untagged manifests) the rule considers.
    #[serde(default)]
    pub tag_selectors: Vec<Selector>,
    /// Which repositories of the project it applies to.
    #[serde(default)]
    pub scope_selectors: ScopeSelectors,
}

impl RetentionRule {
    /// A rule with a template and its parameter, over tags matching `tags`
    /// (doublestar), optionally also untagged manifests, in every repository.
    pub fn new(template: &str, param: Option<i64>, tags: &str, untagged: bool) -> RetentionRule {
        let mut sel = Selector::matching(tags, false);
        if untagged {
            sel.extras = Some(serde_json::Value::String("{\"untagged\":true}".into()));
        }
        let mut params = serde_json::Map::new();
        if let Some(p) = param {
            params.insert(template.to_string(), p.into());
        }
        RetentionRule {
            id: None,
            disabled: false,
            action: retain_action(),
            template: template.to_string(),
            params,
            tag_selectors: vec![sel],
            scope_selectors: ScopeSelectors::all(),
        }
    }
}

/// Harbor's trigger: `{"kind":"Schedule","settings":{"cron":"0 0 3 * * *"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// `Schedule` or `Manual`.
    pub kind: String,
    /// The schedule.
    #[serde(default)]
    pub settings: TriggerSettings,
}

/// Settings of a [`Trigger`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TriggerSettings {
    /// Six-field cron (seconds first), UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
}

/// Parses a six-field (or seven, with years) cron expression.
fn parse_cron(expr: &str) -> Result<cron::Schedule, PolicyError> {
    cron::Schedule::from_str(expr).map_err(|e| {
        PolicyError::Invalid(format!(
            "cron {expr:?}: {e} (six fields, seconds first, e.g. \"0 0 3 * * *\")"
        ))
    })
}

impl RetentionPolicy {
    /// Validates the policy and compiles its enabled rules.
    ///
    /// Errors: [`PolicyError::Invalid`] naming the rule and what is wrong.
    pub fn compile(&self) -> Result<Vec<CompiledRule>, PolicyError> {
        if self.algorithm != "or" {
            return Err(PolicyError::Invalid(format!(
                "algorithm {:?} is not supported (only \"or\")",
                self.algorithm
            )));
        }
        if let Some(cron) = self.schedule_expr() {
            parse_cron(cron)?;
        }
        let mut out = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let number = i + 1;
            let bad = |m: String| PolicyError::Invalid(format!("rule {number}: {m}"));
            if rule.action != "retain" {
                return Err(bad(format!("action {:?} is not \"retain\"", rule.action)));
            }
            let param = |name: &str| -> Result<i64, PolicyError> {
                let v = rule.params.get(name).ok_or_else(|| {
                    bad(format!(
                        "template {name} needs params {{\"{name}\": <number>}}"
                    ))
                })?;
                let n = v
                    .as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| bad(format!("param {name} must be a non-negative integer")))?;
                Ok(n)
            };
            let template = match rule.template.as_str() {
                "latestPushedK" => Template::LatestPushed(param("latestPushedK")? as usize),
                "latestPulledN" => Template::LatestPulled(param("latestPulledN")? as usize),
                "nDaysSinceLastPush" => Template::PushedWithinDays(param("nDaysSinceLastPush")?),
                "nDaysSinceLastPull" => Template::PulledWithinDays(param("nDaysSinceLastPull")?),
                "always" => Template::Always,
                other => {
                    return Err(bad(format!(
                        "template {other:?} is not one of latestPushedK, latestPulledN, nDaysSinceLastPush, nDaysSinceLastPull, always"
                    )))
                }
            };
            let tags =
                selector::compile(&rule.tag_selectors, false).map_err(|e| bad(e.to_string()))?;
            let repos = selector::compile(&rule.scope_selectors.repository, true)
                .map_err(|e| bad(e.to_string()))?;
            if rule.disabled {
                continue;
            }
            let what = match template {
                Template::LatestPushed(k) => format!("the {k} most recently pushed"),
                Template::LatestPulled(n) => format!("the {n} most recently pulled"),
                Template::PushedWithinDays(d) => format!("pushed within {d} days"),
                Template::PulledWithinDays(d) => format!("pulled within {d} days"),
                Template::Always => "always".to_string(),
            };
            let untagged = selector::selects_untagged(&tags);
            out.push(CompiledRule {
                number,
                template,
                label: format!(
                    "rule {number} ({what}; tags {}{})",
                    selector::describe_list(&rule.tag_selectors),
                    if untagged { ", and untagged" } else { "" }
                ),
                untagged,
                repos,
                tags,
            });
        }
        Ok(out)
    }

    /// The cron expression when the trigger is a schedule.
    pub fn schedule_expr(&self) -> Option<&str> {
        self.trigger
            .as_ref()
            .filter(|t| t.kind.eq_ignore_ascii_case("schedule"))
            .and_then(|t| t.settings.cron.as_deref())
            .filter(|c| !c.trim().is_empty())
    }

    /// The first scheduled time strictly after `after_ms` (Unix ms, UTC), if scheduled.
    pub fn next_run_after(&self, after_ms: i64) -> Option<i64> {
        let schedule = parse_cron(self.schedule_expr()?).ok()?;
        let after = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(after_ms)?;
        schedule.after(&after).next().map(|t| t.timestamp_millis())
    }
}

/// What a retention run (or dry run) kept and deleted.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionReport {
    /// The project.
    pub project: String,
    /// True when nothing was deleted (only evaluated).
    pub dry_run: bool,
    /// The evaluation time, Unix ms (the injected clock).
    pub evaluated_at: i64,
    /// Who ran it (`scheduler` for scheduled runs).
    pub actor: String,
    /// One entry per repository some rule selects, by name.
    pub repositories: Vec<RepositoryReport>,
}

/// The part of a [`RetentionReport`] for one repository.
#[derive(Debug, Clone, Serialize)]
pub struct RepositoryReport {
    /// Repository name.
    pub repository: String,
    /// Kept tags (`tag` set) and kept untagged manifests, with the rule that keeps them.
    pub kept: Vec<ReportItem>,
    /// Deleted (or, in a dry run, to be deleted) tags, then manifests, with the reason.
    pub deleted: Vec<ReportItem>,
}

impl RetentionReport {
    /// Every deleted item of every repository.
    pub fn deleted(&self) -> impl Iterator<Item = (&str, &ReportItem)> {
        self.repositories
            .iter()
            .flat_map(|r| r.deleted.iter().map(move |i| (r.repository.as_str(), i)))
    }

    /// Every kept item of every repository.
    pub fn kept(&self) -> impl Iterator<Item = (&str, &ReportItem)> {
        self.repositories
            .iter()
            .flat_map(|r| r.kept.iter().map(move |i| (r.repository.as_str(), i)))
    }

    /// Number of failed deletions.
    pub fn errors(&self) -> usize {
        self.deleted().filter(|(_, i)| i.error.is_some()).count()
    }
}

/// The `TAG_RETENTION` webhook event of a finished run: Harbor's
/// `retention` event data (`total`, `retained`, `result`, `deleted_artifact`).
fn retention_event(report: &RetentionReport, actor: &str) -> crate::webhook::Event {
    let deleted: Vec<serde_json::Value> = report
        .deleted()
        .map(|(repository, item)| {
            serde_json::json!({
                "type": "image",
                "status": if item.error.is_none() { "SUCCESS" } else { "ERROR" },
                "name_space": report.project,
                "repository": repository,
                "tag_list": item.tag.clone().unwrap_or_default(),
                "digest": item.digest,
            })
        })
        .collect();
    let retained = report.kept().count();
    crate::webhook::Event {
        kind: crate::webhook::EventType::TagRetention,
        project: report.project.clone(),
        repository: None,
        digest: None,
        tag: None,
        operator: actor.to_string(),
        at_ms: berth_meta::store::now_ms(),
        extra: Some(serde_json::json!({
            "project_name": report.project,
            "total": retained + deleted.len(),
            "retained": retained,
            "result": if report.errors() == 0 { "SUCCESS" } else { "ERROR" },
            "deleted_artifact": deleted,
        })),
    }
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

impl fmt::Display for RetentionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(self.evaluated_at)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| self.evaluated_at.to_string());
        writeln!(
            f,
            "retention of project {} at {when}{}",
            self.project,
            if self.dry_run {
                " (dry run: nothing deleted)"
            } else {
                ""
            }
        )?;
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        for repo in &self.repositories {
            writeln!(f, "{}", repo.repository)?;
            for (what, items) in [("keep", &repo.kept), (verb, &repo.deleted)] {
                for i in items {
                    let name = match &i.tag {
                        Some(t) => format!("tag {t} ({})", short(&i.digest)),
                        None => format!("manifest {}", i.digest),
                    };
                    write!(f, "  {what:<12} {name}: {}", i.reason)?;
                    match &i.error {
                        Some(e) => writeln!(f, " [NOT DELETED: {e}]")?,
                        None => writeln!(f)?,
                    }
                }
            }
        }
        let kept = self.kept().count();
        let deleted = self.deleted().count();
        write!(
            f,
            "repositories: {}, kept: {kept}, {verb}: {deleted}, errors: {}",
            self.repositories.len(),
            self.errors()
        )
    }
}

impl Registry {
    /// The project's retention policy, if set.
    ///
    /// For `GET /api/v2.0/retentions/{id}` (Harbor keys policies by id; berth by project).
    pub async fn retention_policy(
        &self,
        project: &str,
    ) -> Result<Option<RetentionPolicy>, PolicyError> {
        match self.meta.retention_policy(project).await? {
            Some(row) => Ok(Some(serde_json::from_str(&row.policy).map_err(|e| {
                PolicyError::Invalid(format!("stored retention policy of {project}: {e}"))
            })?)),
            None => Ok(None),
        }
    }

    /// Sets (replaces) the project's retention policy after validating it.
    ///
    /// For `POST /api/v2.0/retentions` and `PUT /api/v2.0/retentions/{id}`.
    /// Errors: [`PolicyError::Invalid`] naming the rule and the problem.
    pub async fn retention_policy_set(
        &self,
        project: &str,
        policy: &RetentionPolicy,
    ) -> Result<(), PolicyError> {
        policy.compile()?;
        let json =
            serde_json::to_string(policy).map_err(|e| PolicyError::Invalid(e.to_string()))?;
        self.meta.set_retention_policy(project, &json).await?;
        Ok(())
    }

    /// Removes the project's retention policy.
    ///
    /// Errors: [`PolicyError::NotFound`].
    pub async fn retention_policy_delete(&self, project: &str) -> Result<(), PolicyError> {
        if self.meta.delete_retention_policy(project).await? {
            Ok(())
        } else {
            Err(PolicyError::NotFound(format!(
                "project {project} has no retention policy"
            )))
        }
    }

    /// Evaluates the project's retention policy at `now_ms` (Unix ms; pass
    /// `berth_meta::store::now_ms()` outside tests) and, unless `dry_run`,
    /// deletes what no rule keeps. Returns the report either way.
    ///
    /// For `POST /api/v2.0/retentions/{id}/executions` (`{"dry_run": bool}`).
    /// Errors: [`PolicyError::NotFound`] without a policy, [`PolicyError::Invalid`]
    /// for a stored policy that no longer validates.
    pub async fn retention_run(
        &self,
        project: &str,
        now_ms: i64,
        dry_run: bool,
        actor: &str,
    ) -> Result<RetentionReport, PolicyError> {
        let policy = self.retention_policy(project).await?.ok_or_else(|| {
            PolicyError::NotFound(format!("project {project} has no retention policy"))
        })?;
        self.retention_apply(project, &policy, now_ms, dry_run, actor)
            .await
    }

    /// Like [`Registry::retention_run`] with a policy given rather than stored
    /// (e.g. to preview a policy before saving it, with `dry_run`).
    pub async fn retention_apply(
        &self,
        project: &str,
        policy: &RetentionPolicy,
        now_ms: i64,
        dry_run: bool,
        actor: &str,
    ) -> Result<RetentionReport, PolicyError> {
        let start = std::time::Instant::now();
        let result = self
            .retention_evaluate(project, policy, now_ms, dry_run, actor)
            .await;
        if !dry_run {
            use crate::metrics::{RETENTION_DELETED, RETENTION_DURATION, RETENTION_RUNS};
            metrics::histogram!(RETENTION_DURATION).record(start.elapsed());
            let status = if result.is_ok() { "success" } else { "error" };
            metrics::counter!(RETENTION_RUNS, "status" => status).increment(1);
            if let Ok(report) = &result {
                let done = report.deleted().count() - report.errors();
                metrics::counter!(RETENTION_DELETED).increment(done as u64);
                self.webhook_notify(retention_event(report, actor));
            }
        }
        result
    }

    async fn retention_evaluate(
        &self,
        project: &str,
        policy: &RetentionPolicy,
        now_ms: i64,
        dry_run: bool,
        actor: &str,
    ) -> Result<RetentionReport, PolicyError> {
        let rules = policy.compile()?;
        let project_rules = self.project_rules(project).await?;
        let mut report = RetentionReport {
            project: project.to_string(),
            dry_run,
            evaluated_at: now_ms,
            actor: actor.to_string(),
            repositories: Vec::new(),
        };
        for name in self.meta.repository_names().await? {
            let Ok(repo) = RepositoryName::parse(&name) else {
                continue;
            };
            if repo.project() != project {
                continue;
            }
            let path = selector::repository_path(&repo);
            let applying: Vec<&CompiledRule> = rules
                .iter()
                .filter(|r| r.selects_repository(path))
                .collect();
            if applying.is_empty() {
                continue;
            }
            let artifacts = self.meta.artifacts(&name).await?;
            let children = self.meta.index_children(&name).await?;
            let immutable = |tag: &str| protecting(&project_rules, &repo, tag).map(|r| r.label());
            let mut plan = engine::evaluate(&artifacts, &children, &applying, &immutable, now_ms);
            if !dry_run {
                self.retention_execute(&repo, &mut plan).await?;
            }
            let mut deleted = plan.delete_tags;
            deleted.append(&mut plan.delete_manifests);
            report.repositories.push(RepositoryReport {
                repository: name,
                kept: plan.kept,
                deleted,
            });
        }
        let deleted = report.deleted().count();
        tracing::info!(
            project,
            actor,
            dry_run,
            repositories = report.repositories.len(),
            deleted,
            errors = report.errors(),
            "retention evaluated"
        );
        Ok(report)
    }

    /// Deletes a plan's tags, then its manifests, each only if unchanged since
    /// evaluation; failures are recorded on the item, not returned.
    async fn retention_execute(
        &self,
        repo: &RepositoryName,
        plan: &mut engine::Plan,
    ) -> Result<(), PolicyError> {
        for item in &mut plan.delete_tags {
            let (Some(tag), Ok(digest)) = (&item.tag, Digest::parse(&item.digest)) else {
                continue;
            };
            if !self
                .meta
                .delete_tag_if_target(repo.as_str(), tag, &digest)
                .await?
            {
                item.error = Some("the tag was moved or deleted since evaluation".into());
            }
            self.forget(repo.as_str(), tag).await;
        }
        for item in &mut plan.delete_manifests {
            let Ok(digest) = Digest::parse(&item.digest) else {
                continue;
            };
            match self
                .meta
                .delete_manifest_if_untagged(repo.as_str(), &digest)
                .await?
            {
                berth_meta::GuardedDelete::Deleted => {}
                berth_meta::GuardedDelete::Tagged(tags) => {
                    item.error = Some(format!(
                        "tagged since evaluation ({}); kept",
                        tags.join(", ")
                    ))
                }
                berth_meta::GuardedDelete::Absent => {
                    item.error = Some("already gone".into());
                }
            }
            self.forget(repo.as_str(), &Reference::Digest(digest).to_string())
                .await;
        }
        Ok(())
    }

    /// Projects whose scheduled retention is due at `now_ms`: the first cron time
    /// after the later of the policy's last change and its last scheduled run is
    /// not after `now_ms`.
    pub async fn retention_due(&self, now_ms: i64) -> Result<Vec<String>, PolicyError> {
        let mut due = Vec::new();
        for row in self.meta.retention_policies().await? {
            let Ok(policy) = serde_json::from_str::<RetentionPolicy>(&row.policy) else {
                continue;
            };
            let since = row.last_run_at.unwrap_or(0).max(row.updated_at);
            if policy.next_run_after(since).is_some_and(|t| t <= now_ms) {
                due.push(row.project);
            }
        }
        Ok(due)
    }

    /// Runs every due scheduled policy (see [`Registry::retention_due`]) as actor
    /// `scheduler`, recording the run time first so a failing policy is not
    /// retried in a loop. Returns the reports.
    pub async fn retention_run_scheduled(
        &self,
        now_ms: i64,
    ) -> Result<Vec<RetentionReport>, PolicyError> {
        let mut reports = Vec::new();
        // One node runs the due policies; the others skip this turn (the
        // next turn finds them run: `last_run_at` moved).
        let Some(lock) = self.meta.job_lock("retention.schedule", false).await? else {
            return Ok(reports);
        };
        let result = self.retention_run_due(now_ms, &mut reports).await;
        lock.release().await;
        result.map(|()| reports)
    }

    async fn retention_run_due(
        &self,
        now_ms: i64,
        reports: &mut Vec<RetentionReport>,
    ) -> Result<(), PolicyError> {
        for project in self.retention_due(now_ms).await? {
            self.meta.mark_retention_run(&project, now_ms).await?;
            match self
                .retention_run(&project, now_ms, false, "scheduler")
                .await
            {
                Ok(r) => reports.push(r),
                Err(e) => tracing::error!(project, error = %e, "scheduled retention failed"),
            }
        }
        Ok(())
    }

    /// Overwrites the push and pull times of a manifest and of one of its tags
    /// (Unix ms). For imports from another registry and for tests with a fixed
    /// clock; it changes no content.
    pub async fn set_push_pull_times(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        tag: Option<&str>,
        pushed_at: i64,
        last_pulled_at: Option<i64>,
    ) -> crate::Result<()> {
        self.meta
            .set_manifest_times(repo.as_str(), digest, pushed_at, last_pulled_at)
            .await?;
        if let Some(tag) = tag {
            self.meta
                .set_tag_times(repo.as_str(), tag, pushed_at, last_pulled_at)
                .await?;
        }
        Ok(())
    }
}
