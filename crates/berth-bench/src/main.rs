//! `berth-bench`: benchmark any OCI registry over HTTP.
//!
//! ```text
//! berth-bench run --target http://127.0.0.1:5000 --label berth --pid 1234 --json out.json --markdown out.md
//! berth-bench run --smoke --target …                  # seconds-long check that every workload works
//! berth-bench cold-start --cmd "berth serve --listen 127.0.0.1:5999 --data-dir /tmp/d" --url http://127.0.0.1:5999
//! berth-bench compare --a r1.json --a r2.json --b d1.json --b d2.json --out RESULTS-table.md
//! ```

use std::path::PathBuf;

use anyhow::Context;
use berth_bench::{compare_markdown, run, Report, Settings};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "Benchmark an OCI registry over HTTP (loopback targets only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every workload against one registry.
    Run {
        /// Registry base URL.
        #[arg(long)]
        target: String,
        /// Label for the report.
        #[arg(long, default_value = "registry")]
        label: String,
        /// Server PID, to report its peak RSS.
        #[arg(long)]
        pid: Option<u32>,
        /// Tiny sizes and short durations: proves the tool works, measures nothing.
        #[arg(long)]
        smoke: bool,
        /// Blob size in MiB (full runs: 64).
        #[arg(long)]
        blob_mib: Option<usize>,
        /// Seconds per manifest measurement (full runs: 5).
        #[arg(long)]
        manifest_secs: Option<u64>,
        /// Write the report as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write the report as a Markdown table here.
        #[arg(long)]
        markdown: Option<PathBuf>,
        /// Run only these phases, comma-separated: blobs, manifests, retag,
        /// tags, catalog, images (default: all).
        #[arg(long)]
        only: Option<String>,
    },
    /// Blob pulls of one URL by `curl` (for a static file server such as nginx,
    /// beside a registry's `pull_curl_*` figures).
    CurlPull {
        /// The file's URL.
        #[arg(long)]
        url: String,
        /// Its size in bytes (every download is checked against it).
        #[arg(long)]
        bytes: usize,
        /// Concurrent curl processes, comma-separated.
        #[arg(long, default_value = "1,4")]
        streams: String,
        /// Downloads per process.
        #[arg(long, default_value_t = 4)]
        reps: usize,
        /// Label for the report.
        #[arg(long, default_value = "nginx")]
        label: String,
        /// Write the report as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Pushes the flat-cost fixture (an image and one referrer) and prints it as JSON.
    FlatSetup {
        /// Registry base URL.
        #[arg(long)]
        target: String,
        /// Repository to push it to.
        #[arg(long, default_value = "flat/app")]
        repo: String,
    },
    /// Latency of the requests whose cost must stay flat as the registry grows.
    FlatMeasure {
        /// Registry base URL.
        #[arg(long)]
        target: String,
        /// The fixture JSON `flat-setup` printed.
        #[arg(long)]
        fixture: PathBuf,
        /// Label for the report (`empty`, `filled`).
        #[arg(long)]
        label: String,
        /// Requests of each kind.
        #[arg(long, default_value_t = 300)]
        count: usize,
        /// Write the report as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Time from starting a server command to its first 200 on /v2/, in ms.
    ColdStart {
        /// Shell command that starts the server.
        #[arg(long)]
        cmd: String,
        /// Its base URL.
        #[arg(long)]
        url: String,
        /// Repetitions (the median is printed).
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Side-by-side Markdown table of reports of two registries (medians over rounds).
    Compare {
        /// Reports of the first registry.
        #[arg(long = "a", required = true)]
        a: Vec<PathBuf>,
        /// Reports of the second registry.
        #[arg(long = "b", required = true)]
        b: Vec<PathBuf>,
        /// Output file (stdout when absent).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also check the performance targets (first registry = berth), with this
        /// cold start of the first registry in ms.
        #[arg(long)]
        targets: bool,
        /// nginx reports (`curl-pull`), for the static-file pull targets.
        #[arg(long)]
        nginx: Vec<PathBuf>,
        /// Also check the flat-cost targets (first reports: filled, second: empty).
        #[arg(long)]
        flat_targets: bool,
        /// Cold start of the first registry, ms (for --targets).
        #[arg(long)]
        cold_a_ms: Option<f64>,
    },
}

fn load(paths: &[PathBuf]) -> anyhow::Result<Vec<Report>> {
    paths
        .iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run {
            target,
            label,
            pid,
            smoke,
            blob_mib,
            manifest_secs,
            json,
            markdown,
            only,
        } => {
            let mut s = if smoke {
                Settings::smoke(&target, &label)
            } else {
                Settings::full(&target, &label)
            };
            s.server_pid = pid;
            if let Some(only) = only {
                s.only = only.split(',').map(str::to_string).collect();
            }
            if let Some(m) = blob_mib {
                s.blob_bytes = m << 20;
            }
            if let Some(secs) = manifest_secs {
                s.manifest_duration = std::time::Duration::from_secs(secs);
            }
            let report = run(&s).await?;
            let md = report.to_markdown();
            println!("{md}");
            if let Some(p) = json {
                std::fs::write(&p, serde_json::to_string_pretty(&report)?)?;
            }
            if let Some(p) = markdown {
                std::fs::write(&p, md)?;
            }
        }
        Command::CurlPull {
            url,
            bytes,
            streams,
            reps,
            label,
            json,
        } => {
            let mut report = Report::new(&label, &url);
            for n in streams.split(',') {
                let n: usize = n.trim().parse()?;
                let rate =
                    berth_bench::workloads::curl_rate(&url, bytes, n, reps.clamp(1, 100)).await?;
                report.push(
                    berth_bench::report::Metric::new(&format!("pull_curl_{n}x"), "MiB/s", rate)
                        .with("reps", serde_json::json!(reps)),
                );
            }
            println!("{}", report.to_markdown());
            if let Some(p) = json {
                std::fs::write(&p, serde_json::to_string_pretty(&report)?)?;
            }
        }
        Command::FlatSetup { target, repo } => {
            let fx = berth_bench::workloads::flat_setup(&target, &repo).await?;
            println!("{}", serde_json::to_string(&fx)?);
        }
        Command::FlatMeasure {
            target,
            fixture,
            label,
            count,
            json,
        } => {
            let fx: berth_bench::workloads::FlatFixture =
                serde_json::from_slice(&std::fs::read(&fixture)?)?;
            let report = berth_bench::workloads::flat_measure(
                &target,
                &label,
                &fx,
                count.clamp(10, 100_000),
            )
            .await?;
            println!("{}", report.to_markdown());
            if let Some(p) = json {
                std::fs::write(&p, serde_json::to_string_pretty(&report)?)?;
            }
        }
        Command::ColdStart { cmd, url, runs } => {
            let mut times = Vec::new();
            for _ in 0..runs.clamp(1, 50) {
                times.push(
                    berth_bench::workloads::cold_start(&cmd, &url)
                        .await?
                        .as_secs_f64()
                        * 1000.0,
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            times.sort_by(|a, b| a.total_cmp(b));
            println!("{:.1}", times[times.len() / 2]);
        }
        Command::Compare {
            a,
            b,
            out,
            targets,
            flat_targets,
            nginx,
            cold_a_ms,
        } => {
            let (ra, rb) = (load(&a)?, load(&b)?);
            let mut md = compare_markdown(&ra, &rb);
            if flat_targets {
                md.push('\n');
                md.push_str(&berth_bench::report::flat_targets_markdown(&ra, &rb));
            }
            if targets {
                md.push('\n');
                md.push_str(&berth_bench::targets_markdown(
                    &ra,
                    &rb,
                    &load(&nginx)?,
                    cold_a_ms,
                ));
            }
            match out {
                Some(p) => std::fs::write(p, md)?,
                None => print!("{md}"),
            }
        }
    }
    Ok(())
}
