//! `berth gc`, `berth quota`, and the scheduled garbage collection inside
//! `berth serve`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use berth_registry::quota::human_bytes;
use berth_registry::{GcOptions, GcReport, GcTrigger};

use crate::config::{Config, Location};

/// Flags of `berth gc` that override `[gc]`.
pub struct GcArgs {
    /// Report only.
    pub dry_run: bool,
    /// `--delete-untagged` (or `gc.delete_untagged`).
    pub delete_untagged: bool,
    /// `--grace-period`.
    pub grace_period: Option<String>,
    /// `--upload-max-age`.
    pub upload_max_age: Option<String>,
    /// `--scan-storage`.
    pub scan_storage: bool,
    /// `--yes`: no confirmation.
    pub yes: bool,
}

fn summary(r: &GcReport) -> String {
    let verb = if r.dry_run { "would delete" } else { "deleted" };
    let scanned = if r.storage_scanned {
        "; listed the whole blob storage for unrecorded files"
    } else {
        ""
    };
    format!(
        "{verb} {} blobs ({}), {} untagged manifests, {} expired repository links, {} upload sessions ({}){scanned}",
        r.blobs_deleted,
        human_bytes(r.bytes_deleted),
        r.manifests_deleted,
        r.links_deleted,
        r.uploads_deleted,
        human_bytes(r.upload_bytes_deleted),
    )
}

/// `berth gc`: prints what it would delete / deleted. Safe while `berth serve`
/// runs on the same data directory (docs/gc.md). Without `--yes` and not a dry
/// run, it first shows the dry run and asks on a terminal.
pub async fn run_cli(cfg: &Config, args: GcArgs) -> anyhow::Result<ExitCode> {
    let mut opts = cfg.gc_options()?;
    opts.trigger = GcTrigger::Cli;
    opts.delete_untagged |= args.delete_untagged;
    opts.scan_storage = args.scan_storage;
    if let Some(g) = &args.grace_period {
        opts.grace_period = crate::config::parse_duration("--grace-period", g)?;
    }
    if let Some(a) = &args.upload_max_age {
        opts.upload_max_age = crate::config::parse_duration("--upload-max-age", a)?;
    }
    // A server on the same data directory may hold deleted manifests in its cache
    // for up to its TTL: wait that long before deleting their bytes.
    opts.settle = Duration::from_millis(cfg.cache.manifest_ttl_ms);
    let registry = cfg.location()?.open_registry().await?;
    if !args.dry_run && !args.yes {
        if !std::io::stdin().is_terminal() {
            anyhow::bail!(
                "berth gc deletes data: pass --yes to run without confirmation, or --dry-run"
            );
        }
        let preview = registry
            .gc(
                &GcOptions {
                    dry_run: true,
                    ..opts.clone()
                },
                &|_| {},
            )
            .await?;
        println!("{}", summary(&preview));
        print!("Proceed? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("nothing deleted");
            registry.close().await;
            return Ok(ExitCode::SUCCESS);
        }
    }
    opts.dry_run = args.dry_run;
    // On PostgreSQL a run on another node holds the collection's cluster
    // lock; this one then waits for it (Registry::gc), and says so.
    match registry
        .meta()
        .job_lock(berth_registry::gc::GC_JOB, false)
        .await?
    {
        Some(lock) => lock.release().await,
        None => eprintln!(
            "berth: garbage collection is running on another node; waiting for it to finish"
        ),
    }
    let (bar, progress) = crate::progress::bar(crate::progress::Unit::Items);
    let report = registry.gc(&opts, &progress).await;
    bar.finish_and_clear();
    let detail = match &report {
        Ok(r) => format!("gc run {}: {}", r.run_id, summary(r)),
        Err(_) => "gc run".to_string(),
    };
    let target = crate::admin::CliTarget {
        project: None,
        reference: None,
        detail,
        digest: None,
    };
    let report = crate::admin::audit_cli_once(
        &registry,
        berth_registry::AuditAction::GcRun,
        target,
        report.map_err(anyhow::Error::from),
    )
    .await;
    registry.close().await;
    let report = report?;
    println!("gc run {}: {}", report.run_id, summary(&report));
    Ok(ExitCode::SUCCESS)
}

