//! The measurements. Each is bounded in count and time.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use bytes::Bytes;
use serde_json::json;

use crate::client::{sha256, Registry};
use crate::report::{Metric, Report};

/// What to measure and how much.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Registry base URL (`http://127.0.0.1:5000`).
    pub target: String,
    /// Label in the report (e.g. `berth`, `distribution`).
    pub label: String,
    /// Size of each blob pushed and pulled, bytes (64 MiB in full runs).
    pub blob_bytes: usize,
    /// Blobs per stream in each throughput measurement.
    pub blobs_per_stream: usize,
    /// PATCH size of chunked uploads, bytes (8 MiB).
    pub chunk_bytes: usize,
    /// Stream counts for blob push/pull (1 and 4).
    pub streams: Vec<usize>,
    /// Client counts for manifest requests (1, 16, 64).
    pub manifest_clients: Vec<usize>,
    /// How long each manifest measurement runs.
    pub manifest_duration: Duration,
    /// Tags for the listing measurement (1000).
    pub tags: usize,
    /// Page size for the tag listing.
    pub tags_page: usize,
    /// Whole images pushed (config + 5 layers + manifest) by one client; the
    /// concurrent image push runs `images * 2` spread over `push_clients`.
    pub images: usize,
    /// Concurrent clients of the multi-client image push (8).
    pub push_clients: usize,
    /// Client counts of the manifest re-tag (PUT of a stored manifest under a
    /// new tag): 1 and 8.
    pub retag_clients: Vec<usize>,
    /// Repositories for the catalog listing (500), listed in pages of `tags_page`.
    pub repositories: usize,
    /// Layer size of those images, bytes.
    pub image_layer_bytes: usize,
    /// Server PID, for peak RSS (`/proc/<pid>/status` `VmHWM`).
    pub server_pid: Option<u32>,
    /// Repository prefix, so runs don't collide.
    pub repo_prefix: String,
    /// Whole-blob downloads per `curl` stream in the curl pull phase.
    pub curl_reps: usize,
    /// Idle keep-alive connections held open in the memory phase (1000).
    pub idle_connections: usize,
    /// Uploads held in flight at once in the memory phase (100).
    pub uploads_in_flight: usize,
    /// Run only these phases (`blobs`, `curl`, `manifests`, `retag`, `tags`,
    /// `catalog`, `images`, `memory`); empty: all of them.
    pub only: Vec<String>,
}

impl Settings {
    fn runs(&self, phase: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == phase)
    }
}

impl Settings {
    /// The full run of the performance issue.
    pub fn full(target: &str, label: &str) -> Settings {
        Settings {
            target: target.into(),
            label: label.into(),
            blob_bytes: 64 << 20,
            blobs_per_stream: 2,
            chunk_bytes: 8 << 20,
            streams: vec![1, 4],
            manifest_clients: vec![1, 16, 64],
            manifest_duration: Duration::from_secs(5),
            tags: 1000,
            tags_page: 100,
            images: 20,
            push_clients: 8,
            retag_clients: vec![1, 8],
            repositories: 500,
            image_layer_bytes: 256 << 10,
            server_pid: None,
            repo_prefix: format!("bench{}", std::process::id()),
            curl_reps: 4,
            idle_connections: 1000,
            uploads_in_flight: 100,
            only: Vec::new(),
        }
    }

    /// A seconds-long smoke run that exercises every workload.
    pub fn smoke(target: &str, label: &str) -> Settings {
        Settings {
            blob_bytes: 256 << 10,
            blobs_per_stream: 1,
            chunk_bytes: 100 << 10,
            streams: vec![1, 2],
            manifest_clients: vec![1, 4],
            manifest_duration: Duration::from_millis(200),
            tags: 30,
            tags_page: 7,
            images: 2,
            push_clients: 2,
            retag_clients: vec![1, 2],
            repositories: 12,
            curl_reps: 2,
            idle_connections: 20,
            uploads_in_flight: 4,
            image_layer_bytes: 4 << 10,
            ..Settings::full(target, label)
        }
    }
}

/// Fast deterministic pseudo-random bytes (xorshift64*), distinct per `seed`:
/// incompressible enough for a registry, and cheap to make outside timed windows.
pub fn random_bytes(len: usize, seed: u64) -> Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(len);
    Bytes::from(v)
}

fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / d.as_secs_f64()
}

/// The machine's single-core SHA-256 throughput (MiB/s) with `ring`'s assembly
/// implementation: the practical ceiling of a hashing push on this CPU.
pub fn sha256_rate() -> f64 {
    let buf = random_bytes(64 << 20, 7);
    let _ = ring::digest::digest(&ring::digest::SHA256, &buf[..1 << 20]);
    let mut best = 0f64;
    for _ in 0..3 {
        let t = Instant::now();
        let _ = ring::digest::digest(&ring::digest::SHA256, &buf);
        best = best.max(mb_per_s(buf.len() as u64, t.elapsed()));
    }
    best
}

/// Current resident set size (`VmRSS`) of a process, KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
}

/// Peak resident set size (`VmHWM`) of a process, KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

/// Runs every workload against `s.target` and returns the report.
pub async fn run(s: &Settings) -> Result<Report> {
    let max_c = s
        .manifest_clients
        .iter()
        .chain(&s.streams)
        .chain(&s.retag_clients)
        .chain(std::iter::once(&s.push_clients))
        .copied()
        .max()
        .unwrap_or(1);
    let reg = Registry::new(&s.target, max_c)?;
    let mut report = Report::new(&s.label, &s.target);
    let sha = sha256_rate();
    report.push(Metric::new("sha256_single_core", "MiB/s", sha));

    if s.runs("blobs") {
        blob_throughput(&reg, s, sha, &mut report).await?;
    }
    if s.runs("curl") {
        curl_pulls(&reg, s, &mut report).await?;
    }
    if s.runs("manifests") {
        manifest_rates(&reg, s, &mut report).await?;
    }
    if s.runs("retag") {
        manifest_retags(&reg, s, &mut report).await?;
    }
    if s.runs("tags") {
        tag_listing(&reg, s, &mut report).await?;
    }
    if s.runs("catalog") {
        catalog_listing(&reg, s, &mut report).await?;
    }
    if s.runs("images") {
        image_pushes(&reg, s, &mut report).await?;
    }
    if let Some(pid) = s.server_pid {
        if let Some(kib) = peak_rss_kib(pid) {
            report.push(Metric::new("server_peak_rss", "MiB", kib as f64 / 1024.0));
        }
        // Last: it raises the peak on purpose, and reports its own figures.
        if s.runs("memory") {
            memory_under_load(&reg, s, pid, &mut report).await?;
        }
    }
    Ok(report)
}

async fn blob_throughput(
    reg: &Registry,
    s: &Settings,
    sha: f64,
    report: &mut Report,
) -> Result<()> {
    let repo = format!("{}/blobs", s.repo_prefix);
    let mut seed = 1000u64;
    for mode in ["monolithic", "chunked"] {
        for &streams in &s.streams {
            // Data and digests are made before the clock starts.
            let blobs: Vec<Vec<(Bytes, String)>> = (0..streams)
                .map(|_| {
                    (0..s.blobs_per_stream)
                        .map(|_| {
                            seed += 1;
                            let b = random_bytes(s.blob_bytes, seed);
                            let d = sha256(&b);
                            (b, d)
                        })
                        .collect()
                })
                .collect();
            let total: u64 = (streams * s.blobs_per_stream * s.blob_bytes) as u64;
            let t = Instant::now();
            let mut tasks = Vec::new();
            for set in blobs.clone() {
                let reg = reg.clone();
                let repo = repo.clone();
                let chunk = s.chunk_bytes;
                tasks.push(tokio::spawn(async move {
                    for (b, d) in set {
                        if mode == "monolithic" {
                            reg.push_monolithic(&repo, b, &d).await?;
                        } else {
                            reg.push_chunked(&repo, b, &d, chunk).await?;
                        }
                    }
                    anyhow::Ok(())
                }));
            }
            for task in tasks {
                task.await??;
            }
            let rate = mb_per_s(total, t.elapsed());
            report.push(
                Metric::new(&format!("push_{mode}_{streams}x"), "MiB/s", rate)
                    .with("ratio_to_sha256", json!(rate / sha)),
            );

            if mode == "monolithic" {
                // Receive buffers are allocated and touched before the clock starts.
                let buffers: Vec<Vec<Vec<u8>>> = blobs
                    .iter()
                    .map(|set| {
                        set.iter()
                            .map(|_| vec![1u8; s.blob_bytes + 64 * 1024])
                            .collect()
                    })
                    .collect();
                let t = Instant::now();
                let mut tasks = Vec::new();
                for (set, bufs) in blobs.clone().into_iter().zip(buffers) {
                    let reg = reg.clone();
                    let repo = repo.clone();
                    tasks.push(tokio::spawn(async move {
                        let mut got = Vec::new();
                        for ((_, d), mut buf) in set.into_iter().zip(bufs) {
                            let body = reg.pull_raw(&repo, &d, &mut buf).await?;
                            got.push((buf, body, d));
                        }
                        anyhow::Ok(got)
                    }));
                }
                let mut pulled = Vec::new();
                for task in tasks {
                    pulled.extend(task.await??);
                }
                let rate = mb_per_s(total, t.elapsed());
                // Verified outside the timed window: client hashing must not cap the figure.
                for (buf, body, d) in pulled {
                    let got = sha256(&buf[body]);
                    ensure!(got == d, "pulled blob {d} hashes to {got}");
                }
                report.push(Metric::new(&format!("pull_{streams}x"), "MiB/s", rate));
            }
        }
    }
    Ok(())
}

