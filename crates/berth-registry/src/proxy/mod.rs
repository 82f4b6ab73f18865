//! Pull-through cache (docs/proxy.md): a project bound to an upstream
//! registry (a proxy project) serves what it holds and fetches the rest from
//! upstream on the first pull, through the same commit path as a push, so
//! proxied content is verified, deduplicated, counted in the quota and
//! collected like pushed content.
//!
//! - Blobs and manifests by digest are immutable: stored once, never asked
//!   upstream again.
//! - A tag is confirmed upstream (a manifest `HEAD`) at most once per
//!   [`ProxyConfig::tag_ttl`] across all nodes (`proxy_tags.checked_at`),
//!   however many clients pull it; when upstream is down or answers 429 the
//!   stored manifest is served and the failure logged and counted.
//! - Concurrent misses of one blob or tag on a node make one upstream fetch
//!   (the others wait for it, then read what it stored).
//! - The first client of a missing blob gets the bytes as they arrive from
//!   upstream; the last chunk is held back until the digest is verified and
//!   the blob committed, so a client never receives a complete body that was
//!   not stored. A blob whose bytes do not match its digest is not stored.
//! - Manifests are recorded without their blobs and child manifests
//!   (fetched when first pulled): see [`berth_meta::NewManifest::lazy_children`].

pub mod eviction;
pub mod registries;
pub mod upstream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_meta::ProxyCounts;
use berth_oci::{Digest, Manifest, Reference, RepositoryName};
use bytes::Bytes;
use futures::StreamExt;

use crate::blobs::BlobRead;
use crate::error::{Error, Result};
use crate::manifests::ManifestContent;
use crate::registry::Registry;
pub use eviction::Eviction;
pub use upstream::{Upstream, UpstreamError};

/// What a proxy project answers for a tag its upstream no longer has (404
/// upstream) but that was cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamMissing {
    /// 404, as upstream says (the default: a tag removed upstream is often
    /// withdrawn on purpose). The stored manifest stays until collected.
    #[default]
    NotFound,
    /// Serve the cached manifest.
    ServeStale,
}

/// A transparent mirror: requests carrying `?ns=<ns>` (containerd's
/// `hosts.toml` mirrors) are served by proxy project `project`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// The upstream host clients name, e.g. `docker.io`.
    pub ns: String,
    /// The proxy project serving it.
    pub project: String,
}

/// `[proxy]` settings.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// How long a tag confirmed upstream is served without asking again
    /// (default 5 min).
    pub tag_ttl: Duration,
    /// The answer for a cached tag upstream no longer has.
    pub upstream_missing: UpstreamMissing,
    /// Transparent mirrors by `ns`.
    pub mirrors: Vec<Mirror>,
    /// The proxy project serving mirror requests without `ns` (docker's
    /// `registry-mirrors` sends none) for repositories berth does not hold.
    pub default_mirror: Option<String>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            tag_ttl: Duration::from_secs(300),
            upstream_missing: UpstreamMissing::NotFound,
            mirrors: Vec::new(),
            default_mirror: None,
        }
    }
}

/// How long a node trusts what it looked up about a project's upstream.
const LOOKUP_TTL: Duration = Duration::from_secs(10);
/// How often counters are written to the database.
const COUNT_FLUSH: Duration = Duration::from_secs(5);

/// What a node remembers of a project: its upstream (or none), and when it
/// looked.
type Lookup = (Instant, Option<Arc<Upstream>>);

/// A proxy's per-node state: lookups, upstream clients, in-flight fetches
/// and counters not yet written.
#[derive(Default)]
pub(crate) struct ProxyState {
    pub(crate) config: ProxyConfig,
    /// Project name → its upstream (or none), and when that was looked up.
    lookups: Mutex<HashMap<String, Lookup>>,
    /// Upstream clients by registry id, with the record's `updated_at`.
    clients: Mutex<HashMap<i64, (i64, Arc<Upstream>)>>,
    /// One lock per blob digest or `repository:tag` being fetched.
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Counters not yet in the database, and when they were last written.
    pending: Mutex<(HashMap<String, ProxyCounts>, Option<Instant>)>,
    /// Notified when something was fetched from upstream or a cache limit
    /// changed: eviction may have work ([`eviction`]).
    pub(crate) filled: tokio::sync::Notify,
}

