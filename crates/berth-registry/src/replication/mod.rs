//! Replication between registries (docs/replication.md): policies in
//! Harbor's shapes copy artifacts from berth to another registry (push-based)
//! or from another registry into berth (pull-based), by repository and tag
//! filters, on demand, on a cron schedule, or on each push.
//!
//! An execution lists the artifacts its policy selects, records one task per
//! artifact and copies each: the manifest tree (an index with every
//! platform's manifest), the referrers of every manifest (signatures, SBOMs,
//! attestations), and their blobs, byte for byte, so digests are identical
//! on both sides. A blob the destination already has is not sent (a `HEAD`,
//! or a cross-repository mount from a repository this execution already
//! sent it to), so an interrupted execution, resumed, sends only what is
//! missing. Tasks are retried with backoff, run two at a time, and can be
//! stopped; a policy's `speed` (KB/s) limits each blob transfer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_meta::{ExecutionRow, PolicyRow, TaskRow};
use berth_oci::{ChildKind, Digest, Manifest, Reference, RepositoryName};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};

use crate::auth::AccountError;
use crate::error::{Error, Result};
use crate::proxy::Upstream;
use crate::registry::Registry;

/// A registry named by a policy (Harbor sends the whole `Registry`; its `id`
/// is what counts; `0` or absent is this berth).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RegistryRef {
    /// Registry id (`/registries`).
    #[serde(default)]
    pub id: i64,
}

/// Harbor's `ReplicationTriggerSettings`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TriggerSettings {
    /// Cron with seconds (`0 0 3 * * *`), for `scheduled`.
    #[serde(default)]
    pub cron: String,
}

/// Harbor's `ReplicationTrigger`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TriggerSpec {
    /// `manual`, `scheduled` or `event_based`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Cron of a scheduled trigger.
    #[serde(default)]
    pub trigger_settings: Option<TriggerSettings>,
}

/// Harbor's `ReplicationFilter`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FilterSpec {
    /// `name` (repository glob, `**` spans `/`) or `tag` (glob).
    #[serde(rename = "type")]
    pub kind: String,
    /// The glob.
    pub value: String,
    /// `matches` (default) or `excludes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoration: Option<String>,
}

/// Harbor's `ReplicationPolicy` (what `/replication/policies` takes and shows).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PolicySpec {
    /// Unique name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The source; absent (or id 0): this berth (push-based).
    #[serde(default)]
    pub src_registry: Option<RegistryRef>,
    /// The destination; absent (or id 0): this berth (pull-based).
    #[serde(default)]
    pub dest_registry: Option<RegistryRef>,
    /// Namespace the destination repositories go under (empty: the source's names).
    #[serde(default)]
    pub dest_namespace: String,
    /// How many leading components `dest_namespace` replaces: -1 all but
    /// the last (flatten), 0 none (prefix), n the first n.
    #[serde(default = "minus_one")]
    pub dest_namespace_replace_count: i64,
    /// Trigger; absent: manual.
    #[serde(default)]
    pub trigger: Option<TriggerSpec>,
    /// Repository and tag filters, all of which must match.
    #[serde(default)]
    pub filters: Vec<FilterSpec>,
    /// Also delete at the destination what is deleted here, as it happens:
    /// event-based push policies only (a tag deleted here deletes the tag
    /// there; a manifest deleted here deletes the same manifest, with its
    /// tags, there).
    #[serde(default)]
    pub replicate_deletion: bool,
    /// Overwrite a destination tag that points elsewhere (default true).
    #[serde(default = "yes", rename = "override")]
    pub override_tags: bool,
    /// Triggers other than manual fire only when enabled (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Bandwidth limit per transfer, KB/s; -1 or 0 unlimited.
    #[serde(default = "minus_one")]
    pub speed: i64,
}

/// A metadata error of a policy write: a unique-name conflict is
/// [`AccountError::Conflict`] naming `name`.
fn name_taken(name: &str, e: berth_meta::MetaError) -> AccountError {
    if berth_meta::is_conflict(&e) {
        AccountError::Conflict(format!("replication policy {name} already exists"))
    } else {
        e.into()
    }
}

fn minus_one() -> i64 {
    -1
}

fn yes() -> bool {
    true
}

impl PolicySpec {
    /// `manual`, `scheduled` or `event_based`.
    pub fn trigger_type(&self) -> &str {
        self.trigger.as_ref().map_or("manual", |t| t.kind.as_str())
    }

    fn remote(r: &Option<RegistryRef>) -> Option<i64> {
        r.as_ref().map(|r| r.id).filter(|&id| id > 0)
    }

    /// Whether the policy copies from or to registry `id`.
    pub fn uses_registry(&self, id: i64) -> bool {
        Self::remote(&self.src_registry) == Some(id)
            || Self::remote(&self.dest_registry) == Some(id)
    }

    /// The cron of a scheduled policy.
    pub fn cron(&self) -> Option<&str> {
        self.trigger
            .as_ref()
            .filter(|t| t.kind == "scheduled")
            .and_then(|t| t.trigger_settings.as_ref())
            .map(|s| s.cron.as_str())
            .filter(|c| !c.trim().is_empty())
    }

