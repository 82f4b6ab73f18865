//! berth's metadata store: which repositories exist, which blobs each may read,
//! manifests with their references, tags, referrers and upload sessions. SQL
//! lives here and nowhere else.
//!
//! Module map:
//! - [`store`] — [`MetaStore`], the connection pools and every query.
//! - [`changes`] — [`Change`]s other nodes must hear about (PostgreSQL
//!   `LISTEN`/`NOTIFY`).
//! - [`db`] — [`DatabaseUrl`], connecting to SQLite or PostgreSQL, migrations,
//!   write transactions.
//! - [`durable`] — group commit: write transactions that share their flushes.
//! - [`error`] — [`MetaError`].
//! - [`gc`] — garbage collection: untagged manifests, link expiry, holds and sweep marks.
//! - [`quota`] — per-project quotas and storage usage.
//! - [`stats`] — pull/push statistics per manifest, tag and project-day; job run history.
//! - [`replication`] — replication policies, executions and tasks.
//! - [`upstream`] — upstream registries, proxy projects, proxied tags' last
//!   upstream check and proxy counters.
//! - [`signatures`] — trusted keys per project, the verdict on each
//!   signature manifest, the signature pull gate switch.
//! - [`scans`] — the SBOM generation queue and outcomes, the automatic
//!   SBOM switch.
//! - [`vulns`] — the OSV vulnerability database, the packages of each image,
//!   CVE allow-lists, the vulnerability pull gate's settings.
//! - [`switches`] — a project's policy settings kept on `projects` (the
//!   signature, SBOM and vulnerability switches), read in one query.
//! - [`proxy_cache`] — proxy projects' cache size limits and the rows LRU
//!   eviction reads and deletes.
//! - [`audit`] — the hash-chained `audit_log` table: append, read in order, query.
//! - [`catalog_queries`] — filtered, paged listings of repositories, artifacts and
//!   tags for the management API, and repository deletion.
//!
//! # Schema (SQLite, `migrations/sqlite/`)
//!
//! ```text
//! repositories(id, name, created_at)
//!   ├── repo_blobs(repo_id, digest → blobs, linked_at)      what the repository may read
//!   ├── manifests(repo_id, digest → blobs, media_type, artifact_type, subject,
//!   │   │          size, annotations, pushed_at, last_pulled_at, pull_count)
//!   │   ├── manifest_refs(repo_id, manifest_digest, kind, child_digest)
//!   │   └── tags(repo_id, name, digest, pushed_at, last_pulled_at)
//!   └── (upload_sessions(id, repository, started_at, updated_at) by name)
//! blobs(digest, size, created_at)                           bytes installed in the blob store
//! audit_log(seq, at, actor, actor_kind, source_ip, action, repository, reference,
//!           digest, result, detail, prev_hash, hash)         append-only, hash-chained
//! audit_checkpoints(first_seq, last_seq, last_hash, at, entries, archive_sha256, archive)
//!                                                            trims of audit_log (migration 6)
//! audit_signed_heads(seq, hash, at, public_key, signature)   signed checkpoints (migration 13)
//! blob_holds(digest, holder, expires_at)                     a commit in progress (gc must keep it)
//! blob_sweeps(digest, marked_at)                             gc is deleting these bytes
//! gc_candidates(digest)                                      may have lost its last keeper: filled
//!                                                            by triggers on blobs (insert) and on
//!                                                            repo_blobs, manifests, manifest_refs,
//!                                                            blob_holds (delete) (migration 25)
//! gc_storage_scans(id = 1, scanned_at)                       last listing of the blob storage
//! gc_pending_links(repo_id, digest)                          links gc may expire: new, or their last
//!                                                            reference went (migration 27)
//! repositories.tags_changed                                  moved by every tag added or removed
//!                                                            (migration 28): tag list caches confirm by it
//! project_quotas(project, limit_bytes)  project_daily_stats(project, day, pushes, pulls)
//! job_runs(id, kind, trigger, dry_run, status, started/finished, counts, error)
//! registries(id, name, type, url, insecure, description, access_key, access_secret, …)
//!                                                            upstreams (migration 9);
//!                                                            projects.registry_id → a proxy project,
//!                                                            projects.proxy_cache_limit (migration 11)
//! trusted_keys(project, name, algorithm, public_key, …)  signatures(repository, digest,
//!   subject, format, status, key_name, detail)  projects.require_signature (migration 12)
//!   projects.signature_each_child (migration 16)
//! scan_tasks(repository, digest, kind, status, attempts, claimed_until, detail, report, …)
//!   projects.auto_sbom (migration 14)
//! vulnerabilities(id, modified, aliases, summary, severity, score, vector, links, withdrawn)
//!   vuln_affected(vuln_id, ecosystem, package, affected, severity)  vuln_db_imports(id, …)
//!   artifact_packages(repository, digest, ecosystem, package, version, name, purl)
//!   cve_allowlists(scope, items, expires_at)  projects.prevent_severity, .deny_unscanned
//!                                                            (migration 15)
//! proxy_tags(repository, tag, checked_at)  proxy_stats(project, hits, misses, upstream_failures)
//! ```
//!
//! `repositories.project` is a generated column (first name component, or
//! `library`); `manifests.pushed_by`, `tags.pushed_by` and `tags.pull_count` come
//! from migration 4.
//!
//! Deleting a manifest cascades to its tags and references. A blob row is written
//! only after its bytes are durable, so a row never points at missing bytes unless
//! the storage was tampered with (which `berth fsck` detects).
//!
//! # Concurrency and durability
//!
//! The database runs in WAL mode with `synchronous=FULL`: a committed transaction
//! survives a crash or power loss before the HTTP response is sent. Reads use a
//! pool of connections; writes go through a single connection and start with
//! `BEGIN IMMEDIATE`, so writers queue instead of failing with `SQLITE_BUSY`, and
//! other processes (`berth fsck`, `berth gc`) wait through the busy timeout.
//!
//! The PostgreSQL backend (scale-out) will sit behind the same [`MetaStore`] API.

