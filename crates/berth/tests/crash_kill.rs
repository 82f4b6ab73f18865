//! Crash consistency under SIGKILL: concurrent pushers (monolithic, chunked and
//! cross-mounted blobs, manifests, indexes, tag moves and deletes) run against the
//! real binary, which is killed at seeded random moments and restarted. After each
//! restart:
//! - every push a client saw succeed is pullable byte-exact;
//! - every tag is where its last acknowledged operation left it, or where its one
//!   interrupted operation would have left it;
//! - `berth fsck` finds no corrupt blob, no manifest referencing a missing blob;
//! - an upload session interrupted by the kill either resumes (204) or is unknown (404).
//!
//! `BERTH_CRASH_KILLS` (default 5) and `BERTH_CRASH_SEED` (default 1) set the run;
//! docs/reliability.md describes the long run.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Client, StatusCode};
use support::*;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn sha256(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
    )
}

/// xorshift64*: deterministic per seed.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// (acknowledged target, target of the one operation in flight); `None` = no tag.
type TagState = (Option<String>, Option<Option<String>>);

/// What clients were told.
#[derive(Default)]
struct Ledger {
    /// Blobs acknowledged with 201: (repo, digest) → bytes.
    blobs: HashMap<(String, String), Vec<u8>>,
    /// Manifests acknowledged: (repo, digest) → bytes.
    manifests: HashMap<(String, String), Vec<u8>>,
    /// Tag → acknowledged target (None = deleted) and the target of an operation in flight.
    tags: HashMap<(String, String), TagState>,
    /// Upload sessions (paths) open when the server died.
    open_sessions: Vec<String>,
    /// Blobs and manifests already verified after an earlier restart. Later rounds
    /// re-check a sample of them and everything new; the last round checks all, so
    /// long runs stay linear.
    checked: std::collections::HashSet<(String, String)>,
}

type Shared = Arc<Mutex<Ledger>>;

struct Pusher {
    base: String,
    c: Client,
    rng: Rng,
    repo: String,
    id: usize,
    ledger: Shared,
}

