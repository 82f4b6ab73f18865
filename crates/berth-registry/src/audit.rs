//! The audit trail: who did what to which repository, from where, with what
//! result (docs/audit.md).
//!
//! - [`AuditLog::record`] is synchronous and never blocks or fails the request: it
//!   appends the entry to an in-memory batch under a short lock and wakes the
//!   writer.
//! - One writer task per process appends each batch in one SQLite transaction,
//!   continuing the hash chain from the last stored entry. Identical pulls within
//!   one batch are coalesced into one entry (see [`AuditLog::record`]).
//! - The chain: `hash = SHA-256(prev_hash || canonical(entry))` (both hashes as
//!   64 lowercase hex characters); [`canonical`] is the exact encoding.
//!   [`AuditLog::verify`] walks it and names the first broken entry.
//! - [`AuditLog::query`] serves the management API (Harbor's `/audit-logs`
//!   shape via [`harbor_json`]); [`AuditLog::entries_after`] serves exports.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_meta::{AuditQuery, AuditRow, MetaStore};
use berth_oci::{Algorithm, Hasher};
use tokio::sync::{oneshot, Notify};

use crate::error::Result;
use crate::registry::Registry;

pub use berth_meta::AUDIT_GENESIS;

/// A stored audit entry, as read back (its `seq`, `prev_hash` and `hash` set).
pub type AuditRecord = AuditRow;

/// What kind of principal acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorKind {
    /// A registry user (local or from an identity provider).
    User,
    /// A robot account (`robot$project+name`).
    Robot,
    /// A request without credentials.
    Anonymous,
    /// berth itself (background jobs, the audit writer's own notices).
    System,
}

impl ActorKind {
    /// The stored word: `user`, `robot`, `anonymous` or `system`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Robot => "robot",
            ActorKind::Anonymous => "anonymous",
            ActorKind::System => "system",
        }
    }
}

/// Who acted. The authentication layer puts one into each request's extensions;
/// a request without one is [`Actor::anonymous`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Actor {
    /// User or robot name; `anonymous` or `system` for those kinds.
    pub name: String,
    /// Its kind.
    pub kind: ActorKind,
}

impl Actor {
    /// A request without credentials.
    pub fn anonymous() -> Actor {
        Actor {
            name: "anonymous".into(),
            kind: ActorKind::Anonymous,
        }
    }

    /// berth itself.
    pub fn system() -> Actor {
        Actor {
            name: "system".into(),
            kind: ActorKind::System,
        }
    }

    /// A user by name.
    pub fn user(name: impl Into<String>) -> Actor {
        Actor {
            name: name.into(),
            kind: ActorKind::User,
        }
    }

    /// A robot account by its full name (`robot$project+name`).
    pub fn robot(name: impl Into<String>) -> Actor {
        Actor {
            name: name.into(),
            kind: ActorKind::Robot,
        }
    }
}

macro_rules! actions {
    ($($(#[$doc:meta])* $variant:ident = $word:literal, $op:literal, $rtype:literal;)*) => {
        /// What was done. Stored as [`AuditAction::as_str`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditAction {
            $($(#[$doc])* $variant,)*
        }

        impl AuditAction {
            /// Every action.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant),*];

            /// The stored word, e.g. `push`, `tag_delete`, `member_add`.
            pub fn as_str(self) -> &'static str {
                match self { $(AuditAction::$variant => $word,)* }
            }

            /// Harbor's `operation` for it (`create`, `delete`, `pull`, `update`, `login`).
            pub fn harbor_operation(self) -> &'static str {
                match self { $(AuditAction::$variant => $op,)* }
            }

            /// Harbor's `resource_type` for it (`artifact`, `tag`, `user`, ...).
            pub fn harbor_resource_type(self) -> &'static str {
                match self { $(AuditAction::$variant => $rtype,)* }
            }
        }

        impl FromStr for AuditAction {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                match s {
                    $($word => Ok(AuditAction::$variant),)*
                    other => Err(format!("unknown audit action {other:?}")),
                }
            }
        }
    };
}