impl ProxyState {
    /// The lock for `key`, shared by every concurrent fetch of it.
    fn flight(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        flights.retain(|_, l| Arc::strong_count(l) > 1);
        flights.entry(key.to_string()).or_default().clone()
    }
}

/// A quota refusal worded for a proxied pull (the bytes would be cached,
/// not pushed).
fn proxied_quota(e: Error) -> Error {
    match e {
        Error::PolicyDenied(m) => Error::PolicyDenied(m.replacen(
            "the push would bring",
            "caching this pull would bring",
            1,
        )),
        other => other,
    }
}

#[derive(Clone, Copy)]
enum Event {
    Hit,
    Miss,
    UpstreamFailure,
}

impl Registry {
    /// Sets the proxy settings (default: [`ProxyConfig::default`]).
    pub fn with_proxy(mut self, config: ProxyConfig) -> Registry {
        self.proxy = Arc::new(ProxyState {
            config,
            ..ProxyState::default()
        });
        self
    }

    /// The proxy settings.
    pub fn proxy_config(&self) -> &ProxyConfig {
        &self.proxy.config
    }

    /// The upstream of `project` when it is a proxy project. Looked up at
    /// most every 10 s per project on each node (the staleness bound of a
    /// project's binding on other nodes).
    ///
    /// Errors: [`Error::Meta`]; [`Error::Upstream`] when the client cannot
    /// be built.
    pub async fn upstream_of(&self, project: &str) -> Result<Option<Arc<Upstream>>> {
        if let Some((at, up)) = self
            .proxy
            .lookups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(project)
        {
            if at.elapsed() < LOOKUP_TTL {
                return Ok(up.clone());
            }
        }
        let up = match self.meta.project_by_name(project).await? {
            Some(p) => match p.registry_id {
                Some(id) => match self.meta.registry_by_id(id).await? {
                    Some(record) => Some(self.client_for(record)?),
                    None => None,
                },
                None => None,
            },
            None => None,
        };
        self.proxy
            .lookups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(project.to_string(), (Instant::now(), up.clone()));
        Ok(up)
    }

