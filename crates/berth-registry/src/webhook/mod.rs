//! Webhooks: Harbor's per-project webhook policies, events raised off the
//! request path, and their delivery with retries (docs/webhooks.md).
//!
//! How an event travels:
//! 1. Whatever happened hands an [`Event`] to the [`Notifier`]: the audit
//!    trail's successful pushes, pulls and deletes ([`Notifier::audited`]),
//!    quota refusals, vulnerability scans and retention runs. Handing over
//!    never waits: the channel holds [`CHANNEL_CAPACITY`] events, and when
//!    it is full the event is dropped and counted (a slow database must not
//!    slow pushes).
//! 2. One dispatcher task per node ([`Registry::webhook_dispatch`]) finds the
//!    project's enabled policies listening for that event type, renders
//!    the body per target (Harbor's default JSON or CloudEvents 1.0), and
//!    queues one delivery row per target (`webhook_deliveries`), unless
//!    [`WebhookConfig::max_pending`] are already waiting.
//! 3. One delivery task per node ([`Registry::webhook_deliver`]) claims due
//!    rows (a conditional UPDATE: one node per delivery), POSTs them, and
//!    retries failures with exponential backoff up to
//!    [`WebhookConfig::max_attempts`]. Each attempt is a line in the
//!    delivery's log.

pub mod payload;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_meta::{DeliveryRow, NewDelivery, WebhookPolicyRow};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Notify};

use crate::audit::{AuditAction, AuditEntry, Outcome};
use crate::error::Result;
use crate::registry::Registry;

/// A push that takes a project's usage past this share of its quota
/// raises `QUOTA_WARNING` (Harbor's default threshold).
pub const QUOTA_WARNING_PERCENT: u64 = 85;

/// How often a node deletes finished deliveries older than
/// [`WebhookConfig::keep`].
const TRIM_EVERY: Duration = Duration::from_secs(3600);

/// Events waiting for the dispatcher before new ones are dropped.
pub const CHANNEL_CAPACITY: usize = 10_000;

/// How long a project's policies are reused by the dispatcher before they
/// are read again (a change through this node's API is seen at once).
const POLICY_TTL: Duration = Duration::from_secs(5);

/// An event type, by Harbor's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    /// A manifest pushed.
    PushArtifact,
    /// A manifest pulled (GET).
    PullArtifact,
    /// A manifest deleted.
    DeleteArtifact,
    /// A push refused by the project's quota.
    QuotaExceed,
    /// A push took the project past [`QUOTA_WARNING_PERCENT`] of its quota.
    QuotaWarning,
    /// A vulnerability scan finished.
    ScanningCompleted,
    /// A vulnerability scan failed.
    ScanningFailed,
    /// A retention run finished.
    TagRetention,
    /// A replication execution finished.
    Replication,
}

impl EventType {
    /// Every type berth raises, in Harbor's order.
    pub const ALL: [EventType; 9] = [
        EventType::PushArtifact,
        EventType::PullArtifact,
        EventType::DeleteArtifact,
        EventType::QuotaExceed,
        EventType::QuotaWarning,
        EventType::ScanningFailed,
        EventType::ScanningCompleted,
        EventType::Replication,
        EventType::TagRetention,
    ];

    /// Harbor's name (`PUSH_ARTIFACT`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PushArtifact => "PUSH_ARTIFACT",
            EventType::PullArtifact => "PULL_ARTIFACT",
            EventType::DeleteArtifact => "DELETE_ARTIFACT",
            EventType::QuotaExceed => "QUOTA_EXCEED",
            EventType::QuotaWarning => "QUOTA_WARNING",
            EventType::ScanningCompleted => "SCANNING_COMPLETED",
            EventType::ScanningFailed => "SCANNING_FAILED",
            EventType::TagRetention => "TAG_RETENTION",
            EventType::Replication => "REPLICATION",
        }
    }

    /// The type by Harbor's name.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The CloudEvents `type` Harbor uses (`harbor.artifact.pushed`).
    pub fn cloud_event_type(self) -> &'static str {
        match self {
            EventType::PushArtifact => "harbor.artifact.pushed",
            EventType::PullArtifact => "harbor.artifact.pulled",
            EventType::DeleteArtifact => "harbor.artifact.deleted",
            EventType::QuotaExceed => "harbor.quota.exceeded",
            EventType::QuotaWarning => "harbor.quota.warned",
            EventType::ScanningCompleted => "harbor.scan.completed",
            EventType::ScanningFailed => "harbor.scan.failed",
            EventType::TagRetention => "harbor.tag_retention.finished",
            EventType::Replication => "harbor.replication.status.changed",
        }
    }
}