    /// Checks the policy: one side remote and one local, known filters and
    /// trigger, a valid cron, an event trigger only when berth is the source.
    ///
    /// Errors: [`AccountError::Invalid`] saying what is wrong.
    pub fn validate(&self) -> std::result::Result<(), AccountError> {
        let invalid = |m: String| Err(AccountError::Invalid(m));
        if self.name.trim().is_empty() {
            return invalid("a replication policy needs a name".into());
        }
        match (Self::remote(&self.src_registry), Self::remote(&self.dest_registry)) {
            (None, Some(_)) | (Some(_), None) => {}
            (None, None) => {
                return invalid(
                    "give src_registry (pull-based) or dest_registry (push-based): one side is another registry".into(),
                )
            }
            (Some(_), Some(_)) => {
                return invalid("one side must be this registry: leave src_registry or dest_registry empty".into())
            }
        }
        let ns = self.dest_namespace.trim_matches('/');
        if !ns.is_empty() && RepositoryName::parse(ns).is_err() {
            return invalid(format!(
                "dest_namespace {ns:?} is not a repository name prefix (lower-case letters, digits, '.', '_', '-', '/')"
            ));
        }
        for f in &self.filters {
            match f.kind.as_str() {
                "name" | "tag" => {
                    glob(&f.value).map_err(AccountError::Invalid)?;
                }
                // Harbor's UI sends `resource: image` (or `artifact`): berth
                // copies images and OCI artifacts alike, so it selects everything.
                "resource" if matches!(f.value.as_str(), "image" | "artifact") => {}
                "resource" => {
                    return invalid(format!(
                        "resource filter {:?}: berth replicates images and artifacts only",
                        f.value
                    ))
                }
                "label" => return invalid(
                    "label filters are not supported: berth has no labels; filter by name or tag"
                        .into(),
                ),
                other => {
                    return invalid(format!("filter type {other:?}: use name, tag or resource"))
                }
            }
            if let Some(d) = &f.decoration {
                if d != "matches" && d != "excludes" {
                    return invalid(format!("filter decoration {d:?}: use matches or excludes"));
                }
            }
        }
        match self.trigger_type() {
            "manual" => {}
            "scheduled" => {
                let cron = self.cron().ok_or_else(|| {
                    AccountError::Invalid("a scheduled trigger needs trigger_settings.cron".into())
                })?;
                cron_schedule(cron).map_err(AccountError::Invalid)?;
            }
            "event_based" if Self::remote(&self.src_registry).is_none() => {}
            "event_based" => {
                return invalid("event_based triggers fire on pushes to this registry: use them with push-based policies".into())
            }
            other => return invalid(format!("trigger type {other:?}: use manual, scheduled or event_based")),
        }
        if self.replicate_deletion && self.trigger_type() != "event_based" {
            return invalid("replicate_deletion replicates deletions as they happen here: use it with an event_based trigger (and this registry as the source)".into());
        }
        if !(-1..=100).contains(&self.dest_namespace_replace_count) {
            return invalid("dest_namespace_replace_count is -1 (flatten), 0 (prefix) or the number of components to replace".into());
        }
        Ok(())
    }

    /// Whether repository `repo` and tag `tag` pass every filter.
    pub fn selects(&self, repo: &str, tag: &str) -> bool {
        self.filters
            .iter()
            .filter(|f| f.kind != "resource")
            .all(|f| {
                let subject = if f.kind == "name" { repo } else { tag };
                let hit = glob(&f.value).is_ok_and(|g| g.is_match(subject));
                if f.decoration.as_deref() == Some("excludes") {
                    !hit
                } else {
                    hit
                }
            })
    }

    /// Whether repository `repo` passes the name filters (tags aside).
    fn selects_repository(&self, repo: &str) -> bool {
        self.filters.iter().filter(|f| f.kind == "name").all(|f| {
            let hit = glob(&f.value).is_ok_and(|g| g.is_match(repo));
            (f.decoration.as_deref() == Some("excludes")) != hit
        })
    }

    /// The destination name of source repository `src` (Harbor's
    /// `dest_namespace` with `dest_namespace_replace_count`).
    pub fn destination(&self, src: &str) -> String {
        let ns = self.dest_namespace.trim_matches('/');
        if ns.is_empty() {
            return src.to_string();
        }
        let parts: Vec<&str> = src.split('/').collect();
        let keep_from = match self.dest_namespace_replace_count {
            n if n < 0 => parts.len() - 1,
            n => (n as usize).min(parts.len() - 1),
        };
        format!("{ns}/{}", parts[keep_from..].join("/"))
    }
}

fn glob(pattern: &str) -> std::result::Result<globset::GlobMatcher, String> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("filter {pattern:?}: {e}"))
}

fn cron_schedule(expr: &str) -> std::result::Result<cron::Schedule, String> {
    use std::str::FromStr;
    cron::Schedule::from_str(expr).map_err(|e| {
        format!("cron {expr:?}: {e} (six fields, seconds first, e.g. \"0 0 3 * * *\")")
    })
}

/// One side of a copy.
enum Side {
    Local,
    Remote(Arc<Upstream>),
}

/// The artifact an event-triggered execution copies, or deletes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Scope {
    repository: String,
    tag: String,
    /// A deletion to replicate: the tag was deleted here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    delete: bool,
    /// With `delete`: the manifest was deleted too (with all its tags).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    manifest: bool,
    /// With `delete`: the digest the tag pointed at here; only what has
    /// this digest there is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
}

/// What one execution is doing.
struct Run {
    reg: Arc<Registry>,
    execution: i64,
    /// A replicated deletion, not a copy: whether the manifest went too, and
    /// the digest deleted here.
    deletion: Option<(bool, Option<Digest>)>,
    policy: PolicySpec,
    src: Side,
    dst: Side,
    /// Blobs this run put at the destination, with the repository they went to
    /// (the source of later cross-repository mounts).
    sent: Mutex<HashMap<Digest, String>>,
    /// Bytes per second, when limited.
    speed: Option<u64>,
}

