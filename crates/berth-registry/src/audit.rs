//! The audit trail: who did what to which repository, from where, with what
//! result (docs/audit.md).
//!
//! - [`AuditLog::record`] is synchronous and never blocks or fails the request: it
//!   appends the entry to an in-memory batch under a short lock and wakes the
//!   writer.
//! - One writer task per process appends each batch in one SQLite transaction,
//!   continuing the hash chain from the last stored entry. Identical pulls within
//!   one batch are coalesced into one entry; failed logins and anonymous token
//!   issues are coalesced over a time window into counted entries, with the
//!   number of distinct ones held in memory bounded (see [`AuditLog::record`]).
//! - Every text field is capped ([`MAX_FIELD_BYTES`], [`MAX_DETAIL_BYTES`]), so
//!   no request can make an entry large.
//! - Retention: [`AuditLog::trim`] archives the oldest entries to a JSON-lines
//!   file and deletes them behind an [`AuditCheckpoint`]; [`AuditLog::verify`]
//!   then starts at the checkpoint's anchored hash and [`verify_archive`] checks
//!   an archive links up to it. With `retention` set, [`AuditLog::start`] runs
//!   [`AuditLog::trim_expired`] once a day.
//! - The chain: `hash = SHA-256(prev_hash || canonical(entry))` (both hashes as
//!   64 lowercase hex characters); [`canonical`] is the exact encoding.
//!   [`AuditLog::verify`] walks it and names the first broken entry.
//! - [`AuditLog::query`] serves the management API (Harbor's `/audit-logs`
//!   shape via [`harbor_json`]); [`AuditLog::entries_after`] serves exports.

use std::collections::HashMap;
use std::fmt;
use std::io::BufRead;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_meta::{AuditQuery, AuditRow, AuditTrimOutcome, MetaStore};
use berth_oci::{Algorithm, Hasher};
use tokio::sync::{oneshot, Notify};

use crate::error::Result;
use crate::registry::Registry;

pub use berth_meta::{AuditCheckpoint, AUDIT_GENESIS};

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
    /// A project's retention policy set (replaced) or removed.
    RetentionChange = "retention_change", "update", "retention_policy";
    /// A project's retention policy run now (dry runs too); detail: what it
    /// kept and deleted.
    RetentionRun = "retention_run", "create", "retention_execution";
    /// An immutable tag rule added, changed or removed; reference: the rule id.
    ImmutableRuleChange = "immutable_rule_change", "update", "immutable_rule";
    /// A project's tag naming rule set or cleared.
    TagRuleChange = "tag_rule_change", "update", "tag_naming_rule";
    /// A project's storage quota set, or reset to the default.
    QuotaChange = "quota_change", "update", "quota";
    /// An upstream registry added (`/registries`, `berth registry add`);
    /// reference: its name.
    RegistryCreate = "registry_create", "create", "registry";
    /// An upstream registry changed; reference: its name.
    RegistryUpdate = "registry_update", "update", "registry";
    /// An upstream registry removed; reference: its name.
    RegistryDelete = "registry_delete", "delete", "registry";
    /// A replication policy added; reference: its name.
    ReplicationPolicyCreate = "replication_policy_create", "create", "replication_policy";
    /// A replication policy changed; reference: its name.
    ReplicationPolicyUpdate = "replication_policy_update", "update", "replication_policy";
    /// A replication policy deleted with its history; reference: its id.
    ReplicationPolicyDelete = "replication_policy_delete", "delete", "replication_policy";
    /// A replication execution started by hand (API or CLI); reference: the
    /// policy id, detail: the execution id.
    ReplicationRun = "replication_run", "create", "replication_execution";
    /// A replication execution asked to stop; reference: its id.
    ReplicationStop = "replication_stop", "update", "replication_execution";
    /// A garbage-collection run started (API, CLI or schedule; dry runs
    /// too); detail: the run id with its parameters, or what it deleted.
    GcRun = "gc_run", "create", "gc";
    /// A personal access token created (its secret is never recorded);
    /// reference: the user, detail: the token's name.
    AccessTokenCreate = "access_token_create", "create", "access_token";
    /// A personal access token revoked; reference: the user, detail: its name.
    AccessTokenRevoke = "access_token_revoke", "delete", "access_token";
    /// An external scanner registered (`POST /scanners`); reference: its name.
    ScannerCreate = "scanner_create", "create", "scanner";
    /// A scanner registration changed, or made the default; reference: its
    /// name.
    ScannerUpdate = "scanner_update", "update", "scanner";
    /// A scanner registration removed; reference: its name.
    ScannerDelete = "scanner_delete", "delete", "scanner";
    /// A signature verified (at push, or again after the project's keys
    /// changed); repository and digest: the signature manifest's, reference:
    /// the signed manifest's digest, detail: the verdict (verified, failed,
    /// unknown_key, invalid) and why; a failure unless verified.
    SignatureVerify = "signature_verify", "create", "signature";
    /// A project's trusted signing key added or removed; reference: the key
    /// name, detail: its algorithm and fingerprint.
    TrustedKeyChange = "trusted_key_change", "update", "trusted_key";
    /// A scan asked for by hand (`POST …/artifacts/{ref}/scan`, `berth sbom
    /// generate`); digest: the artifact, detail: the scan type and the image
    /// manifests queued.
    ScanRequest = "scan_request", "create", "scan";
    /// An SBOM made (or not) by the SBOM worker (actor `system`);
    /// repository and digest: the image's, detail: the package count and
    /// the SPDX and CycloneDX referrers, or why it failed.
    SbomGenerate = "sbom_generate", "create", "sbom";
    /// A CVE allow-list replaced (`PUT /system/CVEAllowlist`, a project's
    /// `cve_allowlist`); repository: the project (none for the system's),
    /// detail: how many ids and the expiry.
    CveAllowlistChange = "cve_allowlist_change", "update", "cve_allowlist";
    /// The vulnerability database loaded or updated (`berth vuln-db
    /// import`); detail: the path, records read, changed, images matched
    /// again.
    VulnDbImport = "vuln_db_import", "create", "vulnerability_database";
    /// A project's webhook policy created, replaced or deleted
    /// (`/projects/{p}/webhook/policies`); repository: the project,
    /// reference: the policy's name, detail: its id, events and targets.
    WebhookPolicyCreate = "webhook_policy_create", "create", "webhook_policy";
    /// See [`AuditAction::WebhookPolicyCreate`].
    WebhookPolicyUpdate = "webhook_policy_update", "update", "webhook_policy";
    /// See [`AuditAction::WebhookPolicyCreate`].
    WebhookPolicyDelete = "webhook_policy_delete", "delete", "webhook_policy";
    /// A user group created, renamed or deleted (`/usergroups`,
    /// docs/identity.md); reference: the group's name, detail: its id, type
    /// and LDAP DN.
    UserGroupCreate = "usergroup_create", "create", "user_group";
    /// See [`AuditAction::UserGroupCreate`].
    UserGroupUpdate = "usergroup_update", "update", "user_group";
    /// See [`AuditAction::UserGroupCreate`].
    UserGroupDelete = "usergroup_delete", "delete", "user_group";
    /// The audit writer dropped entries (its buffer was full), or counted entries
    /// beyond the coalescing bounds without recording them one by one; the detail
    /// says how many and which.
    AuditDropped = "audit_dropped", "delete", "audit_log";
    /// The chain's head signed on demand (`POST /audit-logs/checkpoint`);
    /// detail: the entry, its hash and the key. Scheduled signatures are not
    /// recorded (they would add an entry per interval to a quiet trail).
    AuditCheckpoint = "audit_checkpoint", "create", "audit_log";
    /// Old entries were archived and trimmed behind a checkpoint; reference:
    /// `<first>..<last>` (the trimmed seqs), digest: the archive's SHA-256,
    /// detail: how many, the anchor hash and the archive path.
    AuditTrim = "audit_trim", "delete", "audit_log";
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

/// Longest actor name, repository, reference or digest stored, in bytes; longer
/// ones are cut by [`cap_text`].
pub const MAX_FIELD_BYTES: usize = 256;

/// Longest detail stored, in bytes (a coalescing note included).
pub const MAX_DETAIL_BYTES: usize = 1024;

/// Cuts `s` to at most `cap` bytes, at a char boundary, ending with the marker
/// `…(truncated, N bytes)` where N is its original length. Shorter text is left
/// as it is (so capping twice changes nothing). `cap` must leave room for the
/// marker (about 30 bytes).
pub fn cap_text(s: &mut String, cap: usize) {
    if s.len() <= cap {
        return;
    }
    let marker = format!("…(truncated, {} bytes)", s.len());
    let mut keep = cap.saturating_sub(marker.len());
    while keep > 0 && !s.is_char_boundary(keep) {
        keep -= 1;
    }
    s.truncate(keep);
    s.push_str(&marker);
}

/// `detail; note`, the detail cut so the whole stays within [`MAX_DETAIL_BYTES`].
fn with_note(detail: Option<String>, note: &str) -> String {
    match detail {
        Some(mut d) => {
            cap_text(
                &mut d,
                MAX_DETAIL_BYTES.saturating_sub(note.len() + 2).max(64),
            );
            format!("{d}; {note}")
        }
        None => note.to_string(),
    }
}