/// Something that happened in a project.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// What.
    pub kind: EventType,
    /// The project it happened in.
    pub project: String,
    /// The repository (full name as pulled), when one is concerned.
    pub repository: Option<String>,
    /// The manifest concerned.
    pub digest: Option<String>,
    /// The tag it was pushed or pulled by.
    pub tag: Option<String>,
    /// Who did it (user or robot name; `berth` for the registry's own work).
    pub operator: String,
    /// When (Unix ms).
    pub at_ms: i64,
    /// Event-specific data: the scan overview of a scan event, Harbor's
    /// `custom_attributes` of quota and retention events.
    pub extra: Option<serde_json::Value>,
}

impl Event {
    /// An event of `kind` in the project of `repository`, now.
    pub fn on_repository(kind: EventType, repository: &str, operator: &str) -> Event {
        let project = berth_oci::RepositoryName::parse(repository)
            .map(|r| r.project().to_string())
            .unwrap_or_else(|_| repository.split('/').next().unwrap_or("").to_string());
        Event {
            kind,
            project,
            repository: Some(repository.to_string()),
            digest: None,
            tag: None,
            operator: operator.to_string(),
            at_ms: berth_meta::store::now_ms(),
            extra: None,
        }
    }
}

/// A webhook target (Harbor's `WebhookTargetObject`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// `http` (the only notify type berth sends).
    #[serde(rename = "type", default = "http")]
    pub kind: String,
    /// The URL POSTed to.
    pub address: String,
    /// Sent as the `Authorization` header when not empty.
    #[serde(default)]
    pub auth_header: String,
    /// Accept any TLS certificate from this target.
    #[serde(default)]
    pub skip_cert_verify: bool,
    /// `Default` (Harbor's JSON) or `CloudEvents` (1.0, structured).
    #[serde(default = "default_format")]
    pub payload_format: String,
}

fn http() -> String {
    "http".into()
}

fn default_format() -> String {
    "Default".into()
}

/// Delivery settings (`[webhook]`).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Host (and port) put in `resource_url`s, as clients pull
    /// (`registry.example.com`); default: the listen address.
    pub registry_host: String,
    /// Attempts before a delivery is given up (default 5).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled before each later one
    /// (default 2 s, at most 1 h between attempts).
    pub retry_base: Duration,
    /// Time allowed for one attempt, connection included (default 10 s).
    pub timeout: Duration,
    /// Deliveries waiting beyond which new events are dropped (default 10,000).
    pub max_pending: u64,
    /// Deliveries sent at once by one node (default 8).
    pub concurrency: u32,
    /// Finished deliveries (and their logs) are deleted after this long
    /// (default 30 days); waiting ones are kept.
    pub keep: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            registry_host: "127.0.0.1:5000".into(),
            max_attempts: 5,
            retry_base: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            max_pending: 10_000,
            concurrency: 8,
            keep: Duration::from_secs(30 * 86_400),
        }
    }
}

impl WebhookConfig {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        self.retry_base
            .saturating_mul(factor)
            .min(Duration::from_secs(3600))
    }
}

/// The sending side of the event channel. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::Sender<Event>,
    dropped: Arc<AtomicU64>,
}

impl Notifier {
    /// Hands `event` to the dispatcher without waiting; drops (and counts)
    /// it when the channel is full.
    pub fn send(&self, event: Event) {
        if self.tx.try_send(event).is_err() {
            metrics::counter!(crate::metrics::WEBHOOK_EVENTS_DROPPED).increment(1);
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "webhook dispatcher is behind: events dropped");
            }
        }
    }

    /// The event of an audit entry, if it is one: a successful manifest
    /// push, pull, or delete by digest (the `/v2` API's and the management
    /// API's). SBOMs berth attaches itself raise no push.
    pub fn audited(&self, entry: &AuditEntry) {
        if entry.result != Outcome::Success {
            return;
        }
        let kind = match entry.action {
            AuditAction::Push => EventType::PushArtifact,
            AuditAction::Pull => EventType::PullArtifact,
            AuditAction::Delete => EventType::DeleteArtifact,
            _ => return,
        };
        if entry.actor.name == crate::sbom::SBOM_ACTOR {
            return;
        }
        let Some(repository) = &entry.repository else {
            return;
        };
        let mut event = Event::on_repository(kind, repository, &entry.actor.name);
        event.digest = entry.digest.clone();
        event.tag = entry.reference.clone();
        event.at_ms = entry.at_ms;
        self.send(event);
    }
}

