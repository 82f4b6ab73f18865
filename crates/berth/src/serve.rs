//! `berth serve` and `berth fsck`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use berth_registry::{AccessPolicy, Limits, Registry};
use berth_server::AppState;

use crate::config::{Config, Location};

/// Runs the registry until SIGTERM or SIGINT, then drains in-flight requests for
/// up to `server.shutdown_grace_secs` and closes the metadata database.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    private_umask();
    // Settings first: a refused setting must not leave a new data directory.
    let auth_config = cfg.auth.to_auth_config()?;
    let at = cfg.location()?;
    let existed = match &at.database {
        berth_meta::DatabaseUrl::Sqlite(db) => db.exists(),
        // Whether the database holds accounts is known once it is open;
        // Auth::open sets the admin password only when it has none.
        berth_meta::DatabaseUrl::Postgres(_) => false,
    };
    // One `serve` per directory on SQLite. On PostgreSQL several nodes may
    // share one directory (a shared filesystem): their caches follow each
    // other's changes (LISTEN/NOTIFY) and their jobs take cluster locks.
    let _lock = match &at.database {
        berth_meta::DatabaseUrl::Sqlite(_) => Some(lock_data_dir(&cfg.data_dir)?),
        berth_meta::DatabaseUrl::Postgres(_) => {
            create_data_dir(&cfg.data_dir)?;
            None
        }
    };
    if existed && std::env::var_os("BERTH_ADMIN_PASSWORD").is_some() {
        tracing::warn!(
            "BERTH_ADMIN_PASSWORD is ignored: {} already holds a registry (it sets the admin password on the first start only; use `berth user passwd admin`)",
            cfg.data_dir.display()
        );
    }
    let registry = Registry::open_on(
        &at.data_dir,
        &at.database,
        &at.storage,
        cfg.registry_limits(),
    )
    .await
    .with_context(|| format!("opening {at}"))?
    .with_manifest_cache(&cfg.cache_config())
    .with_gc_grace(cfg.gc_options()?.grace_period)
    .with_default_quota(cfg.default_quota()?)
    .with_proxy(cfg.proxy_config()?);
    registry
        .check_writable()
        .await
        .with_context(|| match &at.database {
            berth_meta::DatabaseUrl::Sqlite(_) => format!(
                "data directory {} is not writable (its meta.db, blobs/ or uploads/)",
                cfg.data_dir.display()
            ),
            db => format!(
                "{at} is not writable (blobs/ or uploads/ of the directory, or the database {db})"
            ),
        })?;
    // Bound before the account store opens: a port that is taken fails the
    // start before a generated admin password is shown (and lost).
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let mode = auth_config.mode;
    let (auth, generated) =
        berth_registry::Auth::open(registry.meta().clone(), &cfg.data_dir, auth_config)
            .await
            .context("opening the account store")?;
    warn_if_secrets_are_shared(&cfg.data_dir);
    if let Some(dir) = auth.directory() {
        // A wrong bind password or base DN shows at start, not at the first
        // sign-in; the registry serves either way (local accounts work).
        let dir = dir.clone();
        tokio::spawn(async move {
            match dir.ping().await {
                Ok(()) => {
                    tracing::info!(url = %dir.config().url, "LDAP directory answers (auth.identity = ldap)")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "LDAP directory check failed at start: directory users cannot sign in until it passes")
                }
            }
        });
    }
    if let Some(p) = auth.oidc() {
        // Discovery is tried once here so a wrong issuer shows at start; the
        // registry serves either way and tries again at each sign-in.
        let issuer = p.config().issuer.clone();
        let checked = tokio::time::timeout(std::time::Duration::from_secs(15), p.ping(None)).await;
        match checked {
            Ok(Ok(())) => {
                tracing::info!(%issuer, "OpenID Connect provider answers discovery (auth.identity = oidc)")
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "OpenID Connect provider check failed at start: OIDC users cannot sign in until it passes")
            }
            Err(_) => {
                tracing::warn!(%issuer, "OpenID Connect provider did not answer discovery within 15 s at start")
            }
        }
    }
    if let Some(password) = generated {
        // The one sanctioned exception to "secrets are never logged": shown once,
        // at the first start, and stored only hashed.
        eprintln!(
            "berth: created user \"admin\" with password: {password}\n\
             berth: this is shown only once; change it with `berth user passwd admin` \
             (or set BERTH_ADMIN_PASSWORD before the first start)"
        );
    }
    if mode == berth_registry::AuthMode::None {
        tracing::warn!(
            "auth.mode = none: anyone who can reach {} can pull, push and delete",
            cfg.listen
        );
    }
    // Before the audit trail starts: it hands webhooks its entries.
    let webhook_events = match cfg.webhook.enabled {
        true => registry.webhooks_start(cfg.webhook.config(&addr.to_string())),
        false => None,
    };
    let audit = berth_registry::AuditLog::start(&registry, &cfg.audit_config());
    auth.audit_to(audit.clone());
    let state = Arc::new(AppState {
        registry: Arc::new(registry),
        policy: AccessPolicy::Anonymous,
        auth: Some(Arc::new(auth)),
        realm: Some(cfg.auth.realm.clone()).filter(|r| !r.is_empty()),
        tls: cfg.tls.cert.is_some(),
        body_idle_timeout: Duration::from_secs(cfg.server.body_idle_timeout_secs.max(1)),
        body_read_timeout: Duration::from_secs(cfg.server.body_read_timeout_secs.max(1)),
        body_min_bytes_per_sec: cfg.server.body_min_bytes_per_sec,
        max_api_body_bytes: cfg.limits.max_api_body_bytes.max(1024),
        default_authority: addr.to_string(),
        rate: berth_server::limits::RateLimiter::new(
            cfg.limits.rate_per_second,
            cfg.limits.rate_burst,
        ),
        upload_quota: berth_server::limits::UploadQuota::new(
            cfg.limits.max_upload_sessions_per_client,
            Duration::from_secs(3600),
        ),
        max_chunk_bytes: cfg.limits.max_chunk_bytes,
        audit,
        gc: berth_registry::GcOptions {
            trigger: berth_registry::GcTrigger::Manual,
            ..cfg.gc_options()?
        },
        gc_schedule: cfg.gc.schedule.clone(),
        scan_schedule: cfg.scan.schedule.clone(),
        ui: cfg.ui.settings(),
        node_id: berth_server::probes::new_node_id(),
        metrics: match cfg.metrics.enabled {
            true => Some(Arc::new(
                berth_server::metrics::Exporter::install(cfg.metrics.public)
                    .map_err(anyhow::Error::msg)
                    .context("installing the Prometheus recorder")?,
            )),
            false => None,
        },
    });
    let metrics_listener = match cfg.metrics.listen.trim() {
        "" => None,
        text if cfg.metrics.enabled => {
            let at = crate::config::parse_listen(text)
                .map_err(anyhow::Error::msg)
                .context("metrics.listen")?;
            let l = tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("binding metrics.listen {at}"))?;
            tracing::info!("metrics on http://{}/metrics", l.local_addr()?);
            let app = berth_server::metrics::router(state.clone());
            Some(tokio::spawn(async move {
                if let Err(e) = axum::serve(l, app).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            }))
        }
        _ => anyhow::bail!("metrics.listen is set but metrics.enabled is false"),
    };
    let tls = match (&cfg.tls.cert, &cfg.tls.key) {
        (Some(cert), Some(key)) => {
            Some(berth_server::listener::tls_config(cert, key).map_err(anyhow::Error::msg)?)
        }
        (None, None) => None,
        _ => anyhow::bail!("TLS needs both a certificate (--tls-cert) and a key (--tls-key)"),
    };
    // External scanners (docs/supply-chain.md "External scanners") pull
    // from this registry with a robot made for each scan.
    let registry_url = match cfg.scan.registry_url.trim() {
        "" => format!(
            "{}://{addr}",
            if cfg.tls.cert.is_some() {
                "https"
            } else {
                "http"
            }
        ),
        url => url.trim_end_matches('/').to_string(),
    };
    state.registry.external_scans_start(
        registry_url,
        state
            .auth
            .clone()
            .filter(|_| mode != berth_registry::AuthMode::None),
    );
    let scheduler = tokio::spawn(retention_scheduler(state.clone()));
    let replication = tokio::spawn(replication_jobs(state.clone()));
    let eviction = tokio::spawn(proxy_cache_eviction(state.clone()));
    let sboms = tokio::spawn(sbom_worker(state.clone()));
    let webhooks = webhook_events.map(|events| {
        let (a, b) = (state.clone(), state.clone());
        (
            tokio::spawn(async move { a.registry.webhook_dispatch(events).await }),
            tokio::spawn(async move { b.registry.webhook_deliver().await }),
        )
    });
    let checkpoints = tokio::spawn(audit_checkpoints(
        state.clone(),
        Duration::from_secs(cfg.audit.checkpoint_interval_secs),
    ));
    let changes = match state.registry.meta().subscribe().await {
        Ok(Some(feed)) => Some(tokio::spawn(follow_changes(feed, state.clone()))),
        Ok(None) => None,
        Err(e) => return Err(anyhow::Error::new(e).context("listening for other nodes' changes")),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        data_dir = %cfg.data_dir.display(),
        database = %at.database,
        storage = %at.storage.identity(),
        %scheme,
        node = %state.node_id,
        "listening on {addr}"
    );
    if matches!(at.database, berth_meta::DatabaseUrl::Postgres(_))
        && cfg.auth.signing_key_file.is_none()
        && std::env::var_os(berth_registry::auth::signing_key::ENV_VAR).is_none()
    {
        tracing::warn!(
            key = %cfg.data_dir.join(berth_registry::auth::signing_key::DEFAULT_FILE).display(),
            "tokens are signed with this node's own key file: every node behind one load balancer must use the same key (auth.signing_key_file or BERTH_TOKEN_SIGNING_KEY, or a shared data directory), or tokens from one node are refused by the others"
        );
    }

    let opts = berth_server::listener::ListenOptions {
        tls,
        header_timeout: Duration::from_secs(cfg.server.header_timeout_secs),
        max_header_bytes: cfg.limits.max_header_bytes,
        shutdown_grace: Duration::from_secs(cfg.server.shutdown_grace_secs),
    };
    let scan_task = match &cfg.scan.schedule {
        Some(cron) => {
            tracing::info!(schedule = %cron, "scheduled vulnerability scans (scan all) enabled");
            let schedule = crate::config::parse_cron(cron)?;
            Some(tokio::spawn(scan_schedule(schedule, state.clone())))
        }
        None => None,
    };
    let gc_task = match &cfg.gc.schedule {
        Some(cron) => {
            tracing::info!(schedule = %cron, "scheduled garbage collection enabled");
            Some(crate::gc::spawn_schedule(
                crate::config::parse_cron(cron)?,
                cfg.gc_options()?,
                state.clone(),
            ))
        }
        None => None,
    };
    berth_server::listener::serve(listener, berth_server::router(state.clone()), opts, async {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
    })
    .await;
    if let Some(task) = gc_task {
        task.abort();
    }
    if let Some(task) = scan_task {
        task.abort();
    }
    scheduler.abort();
    if let Some(task) = metrics_listener {
        task.abort();
    }
    replication.abort();
    eviction.abort();
    checkpoints.abort();
    sboms.abort();
    if let Some((dispatch, deliver)) = webhooks {
        dispatch.abort();
        deliver.abort();
    }
    state.registry.sbom_release().await;
    if let Some(task) = changes {
        task.abort();
    }
    // Every request has finished: write the last audit entries before the
    // database closes.
    state.audit.shutdown().await;
    state.registry.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Forgets what other nodes changed (PostgreSQL `LISTEN`): a moved tag, a
