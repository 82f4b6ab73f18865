//! berth's core: the operations of an OCI Distribution v1.1 registry over the
//! blob store (`berth-storage`) and the metadata store (`berth-meta`). No HTTP
//! types here: the server crate parses requests into calls on [`Registry`] and
//! renders [`Error`] as the spec's error JSON.
//!
//! Module map:
//! - [`registry`] — [`Registry`] and its configuration.
//! - [`blobs`] — blob existence, reads with ranges, deletes, cross-repository mounts.
//! - [`uploads`] — upload sessions: start, append chunk, status, finish, cancel.
//! - [`manifests`] — push (validate, check references, store, tag), pull, delete.
//! - [`listing`] — tags list, catalog, referrers.
//! - [`cache`] — hot manifests in memory, invalidated on every local change.
//! - [`inventory`] — repositories and artifacts as the management API shows them
//!   (sizes, tags, platforms, image attributes), repository and artifact deletion,
//!   tag creation, search, health.
//! - [`fsck`] — consistency check of stored blobs and references.
//! - [`gc`] — online garbage collection, blob holds for commits, run history.
//! - [`quota`] — per-project storage quotas and usage.
//! - [`stats`] — pull/push statistics, written in batches off the request path.
//! - [`audit`] — the hash-chained audit trail: non-blocking record, one batching
//!   writer task, verify, query.
//! - [`audit_checkpoint`] — signed checkpoints of the audit chain's head.
//! - [`proxy`] — pull-through cache: proxy projects over an upstream registry,
//!   transparent mirrors.
//! - [`replication`] — replication policies and executions between registries.
//! - [`signing`] — trusted keys, cosign signature verification, the
//!   signature pull gate.
//! - [`sbom`] — SBOMs read from image layers, attached as SPDX and
//!   CycloneDX referrers; the SBOM queue.
//! - [`vuln`] — the OSV vulnerability database, matching image packages
//!   against it, reports, the vulnerability pull gate and CVE allow-lists.
//! - [`access`] — the authorization hook every operation passes through.
//! - [`error`] — [`Error`], mapped to the spec's error codes in one place.

pub mod access;
pub mod audit;
pub mod audit_checkpoint;
pub mod auth;
pub mod blobs;
pub mod cache;
pub mod error;
pub mod fsck;
pub mod gc;
pub mod inventory;
pub mod listing;
pub mod manifests;
pub mod metrics;
pub mod policy;
pub mod proxy;
pub mod quota;
pub mod registry;
pub mod replication;
pub mod sbom;
pub mod signing;
pub mod stats;
pub mod uploads;
pub mod vuln;
pub mod webhook;

#[cfg(test)]
mod test_support;

pub use access::{Access, AccessPolicy, Action};
pub use audit::{Actor, AuditAction, AuditConfig, AuditEntry, AuditLog, OnAuditFailure, Outcome};
pub use auth::{Auth, AuthConfig, AuthMode, Credential, Login, Permissions, Principal};
pub use berth_meta::ScannerRow;
pub use berth_meta::{is_conflict, MetaError};
pub use berth_meta::{
    ArtifactFilter, ArtifactRow, ProjectRecord, RepositoryFilter, RepositoryRow, TagMatch, TagRow,
    TextMatch,
};
pub use berth_meta::{ArtifactStats, DailyCount, JobRunRecord};
pub use berth_meta::{Backend, DatabaseUrl, ProjectSwitch};
pub use berth_meta::{DeliveryRow, NewWebhookPolicy, WebhookPolicyRow};
pub use berth_meta::{ExecutionRow, PolicyRow, TaskRow};
pub use berth_meta::{GroupMemberRecord, GroupRecord, MemberRecord, RobotRecord, UserRecord};
pub use berth_meta::{NewRegistry, ProxyCounts, RegistryRecord};
pub use berth_meta::{GROUP_TYPE_LDAP, GROUP_TYPE_OIDC};
pub use berth_storage::ByteStream;
pub use blobs::BlobRead;
pub use cache::CacheConfig;
pub use error::{Error, Result};
pub use fsck::{FsckProblem, FsckReport};
pub use gc::{GcOptions, GcReport, GcStep, GcTrigger};
pub use inventory::{
    ArtifactChild, ArtifactInfo, HealthReport, HistoryLine, ImageBuild, ImageLayer, Listing,
    Platform, ProjectInfo, TagCreated,
};
pub use listing::{Page, Referrer};
pub use manifests::{ManifestContent, PushedManifest};
pub use policy::immutability::ImmutableRule;
pub use policy::retention::{RetentionPolicy, RetentionReport};
pub use policy::PolicyError;
pub use proxy::{Mirror, ProxyConfig, Upstream, UpstreamError, UpstreamMissing};
pub use quota::ProjectUsage;
pub use registry::{BlobStorage, ContentEvent, Limits, Registry};
pub use uploads::UploadStatus;