/// `berth quota set`: stores a project's quota (`unlimited` or a size), or with
/// `default` removes it so `quota.default` applies.
pub async fn quota_set(at: &Location, project: &str, bytes: &str) -> anyhow::Result<ExitCode> {
    let limit = if bytes.trim().eq_ignore_ascii_case("default") {
        None
    } else {
        // "unlimited" is stored as the largest quota, so it overrides the default.
        Some(crate::config::parse_size(bytes)?.unwrap_or(i64::MAX as u64))
    };
    let registry = at.open_registry().await?;
    if !registry.project_exists(project).await? {
        registry.close().await;
        anyhow::bail!(
            "project {project} does not exist (create it with `berth project create {project}`)"
        );
    }
    let result = registry
        .set_project_quota(project, limit)
        .await
        .map_err(anyhow::Error::from);
    let detail = match limit {
        None => "quota reset to the default".to_string(),
        Some(b) if b >= i64::MAX as u64 => "quota set: unlimited".to_string(),
        Some(b) => format!("quota set: {b} bytes"),
    };
    let confirmation = format!("project {project}: {detail}");
    let target = crate::admin::CliTarget {
        project: Some(project),
        reference: None,
        detail,
        digest: None,
    };
    let result = crate::admin::audit_cli_once(
        &registry,
        berth_registry::AuditAction::QuotaChange,
        target,
        result,
    )
    .await;
    registry.close().await;
    result?;
    println!("{confirmation}");
    Ok(ExitCode::SUCCESS)
}

/// `berth quota show`: a project's usage and quota.
pub async fn quota_show(cfg: &Config, project: &str) -> anyhow::Result<ExitCode> {
    let registry = cfg
        .location()?
        .open_registry()
        .await?
        .with_default_quota(cfg.default_quota()?);
    let u = registry.project_usage(project).await?;
    registry.close().await;
    let quota = match u.quota {
        Some(q) if q < i64::MAX as u64 => format!(
            "{} ({})",
            human_bytes(q),
            if u.quota_is_custom {
                "project"
            } else {
                "default"
            }
        ),
        _ => "unlimited".into(),
    };
    println!("project {}", u.project);
    println!(
        "  storage used: {} ({} bytes)",
        human_bytes(u.storage_used),
        u.storage_used
    );
    println!("  quota: {quota}");
    println!(
        "  repositories: {}, artifacts: {}",
        u.repositories, u.artifacts
    );
    for d in &u.daily {
        println!("  {}: {} pushes, {} pulls", d.day, d.pushes, d.pulls);
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs garbage collection inside `berth serve` on `gc.schedule` until the
/// returned task is aborted.
pub fn spawn_schedule(
    schedule: cron::Schedule,
    opts: GcOptions,
    state: Arc<berth_server::AppState>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Some(next) = schedule.upcoming(chrono::Utc).next() else {
                tracing::info!("gc.schedule has no further runs");
                return;
            };
            let wait = (next - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO);
            tokio::time::sleep(wait).await;
            // Each scheduled time runs on one node: the one that takes the
            // lock and finds no scheduled run started at or after that time.
            let lock = match state.registry.meta().job_lock("gc.schedule", false).await {
                Ok(Some(lock)) => lock,
                Ok(None) => {
                    tracing::info!("scheduled garbage collection runs on another node");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(e) => {
                    tracing::error!("scheduled garbage collection: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let due = next.timestamp_millis() - 5_000;
            let ran = match state.registry.gc_history(0, 20).await {
                Ok(runs) => runs
                    .iter()
                    .any(|r| r.trigger == "schedule" && r.started_at >= due),
                Err(_) => false,
            };
            if ran {
                lock.release().await;
                tracing::info!("scheduled garbage collection ran on another node");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            tracing::info!("scheduled garbage collection starts");
            let run = state.registry.gc(&opts, &|_| {}).await;
            lock.release().await;
            let (outcome, detail) = match run {
                Ok(r) => {
                    tracing::info!("gc run {}: {}", r.run_id, summary(&r));
                    (
                        berth_registry::Outcome::Success,
                        format!("scheduled gc run {}: {}", r.run_id, summary(&r)),
                    )
                }
                Err(e) => {
                    tracing::error!("scheduled garbage collection failed: {e}");
                    (
                        berth_registry::Outcome::Failure,
                        format!("scheduled gc run failed: {e}"),
                    )
                }
            };
            state.audit.record(
                berth_registry::AuditEntry::new(
                    berth_registry::Actor {
                        name: "scheduler".into(),
                        kind: berth_registry::audit::ActorKind::System,
                    },
                    berth_registry::AuditAction::GcRun,
                    outcome,
                )
                .detail(detail),
            );
        }
    })
}