/// One thing to record. Build with [`AuditEntry::new`] and the setters.
///
/// Targets: `repository`, `reference` (tag) and `digest` for registry actions;
/// for account actions, `repository` holds the project (when project-scoped),
/// `reference` the name of the user, robot or member acted on, and `detail`
/// what changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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

    /// Sets the time, Unix milliseconds.
    pub fn at(mut self, at_ms: i64) -> Self {
        self.at_ms = at_ms;
        self
    }

    /// Caps every text field: the actor name, repository, reference and digest
    /// at [`MAX_FIELD_BYTES`], the detail at [`MAX_DETAIL_BYTES`] (see
    /// [`cap_text`]). [`AuditLog::record`] applies it to every entry.
    pub fn capped(mut self) -> Self {
        cap_text(&mut self.actor.name, MAX_FIELD_BYTES);
        for f in [&mut self.repository, &mut self.reference, &mut self.digest]
            .into_iter()
            .flatten()
        {
            cap_text(f, MAX_FIELD_BYTES);
        }
        if let Some(d) = &mut self.detail {
            cap_text(d, MAX_DETAIL_BYTES);
        }
        self
    }

    fn into_row(self, count: u32, last_at: i64) -> AuditRow {
        let mut this = self.capped();
        let detail = if count > 1 {
            let c = format!("coalesced {count} pulls, the last at {}", rfc3339(last_at));
            Some(with_note(this.detail.take(), &c))
        } else {
            this.detail.take()
        };
        AuditRow {
            seq: 0,
            at: this.at_ms,
            actor: this.actor.name,
            actor_kind: this.actor.kind.as_str().into(),
            source_ip: this.source_ip.map(|ip| ip.to_string()),
            action: this.action.as_str().into(),
            repository: this.repository,
            reference: this.reference,
            digest: this.digest,
            result: this.result.as_str().into(),
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
    /// The last trimmed entry, when the chain starts at a checkpoint.
    anchor: Option<i64>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            next_seq: 1,
            prev_hash: AUDIT_GENESIS.to_string(),
            checked: 0,
            anchor: None,
        }
    }
}

impl ChainVerifier {
    /// A chain that starts after a checkpoint: the first entry must be
    /// `last_seq + 1` and its `prev_hash` the anchored `last_hash`.
    pub fn after_checkpoint(last_seq: i64, last_hash: &str) -> ChainVerifier {
        ChainVerifier {
            next_seq: last_seq + 1,
            prev_hash: last_hash.to_string(),
            checked: 0,
            anchor: Some(last_seq),
        }
    }

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
            return Err(broken(if let (Some(a), 0) = (self.anchor, self.checked) {
                format!(
                    "does not link to the checkpoint: its prev_hash differs from the anchored hash of trimmed entry {a} (it was altered, or the checkpoint was)"
                )
            } else if self.next_seq == 1 {
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
        /// How many entries (after the checkpoint, when there is one).
        entries: u64,
        /// The last entry's hash: keep it elsewhere to detect a rewritten tail later.
        head_hash: String,
        /// The latest checkpoint the chain starts from (`None`: from genesis).
        checkpoint: Option<AuditCheckpoint>,
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
    /// How long a failed login or an anonymous token issue absorbs identical
    /// ones after it: the first is written at once, the rest are counted and
    /// written as one entry when the window closes. Default 60 s.
    pub coalesce_window: Duration,
    /// Distinct coalescing windows held in memory at most; beyond it, new
    /// distinct entries are counted into an `audit_dropped` entry instead of
    /// being recorded. Default 10 000.
    pub max_coalesce_keys: usize,
    /// Entries older than this are archived and trimmed once a day by the
    /// process that [`AuditLog::start`]s the log ([`AuditLog::trim_expired`]);
    /// `None` (the default): keep everything.
    pub retention: Option<Duration>,
    /// Where scheduled trims write their archives; `None`: `<data_dir>/audit-archive`.
    pub archive_dir: Option<PathBuf>,
    /// What happens to changes while entries cannot be written
    /// (`audit.on_failure`). Default [`OnAuditFailure::Refuse`].
    pub on_failure: OnAuditFailure,
}

/// `audit.on_failure`: what berth does with changes while the audit trail
/// cannot be written (the database refuses the writer's commits, or more than
/// `max_pending` entries wait).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnAuditFailure {
    /// Fail closed (the default): state-changing requests are refused (503)
    /// until the writer commits again; see [`AuditLog::refusal`].
    #[default]
    Refuse,
    /// Go on: changes are accepted; every failed write is counted
    /// ([`AuditLog::failed_writes`]) and logged at error level.
    Continue,
}

impl OnAuditFailure {
    /// Parses `refuse` or `continue`.
    pub fn parse(text: &str) -> Option<OnAuditFailure> {
        match text {
            "refuse" => Some(OnAuditFailure::Refuse),
            "continue" => Some(OnAuditFailure::Continue),
            _ => None,
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: true,
            batch_delay: Duration::from_millis(50),
            max_pending: 100_000,
            coalesce_window: Duration::from_secs(60),
            max_coalesce_keys: 10_000,
            retention: None,
            archive_dir: None,
            on_failure: OnAuditFailure::Refuse,
        }
    }
}

/// Distinct coalescing windows one source (an IPv4 address, an IPv6 /64) may
/// hold per action and result; beyond it, its further distinct entries within
/// the window are counted into one `audit_dropped` entry for that source. Stops
/// one client spraying user names or scopes from writing an entry per request.
pub const MAX_KEYS_PER_SOURCE: usize = 32;

/// How often, at most, the writer closes expired coalescing windows.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

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

/// Entries coalesced over a time window: failed logins, and token issues to
/// anonymous callers — what an unauthenticated client can cause at will.
fn coalescible(e: &AuditEntry) -> bool {
    (e.action == AuditAction::Login && e.result == Outcome::Failure)
        || (e.action == AuditAction::TokenIssue && e.actor.kind == ActorKind::Anonymous)
}

/// `60 s`, `250 ms`.
fn span_text(ms: i64) -> String {
    if ms >= 1000 && ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

/// One open window: its first entry was written at `opened_at`; `repeats`
/// identical ones came after it, between `first_repeat` and `last_repeat`.
#[derive(Debug, Clone, Copy)]
struct Window {
    opened_at: i64,
    repeats: u64,
    first_repeat: i64,
    last_repeat: i64,
}

impl Window {
    fn opened(at: i64) -> Window {
        Window {
            opened_at: at,
            repeats: 0,
            first_repeat: at,
            last_repeat: at,
        }
    }

    fn add(&mut self, at: i64) {
        if self.repeats == 0 {
            self.first_repeat = at;
            self.last_repeat = at;
        } else {
            self.first_repeat = self.first_repeat.min(at);
            self.last_repeat = self.last_repeat.max(at);
        }
        self.repeats = self.repeats.saturating_add(1);
    }

    /// Closed by `now`: the window length passed (or the clock went back).
    fn expired(&self, now: i64, window_ms: i64) -> bool {
        now < self.opened_at || now - self.opened_at >= window_ms
    }

    fn between(&self) -> String {
        if self.repeats == 1 || self.first_repeat == self.last_repeat {
            format!("at {}", rfc3339(self.last_repeat))
        } else {
            format!(
                "between {} and {}",
                rfc3339(self.first_repeat),
                rfc3339(self.last_repeat)
            )
        }
    }
}

/// The per-source bound's key: action, result and source (IPv6 by /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SourceKey {
    action: AuditAction,
    result: Outcome,
    source: Option<IpAddr>,
}

impl SourceKey {
    fn of(e: &AuditEntry) -> SourceKey {
        let source = e.source_ip.map(|ip| match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        });
        SourceKey {
            action: e.action,
            result: e.result,
            source,
        }
    }

    fn source_text(&self) -> String {
        match self.source {
            Some(IpAddr::V6(v6)) => format!("{v6}/64"),
            Some(ip) => ip.to_string(),
            None => "no address".into(),
        }
    }
}

/// What [`Coalescer::offer`] decided about an entry.
#[derive(Debug)]
enum Offer {
    /// Counted into an open window (or an overflow count): write nothing now.
    Absorbed,
    /// The first of a new window: write it.
    Write(AuditEntry),
    /// No room to write it (the pending buffer is full): count it as dropped.
    Dropped,
}

/// Windows of failed logins and anonymous token issues (see [`coalescible`]).
/// Memory is bounded: at most `max_keys` windows, at most
/// [`MAX_KEYS_PER_SOURCE`] per source, at most `max_keys` per-source overflow
/// counts, plus one overflow count per action and result.
#[derive(Debug, Default)]
struct Coalescer {
    /// The window's first entry (its `at_ms` zeroed: the key) → the window.
    windows: HashMap<AuditEntry, Window>,
    /// Open windows per source.
    per_source: HashMap<SourceKey, usize>,
    /// Entries of sources over [`MAX_KEYS_PER_SOURCE`], counted.
    source_overflow: HashMap<SourceKey, Window>,
    /// Entries beyond every other bound, counted by action and result.
    overflow: HashMap<(AuditAction, Outcome), Window>,
    last_sweep: i64,
}

impl Coalescer {
    fn is_empty(&self) -> bool {
        self.windows.is_empty() && self.source_overflow.is_empty() && self.overflow.is_empty()
    }