actions! {
    /// Manifest pushed (by tag or digest).
    Push = "push", "create", "artifact";
    /// Manifest pulled (GET; a HEAD is not a pull).
    Pull = "pull", "pull", "artifact";
    /// Manifest deleted by digest.
    Delete = "delete", "delete", "artifact";
    /// Tag deleted (manifest DELETE by tag, or the management API).
    TagDelete = "tag_delete", "delete", "tag";
    /// Tag added to an existing artifact through the management API (retag).
    TagCreate = "tag_create", "create", "tag";
    /// Repository deleted through the management API, with all it held.
    RepositoryDelete = "repository_delete", "delete", "repository";
    /// Blob deleted from a repository.
    BlobDelete = "blob_delete", "delete", "blob";
    /// Login attempt (HTTP Basic, token endpoint, UI).
    Login = "login", "login", "user";
    /// Bearer token issued.
    TokenIssue = "token_issue", "create", "token";
    /// User created.
    UserCreate = "user_create", "create", "user";
    /// User changed (password, admin flag, ...).
    UserUpdate = "user_update", "update", "user";
    /// User deleted.
    UserDelete = "user_delete", "delete", "user";
    /// Project created.
    ProjectCreate = "project_create", "create", "project";
    /// Project changed.
    ProjectUpdate = "project_update", "update", "project";
    /// Project deleted.
    ProjectDelete = "project_delete", "delete", "project";
    /// Project member added.
    MemberAdd = "member_add", "create", "project_member";
    /// Project member's role changed.
    MemberUpdate = "member_update", "update", "project_member";
    /// Project member removed.
    MemberRemove = "member_remove", "delete", "project_member";
    /// Robot account created.
    RobotCreate = "robot_create", "create", "robot";
    /// Robot account changed (permissions, expiry, secret).
    RobotUpdate = "robot_update", "update", "robot";
    /// Robot account deleted.
    RobotDelete = "robot_delete", "delete", "robot";
    /// A permission or policy changed.
    PermissionChange = "permission_change", "update", "permission";
    /// The audit writer dropped entries (its buffer was full); the detail says how many.
    AuditDropped = "audit_dropped", "delete", "audit_log";
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It was done.
    Success,
    /// It was refused or failed (the detail says why, e.g. the HTTP status).
    Failure,
}

impl Outcome {
    /// `success` or `failure`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// One thing to record. Build with [`AuditEntry::new`] and the setters.
///
/// Targets: `repository`, `reference` (tag) and `digest` for registry actions;
/// for account actions, `repository` holds the project (when project-scoped),
/// `reference` the name of the user, robot or member acted on, and `detail`
/// what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// Who.
    pub actor: Actor,
    /// Client IP address.
    pub source_ip: Option<IpAddr>,
    /// What.
    pub action: AuditAction,
    /// Repository (or project, for account actions).
    pub repository: Option<String>,
    /// Tag, or the name of the account acted on.
    pub reference: Option<String>,
    /// Digest acted on.
    pub digest: Option<String>,
    /// Result.
    pub result: Outcome,
    /// Free text.
    pub detail: Option<String>,
}

impl AuditEntry {
    /// An entry stamped now.
    pub fn new(actor: Actor, action: AuditAction, result: Outcome) -> AuditEntry {
        AuditEntry {
            at_ms: berth_meta::store::now_ms(),
            actor,
            source_ip: None,
            action,
            repository: None,
            reference: None,
            digest: None,
            result,
            detail: None,
        }
    }

    /// Sets the client IP.
    pub fn ip(mut self, ip: Option<IpAddr>) -> Self {
        self.source_ip = ip;
        self
    }

    /// Sets the repository (or project).
    pub fn repository(mut self, r: impl Into<String>) -> Self {
        self.repository = Some(r.into());
        self
    }

    /// Sets the reference (tag, or account name).
    pub fn reference(mut self, r: impl Into<String>) -> Self {
        self.reference = Some(r.into());
        self
    }

    /// Sets the digest.
    pub fn digest(mut self, d: impl Into<String>) -> Self {
        self.digest = Some(d.into());
        self
    }

    /// Sets the detail.
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }

    fn into_row(self, count: u32, last_at: i64) -> AuditRow {
        let detail = if count > 1 {
            let c = format!("coalesced {count} pulls, the last at {}", rfc3339(last_at));
            Some(match self.detail {
                Some(d) => format!("{d}; {c}"),
                None => c,
            })
        } else {
            self.detail
        };
        AuditRow {
            seq: 0,
            at: self.at_ms,
            actor: self.actor.name,
            actor_kind: self.actor.kind.as_str().into(),
            source_ip: self.source_ip.map(|ip| ip.to_string()),
            action: self.action.as_str().into(),
            repository: self.repository,
            reference: self.reference,
            digest: self.digest,
            result: self.result.as_str().into(),
            detail,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }
}