/// A policy as the dispatcher uses it.
#[derive(Debug, Clone)]
struct Listening {
    id: i64,
    events: Vec<EventType>,
    targets: Vec<Target>,
}

/// A project's listening policies and when they were read.
type CachedPolicies = (Instant, Arc<Vec<Listening>>);

/// The dispatcher's and deliverer's shared state, made by
/// [`Registry::webhooks_start`].
pub struct Webhooks {
    config: WebhookConfig,
    wake: Notify,
    policies: Mutex<HashMap<String, CachedPolicies>>,
    client: reqwest::Client,
    insecure_client: reqwest::Client,
}

impl Webhooks {
    fn new(config: WebhookConfig) -> Webhooks {
        let build = |insecure: bool| {
            reqwest::Client::builder()
                .timeout(config.timeout)
                .connect_timeout(config.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("berth-webhook/", env!("CARGO_PKG_VERSION")))
                .danger_accept_invalid_certs(insecure)
                .build()
                .unwrap_or_default()
        };
        Webhooks {
            wake: Notify::new(),
            policies: Mutex::new(HashMap::new()),
            client: build(false),
            insecure_client: build(true),
            config,
        }
    }
}

/// The stored policy as the dispatcher uses it; a policy whose JSON does
/// not parse (it was validated when stored) listens to nothing.
fn listening(row: &WebhookPolicyRow) -> Listening {
    let events: Vec<String> = serde_json::from_str(&row.event_types).unwrap_or_default();
    Listening {
        id: row.id,
        events: events.iter().filter_map(|e| EventType::parse(e)).collect(),
        targets: serde_json::from_str(&row.targets).unwrap_or_default(),
    }
}

/// The innermost cause of an error (reqwest's own text names only the
/// step: "error sending request"), e.g. `Connection refused (os error 111)`.
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &dyn std::error::Error = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// The hex HMAC-SHA256 of `body` under `secret`: the value of the
/// `X-Berth-Signature-256` header after `sha256=`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    hex::encode(ring::hmac::sign(&key, body).as_ref())
}

impl Registry {
    /// Starts webhooks on this node: returns the receiving end of the
    /// event channel for [`Registry::webhook_dispatch`]. Once per registry;
    /// `None` when already started.
    pub fn webhooks_start(&self, config: WebhookConfig) -> Option<mpsc::Receiver<Event>> {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let notifier = Notifier {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        };
        self.webhooks.set(Arc::new(Webhooks::new(config))).ok()?;
        self.notifier.set(notifier).ok()?;
        Some(rx)
    }

    /// The event channel, once [`Registry::webhooks_start`] ran.
    pub fn webhook_notifier(&self) -> Option<Notifier> {
        self.notifier.get().cloned()
    }

    /// Hands `event` to the dispatcher (nothing when webhooks are not started).
    pub fn webhook_notify(&self, event: Event) {
        if let Some(n) = self.notifier.get() {
            n.send(event);
        }
    }

    /// Forgets the cached policies of `project` (after a change through the API).
    pub(crate) fn webhook_policies_changed(&self, project: &str) {
        if let Some(w) = self.webhooks.get() {
            w.policies
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(project);
        }
    }

    async fn listening(&self, w: &Webhooks, project: &str) -> Result<Arc<Vec<Listening>>> {
        if let Some((at, p)) = w
            .policies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(project)
        {
            if at.elapsed() < POLICY_TTL {
                return Ok(p.clone());
            }
        }
        let rows = self.meta.webhook_policies(project).await?;
        let list: Arc<Vec<Listening>> =
            Arc::new(rows.iter().filter(|r| r.enabled).map(listening).collect());
        w.policies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(project.to_string(), (Instant::now(), list.clone()));
        Ok(list)
    }

    /// The dispatcher: turns each event into deliveries for the policies
    /// listening to it. Runs until the channel closes.
    pub async fn webhook_dispatch(&self, mut rx: mpsc::Receiver<Event>) {
        let Some(w) = self.webhooks.get().cloned() else {
            return;
        };
        while let Some(event) = rx.recv().await {
            if let Err(e) = self.dispatch_one(&w, &event).await {
                tracing::warn!(error = %e, event = event.kind.as_str(), project = %event.project, "webhook event lost");
            }
        }
    }