    /// Takes a coalescible entry; windows it closes on the way (an expired one
    /// with its key) go to `closed` as counted entries.
    fn offer(
        &mut self,
        entry: AuditEntry,
        window_ms: i64,
        max_keys: usize,
        room: bool,
        closed: &mut Vec<AuditEntry>,
    ) -> Offer {
        let at = entry.at_ms;
        let mut key = entry;
        key.at_ms = 0;
        if let Some(w) = self.windows.get_mut(&key) {
            if !w.expired(at, window_ms) {
                w.add(at);
                return Offer::Absorbed;
            }
            if let Some(w) = self.windows.remove(&key) {
                self.close(&key, &w, window_ms, closed);
            }
        }
        let src = SourceKey::of(&key);
        let open_here = self.per_source.get(&src).copied().unwrap_or(0);
        if self.windows.len() >= max_keys {
            self.overflow
                .entry((key.action, key.result))
                .or_insert_with(|| Window::opened(at))
                .add(at);
            return Offer::Absorbed;
        }
        if open_here >= MAX_KEYS_PER_SOURCE {
            if let Some(w) = self.source_overflow.get_mut(&src) {
                w.add(at);
            } else if self.source_overflow.len() < max_keys {
                let mut w = Window::opened(at);
                w.add(at);
                self.source_overflow.insert(src, w);
            } else {
                self.overflow
                    .entry((key.action, key.result))
                    .or_insert_with(|| Window::opened(at))
                    .add(at);
            }
            return Offer::Absorbed;
        }
        if !room {
            return Offer::Dropped;
        }
        *self.per_source.entry(src).or_insert(0) += 1;
        self.windows.insert(key.clone(), Window::opened(at));
        key.at_ms = at;
        Offer::Write(key)
    }

    /// A window ends: its source frees a slot, and its repeats (if any) become
    /// one counted entry.
    fn close(&mut self, key: &AuditEntry, w: &Window, window_ms: i64, out: &mut Vec<AuditEntry>) {
        let src = SourceKey::of(key);
        if let Some(n) = self.per_source.get_mut(&src) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_source.remove(&src);
            }
        }
        if w.repeats == 0 {
            return;
        }
        let mut e = key.clone();
        e.at_ms = w.last_repeat;
        let note = format!(
            "{} more identical {} {} (coalesced within {} of the first)",
            w.repeats,
            if w.repeats == 1 { "entry" } else { "entries" },
            w.between(),
            span_text(window_ms)
        );
        e.detail = Some(with_note(e.detail.take(), &note));
        out.push(e);
    }

    /// Closes the windows and overflow counts that expired by `now` (all of them
    /// with `all`), writing their counted entries to `out`. Without `all`, does
    /// the work at most once per [`SWEEP_INTERVAL`] (or window, if shorter).
    fn sweep(
        &mut self,
        now: i64,
        all: bool,
        window_ms: i64,
        max_keys: usize,
        out: &mut Vec<AuditEntry>,
    ) {
        let every = (SWEEP_INTERVAL.as_millis() as i64).min(window_ms);
        if !all && now >= self.last_sweep && now - self.last_sweep < every {
            return;
        }
        self.last_sweep = now;
        if self.is_empty() {
            return;
        }
        let done: Vec<AuditEntry> = self
            .windows
            .iter()
            .filter(|(_, w)| all || w.expired(now, window_ms))
            .map(|(k, _)| k.clone())
            .collect();
        for k in done {
            if let Some(w) = self.windows.remove(&k) {
                self.close(&k, &w, window_ms, out);
            }
        }
        let span = span_text(window_ms);
        let done: Vec<SourceKey> = self
            .source_overflow
            .iter()
            .filter(|(_, w)| all || w.expired(now, window_ms))
            .map(|(k, _)| *k)
            .collect();
        for k in done {
            if let Some(w) = self.source_overflow.remove(&k) {
                out.push(
                    AuditEntry::new(Actor::system(), AuditAction::AuditDropped, Outcome::Failure)
                        .ip(k.source)
                        .detail(format!(
                            "{} {} entries ({}) from {} {} not recorded one by one: more than {MAX_KEYS_PER_SOURCE} distinct actors or details from this source within {span}",
                            w.repeats,
                            k.action,
                            k.result.as_str(),
                            k.source_text(),
                            w.between()
                        ))
                        .at(w.last_repeat),
                );
            }
        }
        let done: Vec<(AuditAction, Outcome)> = self
            .overflow
            .iter()
            .filter(|(_, w)| all || w.expired(now, window_ms))
            .map(|(k, _)| *k)
            .collect();
        for k in done {
            if let Some(w) = self.overflow.remove(&k) {
                out.push(
                    AuditEntry::new(Actor::system(), AuditAction::AuditDropped, Outcome::Failure)
                        .detail(format!(
                            "{} {} entries ({}) {} not recorded one by one: more than {max_keys} distinct ones were being coalesced within {span}",
                            w.repeats,
                            k.0,
                            k.1.as_str(),
                            w.between()
                        ))
                        .at(w.last_repeat),
                );
            }
        }
    }
}

#[derive(Default)]
struct Pending {
    /// Entries with their coalesced count and the time of the last one.
    entries: Vec<(AuditEntry, u32, i64)>,
    /// [`pull_key`] → index of the waiting pull with those fields.
    pulls: HashMap<u64, usize>,
    dropped: u64,
    flushes: Vec<oneshot::Sender<()>>,
    /// Failed logins and anonymous token issues, over batches.
    coalescer: Coalescer,
}

impl Pending {
    fn push(&mut self, e: AuditEntry) {
        let at = e.at_ms;
        self.entries.push((e, 1, at));
    }

    /// Moves the coalescer's expired (with `all`, every) windows to the batch.
    fn sweep(&mut self, now: i64, all: bool, w: &Writer) {
        let mut out = Vec::new();
        self.coalescer
            .sweep(now, all, w.window_ms, w.max_keys, &mut out);
        for e in out {
            self.push(e);
        }
    }
}

struct Writer {
    pending: Mutex<Pending>,
    wake: Notify,
    closing: AtomicBool,
    max_pending: usize,
    batch_delay: Duration,
    window_ms: i64,
    max_keys: usize,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    written: AtomicU64,
    /// The last commit attempt failed (cleared by the next success).
    failing: AtomicBool,
    /// Failed commit attempts since the start.
    failed_writes: AtomicU64,
    /// The last commit error, for [`AuditLog::refusal`].
    last_error: Mutex<String>,
    on_failure: OnAuditFailure,
    /// Where entries that could not be committed at shutdown are written
    /// (`<data_dir>`).
    spill_dir: PathBuf,
    /// Wakes the retention task to stop.
    stop_retention: Notify,
    retention_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// The audit trail of one registry process. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    meta: MetaStore,
    writer: Option<Arc<Writer>>,
    /// Webhooks see every recorded entry, whether or not the trail is
    /// written ([`crate::webhook::Notifier::audited`]).
    webhooks: Option<crate::webhook::Notifier>,
}

impl AuditLog {
    /// Starts the writer task over the registry's database (needs a tokio
    /// runtime). With `enabled = false`, [`record`](Self::record) does nothing but
    /// queries and verification still read the stored trail. With `retention`
    /// set, also starts the retention task: [`AuditLog::trim_expired`] a minute
    /// after the start and then once a day, archiving to `archive_dir` (default
    /// `<data_dir>/audit-archive`); [`shutdown`](Self::shutdown) stops it.
    pub fn start(registry: &Registry, cfg: &AuditConfig) -> AuditLog {
        if !cfg.enabled {
            return AuditLog::disabled(registry);
        }
        let webhooks = registry.webhook_notifier();
        let meta = registry.meta.clone();
        let writer = Arc::new(Writer {
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            closing: AtomicBool::new(false),
            max_pending: cfg.max_pending.max(1),
            batch_delay: cfg.batch_delay,
            window_ms: (cfg.coalesce_window.as_millis().min(i64::MAX as u128) as i64).max(1),
            max_keys: cfg.max_coalesce_keys.max(1),
            task: Mutex::new(None),
            written: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            failed_writes: AtomicU64::new(0),
            last_error: Mutex::new(String::new()),
            on_failure: cfg.on_failure,
            spill_dir: registry.blobs.root().to_path_buf(),
            stop_retention: Notify::new(),
            retention_task: Mutex::new(None),
        });
        let task = tokio::spawn(run_writer(meta.clone(), writer.clone()));
        if let Ok(mut t) = writer.task.lock() {
            *t = Some(task);
        }
        if let Some(retention) = cfg.retention.filter(|r| !r.is_zero()) {
            let dir = cfg
                .archive_dir
                .clone()
                .unwrap_or_else(|| registry.blobs.root().join("audit-archive"));
            let reader = AuditLog {
                meta: meta.clone(),
                writer: None,
                webhooks: None,
            };
            let task = tokio::spawn(run_retention(reader, writer.clone(), retention, dir));
            if let Ok(mut t) = writer.retention_task.lock() {
                *t = Some(task);
            }
        }
        AuditLog {
            meta,
            writer: Some(writer),
            webhooks,
        }
    }