/// The canonical content of an entry (format `berth-audit-v1`), the bytes its
/// hash covers after `prev_hash`: the line `berth-audit-v1\n`, then each field in
/// this order — seq, at, actor, actor_kind, source_ip, action, repository,
/// reference, digest, result, detail — as `<byte length in decimal>:<UTF-8 bytes>`
/// (integers in decimal), or `~` when absent. Length prefixes make the encoding
/// unambiguous: no choice of field values gives two entries the same bytes.
pub fn canonical(row: &AuditRow) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, v: Option<&str>) {
        match v {
            Some(s) => {
                out.extend_from_slice(s.len().to_string().as_bytes());
                out.push(b':');
                out.extend_from_slice(s.as_bytes());
            }
            None => out.push(b'~'),
        }
    }
    let mut out = b"berth-audit-v1\n".to_vec();
    field(&mut out, Some(&row.seq.to_string()));
    field(&mut out, Some(&row.at.to_string()));
    field(&mut out, Some(&row.actor));
    field(&mut out, Some(&row.actor_kind));
    field(&mut out, row.source_ip.as_deref());
    field(&mut out, Some(&row.action));
    field(&mut out, row.repository.as_deref());
    field(&mut out, row.reference.as_deref());
    field(&mut out, row.digest.as_deref());
    field(&mut out, Some(&row.result));
    field(&mut out, row.detail.as_deref());
    out
}

/// `hex(SHA-256(prev_hash || canonical(row)))`, with `prev_hash` taken from the
/// row as its 64 ASCII hex characters.
pub fn chain_hash(row: &AuditRow) -> String {
    let mut h = Hasher::new(Algorithm::Sha256);
    h.update(row.prev_hash.as_bytes());
    h.update(&canonical(row));
    h.finish().hex().to_string()
}

/// Why the chain is broken at an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first entry that does not check out.
    pub seq: i64,
    /// What is wrong with it, for people.
    pub reason: String,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry {} {}", self.seq, self.reason)
    }
}

/// Walks a chain entry by entry, oldest first.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    next_seq: i64,
    prev_hash: String,
    checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            next_seq: 1,
            prev_hash: AUDIT_GENESIS.to_string(),
            checked: 0,
        }
    }
}

impl ChainVerifier {
    /// Checks the next entry: its seq follows the previous one, its `prev_hash` is
    /// the previous entry's hash, and its hash matches its content.
    pub fn check(&mut self, row: &AuditRow) -> std::result::Result<(), ChainBreak> {
        let broken = |reason: String| ChainBreak {
            seq: row.seq,
            reason,
        };
        if row.seq != self.next_seq {
            return Err(broken(if row.seq > self.next_seq {
                format!(
                    "follows entry {}: entries {}..{} are missing (deleted)",
                    self.next_seq - 1,
                    self.next_seq,
                    row.seq - 1
                )
            } else {
                format!("is out of order: expected entry {}", self.next_seq)
            }));
        }
        if row.prev_hash != self.prev_hash {
            return Err(broken(if self.next_seq == 1 {
                "does not start the chain: its prev_hash is not the genesis value (entries before it were deleted, or it was altered)".into()
            } else {
                format!(
                    "does not link to entry {}: its prev_hash differs from that entry's hash (an entry was altered, deleted or reordered)",
                    self.next_seq - 1
                )
            }));
        }
        let computed = chain_hash(row);
        if computed != row.hash {
            return Err(broken(format!(
                "was altered: its stored hash {} does not match its content (computed {computed})",
                row.hash
            )));
        }
        self.prev_hash = computed;
        self.next_seq += 1;
        self.checked += 1;
        Ok(())
    }

    /// Entries checked so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The hash of the last entry checked (the genesis value when none).
    pub fn head_hash(&self) -> &str {
        &self.prev_hash
    }
}

/// The result of [`AuditLog::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainCheck {
    /// Every entry checks out.
    Intact {
        /// How many entries.
        entries: u64,
        /// The last entry's hash: keep it elsewhere to detect a rewritten tail later.
        head_hash: String,
    },
    /// The first broken entry.
    Broken(ChainBreak),
}

/// Filters for [`AuditLog::query`]; `None` (and no actions) means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Exact actor name.
    pub actor: Option<String>,
    /// Any of these actions; empty: any action.
    pub actions: Vec<AuditAction>,
    /// Exact repository name.
    pub repository: Option<String>,
    /// At or after, Unix ms.
    pub from_ms: Option<i64>,
    /// At or before, Unix ms.
    pub to_ms: Option<i64>,
}

impl AuditFilter {
    fn to_query(&self, after_seq: Option<i64>) -> AuditQuery {
        AuditQuery {
            actor: self.actor.clone(),
            actions: self
                .actions
                .iter()
                .map(|a| a.as_str().to_string())
                .collect(),
            repository: self.repository.clone(),
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            after_seq,
        }
    }
}

/// Largest page [`AuditLog::query`] returns (Harbor's limit for `page_size`).
pub const MAX_PAGE_SIZE: u32 = 100;

