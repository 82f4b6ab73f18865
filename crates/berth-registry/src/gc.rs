//! Online garbage collection (mark and sweep while pushes continue). The
//! metadata database is the mark set; the protocol, and the races it closes, are
//! described in `docs/gc.md`. In short:
//!
//! 1. upload sessions idle longer than `upload_max_age` are removed;
//! 2. one transaction deletes untagged manifests nothing keeps (optional), expires
//!    repository links older than the grace period that no manifest of their
//!    repository references, and lists the blobs nothing keeps any more among
//!    the candidates recorded since the last run (never every blob row);
//! 3. each such blob (and, when a storage scan is due, each unrecorded blob
//!    file older than the grace period) is swept: marked in a transaction that
//!    re-checks that nothing keeps it and no committer holds it, its bytes
//!    deleted, then its row and mark removed.
//!
//! Committers (upload commit, manifest push) *hold* a digest while they install
//! and record its bytes; a hold and a sweep mark exclude each other in SQLite, so
//! bytes being committed are never deleted, and a commit of bytes being deleted
//! waits until the sweep is over and then installs them again.

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

use berth_meta::gc::SWEEP_MARK_STALE;
use berth_meta::{HoldOutcome, JobCounts, JobRunRecord};
use berth_oci::{Digest, RepositoryName};
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::registry::Registry;

/// The `kind` of garbage-collection runs in the job history.
pub const GC_JOB: &str = "gc";

/// How often a run lists the whole blob storage for files no row records.
/// Every commit holds its digest while it installs and records the bytes, and
/// the hold's release records the digest as a candidate, so those files are
/// found without a listing; the listing is for what no candidate can name:
/// bytes whose hold a power failure lost (holds are committed without a
/// flush), files restored from a backup newer than the database, files copied
/// in by hand. The first run on a database lists it too (`docs/gc.md`).
pub const STORAGE_SCAN_INTERVAL: Duration = Duration::from_secs(7 * 24 * 3600);

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcTrigger {
    /// On demand through the management API (Harbor's `MANUAL`).
    Manual,
    /// By `gc.schedule` (Harbor's `SCHEDULE`).
    Schedule,
    /// By `berth gc` on the command line.
    Cli,
}

impl GcTrigger {
    /// `manual`, `schedule` or `cli`.
    pub fn as_str(self) -> &'static str {
        match self {
            GcTrigger::Manual => "manual",
            GcTrigger::Schedule => "schedule",
            GcTrigger::Cli => "cli",
        }
    }
}

/// Parameters of one run.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Report what would be deleted, delete nothing.
    pub dry_run: bool,
    /// Also delete untagged manifests (with their referrers, and the children of
    /// untagged indexes) once older than the grace period.
    pub delete_untagged: bool,
    /// A repository link (and an untagged manifest) younger than this is kept:
    /// a fresh upload or mount waiting for its manifest. Default 2 h.
    pub grace_period: Duration,
    /// Upload sessions idle longer than this are removed. Default 24 h.
    pub upload_max_age: Duration,
    /// Pause between deleting manifest records and deleting bytes, so that
    /// another process's manifest cache (bounded by `cache.manifest_ttl_ms`) has
    /// forgotten them. Zero inside `berth serve`, whose own cache is invalidated.
    pub settle: Duration,
    /// Also list the whole blob storage for files no row records (see
    /// [`STORAGE_SCAN_INTERVAL`]); a run does so anyway when it is due.
    pub scan_storage: bool,
    /// What started the run.
    pub trigger: GcTrigger,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            dry_run: false,
            delete_untagged: false,
            grace_period: Duration::from_secs(2 * 3600),
            upload_max_age: Duration::from_secs(24 * 3600),
            settle: Duration::ZERO,
            scan_storage: false,
            trigger: GcTrigger::Manual,
        }
    }
}

/// Progress of a run, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcStep {
    /// A phase starts, with the number of items it will go through.
    Phase {
        /// `uploads`, `metadata` or `blobs`.
        name: &'static str,
        /// Items in the phase.
        total: u64,
    },
    /// Items done in the current phase.
    Advance(u64),
}

/// What a run deleted (or, for a dry run, would delete).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// The run's id in the job history.
    pub run_id: i64,
    /// True for a dry run.
    pub dry_run: bool,
    /// Untagged manifests deleted, with referrers and index children.
    pub manifests_deleted: u64,
    /// Repository links that expired.
    pub links_deleted: u64,
    /// Blobs deleted (recorded ones, and unrecorded files left by crashes).
    pub blobs_deleted: u64,
    /// Bytes of those blobs.
    pub bytes_deleted: u64,
    /// Upload sessions (and staging files) removed.
    pub uploads_deleted: u64,
    /// Bytes those uploads held.
    pub upload_bytes_deleted: u64,
    /// The run listed the whole blob storage for files no row records (see
    /// [`STORAGE_SCAN_INTERVAL`]).
    pub storage_scanned: bool,
}