/// How many tasks of one execution run at once.
const TASK_CONCURRENCY: usize = 2;
/// Attempts per task.
const TASK_ATTEMPTS: u32 = 3;

fn parse_spec(row: &PolicyRow) -> Result<PolicySpec> {
    serde_json::from_str(&row.body).map_err(|e| {
        Error::Unsupported(format!("replication policy {} is unreadable: {e}", row.id))
    })
}

impl Registry {
    /// Every replication policy with its settings.
    ///
    /// Errors: [`AccountError::Meta`].
    pub async fn replication_policies(
        &self,
    ) -> std::result::Result<Vec<(PolicyRow, PolicySpec)>, AccountError> {
        let mut out = Vec::new();
        for row in self.meta.replication_policies().await? {
            if let Ok(spec) = serde_json::from_str(&row.body) {
                out.push((row, spec));
            }
        }
        Ok(out)
    }

    /// One policy.
    ///
    /// Errors: [`AccountError::NotFound`].
    pub async fn replication_policy(
        &self,
        id: i64,
    ) -> std::result::Result<(PolicyRow, PolicySpec), AccountError> {
        let row =
            self.meta.replication_policy(id).await?.ok_or_else(|| {
                AccountError::NotFound(format!("replication policy {id} not found"))
            })?;
        let spec = serde_json::from_str(&row.body)
            .map_err(|e| AccountError::Invalid(format!("policy {id} is unreadable: {e}")))?;
        Ok((row, spec))
    }

    async fn check_policy_registries(
        &self,
        spec: &PolicySpec,
    ) -> std::result::Result<(), AccountError> {
        for id in [
            PolicySpec::remote(&spec.src_registry),
            PolicySpec::remote(&spec.dest_registry),
        ]
        .into_iter()
        .flatten()
        {
            self.registry(&id.to_string()).await?;
        }
        Ok(())
    }

    /// Adds a policy.
    ///
    /// Errors: [`AccountError::Invalid`] ([`PolicySpec::validate`]),
    /// [`AccountError::NotFound`] for an unknown registry,
    /// [`AccountError::Conflict`] when the name is taken.
    pub async fn replication_policy_add(
        &self,
        spec: &PolicySpec,
    ) -> std::result::Result<PolicyRow, AccountError> {
        spec.validate()?;
        self.check_policy_registries(spec).await?;
        let body = serde_json::to_string(spec).map_err(|e| AccountError::Invalid(e.to_string()))?;
        self.meta
            .replication_policy_create(&spec.name, spec.enabled, spec.trigger_type(), &body)
            .await
            .map_err(|e| name_taken(&spec.name, e))
    }

    /// Replaces a policy's settings.
    ///
    /// Errors: as [`Registry::replication_policy_add`]; [`AccountError::NotFound`].
    pub async fn replication_policy_change(
        &self,
        id: i64,
        spec: &PolicySpec,
    ) -> std::result::Result<(), AccountError> {
        spec.validate()?;
        self.check_policy_registries(spec).await?;
        let body = serde_json::to_string(spec).map_err(|e| AccountError::Invalid(e.to_string()))?;
        let updated = self
            .meta
            .replication_policy_update(id, &spec.name, spec.enabled, spec.trigger_type(), &body)
            .await
            .map_err(|e| name_taken(&spec.name, e))?;
        if !updated {
            return Err(AccountError::NotFound(format!(
                "replication policy {id} not found"
            )));
        }
        Ok(())
    }

    /// Deletes a policy with its history. An execution still running must
    /// have been asked to stop first (it then ends on its own).
    ///
    /// Errors: [`AccountError::NotFound`]; [`AccountError::Conflict`] while
    /// an execution runs that was not asked to stop.
    pub async fn replication_policy_remove(
        &self,
        id: i64,
    ) -> std::result::Result<(), AccountError> {
        if let Some(running) = self
            .meta
            .replication_executions(Some(id))
            .await?
            .into_iter()
            .find(|e| e.status == "InProgress" && !e.stop_requested)
        {
            return Err(AccountError::Conflict(format!(
                "execution {} of this policy is running: stop it first (PUT /api/v2.0/replication/executions/{})",
                running.id, running.id
            )));
        }
        if !self.meta.replication_policy_delete(id).await? {
            return Err(AccountError::NotFound(format!(
                "replication policy {id} not found"
            )));
        }
        Ok(())
    }

    /// Starts an execution of policy `policy_id` on its own task and returns
    /// it (status `InProgress`). `scope`: one `(repository, tag)` (an
    /// event-triggered run), else everything the policy selects.
    ///
    /// Errors: [`AccountError::NotFound`].
    pub async fn replication_start(
        self: &Arc<Self>,
        policy_id: i64,
        trigger: &str,
        scope: Option<(&str, &str)>,
    ) -> std::result::Result<ExecutionRow, AccountError> {
        let scope = scope.map(|(r, t)| Scope {
            repository: r.to_string(),
            tag: t.to_string(),
            delete: false,
            manifest: false,
            digest: None,
        });
        self.replication_start_scoped(policy_id, trigger, scope)
            .await
    }

    async fn replication_start_scoped(
        self: &Arc<Self>,
        policy_id: i64,
        trigger: &str,
        scope: Option<Scope>,
    ) -> std::result::Result<ExecutionRow, AccountError> {
        self.replication_policy(policy_id).await?;
        let scope = scope.map(|s| serde_json::to_string(&s).unwrap_or_default());
        let exec = self
            .meta
            .replication_execution_create(policy_id, trigger, scope.as_deref())
            .await?;
        let reg = Arc::clone(self);
        let id = exec.id;
        tokio::spawn(async move { reg.replication_execute(id).await });
        Ok(exec)
    }