/// Blob pulls with `curl` as the client, the way static file servers are
/// measured (and `nginx` beside berth in `bench/compare.sh`): one blob of
/// `blob_bytes`, `streams` curl processes at once, each downloading it
/// `curl_reps` times over one keep-alive connection to `/dev/null`.
async fn curl_pulls(reg: &Registry, s: &Settings, report: &mut Report) -> Result<()> {
    let repo = format!("{}/curl", s.repo_prefix);
    let blob = random_bytes(s.blob_bytes, 77);
    let digest = sha256(&blob);
    reg.push_monolithic(&repo, blob, &digest).await?;
    let url = format!("{}/v2/{repo}/blobs/{digest}", reg.base);
    for &streams in &s.streams {
        let rate = curl_rate(&url, s.blob_bytes, streams, s.curl_reps).await?;
        report.push(
            Metric::new(&format!("pull_curl_{streams}x"), "MiB/s", rate)
                .with("reps", json!(s.curl_reps)),
        );
    }
    Ok(())
}

/// MiB/s of `streams` concurrent `curl` processes each fetching `url`
/// (`bytes` long) `reps` times; fails unless every download was complete.
pub async fn curl_rate(url: &str, bytes: usize, streams: usize, reps: usize) -> Result<f64> {
    let mut args: Vec<String> = vec!["-sf".into(), "-w".into(), "%{size_download}\n".into()];
    for _ in 0..reps {
        args.extend([url.to_string(), "-o".into(), "/dev/null".into()]);
    }
    let t = Instant::now();
    let mut children = Vec::new();
    for _ in 0..streams {
        children.push(
            tokio::process::Command::new("curl")
                .args(&args)
                .kill_on_drop(true)
                .output(),
        );
    }
    let mut got = 0u64;
    for out in futures::future::join_all(children).await {
        let out = out.context("running curl (is it installed?)")?;
        ensure!(out.status.success(), "curl {url}: {}", out.status);
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let n: u64 = line.trim().parse().context("curl's size_download")?;
            ensure!(n == bytes as u64, "curl received {n} bytes of {bytes}");
            got += n;
        }
    }
    ensure!(
        got == (bytes * streams * reps) as u64,
        "curl received {got} bytes in all"
    );
    Ok(mb_per_s(got, t.elapsed()))
}

async fn push_image(
    reg: &Registry,
    repo: &str,
    tag: &str,
    layers: &[Bytes],
    config: Bytes,
) -> Result<()> {
    let cd = sha256(&config);
    reg.push_monolithic(repo, config.clone(), &cd).await?;
    let mut descs = Vec::new();
    for l in layers {
        let d = sha256(l);
        reg.push_monolithic(repo, l.clone(), &d).await?;
        descs.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": l.len()}));
    }
    let m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": descs,
    });
    reg.put_manifest(
        repo,
        tag,
        "application/vnd.oci.image.manifest.v1+json",
        Bytes::from(serde_json::to_vec(&m)?),
    )
    .await
}