impl GcReport {
    fn counts(&self) -> JobCounts {
        JobCounts {
            manifests_deleted: self.manifests_deleted,
            links_deleted: self.links_deleted,
            blobs_deleted: self.blobs_deleted,
            bytes_deleted: self.bytes_deleted + self.upload_bytes_deleted,
            uploads_deleted: self.uploads_deleted,
        }
    }
}

fn older_than(t: SystemTime, cutoff: SystemTime) -> bool {
    t < cutoff
}

fn cutoff_ms(age: Duration) -> i64 {
    berth_meta::store::now_ms() - i64::try_from(age.as_millis()).unwrap_or(i64::MAX)
}

impl Registry {
    /// Runs garbage collection (Harbor: `POST /api/v2.0/system/gc/schedule` with
    /// `{"schedule": {"type": "Manual"}}`), recording it in the job history, and
    /// returns what it deleted. Safe while pushes and pulls continue, and while
    /// another process runs it on the same data directory. Runs of this registry
    /// are serialized.
    ///
    /// Errors: [`Error::Meta`] / [`Error::Storage`]; the run is then recorded
    /// with status `error`, and whatever it had swept stays swept (each step is
    /// safe to resume).
    pub async fn gc(
        &self,
        opts: &GcOptions,
        progress: &(dyn Fn(GcStep) + Send + Sync),
    ) -> Result<GcReport> {
        let id = self.gc_record_start(opts).await?;
        self.gc_recorded(id, opts, progress).await
    }

    /// Records a run as `running` in the job history and returns its id, for an
    /// API that answers at once with the run's location (Harbor answers `201` with
    /// `Location: /api/v2.0/system/gc/{id}`) and then runs
    /// [`Registry::gc_recorded`] in the background.
    pub async fn gc_record_start(&self, opts: &GcOptions) -> Result<i64> {
        let params = serde_json::json!({
            "delete_untagged": opts.delete_untagged,
            "dry_run": opts.dry_run,
            "grace_period_secs": opts.grace_period.as_secs(),
            "upload_max_age_secs": opts.upload_max_age.as_secs(),
            "scan_storage": opts.scan_storage,
        })
        .to_string();
        Ok(self
            .meta
            .job_start(GC_JOB, opts.trigger.as_str(), opts.dry_run, &params)
            .await?)
    }

    /// Runs the collection recorded as `id` by [`Registry::gc_record_start`] and
    /// records its outcome (counts, `success` or `error`).
    pub async fn gc_recorded(
        &self,
        id: i64,
        opts: &GcOptions,
        progress: &(dyn Fn(GcStep) + Send + Sync),
    ) -> Result<GcReport> {
        let _one_at_a_time = self.gc_lock.lock().await;
        // And one at a time on the whole database: a run on another node
        // (PostgreSQL) is waited for.
        let cluster = self.meta.job_lock(GC_JOB, true).await?;
        let mut report = GcReport {
            run_id: id,
            dry_run: opts.dry_run,
            ..GcReport::default()
        };
        let start = std::time::Instant::now();
        let result = self.gc_run(opts, progress, &mut report).await;
        metrics::histogram!(crate::metrics::GC_DURATION).record(start.elapsed());
        let status = if result.is_ok() { "success" } else { "error" };
        metrics::counter!(crate::metrics::GC_RUNS, "status" => status).increment(1);
        if !opts.dry_run {
            metrics::counter!(crate::metrics::GC_FREED_BYTES)
                .increment(report.counts().bytes_deleted);
        }
        if let Some(lock) = cluster {
            lock.release().await;
        }
        let error = result.as_ref().err().map(|e| e.to_string());
        self.meta
            .job_finish(id, &report.counts(), error.as_deref())
            .await?;
        result.map(|()| report)
    }