impl Pusher {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap()
    }

    async fn blob(&mut self, size: usize) -> Option<(String, usize)> {
        let data = self.rng.bytes(size);
        let d = sha256(&data);
        let ok = match self.rng.below(3) {
            0 => {
                self.c
                    .post(format!(
                        "{}/v2/{}/blobs/uploads/?digest={d}",
                        self.base, self.repo
                    ))
                    .body(data.clone())
                    .send()
                    .await
                    .ok()?
                    .status()
                    == StatusCode::CREATED
            }
            1 => {
                let r = self
                    .c
                    .post(format!("{}/v2/{}/blobs/uploads/", self.base, self.repo))
                    .send()
                    .await
                    .ok()?;
                let path = r.headers().get("location")?.to_str().ok()?.to_string();
                let loc = format!("{}{path}", self.base);
                self.ledger().open_sessions.push(path.clone());
                let half = data.len() / 2;
                let r = self
                    .c
                    .patch(&loc)
                    .header("content-range", format!("0-{}", half.max(1) - 1))
                    .body(data[..half.max(1)].to_vec())
                    .send()
                    .await
                    .ok()?;
                if r.status() != StatusCode::ACCEPTED {
                    return None;
                }
                let r = self
                    .c
                    .put(format!("{loc}?digest={d}"))
                    .body(data[half.max(1)..].to_vec())
                    .send()
                    .await
                    .ok()?;
                let ok = r.status() == StatusCode::CREATED;
                self.ledger().open_sessions.retain(|s| s != &path);
                ok
            }
            _ => {
                // Push into a scratch repository, then mount.
                let scratch = format!("crash/scratch{}", self.id);
                let r = self
                    .c
                    .post(format!(
                        "{}/v2/{scratch}/blobs/uploads/?digest={d}",
                        self.base
                    ))
                    .body(data.clone())
                    .send()
                    .await
                    .ok()?;
                if r.status() != StatusCode::CREATED {
                    return None;
                }
                self.ledger()
                    .blobs
                    .insert((scratch.clone(), d.clone()), data.clone());
                let r = self
                    .c
                    .post(format!(
                        "{}/v2/{}/blobs/uploads/?mount={d}&from={scratch}",
                        self.base, self.repo
                    ))
                    .send()
                    .await
                    .ok()?;
                r.status() == StatusCode::CREATED
            }
        };
        if !ok {
            return None;
        }
        self.ledger()
            .blobs
            .insert((self.repo.clone(), d.clone()), data.clone());
        Some((d, size))
    }

    async fn put_manifest(&mut self, tag: &str, media_type: &str, body: Vec<u8>) -> Option<String> {
        let d = sha256(&body);
        let key = (self.repo.clone(), tag.to_string());
        self.ledger()
            .tags
            .entry(key.clone())
            .or_insert((None, None))
            .1 = Some(Some(d.clone()));
        let r = self
            .c
            .put(format!("{}/v2/{}/manifests/{tag}", self.base, self.repo))
            .header("content-type", media_type)
            .body(body.clone())
            .send()
            .await
            .ok()?;
        if r.status() != StatusCode::CREATED {
            return None;
        }
        let mut l = self.ledger();
        l.manifests.insert((self.repo.clone(), d.clone()), body);
        l.tags.insert(key, (Some(d.clone()), None));
        Some(d)
    }

    async fn image(&mut self, tag: &str) -> Option<(String, usize)> {
        let config = format!("{{\"pusher\":{},\"n\":{}}}", self.id, self.rng.next()).into_bytes();
        let cd = sha256(&config);
        let r = self
            .c
            .post(format!(
                "{}/v2/{}/blobs/uploads/?digest={cd}",
                self.base, self.repo
            ))
            .body(config.clone())
            .send()
            .await
            .ok()?;
        if r.status() != StatusCode::CREATED {
            return None;
        }
        self.ledger()
            .blobs
            .insert((self.repo.clone(), cd.clone()), config.clone());
        let mut layers = Vec::new();
        for _ in 0..1 + self.rng.below(3) {
            let size = 1 + self.rng.below(300_000) as usize;
            let (d, s) = self.blob(size).await?;
            layers.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s}));
        }
        let m = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
            "layers": layers})).ok()?;
        let len = m.len();
        self.put_manifest(tag, OCI_MANIFEST, m)
            .await
            .map(|d| (d, len))
    }

    async fn step(&mut self) -> Option<()> {
        let tag = format!("p{}t{}", self.id, self.rng.below(4));
        match self.rng.below(10) {
            0..=5 => {
                self.image(&tag).await?;
            }
            6 | 7 => {
                let (a, al) = self.image(&format!("{tag}-a")).await?;
                let (b, bl) = self.image(&format!("{tag}-b")).await?;
                let idx = serde_json::to_vec(&serde_json::json!({
                    "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                        {"mediaType": OCI_MANIFEST, "digest": a, "size": al, "platform": {"os": "linux", "architecture": "amd64"}},
                        {"mediaType": OCI_MANIFEST, "digest": b, "size": bl, "platform": {"os": "linux", "architecture": "arm64"}}]}))
                .ok()?;
                self.put_manifest(&format!("{tag}-multi"), OCI_INDEX, idx)
                    .await?;
            }
            _ => {
                let key = (self.repo.clone(), tag.clone());
                self.ledger()
                    .tags
                    .entry(key.clone())
                    .or_insert((None, None))
                    .1 = Some(None);
                let r = self
                    .c
                    .delete(format!("{}/v2/{}/manifests/{tag}", self.base, self.repo))
                    .send()
                    .await
                    .ok()?;
                if r.status() == StatusCode::ACCEPTED || r.status() == StatusCode::NOT_FOUND {
                    self.ledger().tags.insert(key, (None, None));
                }
            }
        }
        Some(())
    }
}

