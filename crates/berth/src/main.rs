//! `berth`: a container image registry in one binary.
//!
//! - `berth serve`: run the registry (OCI Distribution v1.1 on `/v2`).
//! - `berth fsck`: verify stored blobs and manifest references.
//! - `berth gc`: garbage collection (safe while `serve` runs).
//! - `berth quota`: set and show per-project storage quotas.
//! - `berth retention`, `berth immutable`, `berth tag-rule`: project policies.
//! - `berth audit verify|export|trim`: check the audit trail's hash chain (and
//!   archives); export it; archive and trim old entries behind a checkpoint.

mod admin;
mod audit;
mod config;
mod gc;
mod policy_cli;
mod progress;
mod registry_cli;
mod replicate_cli;
mod sbom_cli;
mod serve;
mod trust_cli;
mod vuln_cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

/// berth: a fast, crash-safe OCI container image registry.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Metadata database for every command: sqlite://PATH or
    /// postgres://USER:PASSWORD@HOST:PORT/DB [default: sqlite://<data-dir>/meta.db].
    #[arg(
        long,
        env = "BERTH_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// `--database-url` / `BERTH_DATABASE_URL`, set once in `main`: it overrides
/// `database.url` of whatever configuration a command loads.
static DATABASE_URL: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// [`Config::load`], with `--database-url` applied.
fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    let mut cfg = Config::load(path)?;
    if let Some(Some(url)) = DATABASE_URL.get() {
        cfg.database.url = url.clone();
    }
    if let Ok(url) = std::env::var("BERTH_STORAGE_URL") {
        cfg.storage.url = url;
    }
    Ok(cfg)
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry.
    Serve {
        /// TOML configuration file; flags and BERTH_* variables override it.
        #[arg(long, env = "BERTH_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on: IP:PORT, localhost:PORT, or :PORT for every
        /// interface [default: 127.0.0.1:5000].
        #[arg(long, env = "BERTH_LISTEN", value_parser = config::parse_listen)]
        listen: Option<std::net::SocketAddr>,
        /// Data directory (blobs, uploads, metadata) [default: ./berth-data].
        #[arg(long, env = "BERTH_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Log filter, e.g. `info`, `debug`, `berth=debug,info` [default: info].
        #[arg(long, env = "BERTH_LOG_LEVEL")]
        log_level: Option<String>,
        /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
        #[arg(long, env = "BERTH_TLS_CERT")]
        tls_cert: Option<PathBuf>,
        /// PEM private key for --tls-cert.
        #[arg(long, env = "BERTH_TLS_KEY")]
        tls_key: Option<PathBuf>,
        /// Authentication: token (default), basic, or none (anonymous everything).
        #[arg(long, env = "BERTH_AUTH_MODE")]
        auth_mode: Option<String>,
    },
    /// Verify every stored blob's digest and every manifest's references.
    /// Exits 0 when clean, 1 when it finds problems, 2 when it cannot run.
    /// Safe while `serve` runs.
    Fsck {
        /// TOML configuration file (its `data_dir` is used unless --data-dir is given).
        #[arg(long, env = "BERTH_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory [default: ./berth-data].
        #[arg(long, env = "BERTH_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Delete corrupt or missing blobs and forget their records, so clients
        /// push them again. Without it, fsck writes nothing.
        #[arg(long)]
        repair: bool,
    },
    /// Manage users (works on the data directory; safe while `serve` runs).
    User {
        #[command(flatten)]
        at: DataDirArgs,
        #[command(subcommand)]
        cmd: admin::UserCmd,
    },
    /// Manage projects, their visibility, IP allow-lists and members.
    Project {
        #[command(flatten)]
        at: DataDirArgs,
        #[command(subcommand)]
        cmd: admin::ProjectCmd,
    },
    /// Manage upstream registries (the sources of proxy projects).
    Registry {
        #[command(flatten)]
        at: DataDirArgs,
        #[command(subcommand)]
        cmd: registry_cli::RegistryCmd,
    },
    /// SBOMs of images: make them now, print them.
    Sbom {
        #[command(flatten)]
        at: DataDirArgs,
        #[command(subcommand)]
        cmd: sbom_cli::SbomCmd,
    },
    /// The offline vulnerability database (OSV files).
    VulnDb {
        #[command(flatten)]
        at: DataDirArgs,
        #[command(subcommand)]
        cmd: vuln_cli::VulnDbCmd,
    },
    /// Signing keys a project trusts, and its signature pull gate.
    Trust {
        #[command(flatten)]
        at: DataDirArgs,
        #[command(subcommand)]
        cmd: trust_cli::TrustCmd,
    },
    /// Manage replication policies and run them.
    Replicate {
        #[command(flatten)]
        at: DataDirArgs,
        #[command(subcommand)]
        cmd: replicate_cli::ReplicateCmd,
    },
    /// Manage robot accounts (`robot$<project>+<name>`).
    Robot {
        #[command(flatten)]
        at: DataDirArgs,
        #[command(subcommand)]
        cmd: admin::RobotCmd,
    },
    /// Manage personal access tokens (usable as passwords in `docker login`).
    Token {
        #[command(flatten)]
        at: DataDirArgs,
        #[command(subcommand)]
        cmd: admin::TokenCmd,
    },
    /// The audit trail: verify its hash chain, export it (both read-only), trim
    /// old entries into an archive behind a checkpoint. Safe while `serve` runs.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Delete what nothing needs any more: expired repository links, blobs no
    /// link keeps, abandoned upload sessions, and (with --delete-untagged)
    /// untagged manifests with their referrers. Safe while `serve` runs on the
    /// same data directory.
    Gc {
        /// TOML configuration file (its `data_dir`, `[gc]` and `[cache]` are used).
        #[arg(long, env = "BERTH_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory [default: ./berth-data].
        #[arg(long, env = "BERTH_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Print what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also delete untagged manifests older than the grace period, with their
        /// referrers (signatures, SBOMs) and the children of untagged indexes.
        #[arg(long)]
        delete_untagged: bool,
        /// Keep links and untagged manifests younger than this, e.g. 2h, 30m
        /// [default: gc.grace_period, 2h].
        #[arg(long)]
        grace_period: Option<String>,
        /// Remove upload sessions idle longer than this [default: gc.upload_max_age, 24h].
        #[arg(long)]
        upload_max_age: Option<String>,
        /// Also list the whole blob storage for files no row records (a run
        /// does so anyway on its first run and once every 7 days).
        #[arg(long)]
        scan_storage: bool,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Print a shell completion script: `berth completions bash >
    /// /etc/bash_completion.d/berth` (zsh: a `_berth` file on `$fpath`; fish:
    /// `~/.config/fish/completions/berth.fish`).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// The configuration file: `berth config example` prints every key with
    /// its default (docs/berth.example.toml); `berth config check --config FILE`
    /// validates a file without starting anything.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Apply the metadata schema migrations this binary brings (serve and
    /// every command also apply them when they open the data directory);
    /// with --dry-run, only print which would run. Safe while `serve` runs.
    Migrate {
        #[command(flatten)]
        dir: DataDirArgs,
        /// Print the migrations that would run; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Per-project storage quotas (stored in the data directory's metadata).
    Quota {
        #[command(subcommand)]
        action: QuotaAction,
    },
    /// Retention policies of a project: set, show, run (with --dry-run), delete.
    Retention {
        #[command(flatten)]
        dir: DataDirArgs,
        #[command(subcommand)]
        cmd: policy_cli::RetentionCmd,
    },
    /// Immutable tag rules of a project: add, list, remove.
    Immutable {
        #[command(flatten)]
        dir: DataDirArgs,
        #[command(subcommand)]
        cmd: policy_cli::ImmutableCmd,
    },
    /// The tag naming rule of a project: set, show, clear.
    TagRule {
        #[command(flatten)]
        dir: DataDirArgs,
        #[command(subcommand)]
        cmd: policy_cli::TagRuleCmd,
    },
}

/// `berth config …`
#[derive(Subcommand)]
enum ConfigAction {
    /// Print an example berth.toml: every key, its default and a comment.
    Example,
    /// Check a configuration file: parse it (unknown keys are refused) and
    /// validate every value; exit 0 when it is good.
    Check {
        /// The file to check.
        #[arg(long, env = "BERTH_CONFIG")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum QuotaAction {
    /// Set a project's quota.
    Set {
        /// TOML configuration file (its `data_dir` is used unless --data-dir is given).
        #[arg(long, env = "BERTH_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory [default: ./berth-data].
        #[arg(long, env = "BERTH_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Project name (first component of its repositories' names).
        #[arg(long)]
        project: String,
        /// Quota: a size (10GiB, 500MB, 1048576), `unlimited`, or `default` to
        /// fall back to `quota.default`.
        #[arg(long)]
        bytes: String,
    },
    /// Show a project's storage used, quota, artifacts, and pushes/pulls per day.
    Show {
        /// TOML configuration file (its `data_dir` and `quota.default` are used).
        #[arg(long, env = "BERTH_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory [default: ./berth-data].
        #[arg(long, env = "BERTH_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Project name.
        #[arg(long)]
        project: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain from the first entry, or from the latest checkpoint
    /// when the trail was trimmed. Exits 0 when intact (printing the entry count,
    /// the head hash and the checkpoint, worth keeping elsewhere), 1 naming the
    /// first missing, reordered or altered entry ("entry <seq> ...") or a bad
    /// archive, 2 when it cannot check.
    Verify {
        /// TOML configuration file (its `data_dir` is used unless --data-dir is given).
        #[arg(long, env = "BERTH_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory [default: ./berth-data].
        #[arg(long, env = "BERTH_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Also check this archive of `berth audit trim` (repeatable): an intact
        /// chain from genesis or a checkpoint up to a checkpoint's anchor.
        #[arg(long)]
        archive: Vec<PathBuf>,
        /// Also prove the trail extends this signed checkpoint (a file saved
        /// from GET /api/v2.0/audit-logs/checkpoint): its signature holds and
        /// the trail's entry at its seq has its hash.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// With --checkpoint: the registry's public key (PEM) the checkpoint
        /// must be signed with, instead of trusting the key it carries.
        #[arg(long, requires = "checkpoint")]
        key: Option<PathBuf>,
    },
    /// Archive entries older than a time to a JSON-lines file (the export
    /// format), then delete them in one transaction that stores a checkpoint
    /// (the last trimmed entry's hash) the remaining chain starts from. Refuses a
    /// broken trail. Without --yes, only says what it would do.
    Trim {
        /// TOML configuration file (its `data_dir` is used unless --data-dir is given).
        #[arg(long, env = "BERTH_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory [default: ./berth-data].
        #[arg(long, env = "BERTH_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Trim entries before this time: RFC 3339 UTC (2026-12-01T03:00:00Z), a
        /// date (2026-12-01), Unix milliseconds, or an age such as 90d.
        #[arg(long)]
        before: String,
        /// The archive file to write (must not exist); keep it.
        #[arg(long)]
        archive: PathBuf,
        /// Really trim.
        #[arg(long)]
        yes: bool,
    },
    /// Write entries as JSON lines, oldest first, every field included.
    Export {
        /// TOML configuration file (its `data_dir` is used unless --data-dir is given).
        #[arg(long, env = "BERTH_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory [default: ./berth-data].
        #[arg(long, env = "BERTH_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Only entries at or after this time: RFC 3339 UTC
        /// (2026-12-01T03:00:00Z), a date (2026-12-01) or Unix milliseconds.
        #[arg(long)]
        since: Option<String>,
        /// Only entries at or before this time (same forms as --since).
        #[arg(long)]
        until: Option<String>,
        /// Write here instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

/// Where the data lives, for the operator subcommands.
#[derive(clap::Args)]
struct DataDirArgs {
    /// TOML configuration file (its `data_dir` and `[auth]` are used).
    #[arg(long, env = "BERTH_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Data directory [default: ./berth-data].
    #[arg(long, env = "BERTH_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
}

impl DataDirArgs {
    /// Where the data lives (logging initialised for a CLI command).
    fn resolve(&self) -> anyhow::Result<config::Location> {
        let cfg = self.load()?;
        init_logging(log_filter("warn")?);
        cfg.location()
    }

    fn load(&self) -> anyhow::Result<Config> {
        let mut cfg = load_config(self.config.as_deref())?;
        if let Some(d) = &self.data_dir {
            cfg.data_dir = d.clone();
        }
        Ok(cfg)
    }
}

async fn admin_command(
    at: &DataDirArgs,
    run: impl AsyncFnOnce(
        &std::sync::Arc<berth_registry::Registry>,
        &berth_registry::Auth,
    ) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    let cfg = at.load()?;
    init_logging(log_filter("warn")?);
    let (registry, auth) = admin::open(&cfg.location()?, cfg.auth.to_auth_config()?).await?;
    let registry = std::sync::Arc::new(registry);
    let result = run(&registry, &auth).await;
    registry.close().await;
    result.map(|()| ExitCode::SUCCESS)
}

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// Turns `--log-level` into a tracing filter. A bare level (`debug`) applies to
/// berth and its libraries, except sqlx's statement logging, which stays at `warn`
/// unless named; a directive list (`berth=debug,info`) is taken as written. A word
/// that is neither a level nor a `target=level` directive is refused: tracing would
/// read it as a target name and silently log nothing else, warnings included.
fn log_filter(spec: &str) -> anyhow::Result<tracing_subscriber::EnvFilter> {
    let spec = spec.trim();
    for directive in spec.split(',').map(str::trim) {
        if !directive.contains('=') && !LEVELS.contains(&directive.to_ascii_lowercase().as_str()) {
            anyhow::bail!(
                "invalid log level {directive:?}: use one of {} or target=level directives such as berth=debug,info",
                LEVELS.join(", ")
            );
        }
    }
    let full = if LEVELS.contains(&spec.to_ascii_lowercase().as_str()) {
        format!("{spec},sqlx=warn")
    } else {
        spec.to_string()
    };
    tracing_subscriber::EnvFilter::try_new(&full)
        .map_err(|e| anyhow::anyhow!("invalid log level {spec:?}: {e}"))
}

fn init_logging(filter: tracing_subscriber::EnvFilter) {
    init_logging_as(filter, "text");
}

/// Logging to stderr as text (coloured on a terminal) or, with `json`, one
/// JSON object per line for log shippers (`log_format`).
fn init_logging_as(filter: tracing_subscriber::EnvFilter, format: &str) {
    use std::io::IsTerminal;
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        fmt.json().with_current_span(false).init();
    } else {
        fmt.with_ansi(std::io::stderr().is_terminal()).init();
    }
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

/// Marks errors of `fsck` and `audit` (the command named) that mean "could not
/// check", exit code 2 (1 means "found problems").
#[derive(Debug)]
struct UsageError(&'static str);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} could not run", self.0)
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    // Everything berth creates (databases, blobs, archives, keys) is for its
    // own user only (docs/security.md).
    serve::private_umask();
    let cli = Cli::parse();
    let _ = DATABASE_URL.set(cli.database_url.clone());
    if let Command::Config { action } = &cli.command {
        return match action {
            ConfigAction::Example => {
                print!("{}", config::EXAMPLE);
                ExitCode::SUCCESS
            }
            ConfigAction::Check { config: path } => {
                match load_config(Some(path)).and_then(|c| c.validate()) {
                    Ok(()) => {
                        println!("{}: good", path.display());
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("berth: {e:#}");
                        ExitCode::from(2)
                    }
                }
            }
        };
    }
    if let Command::Completions { shell } = cli.command {
        use clap::CommandFactory;
        // Generated whole, then written: a reader that closes early
        // (`berth completions bash | head`) ends it quietly, as `audit export`.
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "berth", &mut script);
        return match std::io::Write::write_all(&mut std::io::stdout(), &script) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("berth: writing the completion script: {e}");
                ExitCode::from(1)
            }
        };
    }
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
                tls_cert,
                tls_key,
                auth_mode,
            } => {
                let mut cfg = load_config(config.as_deref())?;
                if let Some(l) = listen {
                    cfg.listen = l;
                }
                if let Some(d) = data_dir {
                    cfg.data_dir = d;
                }
                if let Some(l) = log_level {
                    cfg.log_level = l;
                }
                if let Ok(f) = std::env::var("BERTH_LOG_FORMAT") {
                    cfg.log_format = f;
                }
                if tls_cert.is_some() {
                    cfg.tls.cert = tls_cert;
                }
                if tls_key.is_some() {
                    cfg.tls.key = tls_key;
                }
                if let Some(m) = auth_mode {
                    cfg.auth.mode = m;
                }
                cfg.validate()?;
                init_logging_as(log_filter(&cfg.log_level)?, &cfg.log_format);
                if let Some(path) = &config {
                    tracing::info!(config = %path.display(), "configuration file loaded");
                }
                serve::run(cfg).await.map(|()| ExitCode::SUCCESS)
            }
            Command::Fsck {
                config,
                data_dir,
                repair,
            } => async {
                let mut cfg = load_config(config.as_deref())?;
                if let Some(d) = data_dir {
                    cfg.data_dir = d;
                }
                init_logging(log_filter("warn")?);
                serve::fsck(&cfg.location()?, repair).await
            }
            .await
            .map_err(|e: anyhow::Error| e.context(UsageError("fsck"))),
            Command::User { at, cmd } => {
                admin_command(&at, async |_, a| admin::user(a, cmd).await).await
            }
            Command::Project { at, cmd } => {
                admin_command(&at, async |r, a| admin::project(r, a, cmd).await).await
            }
            Command::Registry { at, cmd } => {
                admin_command(&at, async |r, _| registry_cli::registry(r, cmd).await).await
            }
            Command::Sbom { at, cmd } => {
                admin_command(&at, async |r, _| sbom_cli::sbom(r, cmd).await).await
            }
            Command::VulnDb { at, cmd } => {
                admin_command(&at, async |r, _| vuln_cli::vuln_db(r, cmd).await).await
            }
            Command::Trust { at, cmd } => {
                admin_command(&at, async |r, _| trust_cli::trust(r, cmd).await).await
            }
            Command::Replicate { at, cmd } => {
                admin_command(&at, async |r, _| replicate_cli::replicate(r, cmd).await).await
            }
            Command::Robot { at, cmd } => {
                admin_command(&at, async |_, a| admin::robot(a, cmd).await).await
            }
            Command::Token { at, cmd } => {
                admin_command(&at, async |_, a| admin::token(a, cmd).await).await
            }
            Command::Audit { command } => async {
                let (config, data_dir) = match &command {
                    AuditCommand::Verify {
                        config, data_dir, ..
                    }
                    | AuditCommand::Export {
                        config, data_dir, ..
                    }
                    | AuditCommand::Trim {
                        config, data_dir, ..
                    } => (config.clone(), data_dir.clone()),
                };
                let mut cfg = load_config(config.as_deref())?;
                if let Some(d) = data_dir {
                    cfg.data_dir = d;
                }
                init_logging(log_filter("warn")?);
                match &command {
                    AuditCommand::Verify {
                        archive,
                        checkpoint,
                        key,
                        ..
                    } => {
                        audit::verify(
                            &cfg.location()?,
                            archive,
                            checkpoint.as_deref(),
                            key.as_deref(),
                        )
                        .await
                    }
                    AuditCommand::Trim {
                        before,
                        archive,
                        yes,
                        ..
                    } => audit::trim(&cfg.location()?, before, archive, *yes).await,
                    AuditCommand::Export {
                        since,
                        until,
                        output,
                        ..
                    } => {
                        audit::export(
                            &cfg.location()?,
                            since.as_deref(),
                            until.as_deref(),
                            output.as_deref(),
                        )
                        .await
                    }
                }
            }
            .await
            .map_err(|e: anyhow::Error| e.context(UsageError("audit"))),
            Command::Migrate { dir, dry_run } => {
                let at = dir.resolve()?;
                admin::require_data_dir(&at)?;
                serve::migrate(&at, dry_run).await
            }
            Command::Retention { dir, cmd } => policy_cli::retention(&dir.resolve()?, cmd)
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::Immutable { dir, cmd } => policy_cli::immutable(&dir.resolve()?, cmd)
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::TagRule { dir, cmd } => policy_cli::tag_rule(&dir.resolve()?, cmd)
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::Gc {
                config,
                data_dir,
                dry_run,
                delete_untagged,
                grace_period,
                upload_max_age,
                scan_storage,
                yes,
            } => {
                let mut cfg = load_config(config.as_deref())?;
                if let Some(d) = data_dir {
                    cfg.data_dir = d;
                }
                cfg.validate()?;
                init_logging(log_filter("warn")?);
                let args = gc::GcArgs {
                    dry_run,
                    delete_untagged,
                    grace_period,
                    upload_max_age,
                    scan_storage,
                    yes,
                };
                gc::run_cli(&cfg, args).await
            }
            Command::Completions { .. } | Command::Config { .. } => Ok(ExitCode::SUCCESS),
            Command::Quota { action } => {
                init_logging(log_filter("warn")?);
                match action {
                    QuotaAction::Set {
                        config,
                        data_dir,
                        project,
                        bytes,
                    } => {
                        let mut cfg = load_config(config.as_deref())?;
                        if let Some(d) = data_dir {
                            cfg.data_dir = d;
                        }
                        gc::quota_set(&cfg.location()?, &project, &bytes).await
                    }
                    QuotaAction::Show {
                        config,
                        data_dir,
                        project,
                    } => {
                        let mut cfg = load_config(config.as_deref())?;
                        if let Some(d) = data_dir {
                            cfg.data_dir = d;
                        }
                        gc::quota_show(&cfg, &project).await
                    }
                }
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_and_directives_are_accepted_and_typos_refused() {
        for ok in [
            "info",
            "DEBUG",
            "warn",
            "berth=debug,info",
            "berth::request=warn,info",
            "off",
        ] {
            assert!(log_filter(ok).is_ok(), "{ok}");
        }
        for bad in ["verbose", "info,loud", "nonsense=[", ""] {
            assert!(log_filter(bad).is_err(), "{bad}");
        }
    }
}