    /// A log that records nothing but can still query the stored trail.
    pub fn disabled(registry: &Registry) -> AuditLog {
        AuditLog {
            meta: registry.meta.clone(),
            writer: None,
            webhooks: registry.webhook_notifier(),
        }
    }

    /// Opens the trail of `database` read-only, for `berth audit` while
    /// `serve` may be running. Records nothing.
    ///
    /// Errors: [`crate::Error::Meta`] when the database is missing or unreadable.
    pub async fn open_read_only(database: &berth_meta::DatabaseUrl) -> Result<AuditLog> {
        let meta = MetaStore::open_read_only(database).await?;
        Ok(AuditLog {
            meta,
            writer: None,
            webhooks: None,
        })
    }

    /// Opens the trail of `database` for maintenance (`berth audit trim`),
    /// migrating the schema if needed; safe while `serve` runs. Records
    /// nothing.
    ///
    /// Errors: [`crate::Error::Meta`] when the database cannot be opened.
    pub async fn open_for_maintenance(database: &berth_meta::DatabaseUrl) -> Result<AuditLog> {
        let meta = MetaStore::open(database).await?;
        Ok(AuditLog {
            meta,
            writer: None,
            webhooks: None,
        })
    }

    /// The metadata store it writes to.
    pub(crate) fn meta(&self) -> &berth_meta::MetaStore {
        &self.meta
    }

    /// True when entries are recorded.
    pub fn enabled(&self) -> bool {
        self.writer.is_some()
    }

    /// True when recorded entries reach webhooks (then `/v2` requests are
    /// probed even with the trail off).
    pub fn tapped(&self) -> bool {
        self.webhooks.is_some()
    }

    /// Queues an entry; returns at once and never fails the caller.
    ///
    /// Every text field is capped first ([`AuditEntry::capped`]).
    ///
    /// Pulls (action `pull`) identical in actor, IP, repository, reference, digest
    /// and result that wait in the same batch are coalesced into the first one;
    /// its detail then says how many and when the last was.
    ///
    /// Failed logins and token issues to anonymous callers are coalesced over
    /// time: the first is written; identical ones (every field but the time
    /// equal) within `coalesce_window` after it are counted, and when the window
    /// closes (or on [`flush`](Self::flush)/[`shutdown`](Self::shutdown)) one
    /// entry with the same fields records them, its detail ending `N more
    /// identical entries between T1 and T2 (coalesced …)`. At most
    /// `max_coalesce_keys` windows are open, at most [`MAX_KEYS_PER_SOURCE`] per
    /// source; entries beyond these bounds are counted into an `audit_dropped`
    /// entry (per source, or overall) written when its window closes.
    ///
    /// Other entries are kept one by one. When more than `max_pending` entries
    /// wait (the database is stuck), further entries are dropped and counted; the
    /// writer records the count as an `audit_dropped` entry with its next batch.
    pub fn record(&self, entry: AuditEntry) {
        if let Some(n) = &self.webhooks {
            n.audited(&entry);
        }
        let Some(w) = &self.writer else { return };
        let entry = entry.capped();
        let Ok(mut p) = w.pending.lock() else { return };
        let was_empty = p.entries.is_empty();
        if coalescible(&entry) {
            let room = p.entries.len() < w.max_pending;
            let mut closed = Vec::new();
            let offer = p
                .coalescer
                .offer(entry, w.window_ms, w.max_keys, room, &mut closed);
            for e in closed {
                p.push(e);
            }
            match offer {
                Offer::Absorbed => {}
                Offer::Write(e) => p.push(e),
                Offer::Dropped => p.dropped += 1,
            }
            let wake = was_empty && !p.entries.is_empty();
            drop(p);
            if wake {
                w.wake.notify_one();
            }
            return;
        }
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
        p.push(entry);
        drop(p);
        if was_empty {
            w.wake.notify_one();
        }
    }

    /// Waits until everything recorded before the call is stored, the counts of
    /// open coalescing windows included (those windows close: the next identical
    /// entry is written anew).
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