pub mod access;
pub mod audit;
pub mod catalog_queries;
pub mod changes;
pub mod db;
pub mod durable;
pub mod error;
pub mod gc;
pub mod groups;
pub mod policies;
pub mod proxy_cache;
pub mod quota;
pub mod replication;
pub mod scanners;
pub mod scans;
pub mod sessions;
pub mod signatures;
pub mod stats;
pub mod store;
pub mod switches;
pub mod testing;
pub mod throttle;
pub mod timed;
pub mod upstream;
pub mod vulns;
pub mod webhooks;

pub use access::{
    is_conflict, AccessTokenRecord, MemberRecord, ProjectRecord, RobotRecord, UserRecord,
};
pub use audit::{
    AuditCheckpoint, AuditQuery, AuditRow, AuditTrimOutcome, SignedHeadRow, AUDIT_GENESIS,
};
pub use catalog_queries::{
    ArtifactFilter, ArtifactRow, RepositoryFilter, RepositoryRow, TagMatch, TagRow, TextMatch,
};
pub use changes::{Change, ChangeFeed, Feed};
pub use db::{Backend, DatabaseUrl, JobLock, WRITE_LOCK_KEY};
pub use error::MetaError;
pub use gc::{GcMetaOutcome, HoldOutcome, SweptManifest};
pub use groups::{GroupMemberRecord, GroupRecord, GROUP_TYPE_LDAP, GROUP_TYPE_OIDC};
pub use policies::{
    ArtifactRecord, ArtifactTag, GuardedDelete, ImmutableRuleRow, RetentionPolicyRow,
};
pub use proxy_cache::{Evicted, EvictionCandidate};
pub use quota::{ProjectUsageRecord, QuotaExceeded};
pub use replication::{ExecutionRow, PolicyRow, TaskRow};
pub use scanners::ScannerRow;
pub use scans::ScanTaskRow;
pub use sessions::SessionRow;
pub use signatures::{SignatureRow, TrustedKeyRow, ATTESTATION_FORMAT};
pub use stats::{
    ArtifactStats, DailyCount, JobCounts, JobRunRecord, ProjectStatistic, PullAggregate, PushEvent,
    RegistryStatistics,
};
pub use store::{
    BlobRecord, ManifestRecord, MetaStore, NewManifest, PutManifestOutcome, ReferrerRecord,
    TagRecord,
};
pub use switches::{ProjectSettings, ProjectSwitch};
pub use throttle::ThrottleRow;
pub use upstream::{NewRegistry, ProxyCounts, RegistryRecord};
pub use vulns::{AffectedRow, ArtifactPackageRow, CandidateRow, VulnImportRow, VulnerabilityRow};
pub use webhooks::{DeliveryRow, NewDelivery, NewWebhookPolicy, WebhookPolicyRow};