    /// Runs policy `policy_id` now, in this task, to its end (the CLI's
    /// `berth replicate run`), and returns the ended execution.
    ///
    /// Errors: [`AccountError::NotFound`].
    pub async fn replication_run_now(
        self: &Arc<Self>,
        policy_id: i64,
    ) -> std::result::Result<ExecutionRow, AccountError> {
        self.replication_policy(policy_id).await?;
        let exec = self
            .meta
            .replication_execution_create(policy_id, "manual", None)
            .await?;
        Arc::clone(self).replication_execute(exec.id).await;
        self.meta
            .replication_execution(exec.id)
            .await?
            .ok_or_else(|| AccountError::NotFound(format!("execution {} vanished", exec.id)))
    }

    /// Asks execution `id` to stop (it ends `Stopped` after the tasks in
    /// flight). Returns false when it is not in progress.
    ///
    /// Errors: [`AccountError::Meta`].
    pub async fn replication_stop(&self, id: i64) -> std::result::Result<bool, AccountError> {
        Ok(self.meta.replication_execution_stop(id).await?)
    }

    /// Resumes executions left `InProgress` by a process that died (call at
    /// start): each runs again under a lock only one node gets, re-running
    /// its unfinished tasks, which send only what the destination lacks.
    pub async fn replication_resume(self: &Arc<Self>) {
        let Ok(all) = self.meta.replication_executions(None).await else {
            return;
        };
        for e in all.into_iter().filter(|e| e.status == "InProgress") {
            tracing::info!(
                execution = e.id,
                "resuming an interrupted replication execution"
            );
            let reg = Arc::clone(self);
            tokio::spawn(async move { reg.replication_execute(e.id).await });
        }
    }

    /// Runs the due scheduled policies (a cron time passed since their last
    /// scheduled execution, or since they were saved). Call every few seconds.
    pub async fn replication_run_scheduled(self: &Arc<Self>, now_ms: i64) {
        let Ok(Some(lock)) = self.meta.job_lock("replication.schedule", false).await else {
            return;
        };
        if let Ok(policies) = self.replication_policies().await {
            for (row, spec) in policies.into_iter().filter(|(r, _)| r.enabled) {
                let Some(Ok(schedule)) = spec.cron().map(cron_schedule) else {
                    continue;
                };
                let last = self
                    .meta
                    .replication_executions(Some(row.id))
                    .await
                    .ok()
                    .and_then(|es| es.into_iter().find(|e| e.trigger == "scheduled"))
                    .map_or(row.updated_at, |e| e.start_time.max(row.updated_at));
                let Some(after) = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(last)
                else {
                    continue;
                };
                if schedule
                    .after(&after)
                    .next()
                    .is_some_and(|t| t.timestamp_millis() <= now_ms)
                {
                    if let Err(e) = self.replication_start(row.id, "scheduled", None).await {
                        tracing::error!(policy = row.id, error = %e, "scheduled replication did not start");
                    }
                }
            }
        }
        lock.release().await;
    }

    /// Starts the event-based push policies that select `repo:tag`, just
    /// pushed here.
    pub async fn replication_on_push(self: &Arc<Self>, repo: &str, tag: &str) {
        let Ok(policies) = self.replication_policies().await else {
            return;
        };
        for (row, spec) in policies {
            if row.enabled
                && spec.trigger_type() == "event_based"
                && PolicySpec::remote(&spec.src_registry).is_none()
                && spec.selects(repo, tag)
            {
                if let Err(e) = self
                    .replication_start(row.id, "event_based", Some((repo, tag)))
                    .await
                {
                    tracing::error!(policy = row.id, error = %e, "event-based replication did not start");
                }
            }
        }
    }

    /// Starts, for each event-based push policy with `replicate_deletion`
    /// that selects `repo:<tag>`, an execution deleting that tag (and with
    /// `manifest`, the manifest it pointed at) at the destination, where it
    /// still points at `digest`. An untagged manifest deleted here is
    /// deleted there when the policy's repository filters select it.
    pub async fn replication_on_delete(
        self: &Arc<Self>,
        repo: &str,
        tags: &[String],
        digest: &Digest,
        manifest: bool,
    ) {
        let Ok(policies) = self.replication_policies().await else {
            return;
        };
        for (row, spec) in policies {
            if !(row.enabled
                && spec.replicate_deletion
                && spec.trigger_type() == "event_based"
                && PolicySpec::remote(&spec.src_registry).is_none())
            {
                continue;
            }
            let untagged = [String::new()];
            let selected: Vec<&String> = if tags.is_empty() {
                untagged
                    .iter()
                    .filter(|_| manifest && spec.selects_repository(repo))
                    .collect()
            } else {
                tags.iter().filter(|t| spec.selects(repo, t)).collect()
            };
            for tag in selected {
                let scope = Scope {
                    repository: repo.to_string(),
                    tag: tag.clone(),
                    delete: true,
                    manifest,
                    digest: Some(digest.to_string()),
                };
                if let Err(e) = self
                    .replication_start_scoped(row.id, "event_based", Some(scope))
                    .await
                {
                    tracing::error!(policy = row.id, error = %e, "replicating a deletion did not start");
                }
            }
        }
    }