    /// Writes what is pending (open coalescing windows included) and stops the
    /// writer and the retention task (call on shutdown, after the last request
    /// finished). Later entries are ignored.
    pub async fn shutdown(&self) {
        let Some(w) = &self.writer else { return };
        w.closing.store(true, Ordering::SeqCst);
        w.stop_retention.notify_one();
        let retention = w.retention_task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = retention {
            let _ = task.await;
        }
        w.wake.notify_one();
        let task = w.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Why state-changing requests must be refused now, or `None`. With
    /// `on_failure = refuse` (the default): while the writer's last commit
    /// failed, or while `max_pending` entries wait, the answer names the cause
    /// and the setting. With `continue`, or auditing off: always `None`.
    pub fn refusal(&self) -> Option<String> {
        let w = self.writer.as_ref()?;
        if w.on_failure == OnAuditFailure::Continue {
            return None;
        }
        if w.failing.load(Ordering::SeqCst) {
            let error = w.last_error.lock().map(|e| e.clone()).unwrap_or_default();
            return Some(format!(
                "changes are refused while the audit trail cannot be written ({error}); \
                 they are accepted again once it can (audit.on_failure = refuse)"
            ));
        }
        let waiting = w.pending.lock().map_or(0, |p| p.entries.len());
        (waiting >= w.max_pending).then(|| {
            format!(
                "changes are refused while {waiting} audit entries wait to be written \
                 (audit.max_pending); they are accepted again once the writer catches up \
                 (audit.on_failure = refuse)"
            )
        })
    }

    /// True while the writer's last commit attempt failed.
    pub fn failing(&self) -> bool {
        self.writer
            .as_ref()
            .is_some_and(|w| w.failing.load(Ordering::SeqCst))
    }

    /// Failed commit attempts of the writer since the start (each is also
    /// logged at error level); shown by the management API's health check.
    pub fn failed_writes(&self) -> u64 {
        self.writer
            .as_ref()
            .map_or(0, |w| w.failed_writes.load(Ordering::Relaxed))
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

    /// Every checkpoint (trim) of the trail, oldest first.
    pub async fn checkpoints(&self) -> Result<Vec<AuditCheckpoint>> {
        Ok(self.meta.audit_checkpoints().await?)
    }

    /// Walks the whole chain and reports the first entry that is missing, out of
    /// place or altered. Without checkpoints it starts at genesis; otherwise the
    /// checkpoints must follow one another, and the chain starts after the latest
    /// one: its first entry's `prev_hash` must be the anchored hash, no entry
    /// behind the checkpoint may remain, and the chain must hold the `audit_trim`
    /// entry recording that trim, with the same anchor and archive digest.
    pub async fn verify(&self) -> Result<ChainCheck> {
        self.verify_with_progress(&|_| {}).await
    }

    /// [`AuditLog::verify`], telling `progress` how far it is: one phase,
    /// `entries`, with the number of stored entries as its total.
    pub async fn verify_with_progress(
        &self,
        progress: &(dyn Fn(crate::GcStep) + Send + Sync),
    ) -> Result<ChainCheck> {
        let (_, total) = self.query(&AuditFilter::default(), 1, 1).await?;
        progress(crate::GcStep::Phase {
            name: "entries",
            total,
        });
        let cps = self.meta.audit_checkpoints().await?;
        let mut expected_first = 1;
        for cp in &cps {
            if cp.first_seq != expected_first {
                return Ok(ChainCheck::Broken(ChainBreak {
                    seq: cp.first_seq,
                    reason: format!(
                        "starts a checkpoint (trimmed entries {}..{}) but the previous checkpoint ends at entry {}: the checkpoints were altered",
                        cp.first_seq,
                        cp.last_seq,
                        expected_first - 1
                    ),
                }));
            }
            expected_first = cp.last_seq + 1;
        }
        let latest = cps.last().cloned();
        let mut v = match &latest {
            Some(cp) => ChainVerifier::after_checkpoint(cp.last_seq, &cp.last_hash),
            None => ChainVerifier::default(),
        };
        let trim_ref = latest
            .as_ref()
            .map(|cp| format!("{}..{}", cp.first_seq, cp.last_seq));
        let mut trim_recorded = latest.is_none();
        let mut after = 0;
        loop {
            let rows = self
                .entries_after(&AuditFilter::default(), after, 1000)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.seq;
            progress(crate::GcStep::Advance(rows.len() as u64));
            for row in &rows {
                if let Some(cp) = &latest {
                    if row.seq <= cp.last_seq {
                        return Ok(ChainCheck::Broken(ChainBreak {
                            seq: row.seq,
                            reason: format!(
                                "is behind the checkpoint through entry {} but still stored: the checkpoint does not describe this trail (forged?)",
                                cp.last_seq
                            ),
                        }));
                    }
                }
                if let Err(b) = v.check(row) {
                    return Ok(ChainCheck::Broken(b));
                }
                if let (Some(cp), Some(r)) = (&latest, &trim_ref) {
                    if row.action == AuditAction::AuditTrim.as_str()
                        && row.reference.as_deref() == Some(r.as_str())
                    {
                        let digest = format!("sha256:{}", cp.archive_sha256);
                        let anchored = row
                            .detail
                            .as_deref()
                            .is_some_and(|d| d.contains(&cp.last_hash));
                        if row.digest.as_deref() != Some(digest.as_str()) || !anchored {
                            return Ok(ChainCheck::Broken(ChainBreak {
                                seq: row.seq,
                                reason: format!(
                                    "records the trim of entries {r} with another anchor or archive digest than the stored checkpoint: the checkpoint was altered"
                                ),
                            }));
                        }
                        trim_recorded = true;
                    }
                }
            }
        }
        if let (false, Some(cp)) = (trim_recorded, &latest) {
            return Ok(ChainCheck::Broken(ChainBreak {
                seq: cp.last_seq + 1,
                reason: format!(
                    "and the rest of the chain hold no audit_trim entry for the checkpoint through entry {}: the checkpoint was forged, or the trail after it removed",
                    cp.last_seq
                ),
            }));
        }
        Ok(ChainCheck::Intact {
            entries: v.checked(),
            head_hash: v.head_hash().to_string(),
            checkpoint: latest,
        })
    }

    /// What trimming entries older than `before_ms` would remove: the stored
    /// entries from the first one up to (not including) the first entry at or
    /// after `before_ms` (the whole trail when all are older). `None` when
    /// nothing is that old.
    pub async fn plan_trim(&self, before_ms: i64) -> Result<Option<TrimPlan>> {
        let Some((first, head)) = self.meta.audit_span().await? else {
            return Ok(None);
        };
        let last = match self.meta.audit_first_seq_since(before_ms).await? {
            Some(s) => s - 1,
            None => head,
        };
        Ok((last >= first).then_some(TrimPlan {
            first_seq: first,
            last_seq: last,
            before_ms,
        }))
    }

    /// Trims per `plan`: verifies the whole chain (refusing a broken one: its
    /// tampering would be archived and anchored), writes entries
    /// `first_seq..=last_seq` to `archive` as JSON lines ([`record_json`], the
    /// export format; written to `<archive>.partial`, fsynced, renamed, mode
    /// 0600), then in one transaction stores the checkpoint, deletes the entries
    /// and appends an `audit_trim` entry (actor `system`, detail starting with
    /// `origin`). `replace` allows overwriting an existing archive file.
    ///
    /// Errors: [`TrimError`]; on a conflict (the trail changed) the archive is
    /// removed, on a database error it is kept (the commit may have happened).
    pub async fn trim(
        &self,
        plan: &TrimPlan,
        archive: &Path,
        origin: &str,
        replace: bool,
    ) -> std::result::Result<TrimReport, TrimError> {
        if let ChainCheck::Broken(b) = self.verify().await? {
            return Err(TrimError::Broken(b));
        }
        if !replace && archive.exists() {
            return Err(TrimError::Archive {
                path: archive.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the archive file exists already",
                ),
            });
        }
        let (sha, last_hash, entries) = self.write_archive(plan, archive).await?;
        let cp = AuditCheckpoint {
            first_seq: plan.first_seq,
            last_seq: plan.last_seq,
            last_hash: last_hash.clone(),
            at: berth_meta::store::now_ms(),
            entries,
            archive_sha256: sha.clone(),
            archive: archive.display().to_string(),
        };
        let note = AuditEntry::new(Actor::system(), AuditAction::AuditTrim, Outcome::Success)
            .reference(format!("{}..{}", plan.first_seq, plan.last_seq))
            .digest(format!("sha256:{sha}"))
            .detail(format!(
                "{origin}: {entries} entries older than {} archived and deleted; anchor {last_hash}; archive {}",
                rfc3339(plan.before_ms),
                archive.display()
            ))
            .into_row(1, 0);
        match self.meta.audit_trim(&cp, note, chain_hash).await {
            Ok(AuditTrimOutcome::Trimmed(row)) => Ok(TrimReport {
                checkpoint: cp,
                archive: archive.to_path_buf(),
                note_seq: row.seq,
            }),
            Ok(AuditTrimOutcome::Conflict(why)) => {
                let _ = tokio::fs::remove_file(archive).await;
                Err(TrimError::Conflict(why))
            }
            Err(e) => Err(TrimError::Store(e.into())),
        }
    }

    /// The scheduled trim: entries older than `retention` (by their time) are
    /// archived to `<dir>/audit-<first>-<last>.jsonl` (the directory created mode
    /// 0700) and trimmed, as [`AuditLog::trim`]. `Ok(None)` when nothing is that
    /// old. [`AuditLog::start`] calls it once a day when `retention` is set.
    pub async fn trim_expired(
        &self,
        retention: Duration,
        dir: &Path,
    ) -> std::result::Result<Option<TrimReport>, TrimError> {
        let before = berth_meta::store::now_ms()
            .saturating_sub(retention.as_millis().min(i64::MAX as u128) as i64);
        let Some(plan) = self.plan_trim(before).await? else {
            return Ok(None);
        };
        let mut b = tokio::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        b.mode(0o700);
        b.create(dir).await.map_err(|source| TrimError::Archive {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(format!("audit-{}-{}.jsonl", plan.first_seq, plan.last_seq));
        // A file of that name is left over from a trim that never committed
        // (the trail would start after it otherwise): replace it.
        let origin = format!(
            "scheduled retention ({} days)",
            retention.as_secs() / 86_400
        );
        self.trim(&plan, &path, &origin, true).await.map(Some)
    }

    /// Writes the plan's entries to `<path>.partial`, fsyncs, renames to `path`
    /// and fsyncs the directory. Returns the file's SHA-256, the last entry's
    /// hash and the count.
    async fn write_archive(
        &self,
        plan: &TrimPlan,
        path: &Path,
    ) -> std::result::Result<(String, String, i64), TrimError> {
        use tokio::io::AsyncWriteExt;
        let io_err = |source| TrimError::Archive {
            path: path.to_path_buf(),
            source,
        };
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let mut opts = tokio::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        opts.mode(0o600);
        let mut file = opts.open(&partial).await.map_err(io_err)?;
        let mut sha = Hasher::new(Algorithm::Sha256);
        let mut next = plan.first_seq;
        let mut last_hash = String::new();
        while next <= plan.last_seq {
            let rows = self
                .entries_after(&AuditFilter::default(), next - 1, 1000)
                .await?;
            if rows.is_empty() {
                break;
            }
            let mut buf = Vec::new();
            for r in rows.iter().take_while(|r| r.seq <= plan.last_seq) {
                if r.seq != next {
                    let _ = tokio::fs::remove_file(&partial).await;
                    return Err(TrimError::Conflict(format!(
                        "entry {next} is missing while archiving"
                    )));
                }
                buf.extend_from_slice(record_json(r).to_string().as_bytes());
                buf.push(b'\n');
                last_hash.clone_from(&r.hash);
                next += 1;
            }
            sha.update(&buf);
            file.write_all(&buf).await.map_err(io_err)?;
        }
        if next <= plan.last_seq {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(TrimError::Conflict(format!(
                "entries {next}..{} are gone (trimmed concurrently?)",
                plan.last_seq
            )));
        }
        file.flush().await.map_err(io_err)?;
        file.sync_all().await.map_err(io_err)?;
        drop(file);
        tokio::fs::rename(&partial, path).await.map_err(io_err)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Ok(d) = tokio::fs::File::open(parent).await {
                let _ = d.sync_all().await;
            }
        }
        let count = plan.last_seq - plan.first_seq + 1;
        Ok((sha.finish().hex().to_string(), last_hash, count))
    }
}

/// Entries to trim: `first_seq..=last_seq`, all before `before_ms` (see
/// [`AuditLog::plan_trim`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrimPlan {
    /// The first stored entry.
    pub first_seq: i64,
    /// The last entry to trim.
    pub last_seq: i64,
    /// The cut-off time asked for, Unix ms.
    pub before_ms: i64,
}

impl TrimPlan {
    /// How many entries.
    pub fn entries(&self) -> u64 {
        (self.last_seq - self.first_seq + 1).max(0) as u64
    }
}

/// What [`AuditLog::trim`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrimReport {
    /// The stored checkpoint.
    pub checkpoint: AuditCheckpoint,
    /// The archive written.
    pub archive: PathBuf,
    /// `seq` of the `audit_trim` entry recording the trim.
    pub note_seq: i64,
}

/// Why [`AuditLog::trim`] did not trim.
#[derive(Debug, thiserror::Error)]
pub enum TrimError {
    /// The chain does not verify: trimming would archive and anchor the damage.
    #[error("the audit trail is broken ({0}); nothing trimmed: investigate first")]
    Broken(ChainBreak),
    /// Writing the archive failed.
    #[error("archive {}: {source}", path.display())]
    Archive {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The trail changed under the trim (another trim ran); nothing trimmed.
    #[error("nothing trimmed: {0}")]
    Conflict(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::Error),
}

impl From<berth_meta::MetaError> for TrimError {
    fn from(e: berth_meta::MetaError) -> Self {
        TrimError::Store(e.into())
    }
}

/// A day.
const DAY: Duration = Duration::from_secs(86_400);

/// The retention task: trims a minute after the start, then daily, until
/// [`AuditLog::shutdown`].
async fn run_retention(log: AuditLog, w: Arc<Writer>, retention: Duration, dir: PathBuf) {
    let mut wait = Duration::from_secs(60);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = w.stop_retention.notified() => return,
        }
        if w.closing.load(Ordering::SeqCst) {
            return;
        }
        // One node trims; on the others the turn finds nothing to do.
        let lock = match log.meta.job_lock("audit.trim", false).await {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                wait = DAY;
                continue;
            }
            Err(e) => {
                tracing::error!("audit: scheduled trim: {e}");
                wait = DAY;
                continue;
            }
        };
        let trimmed = log.trim_expired(retention, &dir).await;
        lock.release().await;
        match trimmed {
            Ok(Some(r)) => tracing::info!(
                entries = r.checkpoint.entries,
                first = r.checkpoint.first_seq,
                last = r.checkpoint.last_seq,
                anchor = %r.checkpoint.last_hash,
                archive = %r.archive.display(),
                "audit: trimmed entries past the retention period"
            ),
            Ok(None) => tracing::debug!("audit: nothing past the retention period"),
            Err(e) => tracing::error!("audit: scheduled trim failed: {e}"),
        }
        wait = DAY;
    }
}