/// Settings of the audit writer (`[audit]` in the configuration).
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Record anything at all. Default true.
    pub enabled: bool,
    /// How long the writer gathers entries after the first of a batch before it
    /// writes them: fewer commits (each is an fsync) at the cost of that much
    /// loss on a crash. Default 50 ms.
    pub batch_delay: Duration,
    /// Entries waiting to be written beyond which new non-coalescible entries are
    /// dropped (and counted in an `audit_dropped` entry) rather than grow memory
    /// without bound while the database is stuck. Default 100 000.
    pub max_pending: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: true,
            batch_delay: Duration::from_millis(50),
            max_pending: 100_000,
        }
    }
}

/// Identical pulls in one batch become one entry: the fields that must match.
fn same_pull(a: &AuditEntry, b: &AuditEntry) -> bool {
    a.actor == b.actor
        && a.source_ip == b.source_ip
        && a.repository == b.repository
        && a.reference == b.reference
        && a.digest == b.digest
        && a.result == b.result
}

/// A hash of the fields [`same_pull`] compares, computed without copying them.
fn pull_key(e: &AuditEntry) -> u64 {
    use std::hash::{Hash, Hasher as _};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    e.actor.hash(&mut h);
    e.source_ip.hash(&mut h);
    e.repository.hash(&mut h);
    e.reference.hash(&mut h);
    e.digest.hash(&mut h);
    e.result.hash(&mut h);
    h.finish()
}

#[derive(Default)]
struct Pending {
    /// Entries with their coalesced count and the time of the last one.
    entries: Vec<(AuditEntry, u32, i64)>,
    /// [`pull_key`] → index of the waiting pull with those fields.
    pulls: HashMap<u64, usize>,
    dropped: u64,
    flushes: Vec<oneshot::Sender<()>>,
}

struct Writer {
    pending: Mutex<Pending>,
    wake: Notify,
    closing: AtomicBool,
    max_pending: usize,
    batch_delay: Duration,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    written: AtomicU64,
}

/// The audit trail of one registry process. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    meta: MetaStore,
    writer: Option<Arc<Writer>>,
}

impl AuditLog {
    /// Starts the writer task over the registry's database (needs a tokio
    /// runtime). With `enabled = false`, [`record`](Self::record) does nothing but
    /// queries and verification still read the stored trail.
    pub fn start(registry: &Registry, cfg: &AuditConfig) -> AuditLog {
        if !cfg.enabled {
            return AuditLog::disabled(registry);
        }
        let meta = registry.meta.clone();
        let writer = Arc::new(Writer {
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            closing: AtomicBool::new(false),
            max_pending: cfg.max_pending.max(1),
            batch_delay: cfg.batch_delay,
            task: Mutex::new(None),
            written: AtomicU64::new(0),
        });
        let task = tokio::spawn(run_writer(meta.clone(), writer.clone()));
        if let Ok(mut t) = writer.task.lock() {
            *t = Some(task);
        }
        AuditLog {
            meta,
            writer: Some(writer),
        }
    }

    /// A log that records nothing but can still query the stored trail.
    pub fn disabled(registry: &Registry) -> AuditLog {
        AuditLog {
            meta: registry.meta.clone(),
            writer: None,
        }
    }

    /// Opens the trail of `<data_dir>/meta.db` read-only, for `berth audit` while
    /// `serve` may be running. Records nothing.
    ///
    /// Errors: [`crate::Error::Meta`] when the database is missing or unreadable.
    pub async fn open_read_only(data_dir: &Path) -> Result<AuditLog> {
        let meta = MetaStore::open_sqlite_read_only(&data_dir.join("meta.db")).await?;
        Ok(AuditLog { meta, writer: None })
    }

    /// True when entries are recorded.
    pub fn enabled(&self) -> bool {
        self.writer.is_some()
    }

    /// Queues an entry; returns at once and never fails the caller.
    ///
    /// Pulls (action `pull`) identical in actor, IP, repository, reference, digest
    /// and result that wait in the same batch are coalesced into the first one;
    /// its detail then says how many and when the last was. Other entries are kept
    /// one by one. When more than `max_pending` entries wait (the database is
    /// stuck), further entries are dropped and counted; the writer records the
    /// count as an `audit_dropped` entry with its next batch.
    pub fn record(&self, entry: AuditEntry) {
        let Some(w) = &self.writer else { return };
        let Ok(mut p) = w.pending.lock() else { return };
        let was_empty = p.entries.is_empty();
        if entry.action == AuditAction::Pull {
            let key = pull_key(&entry);
            if let Some(&i) = p.pulls.get(&key) {
                if let Some(slot) = p.entries.get_mut(i) {
                    if same_pull(&slot.0, &entry) {
                        slot.1 = slot.1.saturating_add(1);
                        slot.2 = entry.at_ms;
                        return;
                    }
                }
            }
            if p.entries.len() >= w.max_pending {
                p.dropped += 1;
                return;
            }
            // On a (rare) hash collision with a different pull, the first keeps
            // the index and this one is simply not coalesced.
            let i = p.entries.len();
            p.pulls.entry(key).or_insert(i);
        } else if p.entries.len() >= w.max_pending {
            p.dropped += 1;
            return;
        }
        let at = entry.at_ms;
        p.entries.push((entry, 1, at));
        drop(p);
        if was_empty {
            w.wake.notify_one();
        }
    }