    async fn replication_side(&self, r: &Option<RegistryRef>) -> Result<Side> {
        match PolicySpec::remote(r) {
            None => Ok(Side::Local),
            Some(id) => {
                let record =
                    self.meta.registry_by_id(id).await?.ok_or_else(|| {
                        Error::Unsupported(format!("registry {id} no longer exists"))
                    })?;
                Ok(Side::Remote(Arc::new(Upstream::new(record)?)))
            }
        }
    }

    /// Runs (or resumes) execution `id` to its end, under a lock no other
    /// node can hold at the same time.
    async fn replication_execute(self: Arc<Self>, id: i64) {
        let Ok(Some(lock)) = self
            .meta
            .job_lock(&format!("replication.execution.{id}"), false)
            .await
        else {
            return;
        };
        let (status, text) = match self.replication_run(id).await {
            Ok(done) => done,
            Err(e) => ("Failed", e.to_string()),
        };
        tracing::info!(execution = id, status, text, "replication execution ended");
        if let Err(e) = self
            .meta
            .replication_execution_finish(id, status, &text)
            .await
        {
            tracing::error!(execution = id, error = %e, "could not record the end of a replication execution");
        }
        if self.notifier.get().is_some() {
            self.replication_events(id, status).await;
        }
        lock.release().await;
    }

    /// Harbor's `REPLICATION` webhook event of a finished execution, once
    /// for each local project its tasks read or wrote.
    async fn replication_events(&self, id: i64, status: &str) {
        let (Ok(Some(exec)), Ok(tasks)) = (
            self.meta.replication_execution(id).await,
            self.meta.replication_tasks(id).await,
        ) else {
            return;
        };
        let mut projects = std::collections::BTreeSet::new();
        for t in &tasks {
            for side in [&t.src_resource, &t.dst_resource] {
                let repo = side.split([':', '@']).next().unwrap_or("");
                if let Ok(name) = RepositoryName::parse(repo) {
                    if matches!(self.project_exists(name.project()).await, Ok(true)) {
                        projects.insert(name.project().to_string());
                    }
                }
            }
        }
        let artifacts = |wanted: &str| -> Vec<serde_json::Value> {
            tasks
                .iter()
                .filter(|t| (t.status == "Succeed") == (wanted == "Succeed"))
                .map(|t| {
                    serde_json::json!({
                        "type": t.resource_type, "status": t.status,
                        "name_tag": t.src_resource, "dst_resource": t.dst_resource,
                    })
                })
                .collect()
        };
        let data = serde_json::json!({
            "policy_id": exec.policy_id,
            "execution_id": id,
            "job_status": status,
            "trigger_type": exec.trigger,
            "execution_timestamp": exec.start_time / 1000,
            "artifact_type": "image",
            "successful_artifact": artifacts("Succeed"),
            "failed_artifact": artifacts("Failed"),
        });
        for project in projects {
            self.webhook_notify(crate::webhook::Event {
                kind: crate::webhook::EventType::Replication,
                project,
                repository: None,
                digest: None,
                tag: None,
                operator: REPLICATION_ACTOR.to_string(),
                at_ms: berth_meta::store::now_ms(),
                extra: Some(data.clone()),
            });
        }
    }

    async fn replication_run(self: &Arc<Self>, id: i64) -> Result<(&'static str, String)> {
        let exec = self
            .meta
            .replication_execution(id)
            .await?
            .ok_or_else(|| Error::Unsupported(format!("execution {id} not found")))?;
        if exec.status != "InProgress" {
            return Ok(("Succeed", "already ended".into()));
        }
        let row = self
            .meta
            .replication_policy(exec.policy_id)
            .await?
            .ok_or_else(|| Error::Unsupported("its policy was deleted".into()))?;
        let policy = parse_spec(&row)?;
        let scope: Option<Scope> = exec
            .scope
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        let deletion = scope.as_ref().filter(|s| s.delete).map(|s| {
            (
                s.manifest,
                s.digest.as_deref().and_then(|d| Digest::parse(d).ok()),
            )
        });
        let run = Arc::new(Run {
            reg: Arc::clone(self),
            execution: id,
            deletion,
            src: self.replication_side(&policy.src_registry).await?,
            dst: self.replication_side(&policy.dest_registry).await?,
            speed: (policy.speed > 0).then(|| policy.speed as u64 * 1024),
            policy,
            sent: Mutex::new(HashMap::new()),
        });
        let mut tasks = self.meta.replication_tasks(id).await?;
        if tasks.is_empty() {
            let operation = if run.deletion.is_some() {
                "deletion"
            } else {
                "copy"
            };
            for (repo, tag) in run.select(scope).await? {
                let dst = run.policy.destination(&repo);
                tasks.push(
                    self.meta
                        .replication_task_create(
                            id,
                            &format!("{repo}:{tag}"),
                            &format!("{dst}:{tag}"),
                            operation,
                        )
                        .await?,
                );
            }
        }
        let pending: Vec<TaskRow> = tasks
            .into_iter()
            .filter(|t| t.status != "Succeed")
            .collect();
        futures::stream::iter(pending)
            .for_each_concurrent(TASK_CONCURRENCY, |task| {
                let run = Arc::clone(&run);
                async move { run.task(task).await }
            })
            .await;
        let tasks = self.meta.replication_tasks(id).await?;
        let stopped = self
            .meta
            .replication_execution(id)
            .await?
            .is_some_and(|e| e.stop_requested);
        let failed = tasks.iter().filter(|t| t.status == "Failed").count();
        let copied = tasks.iter().filter(|t| t.status == "Succeed").count();
        let total = tasks.len();
        let done = if run.deletion.is_some() {
            "deleted"
        } else {
            "copied"
        };
        Ok(if stopped {
            (
                "Stopped",
                format!("stopped: {copied} of {total} artifact(s) {done}"),
            )
        } else if failed > 0 {
            ("Failed", format!("{failed} of {total} artifact(s) failed"))
        } else {
            ("Succeed", format!("{total} artifact(s) {done}"))
        })
    }
}

