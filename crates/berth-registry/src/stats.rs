//! Pull and push statistics, recorded off the request path: a request hands an
//! event to a bounded channel (never waiting; when the channel is full the event
//! is dropped and counted), and one background task coalesces pulls per
//! (repository, manifest, tag) and writes a batch every second, on
//! [`Registry::stats_flush`] and when the registry closes. A manifest `GET` is a
//! pull; `HEAD` is not.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_meta::{ArtifactStats, MetaStore, PullAggregate, PushEvent};
use berth_oci::{Digest, RepositoryName};
use tokio::sync::{mpsc, oneshot};

use crate::error::Result;
use crate::registry::Registry;

/// How often the background writer flushes.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Events waiting in the channel before new ones are dropped.
const CHANNEL_CAPACITY: usize = 65_536;

enum Msg {
    Pull {
        repository: String,
        digest: Digest,
        tag: Option<String>,
        at: i64,
    },
    Push(PushEvent),
    Flush(oneshot::Sender<()>),
}

/// The sending side of the statistics writer.
pub struct StatsRecorder {
    tx: mpsc::Sender<Msg>,
    dropped: Arc<AtomicU64>,
}

impl StatsRecorder {
    /// Starts the background writer on the current tokio runtime.
    pub fn spawn(meta: MetaStore) -> StatsRecorder {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        tokio::spawn(writer(meta, rx));
        StatsRecorder {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    fn send(&self, msg: Msg) {
        if self.tx.try_send(msg).is_err() {
            metrics::counter!(crate::metrics::STATS_DROPPED).increment(1);
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    "statistics writer is behind: pull/push events dropped"
                );
            }
        }
    }

    /// Events dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn writer(meta: MetaStore, mut rx: mpsc::Receiver<Msg>) {
    let mut pulls: HashMap<(String, Digest, Option<String>), (u64, i64)> = HashMap::new();
    let mut pushes: Vec<PushEvent> = Vec::new();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut waiter = None;
        let open = tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Pull { repository, digest, tag, at }) => {
                    let e = pulls.entry((repository, digest, tag)).or_insert((0, at));
                    e.0 += 1;
                    e.1 = e.1.max(at);
                    if pulls.len() < 10_000 { continue; }
                    true
                }
                Some(Msg::Push(p)) => {
                    pushes.push(p);
                    if pushes.len() < 10_000 { continue; }
                    true
                }
                Some(Msg::Flush(done)) => { waiter = Some(done); true }
                None => false,
            },
            _ = tick.tick() => true,
        };
        if !pulls.is_empty() || !pushes.is_empty() {
            let batch: Vec<PullAggregate> = pulls
                .drain()
                .map(
                    |((repository, digest, tag), (count, last_at))| PullAggregate {
                        repository,
                        digest,
                        tag,
                        count,
                        last_at,
                    },
                )
                .collect();
            if let Err(e) = meta.record_stats(&batch, &pushes).await {
                tracing::warn!(
                    "recording pull/push statistics failed, {} events lost: {e}",
                    batch.len() + pushes.len()
                );
            }
            pushes.clear();
        }
        if let Some(done) = waiter {
            let _ = done.send(());
        }
        if !open {
            return;
        }
    }
}

impl Registry {
    /// Notes a pull (manifest GET) for the statistics writer.
    pub(crate) fn note_pull(&self, repo: &RepositoryName, digest: &Digest, tag: Option<&str>) {
        metrics::counter!(crate::metrics::PULLS, "project" => repo.project().to_string())
            .increment(1);
        self.stats.send(Msg::Pull {
            repository: repo.to_string(),
            digest: digest.clone(),
            tag: tag.map(str::to_string),
            at: berth_meta::store::now_ms(),
        });
    }

    /// Notes a manifest push by `actor` for the statistics writer.
    pub(crate) fn note_push(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        tag: Option<&str>,
        actor: &str,
    ) {
        metrics::counter!(crate::metrics::PUSHES, "project" => repo.project().to_string())
            .increment(1);
        self.stats.send(Msg::Push(PushEvent {
            repository: repo.to_string(),
            digest: digest.clone(),
            tag: tag.map(str::to_string),
            actor: actor.to_string(),
            at: berth_meta::store::now_ms(),
        }));
    }

    /// Projects (visibility, repositories, storage), the bytes of all blobs
    /// and the open upload sessions, for `/api/v2.0/statistics` and
    /// `/metrics` ([`berth_meta::MetaStore::registry_statistics`]).
    ///
    /// Errors: [`crate::Error::Meta`].
    pub async fn statistics(&self) -> Result<berth_meta::RegistryStatistics> {
        Ok(self.meta.registry_statistics().await?)
    }

    /// The metadata database's pools as `(role, open, idle, max)`.
    pub fn db_pool_usage(&self) -> Vec<(&'static str, u32, usize, u32)> {
        self.meta.pool_usage()
    }

    /// Writes the statistics gathered so far now (they are written every second
    /// anyway) and waits until they are in the database.
    pub async fn stats_flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.stats.tx.send(Msg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Push time, pusher, last pull time and pull count of a manifest
    /// (`None` when the repository has no such manifest). Pulls reach the database
    /// within about a second ([`FLUSH_EVERY`]).
    pub async fn manifest_stats(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<ArtifactStats>> {
        Ok(self.meta.manifest_stats(repo.as_str(), digest).await?)
    }

    /// Push time (of the tag), pusher, last pull time and pull count (through this
    /// tag) of a tag; `digest` is its target.
    pub async fn tag_stats(
        &self,
        repo: &RepositoryName,
        tag: &str,
    ) -> Result<Option<ArtifactStats>> {
        Ok(self.meta.tag_stats(repo.as_str(), tag).await?)
    }
}