async fn manifest_rates(reg: &Registry, s: &Settings, report: &mut Report) -> Result<()> {
    let repo = format!("{}/manifests", s.repo_prefix);
    let layer = random_bytes(1024, 42);
    push_image(
        reg,
        &repo,
        "bench",
        &[layer],
        Bytes::from_static(br#"{"architecture":"amd64","os":"linux"}"#),
    )
    .await?;
    for get in [false, true] {
        let verb = if get { "get" } else { "head" };
        for &clients in &s.manifest_clients {
            let (reg, repo) = (reg.clone(), repo.clone());
            let metric = closed_loop(
                &format!("manifest_{verb}_{clients}c"),
                clients,
                s.manifest_duration,
                move |_, _| {
                    let (reg, repo) = (reg.clone(), repo.clone());
                    async move { reg.manifest(&repo, "bench", get).await.map(drop) }
                },
            )
            .await?;
            report.push(metric);
        }
    }
    Ok(())
}

/// Runs `clients` tasks for `duration`, each calling `op(client, n)` for
/// n = 1, 2, … one after another; the metric `name`: requests per second over
/// all of them, with p50 and p99 latency.
async fn closed_loop<F, Fut>(
    name: &str,
    clients: usize,
    duration: Duration,
    op: F,
) -> Result<Metric>
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let deadline = Instant::now() + duration;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(4096);
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let t = Instant::now();
                op(c, n).await?;
                lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    Ok(
        Metric::new(name, "req/s", all.len() as f64 / elapsed.as_secs_f64())
            .with("p50_ms", json!(percentile(&all, 0.50)))
            .with("p99_ms", json!(percentile(&all, 0.99))),
    )
}

async fn tag_listing(reg: &Registry, s: &Settings, report: &mut Report) -> Result<()> {
    let repo = format!("{}/tags", s.repo_prefix);
    push_image(
        reg,
        &repo,
        "t0000",
        &[random_bytes(512, 43)],
        Bytes::from_static(b"{}"),
    )
    .await?;
    let m = reg.manifest_bytes(&repo, "t0000").await?;
    for i in 1..s.tags {
        reg.put_manifest(
            &repo,
            &format!("t{i:04}"),
            "application/vnd.oci.image.manifest.v1+json",
            m.clone(),
        )
        .await?;
    }
    let rounds = 5;
    let t = Instant::now();
    for _ in 0..rounds {
        let mut url = Some(format!(
            "{}/v2/{repo}/tags/list?n={}",
            reg.base, s.tags_page
        ));
        let mut seen = 0;
        let mut pages = 0;
        while let Some(u) = url.take() {
            let (tags, next) = reg.tags_page(&u).await?;
            seen += tags.len();
            pages += 1;
            url = next;
            ensure!(pages <= s.tags + 1, "tag listing does not end");
        }
        ensure!(seen == s.tags, "listed {seen} tags, pushed {}", s.tags);
    }
    let per = t.elapsed() / rounds;
    report.push(
        Metric::new(
            &format!("tags_list_{}_paged", s.tags),
            "ms",
            per.as_secs_f64() * 1000.0,
        )
        .with("page_size", json!(s.tags_page)),
    );
    Ok(())
}