    async fn dispatch_one(&self, w: &Webhooks, event: &Event) -> Result<()> {
        let policies = self.listening(w, &event.project).await?;
        let wanted: Vec<&Listening> = policies
            .iter()
            .filter(|p| p.events.contains(&event.kind))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let repo = payload::RepositoryInfo::read(self, event).await?;
        let mut deliveries = Vec::new();
        for p in wanted {
            for t in &p.targets {
                let (body, content_type) =
                    payload::render(event, &repo, t, p.id, &w.config.registry_host);
                deliveries.push(NewDelivery {
                    policy_id: p.id,
                    event_type: event.kind.as_str().to_string(),
                    address: t.address.clone(),
                    payload: body,
                    content_type: content_type.to_string(),
                });
            }
        }
        if self
            .meta
            .webhook_enqueue(&deliveries, w.config.max_pending)
            .await?
        {
            w.wake.notify_one();
        } else {
            metrics::counter!(crate::metrics::WEBHOOK_EVENTS_DROPPED).increment(1);
            tracing::warn!(
                event = event.kind.as_str(),
                project = %event.project,
                limit = w.config.max_pending,
                "webhook deliveries are backed up: event dropped"
            );
        }
        Ok(())
    }

    /// The delivery loop: claims due deliveries, sends them (up to
    /// `concurrency` at once), records each attempt. Idle, it waits for the
    /// dispatcher's wake-up or polls once a second (another node may have
    /// queued work). Runs until its task is aborted; a delivery cut off
    /// mid-send is claimed again when its lease ends.
    pub async fn webhook_deliver(&self) {
        let Some(w) = self.webhooks.get().cloned() else {
            return;
        };
        let lease = (w.config.timeout * 2 + Duration::from_secs(5)).as_millis() as i64;
        let mut trimmed: Option<Instant> = None;
        loop {
            if trimmed.is_none_or(|t| t.elapsed() >= TRIM_EVERY) {
                trimmed = Some(Instant::now());
                let before = berth_meta::store::now_ms()
                    - w.config.keep.as_millis().min(i64::MAX as u128) as i64;
                match self.meta.webhook_trim(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "old webhook deliveries deleted"),
                    Err(e) => tracing::warn!(error = %e, "deleting old webhook deliveries failed"),
                }
            }
            let claimed = match self
                .meta
                .webhook_claim(w.config.concurrency.max(1), lease)
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming webhook deliveries failed");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                let _ = tokio::time::timeout(Duration::from_secs(1), w.wake.notified()).await;
                continue;
            }
            futures::future::join_all(claimed.into_iter().map(|d| self.attempt(&w, d))).await;
        }
    }

    async fn attempt(&self, w: &Webhooks, d: DeliveryRow) {
        let attempt = d.attempts + 1;
        let policy = match self.meta.webhook_policy_by_id(d.policy_id).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, delivery = d.id, "reading a webhook policy failed");
                return;
            }
        };
        let start = Instant::now();
        let outcome = match &policy {
            None => Err("the policy was deleted".to_string()),
            Some(p) if !p.enabled => Err("the policy is disabled".to_string()),
            Some(p) => self.post(w, p, &d).await,
        };
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (line, next, status) = match outcome {
            Ok(code) => (
                format!("{now} attempt {attempt}: HTTP {code} in {ms:.1} ms, delivered\n"),
                None,
                "success",
            ),
            Err(why) => {
                let retry =
                    attempt < w.config.max_attempts && policy.as_ref().is_some_and(|p| p.enabled);
                let next = retry.then(|| {
                    berth_meta::store::now_ms()
                        + w.config.backoff(attempt).as_millis().min(i64::MAX as u128) as i64
                });
                let then = match next {
                    Some(_) => format!(
                        "retrying in {}",
                        humantime::format_duration(w.config.backoff(attempt))
                    ),
                    None => "giving up".to_string(),
                };
                (
                    format!("{now} attempt {attempt}: {why} ({ms:.1} ms); {then}\n"),
                    next,
                    "error",
                )
            }
        };
        metrics::counter!(crate::metrics::WEBHOOK_DELIVERIES, "result" => if status == "success" { "success" } else if next.is_some() { "retry" } else { "error" })
            .increment(1);
        if let Err(e) = self.meta.webhook_attempted(d.id, &line, next, status).await {
            tracing::warn!(error = %e, delivery = d.id, "recording a webhook attempt failed");
        }
    }

    /// POSTs a delivery: `Ok(status)` for a 2xx answer, `Err(why)` otherwise.
    async fn post(
        &self,
        w: &Webhooks,
        p: &WebhookPolicyRow,
        d: &DeliveryRow,
    ) -> std::result::Result<u16, String> {
        let targets: Vec<Target> = serde_json::from_str(&p.targets).unwrap_or_default();
        let target = targets.iter().find(|t| t.address == d.address);
        let client = match target {
            Some(t) if t.skip_cert_verify => &w.insecure_client,
            _ => &w.client,
        };
        let mut req = client
            .post(&d.address)
            .header(reqwest::header::CONTENT_TYPE, &d.content_type)
            .header("x-berth-event", &d.event_type)
            .header("x-berth-delivery", d.id.to_string())
            .body(d.payload.clone());
        if let Some(t) = target.filter(|t| !t.auth_header.is_empty()) {
            req = req.header(reqwest::header::AUTHORIZATION, &t.auth_header);
        }
        if !p.secret.is_empty() {
            req = req.header(
                "x-berth-signature-256",
                format!("sha256={}", signature(&p.secret, d.payload.as_bytes())),
            );
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => Ok(resp.status().as_u16()),
            Ok(resp) => Err(format!("HTTP {}", resp.status().as_u16())),
            Err(e) if e.is_timeout() => Err(format!(
                "no answer within {}",
                humantime::format_duration(w.config.timeout)
            )),
            Err(e) if e.is_connect() => Err(format!("connection failed: {}", cause(&e))),
            Err(e) => Err(format!("request failed: {}", cause(&e))),
        }
    }

    /// The policies of `project`.
    pub async fn webhook_policies(&self, project: &str) -> Result<Vec<WebhookPolicyRow>> {
        Ok(self.meta.webhook_policies(project).await?)
    }

    /// Policy `id` of `project`.
    pub async fn webhook_policy(&self, project: &str, id: i64) -> Result<Option<WebhookPolicyRow>> {
        Ok(self.meta.webhook_policy(project, id).await?)
    }

    /// Stores a new policy; returns its id. Errors: a unique violation when
    /// the name is taken ([`berth_meta::is_conflict`] on the `Meta` error).
    pub async fn webhook_policy_create(&self, p: &berth_meta::NewWebhookPolicy<'_>) -> Result<i64> {
        let id = self.meta.webhook_policy_create(p).await?;
        self.webhook_policies_changed(p.project);
        Ok(id)
    }

    /// Replaces policy `id`; false when the project has none.
    pub async fn webhook_policy_update(
        &self,
        id: i64,
        p: &berth_meta::NewWebhookPolicy<'_>,
    ) -> Result<bool> {
        let done = self.meta.webhook_policy_update(id, p).await?;
        self.webhook_policies_changed(p.project);
        Ok(done)
    }

    /// Deletes policy `id` with its deliveries; false when the project has none.
    pub async fn webhook_policy_delete(&self, project: &str, id: i64) -> Result<bool> {
        let done = self.meta.webhook_policy_delete(project, id).await?;
        self.webhook_policies_changed(project);
        Ok(done)
    }

    /// Deliveries of a policy, newest first, with the total.
    pub async fn webhook_deliveries(
        &self,
        policy_id: i64,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<DeliveryRow>, u64)> {
        Ok(self
            .meta
            .webhook_deliveries(policy_id, offset, limit)
            .await?)
    }

    /// Delivery `id` of a policy.
    pub async fn webhook_delivery(&self, policy_id: i64, id: i64) -> Result<Option<DeliveryRow>> {
        Ok(self.meta.webhook_delivery(policy_id, id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let c = WebhookConfig {
            retry_base: Duration::from_secs(2),
            ..WebhookConfig::default()
        };
        assert_eq!(c.backoff(1), Duration::from_secs(2));
        assert_eq!(c.backoff(2), Duration::from_secs(4));
        assert_eq!(c.backoff(3), Duration::from_secs(8));
        assert_eq!(c.backoff(40), Duration::from_secs(3600));
    }

    #[test]
    fn event_names_round_trip_and_match_harbor() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert_eq!(EventType::parse("push_artifact"), None);
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