impl Run {
    /// The `(repository, tag)`s the policy selects at the source.
    async fn select(&self, scope: Option<Scope>) -> Result<Vec<(String, String)>> {
        if let Some(s) = scope {
            let selected = if s.delete && s.tag.is_empty() {
                self.policy.selects_repository(&s.repository)
            } else {
                self.policy.selects(&s.repository, &s.tag)
            };
            return Ok(if selected {
                vec![(s.repository, s.tag)]
            } else {
                vec![]
            });
        }
        let repos = match &self.src {
            Side::Local => {
                let mut all = Vec::new();
                let mut last: Option<String> = None;
                loop {
                    let page = self.reg.catalog(Some(1000), last.as_deref()).await?;
                    let more = page.next_page_size.is_some();
                    last = page.items.last().cloned();
                    all.extend(page.items);
                    if !more || last.is_none() {
                        break;
                    }
                }
                all
            }
            Side::Remote(up) => up.catalog().await?,
        };
        let mut out = Vec::new();
        for repo in repos
            .into_iter()
            .filter(|r| self.policy.selects_repository(r))
        {
            let tags = match &self.src {
                Side::Local => {
                    let name = RepositoryName::parse(&repo)?;
                    self.reg.tags_list(&name, Some(10_000), None).await?.items
                }
                Side::Remote(up) => up.tags(&repo).await?,
            };
            for tag in tags {
                if self.policy.selects(&repo, &tag) {
                    out.push((repo.clone(), tag));
                }
            }
        }
        Ok(out)
    }

    async fn stop_requested(&self) -> bool {
        self.reg
            .meta
            .replication_execution(self.execution)
            .await
            .ok()
            .flatten()
            .is_some_and(|e| e.stop_requested)
    }

    /// Runs one task, with retries and backoff, recording its progress.
    async fn task(&self, mut task: TaskRow) {
        let meta = &self.reg.meta;
        let (src, dst) = match (
            task.src_resource.rsplit_once(':'),
            task.dst_resource.rsplit_once(':'),
        ) {
            (Some(s), Some(d)) => (s, d),
            _ => return,
        };
        task.start_time = Some(berth_meta::store::now_ms());
        for attempt in 1..=TASK_ATTEMPTS {
            if self.stop_requested().await {
                task.status = "Stopped".into();
                break;
            }
            task.status = "InProgress".into();
            task.attempts = attempt as i64;
            let _ = meta.replication_task_update(&task).await;
            let mut bytes = 0u64;
            let result = match &self.deletion {
                Some((manifest, digest)) => {
                    self.delete_artifact(dst, *manifest, digest.as_ref()).await
                }
                None => self.copy_artifact(src, dst, &mut bytes).await,
            };
            task.bytes += bytes as i64;
            match result {
                Ok(note) => {
                    task.status = "Succeed".into();
                    task.error.clear();
                    task.log
                        .push_str(&format!("attempt {attempt}: {note}, {bytes} bytes sent\n"));
                    break;
                }
                Err(e) => {
                    task.status = "Failed".into();
                    task.error = e.to_string();
                    task.log.push_str(&format!("attempt {attempt}: {e}\n"));
                    tracing::warn!(execution = self.execution, task = task.id, attempt, error = %e, "replication task failed");
                    if attempt < TASK_ATTEMPTS {
                        tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
                    }
                }
            }
        }
        task.end_time = Some(berth_meta::store::now_ms());
        let _ = meta.replication_task_update(&task).await;
    }

    /// Deletes at the destination what was deleted here, and nothing else:
    /// with `manifest`, the manifest `digest` (found by digest, so a tag
    /// there that points elsewhere is untouched; its tags there go with it);
    /// otherwise the tag `dst`, only while it points at `digest` there (a
    /// destination's own tag, or one `override: false` left alone, is kept).
    /// What is already gone is success.
    async fn delete_artifact(
        &self,
        dst: (&str, &str),
        manifest: bool,
        digest: Option<&Digest>,
    ) -> Result<String> {
        let Side::Remote(up) = &self.dst else {
            return Err(Error::Unsupported(
                "deletions replicate to another registry only".into(),
            ));
        };
        let (repo, tag) = dst;
        let limit = self.reg.limits.max_manifest_bytes;
        if manifest {
            let Some(d) = digest else {
                return Ok(format!("{repo}: no digest to delete"));
            };
            if up.manifest_digest(repo, d.as_str(), limit).await?.is_none() {
                return Ok(format!("{repo}@{d} was already gone"));
            }
            return Ok(if up.manifest_delete(repo, d.as_str()).await? {
                format!("deleted {repo}@{d} with its tags")
            } else {
                format!("{repo}@{d} was already gone")
            });
        }
        let Some(there) = up.manifest_digest(repo, tag, limit).await? else {
            return Ok(format!("{repo}:{tag} was already gone"));
        };
        if let Some(d) = digest.filter(|d| **d != there) {
            return Ok(format!(
                "kept: {repo}:{tag} points at {there} there, not at {d} as it did here"
            ));
        }
        Ok(if up.manifest_delete(repo, tag).await? {
            format!("deleted the tag {repo}:{tag}")
        } else {
            format!("{repo}:{tag} was already gone")
        })
    }

