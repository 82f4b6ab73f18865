//! `berth`: a container image registry in one binary.
//!
//! - `berth serve`: run the registry (OCI Distribution v1.1 on `/v2`).
//! - `berth fsck`: verify stored blobs and manifest references.

mod config;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

/// berth: a fast, crash-safe OCI container image registry.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry.
    Serve {
        /// TOML configuration file; flags and BERTH_* variables override it.
        #[arg(long, env = "BERTH_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on [default: 127.0.0.1:5000].
        #[arg(long, env = "BERTH_LISTEN")]
        listen: Option<std::net::SocketAddr>,
        /// Data directory (blobs, uploads, metadata) [default: ./berth-data].
        #[arg(long, env = "BERTH_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Log filter, e.g. `info`, `debug`, `berth=debug,info` [default: info].
        #[arg(long, env = "BERTH_LOG_LEVEL")]
        log_level: Option<String>,
    },
    /// Verify every stored blob's digest and every manifest's references.
    /// Exits 0 when clean, 1 when it finds problems. Safe while `serve` runs.
    Fsck {
        /// Data directory [default: ./berth-data].
        #[arg(long, env = "BERTH_DATA_DIR", default_value = "./berth-data")]
        data_dir: PathBuf,
        /// Delete corrupt or missing blobs and forget their records, so clients
        /// push them again. Without it, fsck writes nothing.
        #[arg(long)]
        repair: bool,
    },
}

fn init_logging(filter: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Caps glibc's malloc arenas at two. Upload and download buffers are allocated
/// on one thread and freed on another (async workers, the blocking pool); with
/// glibc's default of up to 8 arenas per core, freed buffers linger in per-thread
/// arenas and RSS grows well past the live data (measured: about a third more peak
/// RSS under the benchmark's concurrent 64 MiB pushes, bench/RESULTS.md).
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Serve {
                config,
                listen,
                data_dir,
                log_level,
            } => {
                let mut cfg = Config::load(config.as_deref())?;
                if let Some(l) = listen {
                    cfg.listen = l;
                }
                if let Some(d) = data_dir {
                    cfg.data_dir = d;
                }
                if let Some(l) = log_level {
                    cfg.log_level = l;
                }
                init_logging(&cfg.log_level);
                serve::run(cfg).await.map(|()| ExitCode::SUCCESS)
            }
            Command::Fsck { data_dir, repair } => {
                init_logging("warn");
                serve::fsck(&data_dir, repair).await
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth: {e:#}");
            ExitCode::FAILURE
        }
    }
}