async fn verify(base: &str, ledger: &Shared, full: bool) {
    let c = Client::new();
    let (blobs, manifests, tags, sessions) = {
        let mut l = ledger.lock().unwrap();
        let all_blobs: Vec<_> = l
            .blobs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let all_manifests: Vec<_> = l
            .manifests
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut pick = |key: &(String, String), i: usize| {
            l.checked.insert(key.clone()) || full || i.is_multiple_of(16)
        };
        let blobs: Vec<_> = all_blobs
            .into_iter()
            .enumerate()
            .filter(|(i, (k, _))| pick(k, *i))
            .map(|(_, e)| e)
            .collect();
        let manifests: Vec<_> = all_manifests
            .into_iter()
            .enumerate()
            .filter(|(i, (k, _))| pick(k, *i))
            .map(|(_, e)| e)
            .collect();
        let tags: Vec<_> = l.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        (blobs, manifests, tags, l.open_sessions.clone())
    };
    for ((repo, d), data) in blobs {
        let got = c
            .get(format!("{base}/v2/{repo}/blobs/{d}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.status(),
            StatusCode::OK,
            "acknowledged blob {repo}@{d} lost"
        );
        assert!(
            got.bytes().await.unwrap().as_ref() == data.as_slice(),
            "blob {repo}@{d} corrupt"
        );
    }
    for ((repo, d), data) in manifests {
        let got = c
            .get(format!("{base}/v2/{repo}/manifests/{d}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.status(),
            StatusCode::OK,
            "acknowledged manifest {repo}@{d} lost"
        );
        assert!(
            got.bytes().await.unwrap().as_ref() == data.as_slice(),
            "manifest {repo}@{d} corrupt"
        );
    }
    for ((repo, tag), (acked, inflight)) in tags {
        let r = c
            .head(format!("{base}/v2/{repo}/manifests/{tag}"))
            .send()
            .await
            .unwrap();
        let now = match r.status() {
            StatusCode::OK => Some(
                r.headers()["docker-content-digest"]
                    .to_str()
                    .unwrap()
                    .to_string(),
            ),
            StatusCode::NOT_FOUND => None,
            other => panic!("{repo}:{tag}: {other}"),
        };
        let allowed = now == acked || inflight.as_ref().is_some_and(|i| *i == now);
        assert!(
            allowed,
            "{repo}:{tag} is {now:?}; acknowledged {acked:?}, in flight {inflight:?}"
        );
    }
    for s in sessions {
        let st = c.get(format!("{base}{s}")).send().await.unwrap().status();
        assert!(
            st == StatusCode::NO_CONTENT || st == StatusCode::NOT_FOUND,
            "session {s}: {st}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_pushes_survive_random_sigkills() {
    let kills: u64 = std::env::var("BERTH_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let seed: u64 = std::env::var("BERTH_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let data = tempfile::tempdir().unwrap();
    let ledger: Shared = Arc::new(Mutex::new(Ledger::default()));
    for round in 0..kills {
        let mut berth = Berth::start(data.path());
        let base = format!("http://{}", berth.addr);
        verify(&base, &ledger, false).await;
        let (code, report) = fsck(data.path());
        assert_eq!(code, 0, "fsck after restart {round}: {report}");
        ledger.lock().unwrap().open_sessions.clear();
        for entry in ledger.lock().unwrap().tags.values_mut() {
            // The interrupted operation settled one way or the other; re-read it.
            entry.1 = None;
        }
        resync_tags(&base, &ledger).await;

        let mut tasks = Vec::new();
        for id in 0..4usize {
            let mut p = Pusher {
                base: base.clone(),
                c: Client::builder()
                    .timeout(Duration::from_secs(20))
                    .build()
                    .unwrap(),
                rng: Rng(rng.next() | 1),
                repo: format!("crash/repo{}", id % 3),
                id,
                ledger: ledger.clone(),
            };
            tasks.push(tokio::spawn(async move {
                for _ in 0..200 {
                    if p.step().await.is_none() {
                        break;
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(100 + rng.below(600))).await;
        berth.kill();
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
        }
    }
    let berth = Berth::start(data.path());
    let base = format!("http://{}", berth.addr);
    verify(&base, &ledger, true).await;
    let (code, report) = fsck(data.path());
    assert_eq!(code, 0, "final fsck: {report}");
    let l = ledger.lock().unwrap();
    eprintln!(
        "crash-kill: {kills} kills (seed {seed}), {} blobs, {} manifests, {} tags verified",
        l.blobs.len(),
        l.manifests.len(),
        l.tags.len()
    );
    assert!(
        !l.manifests.is_empty() && !l.blobs.is_empty(),
        "the pushers never got anything acknowledged"
    );
}

/// After a restart, tags whose interrupted operation may have landed are set to
/// what the server now says, so the next round checks against that.
async fn resync_tags(base: &str, ledger: &Shared) {
    let c = Client::new();
    let keys: Vec<_> = ledger.lock().unwrap().tags.keys().cloned().collect();
    for (repo, tag) in keys {
        let r = c
            .head(format!("{base}/v2/{repo}/manifests/{tag}"))
            .send()
            .await
            .unwrap();
        let now = (r.status() == StatusCode::OK).then(|| {
            r.headers()["docker-content-digest"]
                .to_str()
                .unwrap()
                .to_string()
        });
        ledger.lock().unwrap().tags.insert((repo, tag), (now, None));
    }
}