    async fn gc_run(
        &self,
        opts: &GcOptions,
        progress: &(dyn Fn(GcStep) + Send + Sync),
        report: &mut GcReport,
    ) -> Result<()> {
        self.gc_uploads(opts, progress, report).await?;

        progress(GcStep::Phase {
            name: "metadata",
            total: 1,
        });
        let grace_cutoff = cutoff_ms(opts.grace_period);
        let outcome = self
            .meta
            .gc_collect(grace_cutoff, opts.delete_untagged, opts.dry_run)
            .await?;
        if !opts.dry_run {
            for m in &outcome.manifests {
                self.cache.invalidate(&m.repository, m.digest.as_str());
            }
        }
        report.manifests_deleted = outcome.manifests.len() as u64;
        report.links_deleted = outcome.links;
        progress(GcStep::Advance(1));

        // Candidates: the digests recorded since the last run that nothing keeps
        // (recorded blobs, and bytes a commit installed without recording them),
        // sweeps a dead collector left half done and, when a storage scan is
        // due, unrecorded blob files older than the grace period.
        let mut candidates = Vec::with_capacity(outcome.candidates.len());
        let mut seen: HashSet<Digest> = HashSet::with_capacity(outcome.candidates.len());
        for (d, size) in outcome.candidates {
            let size = match size {
                Some(size) => Some(size),
                None => self.blobs.size(&d).await?,
            };
            seen.insert(d.clone());
            candidates.push((d, size));
        }
        if self.storage_scan_due(opts).await? {
            report.storage_scanned = true;
            let started = berth_meta::store::now_ms();
            self.gc_scan_storage(opts, &mut seen, &mut candidates)
                .await?;
            if !opts.dry_run {
                self.meta.record_storage_scan(started).await?;
            }
        }
        for d in self.meta.stale_sweeps().await? {
            if seen.insert(d.clone()) {
                let size = self.blobs.size(&d).await?;
                candidates.push((d, size));
            }
        }

        progress(GcStep::Phase {
            name: "blobs",
            total: candidates.len() as u64,
        });
        // A candidate with neither a row nor bytes is only forgotten: not counted.
        if opts.dry_run {
            report.blobs_deleted = candidates.iter().filter(|(_, s)| s.is_some()).count() as u64;
            report.bytes_deleted = candidates.iter().filter_map(|(_, s)| *s).sum();
            progress(GcStep::Advance(candidates.len() as u64));
            return Ok(());
        }
        if !opts.settle.is_zero() && !outcome.manifests.is_empty() {
            tokio::time::sleep(opts.settle).await;
        }
        for (digest, size) in candidates {
            if self.sweep(&digest).await? {
                if let Some(size) = size {
                    report.blobs_deleted += 1;
                    report.bytes_deleted += size;
                }
            }
            progress(GcStep::Advance(1));
        }
        Ok(())
    }

    /// Whether this run lists the whole blob storage for unrecorded files:
    /// when asked to ([`GcOptions::scan_storage`]), when no run on this
    /// database ever did, or when the last listing is older than
    /// [`STORAGE_SCAN_INTERVAL`].
    async fn storage_scan_due(&self, opts: &GcOptions) -> Result<bool> {
        if opts.scan_storage {
            return Ok(true);
        }
        let interval = i64::try_from(STORAGE_SCAN_INTERVAL.as_millis()).unwrap_or(i64::MAX);
        Ok(match self.meta.storage_scanned_at().await? {
            None => true,
            Some(at) => berth_meta::store::now_ms().saturating_sub(at) >= interval,
        })
    }

    /// Adds to `candidates` the blob files no row records that are older than
    /// the grace period. Reads every blob row and lists the whole storage, so
    /// it runs only when [`Registry::storage_scan_due`] says so.
    async fn gc_scan_storage(
        &self,
        opts: &GcOptions,
        seen: &mut HashSet<Digest>,
        candidates: &mut Vec<(Digest, Option<u64>)>,
    ) -> Result<()> {
        let recorded: HashSet<Digest> = self
            .meta
            .all_blobs()
            .await?
            .into_iter()
            .map(|b| b.digest)
            .collect();
        let file_cutoff = SystemTime::now()
            .checked_sub(opts.grace_period)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut files = self.blobs.list_with_mtime();
        while let Some(item) = files.next().await {
            match item {
                Ok((d, size, modified)) => {
                    if !recorded.contains(&d)
                        && older_than(modified, file_cutoff)
                        && seen.insert(d.clone())
                    {
                        candidates.push((d, Some(size)));
                    }
                }
                Err(e) => tracing::warn!("gc: listing blobs: {e}"),
            }
        }
        Ok(())
    }

    /// Sweeps one blob: mark (only if nothing keeps it), delete the bytes, drop
    /// the row and the mark. Returns false when the blob turned out to be kept.
    async fn sweep(&self, digest: &Digest) -> Result<bool> {
        if !self.meta.sweep_mark(digest).await? {
            return Ok(false);
        }
        self.blobs.delete(digest).await?;
        self.meta.sweep_finish(digest).await?;
        tracing::debug!(%digest, "gc: blob deleted");
        Ok(true)
    }