    /// Copies `src` (`(repository, tag)`) to `dst`: its manifest tree with
    /// referrers and blobs, then the tag.
    async fn copy_artifact(
        &self,
        src: (&str, &str),
        dst: (&str, &str),
        bytes: &mut u64,
    ) -> Result<String> {
        let (src_repo, tag) = src;
        let (dst_repo, dst_tag) = dst;
        if let Side::Local = self.dst {
            // A pull-based policy's namespace becomes a project (private,
            // managed like any other) the first time something lands there.
            let project = RepositoryName::parse(dst_repo)?.project().to_string();
            if self.reg.meta.project_by_name(&project).await?.is_none()
                && project != berth_oci::name::DEFAULT_PROJECT
            {
                match self.reg.meta.project_create(&project, false, None).await {
                    Ok(_) => tracing::info!(
                        project,
                        "replication created the destination project (private)"
                    ),
                    Err(e) if berth_meta::is_conflict(&e) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let (body, media_type) = self
            .manifest(&self.src, src_repo, tag)
            .await?
            .ok_or_else(|| Error::ManifestUnknown(format!("{src_repo}:{tag} at the source")))?;
        let digest = Digest::of(berth_oci::Algorithm::Sha256, &body);
        if !self.policy.override_tags {
            if let Some(there) = self.tag_digest(&self.dst, dst_repo, dst_tag).await? {
                if there != digest {
                    return Ok(format!(
                        "kept: {dst_repo}:{dst_tag} exists (override is off)"
                    ));
                }
            }
        }
        self.copy_tree(
            src_repo,
            dst_repo,
            digest.clone(),
            Some((body.clone(), media_type.clone())),
            bytes,
            0,
        )
        .await?;
        self.put_manifest(dst_repo, dst_tag, &media_type, body)
            .await?;
        Ok(format!(
            "{src_repo}:{tag} ({digest}) copied to {dst_repo}:{dst_tag}"
        ))
    }

    /// Copies manifest `digest` (its bytes when known) with its children,
    /// blobs and referrers, children first; the manifest itself by digest.
    fn copy_tree<'a>(
        &'a self,
        src_repo: &'a str,
        dst_repo: &'a str,
        digest: Digest,
        known: Option<(Bytes, String)>,
        bytes: &'a mut u64,
        depth: u32,
    ) -> BoxFuture<'a, Result<()>> {
        async move {
            if depth > 8 {
                return Err(Error::ManifestInvalid(
                    "referrers nest deeper than 8".into(),
                ));
            }
            let (body, media_type) = match known {
                Some(k) => k,
                None => self
                    .manifest(&self.src, src_repo, digest.as_str())
                    .await?
                    .ok_or_else(|| {
                        Error::ManifestUnknown(format!("{src_repo}@{digest} at the source"))
                    })?,
            };
            let manifest = Manifest::parse(&body, Some(&media_type))
                .map_err(|e| Error::ManifestInvalid(e.to_string()))?;
            for child in &manifest.children {
                if self.stop_requested().await {
                    return Err(Error::Unsupported("stopped".into()));
                }
                match child.kind {
                    ChildKind::Manifest => {
                        self.copy_tree(src_repo, dst_repo, child.digest.clone(), None, bytes, depth)
                            .await?
                    }
                    ChildKind::Config | ChildKind::Layer => {
                        *bytes += self
                            .copy_blob(src_repo, dst_repo, &child.digest, child.size)
                            .await?;
                    }
                }
            }
            *bytes += body.len() as u64;
            self.put_manifest(dst_repo, digest.as_str(), &media_type, body)
                .await?;
            for referrer in self.referrers(src_repo, &digest).await? {
                self.copy_tree(src_repo, dst_repo, referrer, None, bytes, depth + 1)
                    .await?;
            }
            Ok(())
        }
        .boxed()
    }

    async fn manifest(
        &self,
        side: &Side,
        repo: &str,
        reference: &str,
    ) -> Result<Option<(Bytes, String)>> {
        match side {
            Side::Local => {
                let name = RepositoryName::parse(repo)?;
                let r = Reference::parse(reference)
                    .map_err(|e| Error::ManifestInvalid(e.to_string()))?;
                match self.reg.manifest_get(&name, &r, true).await {
                    Ok(m) => Ok(m.body.map(|b| (b, m.media_type))),
                    Err(Error::ManifestUnknown(_) | Error::NameUnknown(_)) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            Side::Remote(up) => Ok(up
                .manifest(repo, reference, self.reg.limits.max_manifest_bytes)
                .await?
                .map(|m| {
                    let mt = m.media_type.unwrap_or_default();
                    (m.body, mt)
                })),
        }
    }

    async fn tag_digest(&self, side: &Side, repo: &str, tag: &str) -> Result<Option<Digest>> {
        match side {
            Side::Local => Ok(self
                .reg
                .meta
                .manifest_by_tag(repo, tag)
                .await?
                .map(|m| m.digest)),
            Side::Remote(up) => Ok(up
                .manifest_digest(repo, tag, self.reg.limits.max_manifest_bytes)
                .await?),
        }
    }

    async fn referrers(&self, repo: &str, subject: &Digest) -> Result<Vec<Digest>> {
        match &self.src {
            Side::Local => {
                let name = RepositoryName::parse(repo)?;
                Ok(self
                    .reg
                    .referrers(&name, subject, None)
                    .await?
                    .into_iter()
                    .map(|r| r.digest)
                    .collect())
            }
            Side::Remote(up) => Ok(up.referrers(repo, subject).await?),
        }
    }

    async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<()> {
        match &self.dst {
            Side::Local => {
                let name = RepositoryName::parse(repo)?;
                let r = Reference::parse(reference)
                    .map_err(|e| Error::ManifestInvalid(e.to_string()))?;
                self.reg
                    .manifest_put_as(&name, &r, Some(media_type), body, REPLICATION_ACTOR)
                    .await
                    .map(|_| ())
            }
            Side::Remote(up) => Ok(up.manifest_push(repo, reference, media_type, body).await?),
        }
    }

    /// Copies one blob unless the destination has it; returns the bytes sent.
    async fn copy_blob(
        &self,
        src_repo: &str,
        dst_repo: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<u64> {
        match &self.dst {
            Side::Local => {
                let name = RepositoryName::parse(dst_repo)?;
                let Side::Remote(up) = &self.src else {
                    return Ok(0);
                };
                // Linked from another repository only if the source has it
                // (a source naming a digest it lacks gets no private blob).
                if self
                    .reg
                    .link_confirmed(up, src_repo, &name, digest)
                    .await?
                    .is_some()
                {
                    return Ok(0);
                }
                let resp = up
                    .blob(src_repo, digest, false)
                    .await?
                    .ok_or_else(|| Error::BlobUnknown(format!("{digest} at the source")))?;
                let body = resp
                    .bytes_stream()
                    .map(|r| r.map_err(std::io::Error::other))
                    .boxed();
                self.reg
                    .upload_monolithic(&name, Some(digest.as_str()), throttle(body, self.speed))
                    .await?;
                Ok(size)
            }
            Side::Remote(up) => {
                if up.blob_exists(dst_repo, digest).await? {
                    return Ok(0);
                }
                let from = self
                    .sent
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(digest)
                    .cloned();
                let name = RepositoryName::parse(src_repo)?;
                let read = self.reg.blob_read(&name, digest, None).await?;
                let (size, stream, speed) = (read.size, read.body, self.speed);
                let sent = up
                    .blob_push(
                        dst_repo,
                        digest,
                        size,
                        move || throttle(stream, speed),
                        from.as_deref(),
                    )
                    .await?;
                self.sent
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(digest.clone(), dst_repo.to_string());
                Ok(if sent { size } else { 0 })
            }
        }
    }
}

/// The actor recorded for what replication writes into berth (its pushes
/// trigger no event-based replication).
pub const REPLICATION_ACTOR: &str = "replication";

/// Limits `body` to `speed` bytes per second (none: as fast as it comes).
fn throttle(body: berth_storage::ByteStream, speed: Option<u64>) -> berth_storage::ByteStream {
    let Some(rate) = speed.filter(|&r| r > 0) else {
        return body;
    };
    let start = tokio::time::Instant::now();
    let mut sent = 0u64;
    body.then(move |item| {
        if let Ok(b) = &item {
            sent += b.len() as u64;
        }
        let due = start + Duration::from_secs_f64(sent as f64 / rate as f64);
        async move {
            tokio::time::sleep_until(due).await;
            item
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> PolicySpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn destination_names_follow_harbor_namespace_rules() {
        let mut p = spec(serde_json::json!({"name": "p", "dest_registry": {"id": 1}}));
        assert_eq!(p.destination("a/b/c"), "a/b/c");
        p.dest_namespace = "prod".into();
        p.dest_namespace_replace_count = -1;
        assert_eq!(p.destination("a/b/c"), "prod/c");
        p.dest_namespace_replace_count = 0;
        assert_eq!(p.destination("a/b/c"), "prod/a/b/c");
        p.dest_namespace_replace_count = 1;
        assert_eq!(p.destination("a/b/c"), "prod/b/c");
        p.dest_namespace_replace_count = 9;
        assert_eq!(p.destination("a/b/c"), "prod/c");
    }

    #[test]
    fn filters_select_by_repository_and_tag_and_can_exclude() {
        let p = spec(serde_json::json!({
            "name": "p", "dest_registry": {"id": 1},
            "filters": [
                {"type": "name", "value": "team/**"},
                {"type": "tag", "value": "v2*", "decoration": "excludes"},
            ],
        }));
        assert!(p.validate().is_ok());
        assert!(p.selects("team/app", "v1"));
        assert!(p.selects("team/sub/app", "latest"));
        assert!(!p.selects("team/app", "v2.1"));
        assert!(!p.selects("other/app", "v1"));
    }

    #[test]
    fn invalid_policies_say_what_is_wrong() {
        for (json, says) in [
            (serde_json::json!({"name": "p"}), "src_registry"),
            (
                serde_json::json!({"name": "p", "src_registry": {"id": 1}, "dest_registry": {"id": 2}}),
                "one side",
            ),
            (
                serde_json::json!({"name": "p", "dest_registry": {"id": 1}, "filters": [{"type": "label", "value": "x"}]}),
                "label",
            ),
            (
                serde_json::json!({"name": "p", "dest_registry": {"id": 1}, "trigger": {"type": "scheduled"}}),
                "cron",
            ),
            (
                serde_json::json!({"name": "p", "src_registry": {"id": 1}, "trigger": {"type": "event_based"}}),
                "push-based",
            ),
            (
                serde_json::json!({"name": "p", "dest_registry": {"id": 1}, "replicate_deletion": true}),
                "deletion",
            ),
        ] {
            let err = spec(json.clone()).validate().unwrap_err().to_string();
            assert!(err.contains(says), "{json}: {err}");
        }
    }
}