/// deleted manifest, changed rules, accounts. When the listening connection
/// drops, everything cached is forgotten (changes may have been missed) and
/// the listener reconnects.
async fn follow_changes(mut feed: berth_meta::ChangeFeed, state: Arc<AppState>) {
    loop {
        match feed.next().await {
            Ok(berth_meta::Feed::Change(change)) => {
                state.registry.apply_change(&change);
                if change == berth_meta::Change::Accounts {
                    if let Some(auth) = &state.auth {
                        auth.forget_cached();
                    }
                }
            }
            Ok(berth_meta::Feed::Lost) => {
                tracing::warn!(
                    "lost the database notification connection: forgetting every cached entry"
                );
                state.registry.forget_all_cached();
                if let Some(auth) = &state.auth {
                    auth.forget_cached();
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "listening for other nodes' changes; retrying");
                state.registry.forget_all_cached();
                if let Some(auth) = &state.auth {
                    auth.forget_cached();
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Creates the data directory (0700) when missing.
///
/// Errors name the path.
pub fn create_data_dir(data_dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))
}

/// Creates the data directory (0700) when missing and takes an exclusive
/// advisory lock on `<data_dir>/serve.lock` for the life of the process: a
/// second `serve` on the same directory refuses to start (two servers would
/// each run their own caches, schedules and audit writer over one database).
/// The CLI commands documented as safe beside `serve` take no such lock.
/// The lock also proves the directory is writable before anything else.
///
/// Errors name the path and the operation.
pub fn lock_data_dir(data_dir: &Path) -> anyhow::Result<std::fs::File> {
    create_data_dir(data_dir)?;
    let path = data_dir.join("serve.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| {
            format!(
                "cannot write to data directory {}: opening {}",
                data_dir.display(),
                path.display()
            )
        })?;
    use std::os::fd::AsRawFd;
    // SAFETY: flock(2) on a descriptor this function owns; no memory is shared.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            anyhow::bail!(
                "another `berth serve` is already running on data directory {} (it holds the lock {}); stop it, or give this one its own --data-dir",
                data_dir.display(),
                path.display()
            );
        }
        return Err(err).with_context(|| format!("locking {}", path.display()));
    }
    Ok(file)
}