    /// Forgets this node's lookups (after a project or registry changed).
    pub fn forget_upstreams(&self) {
        self.proxy
            .lookups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn client_for(&self, record: berth_meta::RegistryRecord) -> Result<Arc<Upstream>> {
        let mut clients = self.proxy.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((updated, c)) = clients.get(&record.id) {
            if *updated == record.updated_at {
                return Ok(c.clone());
            }
        }
        let (id, updated) = (record.id, record.updated_at);
        let client = Arc::new(Upstream::new(record).map_err(Error::from)?);
        clients.insert(id, (updated, client.clone()));
        Ok(client)
    }

    /// A client for `record`, for `POST /registries/ping` (not cached).
    ///
    /// Errors: [`Error::Upstream`] with what failed.
    pub async fn registry_ping(&self, record: berth_meta::RegistryRecord) -> Result<()> {
        let up = Upstream::new(record)?;
        Ok(up.ping().await?)
    }

    /// The repository a transparent-mirror request for `repo` is served from
    /// (see [`ProxyConfig::mirrors`]): `Some(<project>/<repo>)` when `ns`
    /// names a mirror, or without `ns` when a default mirror is set, `pull`
    /// is true, berth holds no repository `repo` and `repo` is not in a
    /// proxy project. `pull` is false for requests a pushing client makes
    /// too (a blob `HEAD` checks whether to upload): those stay local
    /// without `ns`, so a push to a new repository is never answered from the
    /// mirror.
    ///
    /// Errors: [`Error::Meta`].
    pub async fn mirror_route(
        &self,
        repo: &RepositoryName,
        ns: Option<&str>,
        pull: bool,
    ) -> Result<Option<RepositoryName>> {
        let cfg = &self.proxy.config;
        let project = match ns {
            Some(ns) => match cfg.mirrors.iter().find(|m| m.ns == ns) {
                Some(m) => m.project.clone(),
                None => return Ok(None),
            },
            None => match &cfg.default_mirror {
                Some(p)
                    if pull
                        && repo.namespace() != p
                        && !self.meta.repository_exists(repo.as_str()).await?
                        && self.upstream_of(repo.project()).await?.is_none() =>
                {
                    p.clone()
                }
                _ => return Ok(None),
            },
        };
        Ok(RepositoryName::parse(&format!("{project}/{repo}")).ok())
    }

    /// Every repository a mirror request for `repo` may be served from: one
    /// per configured `ns` mirror, and the default mirror's when it applies
    /// ([`Registry::mirror_route`]). The token service grants pull on these
    /// too, since clients ask tokens for the name they pull (`library/busybox`),
    /// not for the proxy project's repository berth serves it from.
    ///
    /// Errors: [`Error::Meta`].
    pub async fn mirror_targets(&self, repo: &RepositoryName) -> Result<Vec<RepositoryName>> {
        let mut out: Vec<RepositoryName> = self
            .proxy
            .config
            .mirrors
            .iter()
            .filter_map(|m| RepositoryName::parse(&format!("{}/{repo}", m.project)).ok())
            .collect();
        if let Some(r) = self.mirror_route(repo, None, true).await? {
            if !out.contains(&r) {
                out.push(r);
            }
        }
        Ok(out)
    }

    fn count(&self, repo: &RepositoryName, event: Event) {
        let project = repo.project().to_string();
        let result = match event {
            Event::Hit => "hit",
            Event::Miss => "miss",
            Event::UpstreamFailure => "upstream_failure",
        };
        metrics::counter!(crate::metrics::PROXY_REQUESTS, "project" => project.clone(), "result" => result)
            .increment(1);
        let flush = {
            let mut pending = self.proxy.pending.lock().unwrap_or_else(|e| e.into_inner());
            let c = pending.0.entry(project).or_default();
            match event {
                Event::Hit => c.hits += 1,
                Event::Miss => c.misses += 1,
                Event::UpstreamFailure => c.upstream_failures += 1,
            }
            if pending.1.is_none_or(|at| at.elapsed() >= COUNT_FLUSH) {
                pending.1 = Some(Instant::now());
                std::mem::take(&mut pending.0)
            } else {
                HashMap::new()
            }
        };
        if !flush.is_empty() {
            let meta = self.meta.clone();
            tokio::spawn(async move {
                for (project, c) in flush {
                    if let Err(e) = meta.proxy_count(&project, c).await {
                        tracing::warn!(error = %e, project, "could not record proxy counters");
                    }
                }
            });
        }
    }

    /// Hit, miss and upstream-failure counts of proxy project `project`:
    /// every node's written counts plus this node's not yet written.
    ///
    /// Errors: [`Error::Meta`].
    pub async fn proxy_counts(&self, project: &str) -> Result<ProxyCounts> {
        let mut c = self.meta.proxy_counts(project).await?;
        if let Some(p) = self
            .proxy
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .get(project)
        {
            c.hits += p.hits;
            c.misses += p.misses;
            c.upstream_failures += p.upstream_failures;
        }
        Ok(c)
    }

    /// The repository upstream for `repo` of a proxy project.
    fn upstream_repository(up: &Upstream, repo: &RepositoryName) -> String {
        let path = repo
            .as_str()
            .split_once('/')
            .map(|(_, rest)| rest)
            .unwrap_or(repo.as_str());
        up.repository(path)
    }

    /// `GET`/`HEAD` of a manifest in a proxy project: what is stored when it
    /// is fresh (a digest always is, a tag within the TTL), otherwise asked
    /// upstream first (see the module docs).
    ///
    /// Errors: [`Error::ManifestUnknown`] when neither berth nor upstream
    /// has it; [`Error::Upstream`] when upstream fails and nothing is stored;
    /// [`Error::ManifestInvalid`] / [`Error::DigestInvalid`] for an upstream
    /// manifest that is invalid or does not match its digest.
    pub async fn proxy_manifest_get(
        &self,
        up: &Upstream,
        repo: &RepositoryName,
        reference: &Reference,
        body: bool,
    ) -> Result<ManifestContent> {
        let Reference::Tag(tag) = reference else {
            return match self.manifest_get(repo, reference, body).await {
                Err(Error::ManifestUnknown(_) | Error::NameUnknown(_)) => {
                    let lock = self.proxy.flight(&format!("{repo}@{reference}"));
                    let _guard = lock.lock().await;
                    match self.manifest_get(repo, reference, body).await {
                        Err(Error::ManifestUnknown(_) | Error::NameUnknown(_)) => {}
                        other => return other,
                    }
                    self.count(repo, Event::Miss);
                    self.fetch_manifest(up, repo, reference).await?;
                    self.manifest_get(repo, reference, body).await
                }
                other => {
                    if other.is_ok() {
                        self.count(repo, Event::Hit);
                    }
                    other
                }
            };
        };
        let tag = tag.as_str();
        let ttl = i64::try_from(self.proxy.config.tag_ttl.as_millis()).unwrap_or(i64::MAX);
        let fresh =
            |checked: Option<i64>| checked.is_some_and(|at| berth_meta::store::now_ms() - at < ttl);
        if fresh(self.meta.proxy_tag_checked(repo.as_str(), tag).await?) {
            if let Ok(m) = self.manifest_get(repo, reference, body).await {
                self.count(repo, Event::Hit);
                return Ok(m);
            }
        }
        let lock = self.proxy.flight(&format!("{repo}:{tag}"));
        let _guard = lock.lock().await;
        // Another request may have confirmed it while this one waited.
        if fresh(self.meta.proxy_tag_checked(repo.as_str(), tag).await?) {
            if let Ok(m) = self.manifest_get(repo, reference, body).await {
                self.count(repo, Event::Hit);
                return Ok(m);
            }
        }
        let stored = match self.meta.manifest_by_tag(repo.as_str(), tag).await {
            Ok(found) => found.map(|m| m.digest),
            Err(_) => None,
        };
        let upstream_repo = Self::upstream_repository(up, repo);
        let outcome = match &stored {
            Some(_) => {
                up.manifest_digest(&upstream_repo, tag, self.limits.max_manifest_bytes)
                    .await
            }
            None => Ok(None),
        };
        match (outcome, &stored) {
            (Ok(Some(d)), Some(s)) if &d == s => {
                tracing::info!(repository = %repo, tag, digest = %d, "proxy hit: tag unchanged upstream");
                self.meta.proxy_tag_confirm(repo.as_str(), tag).await?;
                self.count(repo, Event::Hit);
                self.manifest_get(repo, reference, body).await
            }
            (Ok(None), Some(_)) => match self.proxy.config.upstream_missing {
                UpstreamMissing::ServeStale => {
                    tracing::warn!(repository = %repo, tag, "proxy: upstream no longer has this tag; serving the cached manifest (proxy.upstream_missing = serve_stale)");
                    self.count(repo, Event::Hit);
                    self.manifest_get(repo, reference, body).await
                }
                UpstreamMissing::NotFound => Err(Error::ManifestUnknown(format!(
                    "{tag} (upstream {} no longer has it)",
                    up.record().name
                ))),
            },
            (Err(e), Some(_)) if e.is_outage() => {
                tracing::warn!(repository = %repo, tag, error = %e, "proxy: upstream unavailable; serving the cached manifest");
                self.count(repo, Event::UpstreamFailure);
                self.manifest_get(repo, reference, body).await
            }
            (Err(e), _) => {
                self.count(repo, Event::UpstreamFailure);
                Err(e.into())
            }
            // Not stored, or moved upstream: fetch it.
            (Ok(_), _) => {
                self.count(repo, Event::Miss);
                match self.fetch_manifest(up, repo, reference).await {
                    Ok(()) => {}
                    Err(Error::Upstream(e)) if stored.is_some() && e.is_outage() => {
                        tracing::warn!(repository = %repo, tag, error = %e, "proxy: upstream failed mid-fetch; serving the cached manifest");
                    }
                    Err(e) => return Err(e),
                }
                self.meta.proxy_tag_confirm(repo.as_str(), tag).await?;
                self.manifest_get(repo, reference, body).await
            }
        }
    }

    /// Fetches a manifest from upstream and stores it (tagged when
    /// `reference` is a tag), its children left to be fetched on demand.
    async fn fetch_manifest(
        &self,
        up: &Upstream,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<()> {
        let upstream_repo = Self::upstream_repository(up, repo);
        let limit = self.limits.max_manifest_bytes;
        let fetched = up
            .manifest(&upstream_repo, &reference.to_string(), limit)
            .await
            .inspect_err(|_| self.count(repo, Event::UpstreamFailure))?
            .ok_or_else(|| Error::ManifestUnknown(reference.to_string()))?;
        tracing::info!(repository = %repo, %reference, upstream = %up.record().name, "proxy miss: manifest fetched from upstream");
        self.manifest_put_proxied(repo, reference, fetched.media_type.as_deref(), fetched.body)
            .await
            .map_err(|e| match e {
                Error::ManifestInvalid(m) => Error::ManifestInvalid(format!(
                    "upstream {} served an invalid manifest: {m}",
                    up.record().name
                )),
                Error::DigestInvalid(m) => Error::DigestInvalid(format!(
                    "upstream {} served a manifest that does not match: {m}",
                    up.record().name
                )),
                other => other,
            })
    }

    /// Stores a manifest fetched from upstream: validated and digest-checked
    /// as a push, within the quota, without requiring its children.
    async fn manifest_put_proxied(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<()> {
        let manifest = Manifest::parse(&body, content_type)
            .map_err(|e| Error::ManifestInvalid(e.to_string()))?;
        let (algorithm, tag) = match reference {
            Reference::Digest(d) => (d.algorithm(), None),
            Reference::Tag(t) => (berth_oci::Algorithm::Sha256, Some(t.as_str())),
        };
        let digest = Digest::of(algorithm, &body);
        if let Reference::Digest(d) = reference {
            if d != &digest {
                return Err(Error::DigestInvalid(format!(
                    "its bytes have digest {digest}, not {d}"
                )));
            }
        }
        self.quota_admit(repo, Some(&digest), body.len() as u64)
            .await
            .map_err(proxied_quota)?;
        self.manifest_store_as(repo, &manifest, &digest, body, algorithm, tag, true, None)
            .await?;
        self.note_push(repo, &digest, tag, "proxy");
        self.proxy.filled.notify_one();
        Ok(())
    }

    /// The tags of a proxied repository, in lexical order: upstream's and
    /// those cached here; only the cached ones while upstream is down.
    ///
    /// Errors: [`Error::NameUnknown`] when neither has the repository;
    /// [`Error::Upstream`] when upstream refuses berth (other than an
    /// outage).
    pub async fn proxy_tags(&self, up: &Upstream, repo: &RepositoryName) -> Result<Vec<String>> {
        let mut tags = std::collections::BTreeSet::new();
        let cached = match self.tags_list(repo, Some(self.limits.max_page), None).await {
            Ok(page) => Some(page.items),
            Err(Error::NameUnknown(_)) => None,
            Err(e) => return Err(e),
        };
        let upstream = match up.tags(&Self::upstream_repository(up, repo)).await {
            Ok(t) => Some(t),
            Err(UpstreamError::Bad { detail, .. }) if detail.starts_with("answered 404") => None,
            Err(e) if e.is_outage() && cached.is_some() => {
                tracing::warn!(repository = %repo, error = %e, "proxy: upstream unavailable; listing the cached tags");
                self.count(repo, Event::UpstreamFailure);
                None
            }
            Err(e) => return Err(e.into()),
        };
        if cached.is_none() && upstream.is_none() {
            return Err(Error::NameUnknown(repo.to_string()));
        }
        tags.extend(cached.into_iter().flatten());
        tags.extend(upstream.into_iter().flatten());
        Ok(tags.into_iter().collect())
    }

    /// `HEAD` of a blob in a proxy project: stored, or asked upstream (not
    /// fetched).
    ///
    /// Errors: [`Error::BlobUnknown`]; [`Error::Upstream`].
    pub async fn proxy_blob_head(
        &self,
        up: &Upstream,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<u64> {
        if let Some(size) = self.meta.blob_in_repository(repo.as_str(), digest).await? {
            return Ok(size);
        }
        // Upstream down: "not here" (a pushing client then goes on to the
        // upload, which is refused with the reason; a pulling one asks GET).
        let size = match self.upstream_blob_size(up, repo, digest).await {
            Ok(found) => found,
            Err(Error::Upstream(e)) if e.is_outage() => None,
            Err(e) => return Err(e),
        }
        .ok_or_else(|| Error::BlobUnknown(digest.to_string()))?;
        // Upstream has it: when berth holds the bytes for another
        // repository, link them (no transfer on the GET that follows).
        self.blob_mount(repo, digest, None).await?;
        Ok(size)
    }

    /// The size upstream gives for the blob (`HEAD`), `None` when upstream
    /// has no such blob in that repository.
    async fn upstream_blob_size(
        &self,
        up: &Upstream,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<u64>> {
        let resp = match up
            .blob(&Self::upstream_repository(up, repo), digest, true)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                self.count(repo, Event::UpstreamFailure);
                return Err(e.into());
            }
        };
        // A HEAD response has no body: the size is the header's, not the
        // (empty) body's.
        Ok(resp.map(|r| {
            r.headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        }))
    }

    /// The blob's size when `repo` (of a proxy project) holds it, linking
    /// a blob berth stores elsewhere once upstream confirms it (see
    /// [`Registry::link_confirmed`]).
    async fn local_blob(
        &self,
        up: &Upstream,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<u64>> {
        self.link_confirmed(up, &Self::upstream_repository(up, repo), repo, digest)
            .await
            .inspect_err(|e| {
                if matches!(e, Error::Upstream(_)) {
                    self.count(repo, Event::UpstreamFailure);
                }
            })
    }

    /// The blob's size when `repo` holds it. A blob berth stores for another
    /// repository is linked into `repo` only once `up` confirms (a `HEAD`)
    /// that its `upstream_repo` has that blob: content coming from another
    /// registry (a proxy project, a pull-based replication) must not become
    /// a way to read other projects' blobs by digest. Then nothing is
    /// transferred.
    ///
    /// Errors: [`Error::BlobUnknown`] when berth holds the blob elsewhere but
    /// upstream does not have it; [`Error::Upstream`].
    pub(crate) async fn link_confirmed(
        &self,
        up: &Upstream,
        upstream_repo: &str,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<u64>> {
        if let Some(size) = self.meta.blob_in_repository(repo.as_str(), digest).await? {
            return Ok(Some(size));
        }
        if self
            .meta
            .repository_with_blob(digest, repo.as_str())
            .await?
            .is_none()
        {
            return Ok(None);
        }
        match up.blob(upstream_repo, digest, true).await? {
            Some(_) => {
                let linked = self.blob_mount(repo, digest, None).await;
                if linked.is_ok() {
                    self.proxy.filled.notify_one();
                }
                linked
            }
            None => Err(Error::BlobUnknown(digest.to_string())),
        }
    }

    /// The signature pull gate for a manifest `GET` from a proxy project:
    /// [`Registry::pull_gate`], but before refusing, the cosign tag-form
    /// signatures (`sha256-<hex>.sig`) of the manifest and of the indexes
    /// holding it are fetched from upstream with their payloads and
    /// verified, so what upstream has signed passes without a client
    /// fetching the signatures first. (Signatures stored upstream only as
    /// OCI 1.1 referrers are not looked up.)
    ///
    /// Errors: [`Error::PolicyDenied`] as [`Registry::pull_gate`].
    pub async fn proxy_pull_gate(
        self: &Arc<Self>,
        up: &Arc<Upstream>,
        repo: &RepositoryName,
        digest: &Digest,
        body: &[u8],
    ) -> Result<()> {
        match self.pull_gate(repo, digest, body).await {
            Err(Error::PolicyDenied(_)) => {}
            other => return other,
        }
        let mut subjects = vec![digest.clone()];
        for parent in self
            .meta
            .parent_indexes(repo.as_str(), digest.as_str())
            .await?
        {
            subjects.extend(Digest::parse(&parent).ok());
        }
        for subject in &subjects {
            if let Err(e) = self.proxy_fetch_signature(up, repo, subject).await {
                tracing::debug!(repository = %repo, %subject, error = %e, "proxy: no signature fetched from upstream");
            }
        }
        self.pull_gate(repo, digest, body).await
    }

    /// Fetches `subject`'s tag-form cosign signature and its payloads from
    /// upstream (or the cache) and records the verdict.
    async fn proxy_fetch_signature(
        self: &Arc<Self>,
        up: &Arc<Upstream>,
        repo: &RepositoryName,
        subject: &Digest,
    ) -> Result<()> {
        let tag = format!("{}.sig", subject.as_str().replace(':', "-"));
        let reference = Reference::parse(&tag)
            .map_err(|e| Error::ManifestInvalid(format!("signature tag {tag}: {e}")))?;
        let m = self.proxy_manifest_get(up, repo, &reference, true).await?;
        let body = m.body.unwrap_or_default();
        let Some(sig) = crate::signing::cosign::recognize(&body, Some(&tag), None) else {
            return Ok(());
        };
        for p in sig
            .payloads
            .iter()
            .filter(|p| p.size <= crate::signing::cosign::MAX_PAYLOAD)
        {
            let mut read = self.proxy_blob_read(up, repo, &p.digest, None).await?;
            while let Some(chunk) = read.body.next().await {
                chunk.map_err(|e| Error::Storage(berth_storage::StorageError::Io(e)))?;
            }
        }
        self.signature_check(repo, &m.digest, &body, Some(&tag))
            .await;
        Ok(())
    }

    /// `GET` of a blob in a proxy project: stored, or streamed from upstream
    /// while it is stored (see the module docs). A `Range` on a miss waits
    /// for the whole blob.
    ///
    /// Errors: [`Error::BlobUnknown`] when neither berth nor upstream has
    /// it; [`Error::Upstream`]; [`Error::RangeNotSatisfiable`].
    pub async fn proxy_blob_read(
        self: &Arc<Self>,
        up: &Arc<Upstream>,
        repo: &RepositoryName,
        digest: &Digest,
        range: Option<&str>,
    ) -> Result<BlobRead> {
        if self.local_blob(up, repo, digest).await?.is_some() {
            self.count(repo, Event::Hit);
            tracing::debug!(repository = %repo, %digest, "proxy hit: blob");
            return self.blob_read(repo, digest, range).await;
        }
        let lock = self.proxy.flight(digest.as_str());
        let guard = lock.lock_owned().await;
        if self.local_blob(up, repo, digest).await?.is_some() {
            drop(guard);
            self.count(repo, Event::Hit);
            return self.blob_read(repo, digest, range).await;
        }
        self.count(repo, Event::Miss);
        let resp = match up
            .blob(&Self::upstream_repository(up, repo), digest, false)
            .await
        {
            Ok(Some(r)) => r,
            Ok(None) => return Err(Error::BlobUnknown(digest.to_string())),
            Err(e) => {
                self.count(repo, Event::UpstreamFailure);
                return Err(e.into());
            }
        };
        tracing::info!(repository = %repo, %digest, upstream = %up.record().name, size = ?resp.content_length(), "proxy miss: blob streamed from upstream");
        let size = resp.content_length();
        // Refused before the first byte, rather than a body cut off at the
        // commit: the quota is checked against the size upstream announces.
        if let Some(size) = size {
            self.quota_admit(repo, Some(digest), size)
                .await
                .map_err(proxied_quota)?;
        }
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
        let stream_to_client = range.is_none() && size.is_some();
        let task = tokio::spawn(Arc::clone(self).store_from_upstream(
            repo.clone(),
            digest.clone(),
            up.record().name.clone(),
            resp,
            stream_to_client.then_some(tx),
            guard,
        ));
        match size {
            Some(size) if stream_to_client => Ok(BlobRead {
                size,
                range: None,
                body: futures::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.map(|item| (item, rx))
                })
                .boxed(),
            }),
            _ => {
                task.await.map_err(|e| {
                    Error::Storage(berth_storage::StorageError::Io(std::io::Error::other(e)))
                })??;
                self.blob_read(repo, digest, range).await
            }
        }
    }

    /// Stores an upstream blob response as `repo`'s blob `digest`, sending
    /// the bytes to `client` as they arrive (all but the last chunk, which
    /// follows the commit; an error instead when the commit fails). Holds
    /// `_flight` until done, so concurrent misses wait and then read the
    /// stored blob. Runs on its own task: a client that leaves does not stop
    /// the fetch.
    async fn store_from_upstream(
        self: Arc<Self>,
        repo: RepositoryName,
        digest: Digest,
        upstream: String,
        resp: reqwest::Response,
        client: Option<tokio::sync::mpsc::Sender<std::io::Result<Bytes>>>,
        _flight: tokio::sync::OwnedMutexGuard<()>,
    ) -> Result<()> {
        let client = Arc::new(tokio::sync::Mutex::new(client));
        let held = Arc::new(Mutex::new(None::<Bytes>));
        let (c, h) = (client.clone(), held.clone());
        let body = resp
            .bytes_stream()
            .then(move |item| {
                let (c, h) = (c.clone(), h.clone());
                async move {
                    let bytes = item.map_err(std::io::Error::other)?;
                    let previous = h
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .replace(bytes.clone());
                    if let Some(prev) = previous {
                        let mut c = c.lock().await;
                        if let Some(tx) = c.as_ref() {
                            if tx.send(Ok(prev)).await.is_err() {
                                // The client left; the fetch goes on.
                                *c = None;
                            }
                        }
                    }
                    Ok(bytes)
                }
            })
            .boxed();
        let result = self
            .upload_monolithic(&repo, Some(digest.as_str()), body)
            .await
            .map(|_| ());
        let mut c = client.lock().await;
        match &result {
            Ok(()) => {
                self.proxy.filled.notify_one();
                let last = held.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let (Some(tx), Some(last)) = (c.as_ref(), last) {
                    let _ = tx.send(Ok(last)).await;
                }
            }
            Err(e) => {
                tracing::error!(repository = %repo, %digest, upstream, error = %e, "proxy: the blob from upstream was not stored");
                self.count(&repo, Event::UpstreamFailure);
                if let Some(tx) = c.as_ref() {
                    let _ = tx
                        .send(Err(std::io::Error::other(format!(
                            "upstream {upstream}: blob {digest} was not stored: {e}"
                        ))))
                        .await;
                }
            }
        }
        *c = None;
        result
    }
}