/// Durable small writes: each client PUTs one stored manifest under new tags
/// (`r<client>-<n>`) for `manifest_duration`. Every 201 is a tag move the
/// registry has made durable (for berth; Distribution does not `fsync`).
async fn manifest_retags(reg: &Registry, s: &Settings, report: &mut Report) -> Result<()> {
    let repo = format!("{}/retag", s.repo_prefix);
    push_image(
        reg,
        &repo,
        "base",
        &[random_bytes(1024, 44)],
        Bytes::from_static(br#"{"architecture":"amd64","os":"linux","retag":1}"#),
    )
    .await?;
    let m = reg.manifest_bytes(&repo, "base").await?;
    for &clients in &s.retag_clients {
        let (reg, repo, m) = (reg.clone(), repo.clone(), m.clone());
        let metric = closed_loop(
            &format!("manifest_put_retag_{clients}c"),
            clients,
            s.manifest_duration,
            move |c, n| {
                let (reg, repo, m) = (reg.clone(), repo.clone(), m.clone());
                async move {
                    let tag = format!("r{clients}-{c}-{n}");
                    reg.put_manifest(&repo, &tag, "application/vnd.oci.image.manifest.v1+json", m)
                        .await
                }
            },
        )
        .await?;
        report.push(metric);
    }
    Ok(())
}

/// `_catalog` walked in pages of `tags_page` over `repositories` repositories
/// (plus whatever earlier phases made), five times; ms per walk.
async fn catalog_listing(reg: &Registry, s: &Settings, report: &mut Report) -> Result<()> {
    let layer = random_bytes(512, 45);
    let config = Bytes::from_static(br#"{"architecture":"amd64","os":"linux","catalog":1}"#);
    for i in 0..s.repositories {
        let repo = format!("{}/cat/r{i:05}", s.repo_prefix);
        push_image(
            reg,
            &repo,
            "v1",
            std::slice::from_ref(&layer),
            config.clone(),
        )
        .await?;
    }
    let rounds = 5;
    let mut seen = 0;
    let t = Instant::now();
    for _ in 0..rounds {
        let mut url = Some(format!("{}/v2/_catalog?n={}", reg.base, s.tags_page));
        let mut pages = 0;
        seen = 0;
        while let Some(u) = url.take() {
            let (repos, next) = reg.catalog_page(&u).await?;
            seen += repos.len();
            pages += 1;
            url = next;
            ensure!(
                pages <= s.repositories + 100,
                "catalog listing does not end"
            );
        }
        ensure!(
            seen >= s.repositories,
            "listed {seen} repositories, pushed {}",
            s.repositories
        );
    }
    let per = t.elapsed() / rounds;
    report.push(
        Metric::new(
            &format!("catalog_{}_paged", s.repositories),
            "ms",
            per.as_secs_f64() * 1000.0,
        )
        .with("page_size", json!(s.tags_page))
        .with("repositories", json!(seen)),
    );
    Ok(())
}

async fn image_pushes(reg: &Registry, s: &Settings, report: &mut Report) -> Result<()> {
    let repo = format!("{}/images", s.repo_prefix);
    let images: Vec<(Vec<Bytes>, Bytes)> = (0..s.images)
        .map(|i| {
            let layers = (0..5)
                .map(|l| random_bytes(s.image_layer_bytes, 10_000 + (i * 5 + l) as u64))
                .collect();
            (
                layers,
                Bytes::from(format!(
                    "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"i\":{i}}}"
                )),
            )
        })
        .collect();
    let t = Instant::now();
    for (i, (layers, config)) in images.into_iter().enumerate() {
        push_image(reg, &repo, &format!("v{i}"), &layers, config)
            .await
            .context("image push")?;
    }
    report.push(
        Metric::new(
            "image_push_5_layers",
            "images/s",
            s.images as f64 / t.elapsed().as_secs_f64(),
        )
        .with("layer_bytes", json!(s.image_layer_bytes)),
    );

    // The same, `images * 2` images by `push_clients` clients at once, each
    // image distinct (seeds after the single-client ones).
    let total = s.images * 2;
    let per_client: Vec<Vec<(usize, Vec<Bytes>, Bytes)>> = (0..s.push_clients)
        .map(|c| {
            (c..total)
                .step_by(s.push_clients)
                .map(|i| {
                    let layers = (0..5)
                        .map(|l| random_bytes(s.image_layer_bytes, 50_000 + (i * 5 + l) as u64))
                        .collect();
                    let config = Bytes::from(format!(
                        "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"c\":{i}}}"
                    ));
                    (i, layers, config)
                })
                .collect()
        })
        .collect();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for set in per_client {
        let (reg, repo) = (reg.clone(), format!("{}/images-mc", s.repo_prefix));
        tasks.push(tokio::spawn(async move {
            for (i, layers, config) in set {
                push_image(&reg, &repo, &format!("v{i}"), &layers, config)
                    .await
                    .context("concurrent image push")?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    report.push(
        Metric::new(
            &format!("image_push_5_layers_{}c", s.push_clients),
            "images/s",
            total as f64 / t.elapsed().as_secs_f64(),
        )
        .with("layer_bytes", json!(s.image_layer_bytes)),
    );
    Ok(())
}

/// Starts `cmd` (a shell command) and measures the time until `GET <url>/v2/`
/// answers 200, polling every millisecond for at most 30 s; then kills it.
pub async fn cold_start(cmd: &str, url: &str) -> Result<Duration> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("exec {cmd}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let http = reqwest::Client::new();
    let t = Instant::now();
    let result = loop {
        if t.elapsed() > Duration::from_secs(30) {
            break Err(anyhow::anyhow!("no 200 on {url}/v2/ within 30 s"));
        }
        if let Ok(r) = http.get(format!("{url}/v2/")).send().await {
            if r.status().is_success() {
                break Ok(t.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let _ = child.kill().await;
    result
}

/// What [`flat_setup`] pushed: the image's manifest digest (the subject of one
/// real referrer) and its config digest (a subject with no real referrer, for
/// synthetic ones), in repository `repo`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FlatFixture {
    /// Repository of the image (`flat/app`).
    pub repo: String,
    /// Tag of the image (`t0`).
    pub tag: String,
    /// The image manifest's digest.
    pub manifest: String,
    /// Its config blob's digest.
    pub config: String,
    /// Its layer's digest (the blob `HEAD` measured).
    pub layer: String,
}

/// Pushes the fixture of the flat-cost measurement: a small image `repo:t0` and
/// one referrer of it (an attestation-like artifact manifest).
pub async fn flat_setup(target: &str, repo: &str) -> Result<FlatFixture> {
    let reg = Registry::new(target, 1)?;
    let layer = random_bytes(2048, 91);
    let config = Bytes::from_static(br#"{"architecture":"amd64","os":"linux","flat":1}"#);
    let (layer_d, config_d) = (sha256(&layer), sha256(&config));
    push_image(&reg, repo, "t0", &[layer], config).await?;
    let m = reg.manifest_bytes(repo, "t0").await?;
    let manifest = sha256(&m);
    let empty = Bytes::from_static(b"{}");
    let empty_d = sha256(&empty);
    reg.push_monolithic(repo, empty, &empty_d).await?;
    let referrer = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.berth.bench.note",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_d, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_d, "size": 2}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest, "size": m.len()},
    });
    let body = Bytes::from(serde_json::to_vec(&referrer)?);
    let d = sha256(&body);
    reg.put_manifest(repo, &d, "application/vnd.oci.image.manifest.v1+json", body)
        .await?;
    Ok(FlatFixture {
        repo: repo.into(),
        tag: "t0".into(),
        manifest,
        config: config_d,
        layer: layer_d,
    })
}

/// The latency (p50 and p99, ms) of the requests whose cost must not grow
/// with the registry: a tags page (`n=100`), a catalog page (`n=100`), the
/// referrers of the fixture image, a manifest `GET` by tag and a blob `HEAD`,
/// each `count` times in a row on one connection; plus the referrers of the
/// config digest (the subject `bench/flat.sh` gives 1,000 synthetic referrers),
/// reported apart since its answer grows with them.
pub async fn flat_measure(
    target: &str,
    label: &str,
    fx: &FlatFixture,
    count: usize,
) -> Result<Report> {
    let reg = Registry::new(target, 1)?;
    let mut report = Report::new(label, target);
    let repo = &fx.repo;
    let base = &reg.base;
    let requests: [(&str, reqwest::Method, String, Option<&str>); 6] = [
        (
            "flat_tags_page",
            reqwest::Method::GET,
            format!("{base}/v2/{repo}/tags/list?n=100"),
            None,
        ),
        (
            "flat_catalog_page",
            reqwest::Method::GET,
            format!("{base}/v2/_catalog?n=100&last={repo}"),
            None,
        ),
        (
            "flat_referrers",
            reqwest::Method::GET,
            format!("{base}/v2/{repo}/referrers/{}", fx.manifest),
            None,
        ),
        (
            "flat_manifest_get",
            reqwest::Method::GET,
            format!("{base}/v2/{repo}/manifests/{}", fx.tag),
            Some("application/vnd.oci.image.manifest.v1+json"),
        ),
        (
            "flat_blob_head",
            reqwest::Method::HEAD,
            format!("{base}/v2/{repo}/blobs/{}", fx.layer),
            None,
        ),
        (
            "flat_referrers_of_crowded_subject",
            reqwest::Method::GET,
            format!("{base}/v2/{repo}/referrers/{}", fx.config),
            None,
        ),
    ];
    for (name, method, url, accept) in requests {
        let mut lat = Vec::with_capacity(count);
        let mut bytes = 0usize;
        for i in 0..count + count / 10 {
            let mut req = reg.http.request(method.clone(), &url);
            if let Some(a) = accept {
                req = req.header("accept", a);
            }
            let t = Instant::now();
            let r = req.send().await?;
            ensure!(r.status().is_success(), "{name}: {url}: {}", r.status());
            bytes = r.bytes().await?.len();
            // The first tenth warms caches and connections and is not counted.
            if i >= count / 10 {
                lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
        }
        lat.sort_unstable();
        report.push(
            Metric::new(name, "ms", percentile(&lat, 0.50))
                .with("p50_ms", json!(percentile(&lat, 0.50)))
                .with("p99_ms", json!(percentile(&lat, 0.99)))
                .with("body_bytes", json!(bytes)),
        );
    }
    Ok(report)
}

/// The server's memory while it holds `idle_connections` idle keep-alive
/// connections (each has answered one `GET /v2/` and then sends nothing), and
/// then while `uploads_in_flight` chunked uploads are mid-body at once (each
/// `PATCH` has sent 1 MiB and waits). Reports the resident set at each point
/// (`VmRSS`, MiB) and checks every upload completes afterwards.
async fn memory_under_load(
    reg: &Registry,
    s: &Settings,
    pid: u32,
    report: &mut Report,
) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let before = rss_kib(pid).unwrap_or(0);
    let addr = reg
        .base
        .strip_prefix("http://")
        .context("the memory phase needs an http:// target")?
        .to_string();
    let mut idle = Vec::with_capacity(s.idle_connections);
    for _ in 0..s.idle_connections {
        let mut c = tokio::net::TcpStream::connect(&addr).await?;
        c.write_all(format!("GET /v2/ HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await?;
        let mut buf = [0u8; 1024];
        let n = c.read(&mut buf).await?;
        ensure!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "idle connection setup: {}",
            String::from_utf8_lossy(&buf[..n])
        );
        idle.push(c);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let with_idle = rss_kib(pid).unwrap_or(0);
    report.push(
        Metric::new(
            &format!("rss_{}_idle_connections", s.idle_connections),
            "MiB",
            with_idle as f64 / 1024.0,
        )
        .with("before_mib", json!(before as f64 / 1024.0)),
    );
    drop(idle);

    let repo = format!("{}/memory", s.repo_prefix);
    let chunk = random_bytes(1 << 20, 99);
    let mut uploads = Vec::new();
    let mut releases = Vec::new();
    for _ in 0..s.uploads_in_flight {
        let url = reg.start_upload_url(&repo).await?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
        tx.send(Ok(chunk.clone())).await?;
        releases.push(tx);
        let http = reg.http.clone();
        uploads.push(tokio::spawn(async move {
            let body = reqwest::Body::wrap_stream(tokio_stream_of(rx));
            let r = http
                .patch(&url)
                .header("content-type", "application/octet-stream")
                .body(body)
                .send()
                .await?;
            ensure!(
                r.status() == reqwest::StatusCode::ACCEPTED,
                "PATCH: {}",
                r.status()
            );
            anyhow::Ok(())
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let with_uploads = rss_kib(pid).unwrap_or(0);
    report.push(Metric::new(
        &format!("rss_{}_uploads_in_flight", s.uploads_in_flight),
        "MiB",
        with_uploads as f64 / 1024.0,
    ));
    for tx in releases {
        tx.send(Ok(chunk.clone())).await?;
    }
    for u in uploads {
        u.await??;
    }
    Ok(())
}

/// A stream over a channel's items (ends when every sender is dropped).
fn tokio_stream_of<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