async fn run_writer(meta: MetaStore, w: Arc<Writer>) {
    loop {
        let closing = w.closing.load(Ordering::SeqCst);
        let (idle, coalescing) = match w.pending.lock() {
            Ok(mut p) => {
                let all = closing || !p.flushes.is_empty();
                p.sweep(berth_meta::store::now_ms(), all, &w);
                (
                    p.entries.is_empty() && p.flushes.is_empty() && p.dropped == 0,
                    !p.coalescer.is_empty(),
                )
            }
            Err(_) => return,
        };
        if idle && closing {
            return;
        }
        if idle {
            if coalescing {
                // Open windows close by time: look again shortly.
                let tick = SWEEP_INTERVAL.min(Duration::from_millis(w.window_ms as u64));
                let _ = tokio::time::timeout(tick, w.wake.notified()).await;
            } else {
                w.wake.notified().await;
            }
            continue;
        }
        let urgent = closing || w.pending.lock().map_or(true, |p| !p.flushes.is_empty());
        if !urgent && !w.batch_delay.is_zero() {
            // Gather more; a flush or shutdown cuts the wait short.
            let _ = tokio::time::timeout(w.batch_delay, w.wake.notified()).await;
        }
        let (entries, dropped, flushes) = match w.pending.lock() {
            Ok(mut p) => {
                let all = w.closing.load(Ordering::SeqCst) || !p.flushes.is_empty();
                p.sweep(berth_meta::store::now_ms(), all, &w);
                p.pulls.clear();
                (
                    std::mem::take(&mut p.entries),
                    std::mem::take(&mut p.dropped),
                    std::mem::take(&mut p.flushes),
                )
            }
            Err(_) => return,
        };
        let mut rows: Vec<AuditRow> = entries
            .into_iter()
            .map(|(e, n, last)| e.into_row(n, last))
            .collect();
        if dropped > 0 {
            rows.push(
                AuditEntry::new(Actor::system(), AuditAction::AuditDropped, Outcome::Failure)
                    .detail(format!(
                        "{dropped} entries dropped: more than the pending limit waited to be written"
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
                    if w.failing.swap(false, Ordering::SeqCst) {
                        tracing::warn!("audit: writing entries works again");
                    }
                    break;
                }
                Err(e) => {
                    attempt += 1;
                    w.failed_writes.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut last) = w.last_error.lock() {
                        *last = e.to_string();
                    }
                    w.failing.store(true, Ordering::SeqCst);
                    let giving_up = w.closing.load(Ordering::SeqCst) && attempt >= 3;
                    tracing::error!(
                        entries = n,
                        attempt,
                        on_failure = ?w.on_failure,
                        "audit: writing entries failed: {e}; {}",
                        if giving_up {
                            "shutting down: writing them to a file beside the database"
                        } else {
                            "retrying"
                        }
                    );
                    if giving_up {
                        spill(&w.spill_dir, &rows);
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

/// Writes entries the database would not take at shutdown to
/// `<dir>/audit-unwritten-<unix ms>.jsonl` (the export line format, without
/// `seq` and hashes: they were never chained), so they are not lost; logs the
/// path, or, if even that fails, every entry at error level.
fn spill(dir: &Path, rows: &[AuditRow]) {
    let path = dir.join(format!(
        "audit-unwritten-{}.jsonl",
        berth_meta::store::now_ms()
    ));
    let mut text = String::new();
    for r in rows {
        text.push_str(&record_json(r).to_string());
        text.push('\n');
    }
    match std::fs::write(&path, &text) {
        Ok(()) => tracing::error!(
            path = %path.display(),
            entries = rows.len(),
            "audit: entries that could not be committed were written to this file; \
             keep it with the audit trail"
        ),
        Err(e) => {
            tracing::error!(
                path = %path.display(),
                "audit: writing unwritten entries to a file failed too: {e}; here they are"
            );
            for line in text.lines() {
                tracing::error!(entry = %line, "audit: unwritten entry");
            }
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

/// Reads back one line of [`record_json`] (an export or archive line); `None`
/// when a field is missing or of the wrong type. `at_ms` is the time used.
pub fn record_from_json(v: &serde_json::Value) -> Option<AuditRecord> {
    let text = |k: &str| v.get(k)?.as_str().map(str::to_string);
    let opt = |k: &str| -> Option<Option<String>> {
        match v.get(k)? {
            serde_json::Value::Null => Some(None),
            serde_json::Value::String(s) => Some(Some(s.clone())),
            _ => None,
        }
    };
    Some(AuditRow {
        seq: v.get("seq")?.as_i64()?,
        at: v.get("at_ms")?.as_i64()?,
        actor: text("actor")?,
        actor_kind: text("actor_kind")?,
        source_ip: opt("source_ip")?,
        action: text("action")?,
        repository: opt("repository")?,
        reference: opt("reference")?,
        digest: opt("digest")?,
        result: text("result")?,
        detail: opt("detail")?,
        prev_hash: text("prev_hash")?,
        hash: text("hash")?,
    })
}

/// Where an archive's chain starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveStart {
    /// At entry 1, from the genesis value.
    Genesis,
    /// Right after this earlier checkpoint, from its anchored hash.
    Checkpoint(AuditCheckpoint),
}

/// The result of [`verify_archive`].
// One value per archive checked: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveCheck {
    /// The archive is an intact chain from `start` to a checkpoint's anchor.
    Intact {
        /// Entries in the archive.
        entries: u64,
        /// Its first and last `seq`.
        first_seq: i64,
        /// Its last `seq` (the checkpoint's `last_seq`).
        last_seq: i64,
        /// Where its chain starts.
        start: ArchiveStart,
        /// The checkpoint whose anchor its last entry's hash is.
        checkpoint: AuditCheckpoint,
        /// SHA-256 of the file's bytes.
        sha256: String,
        /// Whether that is the digest the checkpoint recorded (false: the file
        /// was rewritten, e.g. re-exported, though its entries check out).
        sha256_matches: bool,
    },
    /// Why it does not check out.
    Broken(String),
}

/// Checks an archive file (JSON lines of [`record_json`], as `berth audit trim`
/// writes them) against the trail's checkpoints: every line is an entry, the
/// entries form an intact chain that starts at genesis (entry 1) or right after
/// one of `checkpoints` (its first `prev_hash` the anchored hash), and it ends
/// at a checkpoint's `last_seq` with that checkpoint's anchored hash.
///
/// Errors: reading the file failed.
pub fn verify_archive(
    path: &Path,
    checkpoints: &[AuditCheckpoint],
) -> std::io::Result<ArchiveCheck> {
    let mut reader = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut sha = Hasher::new(Algorithm::Sha256);
    let mut line = Vec::new();
    let mut verifier: Option<ChainVerifier> = None;
    let mut start = ArchiveStart::Genesis;
    let (mut first_seq, mut last_seq, mut n) = (0, 0, 0u64);
    let mut lineno = 0u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        lineno += 1;
        sha.update(&line);
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        let Some(row) = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .as_ref()
            .and_then(record_from_json)
        else {
            return Ok(ArchiveCheck::Broken(format!(
                "line {lineno} is not an audit entry"
            )));
        };
        let v = match &mut verifier {
            Some(v) => v,
            None => {
                first_seq = row.seq;
                let v = if row.seq == 1 {
                    ChainVerifier::default()
                } else if let Some(cp) = checkpoints.iter().find(|c| c.last_seq == row.seq - 1) {
                    start = ArchiveStart::Checkpoint(cp.clone());
                    ChainVerifier::after_checkpoint(cp.last_seq, &cp.last_hash)
                } else {
                    return Ok(ArchiveCheck::Broken(format!(
                        "the archive starts at entry {}, which follows neither the genesis nor a checkpoint",
                        row.seq
                    )));
                };
                verifier.insert(v)
            }
        };
        if let Err(b) = v.check(&row) {
            return Ok(ArchiveCheck::Broken(format!("archive {b}")));
        }
        last_seq = row.seq;
        n += 1;
    }
    let Some(v) = verifier else {
        return Ok(ArchiveCheck::Broken("the archive holds no entries".into()));
    };
    let sha256 = sha.finish().hex().to_string();
    let Some(cp) = checkpoints
        .iter()
        .find(|c| c.last_seq == last_seq && c.last_hash == v.head_hash())
    else {
        return Ok(ArchiveCheck::Broken(format!(
            "the archive ends at entry {last_seq} (hash {}), which is no checkpoint's anchor: not the archive of a trim of this trail, or cut short",
            v.head_hash()
        )));
    };
    Ok(ArchiveCheck::Intact {
        entries: n,
        first_seq,
        last_seq,
        start,
        sha256_matches: sha256 == cp.archive_sha256,
        sha256,
        checkpoint: cp.clone(),
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
    fn policy_and_token_actions_have_harbor_shapes() {
        for (a, word, op, rtype) in [
            (
                AuditAction::RetentionChange,
                "retention_change",
                "update",
                "retention_policy",
            ),
            (
                AuditAction::RetentionRun,
                "retention_run",
                "create",
                "retention_execution",
            ),
            (
                AuditAction::ImmutableRuleChange,
                "immutable_rule_change",
                "update",
                "immutable_rule",
            ),
            (
                AuditAction::TagRuleChange,
                "tag_rule_change",
                "update",
                "tag_naming_rule",
            ),
            (AuditAction::QuotaChange, "quota_change", "update", "quota"),
            (
                AuditAction::AccessTokenCreate,
                "access_token_create",
                "create",
                "access_token",
            ),
            (
                AuditAction::AccessTokenRevoke,
                "access_token_revoke",
                "delete",
                "access_token",
            ),
        ] {
            assert_eq!(a.as_str(), word);
            assert_eq!(a.harbor_operation(), op);
            assert_eq!(a.harbor_resource_type(), rtype);
        }
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
        let reg = Registry::open_at(
            dir.path(),
            &berth_meta::testing::database_url(dir.path()).await,
            crate::Limits::default(),
        )
        .await
        .unwrap();
        (dir, reg)
    }

    #[tokio::test]
    async fn the_writer_batches_coalesces_identical_pulls_and_keeps_the_chain() {
        let (_dir, reg) = registry().await;
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
        let ro = AuditLog::open_read_only(reg.meta().url()).await.unwrap();
        match ro.verify().await.unwrap() {
            ChainCheck::Intact {
                entries,
                head_hash,
                checkpoint,
            } => {
                assert_eq!(checkpoint, None);
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

    fn failed_login(user: &str, ip: u8) -> AuditEntry {
        AuditEntry::new(Actor::user(user), AuditAction::Login, Outcome::Failure)
            .ip(Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, ip))))
            .detail("incorrect username or password")
    }

    fn anonymous_token(ip: u8) -> AuditEntry {
        AuditEntry::new(
            Actor::anonymous(),
            AuditAction::TokenIssue,
            Outcome::Success,
        )
        .ip(Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, ip))))
        .detail("no scope")
    }

    async fn all_rows(log: &AuditLog) -> Vec<AuditRow> {
        log.entries_after(&AuditFilter::default(), 0, 10_000)
            .await
            .unwrap()
    }

    /// `N` of a detail ending `N more identical entries …`, 0 without one.
    fn repeats(r: &AuditRow) -> u64 {
        let d = r.detail.as_deref().unwrap_or("");
        d.split("; ")
            .find_map(|part| part.split_once(" more identical "))
            .and_then(|(n, _)| n.parse().ok())
            .unwrap_or(0)
    }

    #[test]
    fn cap_text_cuts_at_a_char_boundary_and_says_how_long_it_was() {
        let mut s = "a".repeat(256);
        cap_text(&mut s, 256);
        assert_eq!(s.len(), 256, "at the cap: unchanged");
        let mut s = "é".repeat(20_000); // 40 000 bytes, two per char
        cap_text(&mut s, 256);
        assert!(s.len() <= 256, "{}", s.len());
        assert!(s.ends_with("…(truncated, 40000 bytes)"), "{s}");
        assert!(s.starts_with("éé"));
        let once = s.clone();
        cap_text(&mut s, 256);
        assert_eq!(s, once, "capping twice changes nothing");
    }

    #[tokio::test]
    async fn every_text_field_of_an_entry_is_capped() {
        let (_dir, reg) = registry().await;
        let log = AuditLog::start(&reg, &AuditConfig::default());
        let huge = "ü".repeat(22_500); // 45 000 bytes
        log.record(
            AuditEntry::new(
                Actor::user(huge.clone()),
                AuditAction::Push,
                Outcome::Failure,
            )
            .repository(huge.clone())
            .reference(huge.clone())
            .digest(huge.clone())
            .detail(huge.clone()),
        );
        // Coalesced entries keep their note within the cap too.
        for _ in 0..3 {
            log.record(failed_login(&huge, 1).detail(huge.clone()));
        }
        log.flush().await;
        let rows = all_rows(&log).await;
        assert_eq!(rows.len(), 3, "{rows:?}");
        let marker = "…(truncated, 45000 bytes)";
        let r = &rows[0];
        for f in [
            Some(&r.actor),
            r.repository.as_ref(),
            r.reference.as_ref(),
            r.digest.as_ref(),
        ] {
            let f = f.unwrap();
            assert!(f.len() <= MAX_FIELD_BYTES && f.ends_with(marker), "{f}");
        }
        let d = r.detail.as_deref().unwrap();
        assert!(d.len() <= MAX_DETAIL_BYTES && d.ends_with(marker), "{d}");
        assert!(rows[1].actor.len() <= MAX_FIELD_BYTES);
        let counted = rows[2].detail.as_deref().unwrap();
        assert!(counted.len() <= MAX_DETAIL_BYTES, "{}", counted.len());
        assert_eq!(repeats(&rows[2]), 2, "{counted}");
        assert!(matches!(
            log.verify().await.unwrap(),
            ChainCheck::Intact { .. }
        ));
        log.shutdown().await;
        reg.close().await;
    }

    #[tokio::test]
    async fn failed_logins_and_anonymous_token_issues_coalesce_across_batches_into_counted_entries()
    {
        let (_dir, reg) = registry().await;
        let log = AuditLog::start(
            &reg,
            &AuditConfig {
                batch_delay: Duration::from_millis(1),
                ..Default::default()
            },
        );
        for i in 0..500 {
            log.record(failed_login("mallory", 1));
            log.record(anonymous_token(1));
            log.record(anonymous_token(1));
            log.record(anonymous_token(1));
            log.record(anonymous_token(1));
            if i % 100 == 0 {
                // Let the writer commit a batch in between: coalescing spans batches.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // Not coalesced: a successful login, a user's token, a failed push.
        for _ in 0..2 {
            log.record(
                AuditEntry::new(Actor::user("alice"), AuditAction::Login, Outcome::Success)
                    .ip(Some(IpAddr::V4(Ipv4Addr::LOCALHOST))),
            );
            log.record(AuditEntry::new(
                Actor::user("alice"),
                AuditAction::TokenIssue,
                Outcome::Success,
            ));
        }
        // A different detail is a different key.
        log.record(failed_login("mallory", 1).detail("throttled after repeated failures"));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let before_close = all_rows(&log).await;
        assert_eq!(before_close.len(), 7, "{before_close:#?}");
        assert!(before_close.iter().all(|r| repeats(r) == 0));
        // The windows are still open: shutdown writes their counts.
        log.shutdown().await;
        let ro = AuditLog::open_read_only(reg.meta().url()).await.unwrap();
        let rows = all_rows(&ro).await;
        assert_eq!(rows.len(), 9, "{rows:#?}");
        let count = |action: &str, detail: &str| -> u64 {
            rows.iter()
                .filter(|r| {
                    r.action == action && (r.result == "failure" || r.actor_kind == "anonymous")
                })
                .filter(|r| r.detail.as_deref().is_some_and(|d| d.starts_with(detail)))
                // The first entry of a window stands for itself, a counted one for N.
                .map(|r| repeats(r).max(1))
                .sum()
        };
        assert_eq!(count("login", "incorrect"), 500);
        assert_eq!(count("token_issue", "no scope"), 2000);
        let counted = rows.iter().find(|r| repeats(r) == 1999).unwrap();
        assert_eq!(counted.actor, "anonymous");
        assert_eq!(counted.source_ip.as_deref(), Some("10.0.0.1"));
        let d = counted.detail.as_deref().unwrap();
        assert!(
            d.starts_with("no scope; 1999 more identical entries between "),
            "{d}"
        );
        assert!(matches!(
            ro.verify().await.unwrap(),
            ChainCheck::Intact { entries: 9, .. }
        ));
        reg.close().await;
    }

    #[tokio::test]
    async fn a_coalescing_window_closes_by_itself_and_the_next_identical_entry_opens_another() {
        let (_dir, reg) = registry().await;
        let log = AuditLog::start(
            &reg,
            &AuditConfig {
                batch_delay: Duration::from_millis(1),
                coalesce_window: Duration::from_millis(300),
                ..Default::default()
            },
        );
        for _ in 0..10 {
            log.record(failed_login("mallory", 2));
        }
        // No flush: the writer closes the window on its own once 300 ms passed.
        let mut rows = Vec::new();
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            rows = all_rows(&log).await;
            if rows.len() == 2 {
                break;
            }
        }
        assert_eq!(rows.len(), 2, "{rows:#?}");
        assert_eq!(repeats(&rows[0]), 0);
        assert_eq!(repeats(&rows[1]), 9, "{:?}", rows[1].detail);
        assert!(rows[1].detail.as_deref().unwrap().contains("within 300 ms"));
        assert!(log
            .writer
            .as_ref()
            .unwrap()
            .pending
            .lock()
            .unwrap()
            .coalescer
            .is_empty());
        // The next one is written at once, as the first of a new window.
        log.record(failed_login("mallory", 2));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let rows = all_rows(&log).await;
        assert_eq!(rows.len(), 3);
        assert_eq!(repeats(&rows[2]), 0);
        log.shutdown().await;
        reg.close().await;
    }

    #[tokio::test]
    async fn distinct_entries_beyond_the_key_bounds_are_counted_not_kept() {
        let (_dir, reg) = registry().await;
        let log = AuditLog::start(
            &reg,
            &AuditConfig {
                batch_delay: Duration::from_secs(3600),
                max_coalesce_keys: 5,
                ..Default::default()
            },
        );
        // 40 distinct sources: 5 windows open, the other 35 are only counted.
        for ip in 0..40u8 {
            log.record(failed_login(&format!("user{ip}"), ip));
        }
        {
            let p = log.writer.as_ref().unwrap().pending.lock().unwrap();
            assert_eq!(p.coalescer.windows.len(), 5);
            assert_eq!(p.entries.len(), 5);
        }
        log.flush().await;
        let rows = all_rows(&log).await;
        assert_eq!(rows.len(), 6, "{rows:#?}");
        let dropped = &rows[5];
        assert_eq!(dropped.action, "audit_dropped");
        let d = dropped.detail.as_deref().unwrap();
        assert!(d.starts_with("35 login entries (failure) "), "{d}");
        assert!(d.contains("more than 5 distinct"), "{d}");
        log.shutdown().await;

        // One source spraying user names: MAX_KEYS_PER_SOURCE written, the rest counted.
        let log = AuditLog::start(
            &reg,
            &AuditConfig {
                batch_delay: Duration::from_secs(3600),
                ..Default::default()
            },
        );
        for i in 0..100 {
            log.record(failed_login(&format!("spray{i}"), 9));
        }
        log.flush().await;
        let rows = all_rows(&log).await;
        let new: Vec<_> = rows.iter().skip(6).collect();
        assert_eq!(new.len(), MAX_KEYS_PER_SOURCE + 1, "{new:#?}");
        let d = new.last().unwrap().detail.as_deref().unwrap();
        assert!(
            d.starts_with(&format!(
                "{} login entries (failure) from 10.0.0.9 ",
                100 - MAX_KEYS_PER_SOURCE
            )),
            "{d}"
        );
        assert_eq!(new.last().unwrap().source_ip.as_deref(), Some("10.0.0.9"));
        log.shutdown().await;
        reg.close().await;
    }

    /// A trail of `n` pushes, the first `old` of them at 1970 + i ms.
    async fn old_trail(reg: &Registry, n: usize, old: usize) -> AuditLog {
        let log = AuditLog::start(reg, &AuditConfig::default());
        for i in 0..n {
            let mut e = sample(AuditAction::Push).reference(format!("v{i}"));
            if i < old {
                e.at_ms = 1_000 + i as i64;
            }
            log.record(e);
        }
        log.flush().await;
        log
    }

    #[tokio::test]
    async fn trimming_archives_old_entries_behind_a_checkpoint_and_verify_starts_there() {
        let (dir, reg) = registry().await;
        let log = old_trail(&reg, 10, 6).await;
        let plan = log.plan_trim(1_000_000).await.unwrap().unwrap();
        assert_eq!((plan.first_seq, plan.last_seq, plan.entries()), (1, 6, 6));
        let archive = dir.path().join("a1.jsonl");
        let r = log.trim(&plan, &archive, "test", false).await.unwrap();
        assert_eq!(r.note_seq, 11);
        assert_eq!(r.checkpoint.entries, 6);
        // Not twice into the same file.
        assert!(matches!(
            log.trim(&plan, &archive, "test", false).await,
            Err(TrimError::Archive { .. })
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&archive).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let rows = all_rows(&log).await;
        assert_eq!(rows.first().unwrap().seq, 7);
        assert_eq!(rows.first().unwrap().prev_hash, r.checkpoint.last_hash);
        let note = rows.last().unwrap();
        assert_eq!(note.action, "audit_trim");
        assert_eq!(note.reference.as_deref(), Some("1..6"));
        match log.verify().await.unwrap() {
            ChainCheck::Intact {
                entries,
                checkpoint,
                ..
            } => {
                assert_eq!(entries, 5);
                assert_eq!(checkpoint.as_ref(), Some(&r.checkpoint));
            }
            other => panic!("{other:?}"),
        }
        let cps = log.checkpoints().await.unwrap();
        match verify_archive(&archive, &cps).unwrap() {
            ArchiveCheck::Intact {
                entries,
                start,
                sha256_matches,
                ..
            } => {
                assert_eq!(entries, 6);
                assert_eq!(start, ArchiveStart::Genesis);
                assert!(sha256_matches);
            }
            other => panic!("{other:?}"),
        }
        // An edited archive line, or a truncated archive, fails.
        let text = std::fs::read_to_string(&archive).unwrap();
        let edited = dir.path().join("edited.jsonl");
        std::fs::write(&edited, text.replacen("\"v2\"", "\"v9\"", 1)).unwrap();
        match verify_archive(&edited, &cps).unwrap() {
            ArchiveCheck::Broken(why) => assert!(why.contains("entry 3 was altered"), "{why}"),
            other => panic!("{other:?}"),
        }
        let cut = dir.path().join("cut.jsonl");
        let lines: Vec<_> = text.lines().take(5).collect();
        std::fs::write(&cut, lines.join("\n")).unwrap();
        assert!(matches!(
            verify_archive(&cut, &cps).unwrap(),
            ArchiveCheck::Broken(_)
        ));

        // The scheduled trim: everything older than a day (all 1970 entries are
        // gone already; make more old ones), archived beside, from the checkpoint.
        for i in 0..3 {
            let mut e = sample(AuditAction::Pull).reference(format!("p{i}"));
            e.at_ms = 2_000;
            log.record(e);
        }
        log.flush().await;
        // Entries 7..11 are recent, so only a cut-off in the future takes them.
        let r2 = log
            .trim(
                &log.plan_trim(i64::MAX).await.unwrap().unwrap(),
                &dir.path().join("a2.jsonl"),
                "test",
                false,
            )
            .await
            .unwrap();
        assert_eq!((r2.checkpoint.first_seq, r2.checkpoint.last_seq), (7, 14));
        let cps = log.checkpoints().await.unwrap();
        match verify_archive(&dir.path().join("a2.jsonl"), &cps).unwrap() {
            ArchiveCheck::Intact { start, .. } => {
                assert_eq!(start, ArchiveStart::Checkpoint(r.checkpoint.clone()))
            }
            other => panic!("{other:?}"),
        }
        // Everything was trimmed but the note: the chain continues from it.
        log.record(sample(AuditAction::Delete));
        log.flush().await;
        assert!(matches!(
            log.verify().await.unwrap(),
            ChainCheck::Intact { entries: 2, .. }
        ));
        log.shutdown().await;
        reg.close().await;
    }

    #[tokio::test]
    async fn the_scheduled_trim_archives_entries_past_retention_into_the_archive_dir() {
        let (dir, reg) = registry().await;
        let log = old_trail(&reg, 5, 3).await;
        let archive_dir = dir.path().join("audit-archive");
        let r = log
            .trim_expired(Duration::from_secs(86_400), &archive_dir)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.archive, archive_dir.join("audit-1-3.jsonl"));
        assert!(r.archive.exists());
        assert!(!archive_dir.join("audit-1-3.jsonl.partial").exists());
        // Nothing more is that old.
        assert!(log
            .trim_expired(Duration::from_secs(86_400), &archive_dir)
            .await
            .unwrap()
            .is_none());
        match log.verify().await.unwrap() {
            ChainCheck::Intact {
                entries,
                checkpoint,
                ..
            } => {
                assert_eq!(entries, 3); // entries 4, 5 and the audit_trim note
                assert_eq!(checkpoint.unwrap().last_seq, 3);
            }
            other => panic!("{other:?}"),
        }
        log.shutdown().await;
        reg.close().await;
    }

    #[test]
    fn a_chain_after_a_checkpoint_must_start_next_to_it_and_link_to_its_anchor() {
        let rows = chain(4);
        let mut v = ChainVerifier::after_checkpoint(2, &rows[1].hash);
        assert!(v.check(&rows[2]).is_ok() && v.check(&rows[3]).is_ok());
        // Another anchor: the first remaining entry is named.
        let mut v = ChainVerifier::after_checkpoint(2, &"e".repeat(64));
        let b = v.check(&rows[2]).unwrap_err();
        assert_eq!(b.seq, 3);
        assert!(b.reason.contains("does not link to the checkpoint"), "{b}");
        // Entries missing right after the checkpoint.
        let mut v = ChainVerifier::after_checkpoint(1, &rows[0].hash);
        assert!(v.check(&rows[2]).unwrap_err().reason.contains("missing"));
    }
}