    async fn gc_uploads(
        &self,
        opts: &GcOptions,
        progress: &(dyn Fn(GcStep) + Send + Sync),
        report: &mut GcReport,
    ) -> Result<()> {
        let cutoff = SystemTime::now()
            .checked_sub(opts.upload_max_age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let entries = self.blobs.upload_entries().await?;
        progress(GcStep::Phase {
            name: "uploads",
            total: entries.len() as u64,
        });
        let mut on_disk = HashSet::new();
        for e in entries {
            if let Some(id) = &e.session {
                on_disk.insert(id.clone());
            }
            if older_than(e.modified, cutoff) {
                report.uploads_deleted += 1;
                report.upload_bytes_deleted += e.size;
                if !opts.dry_run {
                    self.blobs.remove_upload_entry(&e.name).await?;
                    if let Some(id) = &e.session {
                        self.meta.upload_delete(id).await?;
                    }
                }
            }
            progress(GcStep::Advance(1));
        }
        // Session rows whose bytes are gone (crash between the two deletes).
        for (id, _) in self
            .meta
            .uploads_started_before(cutoff_ms(opts.upload_max_age))
            .await?
        {
            if !on_disk.contains(&id) {
                report.uploads_deleted += 1;
                if !opts.dry_run {
                    // On an object store a session whose bytes are all in
                    // parts has no object to list: abort its multipart
                    // upload through its saved state before the row goes.
                    if let Some(upload) = berth_storage::UploadId::parse(&id) {
                        let _ = self.blobs.upload_delete(&upload).await;
                    }
                    self.meta.upload_delete(&id).await?;
                }
            }
        }
        Ok(())
    }

    /// Garbage-collection runs, newest first (Harbor: `GET /api/v2.0/system/gc`).
    pub async fn gc_history(&self, offset: u32, limit: u32) -> Result<Vec<JobRunRecord>> {
        Ok(self.meta.job_runs(GC_JOB, offset, limit).await?)
    }

    /// How many garbage-collection runs are recorded (`X-Total-Count` of
    /// `GET /api/v2.0/system/gc`).
    pub async fn gc_history_len(&self) -> Result<u64> {
        Ok(self.meta.job_runs_count(GC_JOB).await?)
    }

    /// One garbage-collection run (Harbor: `GET /api/v2.0/system/gc/{id}`);
    /// `None` when there is no such run.
    pub async fn gc_run_by_id(&self, id: i64) -> Result<Option<JobRunRecord>> {
        Ok(self.meta.job_run(id).await?.filter(|r| r.kind == GC_JOB))
    }

    /// Holds `digest` for a commit for up to `ttl` (see the module docs): waits
    /// while a collector is sweeping it. Returns the holder id to release.
    pub(crate) async fn hold(&self, digest: &Digest, ttl: Duration) -> Result<String> {
        let holder = uuid::Uuid::new_v4().to_string();
        let deadline = Instant::now() + SWEEP_MARK_STALE + Duration::from_secs(5);
        loop {
            match self.meta.hold_blob(digest, &holder, ttl).await? {
                HoldOutcome::Held => return Ok(holder),
                HoldOutcome::BeingSwept if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                HoldOutcome::BeingSwept => {
                    return Err(Error::Storage(berth_storage::StorageError::Io(
                        std::io::Error::other(format!(
                            "blob {digest} is being garbage-collected; push it again"
                        )),
                    )))
                }
            }
        }
    }

    /// Releases a hold; a failure only delays garbage collection of the digest
    /// (the hold expires), so it is logged, not returned.
    pub(crate) async fn release(&self, digest: &Digest, holder: &str) {
        if let Err(e) = self.meta.release_blob(digest, holder).await {
            tracing::warn!(%digest, "releasing a blob hold failed (it will expire): {e}");
        }
    }

    /// Deletes bytes this commit installed but could not record (refused by the
    /// quota), unless something else keeps them: a sweep of one blob.
    pub(crate) async fn drop_unrecorded(&self, digest: &Digest) {
        if let Err(e) = self.sweep(digest).await {
            tracing::warn!(%digest, "dropping refused bytes failed (gc will): {e}");
        }
    }

    /// `HEAD /v2/<name>/blobs/<digest>`: the blob's size when the repository may
    /// read it. A link older than half the grace period is refreshed, so a client
    /// that checks a blob before pushing the manifest needing it keeps it (a
    /// "HEAD revives" rule). A blob being swept has no link: 404, and the client
    /// uploads it again.
    ///
    /// Errors: [`Error::BlobUnknown`].
    pub async fn blob_head(&self, repo: &RepositoryName, digest: &Digest) -> Result<u64> {
        let half = i64::try_from(self.gc_grace.as_millis() / 2).unwrap_or(i64::MAX);
        let refresh_before = berth_meta::store::now_ms() - half;
        self.meta
            .blob_head_revive(repo.as_str(), digest, refresh_before)
            .await?
            .ok_or_else(|| Error::BlobUnknown(digest.to_string()))
    }
}

#[cfg(test)]
#[path = "gc_tests.rs"]
mod tests;