/// Sets the process umask to 0o077, so everything berth creates from here on
/// (the SQLite files, blobs, uploads, the token signing key) is readable by
/// its own user only: the data directory holds the signing key and password
/// hashes, with which anyone could mint an admin token. The stores create
/// their files 0600 / 0700 explicitly too; this covers everything else.
pub fn private_umask() {
    #[cfg(unix)]
    // SAFETY: umask(2) only sets the process file mode creation mask; it cannot
    // fail and touches no memory.
    unsafe {
        libc::umask(0o077);
    }
}

/// Warns (see `berth_registry::auth::signing_key::warn_if_not_private`) when
/// the data directory or the metadata database (with its `-wal` and `-shm`)
/// is open to group or others; the key file is checked when it is loaded.
/// Modes the operator chose are left alone.
fn warn_if_secrets_are_shared(data_dir: &Path) {
    use berth_registry::auth::signing_key::warn_if_not_private;
    warn_if_not_private(data_dir);
    for name in ["meta.db", "meta.db-wal", "meta.db-shm"] {
        warn_if_not_private(&data_dir.join(name));
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// `berth fsck`: prints each problem and a summary; exit 1 when there are problems.
pub async fn fsck(at: &Location, repair: bool) -> anyhow::Result<ExitCode> {
    at.require_existing()?;
    // A check alone opens the directory read-only: it works where this user
    // may only read, and changes nothing.
    let registry = if repair {
        Registry::open_on(&at.data_dir, &at.database, &at.storage, Limits::default()).await
    } else {
        Registry::open_read_only(&at.data_dir, &at.database, &at.storage, Limits::default()).await
    }
    .with_context(|| format!("opening {at}"))?;
    let (bar, progress) = crate::progress::bar(crate::progress::Unit::Bytes);
    let report = registry.fsck_with_progress(repair, &progress).await;
    bar.finish_and_clear();
    if repair {
        // A repair deletes and forgets blobs: a change, on the record like
        // every CLI change.
        let detail = match &report {
            Ok(r) => format!(
                "fsck --repair: {} corrupt or missing blobs deleted and forgotten",
                r.repaired
            ),
            Err(_) => "fsck --repair".to_string(),
        };
        let target = crate::admin::CliTarget {
            project: None,
            reference: None,
            detail,
            digest: None,
        };
        crate::admin::audit_cli_once(
            &registry,
            berth_registry::AuditAction::BlobDelete,
            target,
            report
                .as_ref()
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!("{e}")),
        )
        .await?;
    }
    let report = report?;
    for p in &report.problems {
        println!("problem: {p}");
    }
    println!(
        "checked {} blobs ({} bytes) and {} manifests: {} problems, {} unrecorded blob files{}",
        report.blobs_checked,
        report.bytes_checked,
        report.manifests_checked,
        report.problems.len(),
        report.unrecorded_blobs,
        if repair {
            format!(", {} repaired", report.repaired)
        } else {
            String::new()
        }
    );
    registry.close().await;
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `berth migrate [--dry-run]`: lists the schema migrations the metadata
/// database still needs (`would apply 0007 description` / `applied ...`),
/// applying them unless `dry_run`; "schema up to date" when there are none.
/// A dry run only reads. On PostgreSQL the migration runs under an advisory
/// lock, as at every node's start.
pub async fn migrate(at: &Location, dry_run: bool) -> anyhow::Result<ExitCode> {
    let db = &at.database;
    let pending = berth_meta::MetaStore::pending_migrations(db)
        .await
        .with_context(|| format!("reading the schema version of {db}"))?;
    if pending.is_empty() {
        println!("schema up to date ({db})");
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if dry_run { "would apply" } else { "applied" };
    if !dry_run {
        private_umask();
        let registry = Registry::open_on(&at.data_dir, db, &at.storage, Limits::default())
            .await
            .with_context(|| format!("migrating {db}"))?;
        registry.close().await;
    }
    for (version, description) in &pending {
        println!("{verb} {version:04} {description}");
    }
    Ok(ExitCode::SUCCESS)
}

/// How often scheduled replication policies are looked at.
const REPLICATION_TICK: Duration = Duration::from_secs(10);

/// Replication's background work (docs/replication.md): resumes executions
/// a previous process left unfinished, starts event-based policies on each
/// tagged push, and scheduled ones when their cron time comes.
async fn replication_jobs(state: Arc<AppState>) {
    let registry = state.registry.clone();
    registry.replication_resume().await;
    if let Some(mut pushes) = registry.push_events() {
        let reg = registry.clone();
        tokio::spawn(async move {
            while let Some(event) = pushes.recv().await {
                match event {
                    berth_registry::ContentEvent::Pushed { repository, tag } => {
                        reg.replication_on_push(&repository, &tag).await
                    }
                    berth_registry::ContentEvent::Deleted {
                        repository,
                        tags,
                        digest,
                        manifest,
                    } => {
                        reg.replication_on_delete(&repository, &tags, &digest, manifest)
                            .await
                    }
                }
            }
        });
    }
    let mut tick = tokio::time::interval(REPLICATION_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        registry
            .replication_run_scheduled(berth_meta::store::now_ms())
            .await;
    }
}

/// How often a node looks for SBOM tasks queued on other nodes (its own
/// pushes wake it at once).
const SBOM_POLL: Duration = Duration::from_secs(5);

/// Makes the SBOMs queued by pushes and scan requests (docs/supply-chain.md
/// "SBOMs"), one at a time, and records each outcome that changed something
/// or failed in the audit trail (`sbom_generate`, actor `system`; a run
/// that found nothing attaches nothing and is not recorded).
async fn sbom_worker(state: Arc<AppState>) {
    use berth_registry::audit::{Actor, AuditAction, AuditEntry, Outcome};
    loop {
        for (task, outcome) in state.registry.sbom_work().await {
            let (result, detail) = match &outcome {
                Ok(r) if r.spdx.is_none() => continue,
                Ok(r) => (Outcome::Success, r.summary()),
                Err(e) => {
                    tracing::warn!(repository = %task.repository, digest = %task.digest, error = %e, "SBOM not made");
                    (Outcome::Failure, e.to_string())
                }
            };
            let entry = AuditEntry::new(Actor::system(), AuditAction::SbomGenerate, result)
                .repository(&task.repository)
                .digest(&task.digest)
                .detail(detail);
            state.audit.record(entry);
        }
        tokio::select! {
            () = tokio::time::sleep(SBOM_POLL) => {}
            () = state.registry.sbom_requested() => {}
        }
    }
}

/// Signs the audit chain's head every `interval` when it moved since the
/// latest checkpoint (docs/audit.md "Signed checkpoints"). Off with a zero
/// interval, with the audit trail off, or without accounts (no key).
async fn audit_checkpoints(state: Arc<AppState>, interval: Duration) {
    let Some(auth) = state.auth.clone() else {
        return;
    };
    if interval.is_zero() || !state.audit.enabled() {
        return;
    }
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let head = state.registry.meta().audit_head().await;
        let latest = state.audit.checkpoint_latest().await;
        let moved = match (&head, &latest) {
            (Ok(Some((seq, _))), Ok(Some(cp))) => *seq > cp.seq,
            (Ok(Some(_)), Ok(None)) => true,
            _ => false,
        };
        if moved {
            if let Err(e) = state.audit.checkpoint_sign(&auth).await {
                tracing::error!(error = %e, "could not sign the audit trail's head");
            }
        }
    }
}

/// How often every proxy project is checked against its cache size limit,
/// besides the checks that follow each fetch from upstream on this node
/// (which cover the others' fetches too, within this bound).
const EVICTION_TICK: Duration = Duration::from_secs(60);
/// How long eviction waits after a fetch before it looks, so one image's
/// layers arriving together make one pass.
const EVICTION_SETTLE: Duration = Duration::from_secs(1);

/// Keeps proxy projects within their cache size limits (docs/proxy.md):
/// after something was fetched from upstream, and every minute.
async fn proxy_cache_eviction(state: Arc<AppState>) {
    let registry = state.registry.clone();
    let mut tick = tokio::time::interval(EVICTION_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = registry.proxy_cache_filled() => tokio::time::sleep(EVICTION_SETTLE).await,
        }
        for pass in registry.proxy_evict_all().await {
            tracing::info!(
                project = %pass.project,
                limit = pass.limit,
                used_before = pass.used_before,
                used_after = pass.used_after,
                evicted = pass.evicted.len(),
                "proxy cache: evicted least recently used artifacts"
            );
        }
    }
}

/// How often the scheduler looks for due retention policies.
const RETENTION_TICK: Duration = Duration::from_secs(60);

/// Runs scheduled retention policies: once a minute, every policy whose cron
/// time has passed since its last run (see `Registry::retention_due`) runs as
/// actor `scheduler`. A run that fails is logged and waits for its next time.
async fn retention_scheduler(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(RETENTION_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match state
            .registry
            .retention_run_scheduled(berth_meta::store::now_ms())
            .await
        {
            Ok(reports) => {
                for r in reports {
                    tracing::info!(
                        project = %r.project,
                        kept = r.kept().count(),
                        deleted = r.deleted().count(),
                        errors = r.errors(),
                        "scheduled retention ran"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "retention scheduler"),
        }
    }
}

/// `scan.schedule`: at each time of the cron schedule, "scan all"
/// ([`berth_registry::Registry::vuln_scan_all`]). With several nodes the one
/// that takes the job lock runs it; the others skip that time.
async fn scan_schedule(schedule: cron::Schedule, state: Arc<AppState>) {
    loop {
        let Some(next) = schedule.upcoming(chrono::Utc).next() else {
            tracing::info!("scan.schedule has no further runs");
            return;
        };
        let wait = (next - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
        match state.registry.meta().job_lock("scan.schedule", false).await {
            Ok(Some(lock)) => {
                match state.registry.vuln_scan_all().await {
                    Ok(n) => tracing::info!(images = n, "scheduled scan all finished"),
                    Err(e) => tracing::warn!(error = %e, "scheduled scan all did not run"),
                }
                lock.release().await;
            }
            Ok(None) => tracing::info!("scheduled scan all runs on another node"),
            Err(e) => tracing::error!("scheduled scan all: {e}"),
        }
        // Past this time, so the next `upcoming` is the one after.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
}