    /// Waits until everything recorded before the call is stored.
    pub async fn flush(&self) {
        let Some(w) = &self.writer else { return };
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = w.pending.lock() {
            p.flushes.push(tx);
        } else {
            return;
        }
        w.wake.notify_one();
        let _ = rx.await;
    }

    /// Writes what is pending and stops the writer (call on shutdown, after the
    /// last request finished). Later entries are ignored.
    pub async fn shutdown(&self) {
        let Some(w) = &self.writer else { return };
        w.closing.store(true, Ordering::SeqCst);
        w.wake.notify_one();
        let task = w.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Entries stored by this process's writer so far (coalesced pulls count once).
    pub fn written(&self) -> u64 {
        self.writer
            .as_ref()
            .map_or(0, |w| w.written.load(Ordering::Relaxed))
    }

    /// One page of entries matching `filter`, newest first, and the number of all
    /// matching entries. `page` counts from 1; `page_size` is clamped to 1..=100.
    /// For `GET /api/v2.0/audit-logs` (render each with [`harbor_json`]).
    pub async fn query(
        &self,
        filter: &AuditFilter,
        page: u32,
        page_size: u32,
    ) -> Result<(Vec<AuditRecord>, u64)> {
        let size = page_size.clamp(1, MAX_PAGE_SIZE);
        let offset = u64::from(page.max(1) - 1) * u64::from(size);
        let q = filter.to_query(None);
        let rows = self.meta.audit_entries(&q, offset, size, true).await?;
        let total = self.meta.audit_count(&q).await?;
        Ok((rows, total))
    }

    /// Up to `limit` entries matching `filter` with `seq > after_seq`, oldest
    /// first: page through the whole trail for an export.
    pub async fn entries_after(
        &self,
        filter: &AuditFilter,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>> {
        Ok(self
            .meta
            .audit_entries(&filter.to_query(Some(after_seq)), 0, limit, false)
            .await?)
    }

    /// Walks the whole chain from the first entry and reports the first entry
    /// that is missing, out of place or altered.
    pub async fn verify(&self) -> Result<ChainCheck> {
        let mut v = ChainVerifier::default();
        let mut after = 0;
        loop {
            let rows = self
                .entries_after(&AuditFilter::default(), after, 1000)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.seq;
            for row in &rows {
                if let Err(b) = v.check(row) {
                    return Ok(ChainCheck::Broken(b));
                }
            }
        }
        Ok(ChainCheck::Intact {
            entries: v.checked(),
            head_hash: v.head_hash().to_string(),
        })
    }
}

async fn run_writer(meta: MetaStore, w: Arc<Writer>) {
    loop {
        let idle = w
            .pending
            .lock()
            .map(|p| p.entries.is_empty() && p.flushes.is_empty() && p.dropped == 0)
            .unwrap_or(true);
        let closing = w.closing.load(Ordering::SeqCst);
        if idle && closing {
            return;
        }
        if idle {
            w.wake.notified().await;
            continue;
        }
        let urgent = closing || w.pending.lock().map_or(true, |p| !p.flushes.is_empty());
        if !urgent && !w.batch_delay.is_zero() {
            // Gather more; a flush or shutdown cuts the wait short.
            let _ = tokio::time::timeout(w.batch_delay, w.wake.notified()).await;
        }
        let taken = match w.pending.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => return,
        };
        let mut rows: Vec<AuditRow> = taken
            .entries
            .into_iter()
            .map(|(e, n, last)| e.into_row(n, last))
            .collect();
        if taken.dropped > 0 {
            rows.push(
                AuditEntry::new(Actor::system(), AuditAction::AuditDropped, Outcome::Failure)
                    .detail(format!(
                        "{} entries dropped: more than the pending limit waited to be written",
                        taken.dropped
                    ))
                    .into_row(1, 0),
            );
        }
        let n = rows.len() as u64;
        let mut attempt = 0u32;
        loop {
            match meta.audit_append(rows.clone(), chain_hash).await {
                Ok(_) => {
                    w.written.fetch_add(n, Ordering::Relaxed);
                    break;
                }
                Err(e) => {
                    attempt += 1;
                    let giving_up = w.closing.load(Ordering::SeqCst) && attempt >= 3;
                    tracing::error!(
                        entries = n,
                        attempt,
                        "audit: writing entries failed: {e}{}",
                        if giving_up {
                            "; shutting down, the entries are lost"
                        } else {
                            "; retrying"
                        }
                    );
                    if giving_up {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        for f in taken.flushes {
            let _ = f.send(());
        }
    }
}

/// An entry as one JSON object with every stored field (the export line format):
/// `seq`, `at` (RFC 3339 UTC), `at_ms`, `actor`, `actor_kind`, `source_ip`,
/// `action`, `repository`, `reference`, `digest`, `result`, `detail`,
/// `prev_hash`, `hash`; absent fields are `null`.
pub fn record_json(r: &AuditRecord) -> serde_json::Value {
    serde_json::json!({
        "seq": r.seq,
        "at": rfc3339(r.at),
        "at_ms": r.at,
        "actor": r.actor,
        "actor_kind": r.actor_kind,
        "source_ip": r.source_ip,
        "action": r.action,
        "repository": r.repository,
        "reference": r.reference,
        "digest": r.digest,
        "result": r.result,
        "detail": r.detail,
        "prev_hash": r.prev_hash,
        "hash": r.hash,
    })
}

/// An entry in Harbor's audit log shape (`GET /api/v2.0/audit-logs`, model
/// `AuditLog`: `id`, `username`, `resource`, `resource_type`, `operation`,
/// `op_time`), followed by berth's own fields (`action`, `actor_kind`,
/// `source_ip`, `repository`, `reference`, `digest`, `result`, `detail`, `hash`).
/// `resource` is `repository:tag`, `repository@digest`, the repository, or the
/// account acted on; see docs/audit.md for the full mapping.
pub fn harbor_json(r: &AuditRecord) -> serde_json::Value {
    let action = AuditAction::from_str(&r.action).ok();
    let resource = match (&r.repository, &r.reference, &r.digest) {
        (Some(repo), Some(tag), _) => format!("{repo}:{tag}"),
        (Some(repo), None, Some(d)) => format!("{repo}@{d}"),
        (Some(repo), None, None) => repo.clone(),
        (None, Some(name), _) => name.clone(),
        (None, None, Some(d)) => d.clone(),
        (None, None, None) => String::new(),
    };
    serde_json::json!({
        "id": r.seq,
        "username": r.actor,
        "resource": resource,
        "resource_type": action.map_or("unknown", |a| a.harbor_resource_type()),
        "operation": action.map_or(r.action.as_str(), |a| a.harbor_operation()),
        "op_time": rfc3339(r.at),
        "action": r.action,
        "actor_kind": r.actor_kind,
        "source_ip": r.source_ip,
        "repository": r.repository,
        "reference": r.reference,
        "digest": r.digest,
        "result": r.result,
        "detail": r.detail,
        "hash": r.hash,
    })
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix ms as RFC 3339 UTC with milliseconds, e.g. `2026-12-01T03:22:14.000Z`.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        ms.rem_euclid(1000)
    )
}

/// Parses a time for filters: Unix milliseconds (`1764559334000`), a date
/// (`2026-12-01`, midnight UTC) or RFC 3339 in UTC (`2026-12-01T03:22:14Z`,
/// optional `.fff` fraction). `None` when it is none of these.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let num = |t: &str| -> Option<i64> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let (date, time) = match s.split_once(['T', 't', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut dp = date.splitn(3, '-');
    let (y, m, d) = (num(dp.next()?)?, num(dp.next()?)?, num(dp.next()?)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms = days_from_civil(y, m as u32, d as u32) * 86_400_000;
    if let Some(t) = time {
        let t = t.strip_suffix(['Z', 'z'])?;
        let (hms, frac) = match t.split_once('.') {
            Some((a, f)) => (a, Some(f)),
            None => (t, None),
        };
        let mut tp = hms.splitn(3, ':');
        let (h, mi, sec) = (num(tp.next()?)?, num(tp.next()?)?, num(tp.next()?)?);
        if h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        ms += (h * 3600 + mi * 60 + sec) * 1000;
        if let Some(f) = frac {
            let f3: String = f.chars().chain("000".chars()).take(3).collect();
            num(f)?;
            ms += num(&f3)?;
        }
    }
    Some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn sample(action: AuditAction) -> AuditEntry {
        AuditEntry::new(Actor::anonymous(), action, Outcome::Success)
            .ip(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)))
            .repository("team/app")
            .reference("v1")
            .digest(format!("sha256:{}", "a".repeat(64)))
    }

    fn chain(n: usize) -> Vec<AuditRow> {
        let mut prev = AUDIT_GENESIS.to_string();
        (0..n)
            .map(|i| {
                let mut r = sample(AuditAction::ALL[i % AuditAction::ALL.len()]).into_row(1, 0);
                r.seq = i as i64 + 1;
                r.at = 1_000 + i as i64;
                r.prev_hash = prev.clone();
                r.hash = chain_hash(&r);
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    fn verify(rows: &[AuditRow]) -> std::result::Result<u64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for r in rows {
            v.check(r)?;
        }
        Ok(v.checked())
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
        assert_eq!(verify(&[]), Ok(0));
    }

    #[test]
    fn altering_any_field_of_an_entry_breaks_the_chain_at_that_entry() {
        type Edit = fn(&mut AuditRow);
        let edits: Vec<(&str, Edit)> = vec![
            ("at", |r| r.at += 1),
            ("actor", |r| r.actor = "admin".into()),
            ("actor_kind", |r| r.actor_kind = "user".into()),
            ("source_ip", |r| r.source_ip = Some("10.0.0.1".into())),
            ("source_ip null", |r| r.source_ip = None),
            ("action", |r| r.action = "pull".into()),
            ("repository", |r| r.repository = Some("team/other".into())),
            ("reference", |r| r.reference = None),
            ("digest", |r| r.digest = Some("sha256:00".into())),
            ("result", |r| r.result = "failure".into()),
            ("detail", |r| r.detail = Some("".into())),
            ("prev_hash", |r| r.prev_hash = "1".repeat(64)),
            ("hash", |r| r.hash = "2".repeat(64)),
        ];
        for (name, edit) in edits {
            let mut rows = chain(5);
            edit(&mut rows[2]);
            let b = verify(&rows).unwrap_err();
            assert_eq!(b.seq, 3, "editing {name}: {b}");
            assert!(b.to_string().starts_with("entry 3 "), "{b}");
        }
    }

    #[test]
    fn deleting_or_reordering_entries_breaks_the_chain() {
        let mut rows = chain(5);
        rows.remove(2);
        let b = verify(&rows).unwrap_err();
        assert_eq!(b.seq, 4);
        assert!(b.reason.contains("missing"), "{b}");

        // Deleted and renumbered: the next entry no longer links.
        let mut rows = chain(5);
        rows.remove(2);
        for (i, r) in rows.iter_mut().enumerate() {
            r.seq = i as i64 + 1;
        }
        assert_eq!(verify(&rows).unwrap_err().seq, 3);

        // The first entry deleted and the rest renumbered.
        let mut rows = chain(3);
        rows.remove(0);
        for (i, r) in rows.iter_mut().enumerate() {
            r.seq = i as i64 + 1;
        }
        assert_eq!(verify(&rows).unwrap_err().seq, 1);

        // Two entries swapped, with or without their seq.
        let mut rows = chain(5);
        rows.swap(1, 2);
        assert_eq!(verify(&rows).unwrap_err().seq, 3);
        let mut rows = chain(5);
        rows.swap(1, 2);
        rows[1].seq = 2;
        rows[2].seq = 3;
        assert_eq!(verify(&rows).unwrap_err().seq, 2);
    }

    #[test]
    fn canonical_encoding_distinguishes_absent_empty_and_shifted_fields() {
        let mut a = sample(AuditAction::Push).into_row(1, 0);
        a.reference = Some("ab".into());
        a.digest = Some("c".into());
        let mut b = a.clone();
        b.reference = Some("a".into());
        b.digest = Some("bc".into());
        assert_ne!(canonical(&a), canonical(&b));
        let mut c = a.clone();
        c.detail = Some(String::new());
        assert_ne!(canonical(&a), canonical(&c));
        // The documented encoding, byte for byte.
        let mut r = a.clone();
        r.seq = 7;
        r.at = 12;
        r.source_ip = None;
        r.repository = None;
        r.detail = None;
        assert_eq!(
            String::from_utf8(canonical(&r)).unwrap(),
            "berth-audit-v1\n1:72:129:anonymous9:anonymous~4:push~2:ab1:c7:success~"
        );
    }

    #[test]
    fn actions_round_trip_through_their_stored_words() {
        for a in AuditAction::ALL {
            assert_eq!(a.as_str().parse::<AuditAction>(), Ok(*a));
        }
        assert!("fly".parse::<AuditAction>().is_err());
    }

    #[test]
    fn times_format_and_parse_as_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_764_559_334_123), "2025-12-01T03:22:14.123Z");
        assert_eq!(
            parse_time("2025-12-01T03:22:14.123Z"),
            Some(1_764_559_334_123)
        );
        assert_eq!(parse_time("2025-12-01T03:22:14Z"), Some(1_764_559_334_000));
        assert_eq!(parse_time("2024-02-29"), Some(1_709_164_800_000));
        assert_eq!(parse_time("1764559334000"), Some(1_764_559_334_000));
        for bad in [
            "",
            "yesterday",
            "2025-13-01",
            "2025-12-01T03:22:14",
            "2025-12-01T25:00:00Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    async fn registry() -> (tempfile::TempDir, Registry) {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(dir.path(), crate::Limits::default())
            .await
            .unwrap();
        (dir, reg)
    }

    #[tokio::test]
    async fn the_writer_batches_coalesces_identical_pulls_and_keeps_the_chain() {
        let (dir, reg) = registry().await;
        let log = AuditLog::start(
            &reg,
            &AuditConfig {
                batch_delay: Duration::from_secs(3600),
                ..Default::default()
            },
        );
        log.record(sample(AuditAction::Push));
        for _ in 0..5 {
            log.record(sample(AuditAction::Pull));
        }
        log.record(sample(AuditAction::Pull).reference("v2"));
        log.record(
            AuditEntry::new(Actor::user("alice"), AuditAction::Pull, Outcome::Success)
                .repository("team/app")
                .reference("v1"),
        );
        log.record(sample(AuditAction::Delete));
        // The hour-long batch delay is cut short by the flush: one batch.
        log.flush().await;
        assert_eq!(log.written(), 5);
        let (rows, total) = log.query(&AuditFilter::default(), 1, 100).await.unwrap();
        assert_eq!(total, 5);
        let actions: Vec<_> = rows.iter().rev().map(|r| r.action.as_str()).collect();
        assert_eq!(actions, ["push", "pull", "pull", "pull", "delete"]);
        let coalesced = &rows[3];
        assert_eq!(coalesced.reference.as_deref(), Some("v1"));
        assert_eq!(coalesced.actor, "anonymous");
        assert!(
            coalesced
                .detail
                .as_deref()
                .unwrap()
                .starts_with("coalesced 5 pulls"),
            "{coalesced:?}"
        );
        assert_eq!(rows[1].actor, "alice");
        assert_eq!(rows[1].actor_kind, "user");
        assert_eq!(rows[1].detail, None);

        // A pull after the batch was written is a new entry.
        log.record(sample(AuditAction::Pull));
        log.shutdown().await;
        // After shutdown, records are ignored.
        log.record(sample(AuditAction::Push));
        let ro = AuditLog::open_read_only(dir.path()).await.unwrap();
        match ro.verify().await.unwrap() {
            ChainCheck::Intact { entries, head_hash } => {
                assert_eq!(entries, 6);
                assert_eq!(head_hash.len(), 64);
            }
            other => panic!("{other:?}"),
        }
        let f = AuditFilter {
            actor: Some("anonymous".into()),
            actions: vec![AuditAction::Pull],
            repository: Some("team/app".into()),
            ..Default::default()
        };
        let (page2, total) = ro.query(&f, 2, 2).await.unwrap();
        assert_eq!(total, 3);
        assert_eq!(page2.len(), 1);
        assert_eq!(page2[0].seq, 2);
        let all = ro
            .entries_after(&AuditFilter::default(), 4, 10)
            .await
            .unwrap();
        assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), [5, 6]);
        let j = harbor_json(&all[1]);
        assert_eq!(j["operation"], "pull");
        assert_eq!(j["resource"], "team/app:v1");
        assert_eq!(j["resource_type"], "artifact");
        assert_eq!(j["username"], "anonymous");
        assert_eq!(j["id"], 6);
        reg.close().await;
    }

    #[tokio::test]
    async fn a_full_buffer_drops_and_then_records_how_many() {
        let (_dir, reg) = registry().await;
        let log = AuditLog::start(
            &reg,
            &AuditConfig {
                batch_delay: Duration::from_secs(3600),
                max_pending: 2,
                ..Default::default()
            },
        );
        for _ in 0..3 {
            log.record(sample(AuditAction::Push));
        }
        log.flush().await;
        let (rows, total) = log.query(&AuditFilter::default(), 1, 10).await.unwrap();
        assert_eq!(total, 3);
        assert_eq!(rows[0].action, "audit_dropped");
        assert_eq!(rows[0].actor_kind, "system");
        assert!(rows[0]
            .detail
            .as_deref()
            .unwrap()
            .starts_with("1 entries dropped"));
        log.shutdown().await;
        reg.close().await;
    }

    #[tokio::test]
    async fn a_disabled_log_records_nothing() {
        let (_dir, reg) = registry().await;
        let log = AuditLog::start(
            &reg,
            &AuditConfig {
                enabled: false,
                ..Default::default()
            },
        );
        assert!(!log.enabled());
        log.record(sample(AuditAction::Push));
        log.flush().await;
        log.shutdown().await;
        assert_eq!(
            log.query(&AuditFilter::default(), 1, 10).await.unwrap().1,
            0
        );
        reg.close().await;
    }
}
