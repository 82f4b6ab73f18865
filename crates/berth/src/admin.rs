//! Operator subcommands over the account store, working on the data directory
//! directly (safe while `berth serve` runs: SQLite in WAL mode; a running
//! server sees changes within seconds, its caches being short-lived):
//! `berth user`, `berth project`, `berth robot`, `berth token`.
//!
//! Every change (not the listings) is an audit entry in the same data
//! directory, with the OS user as a `system` actor and a detail starting
//! `cli:`; it is stored before the command exits. Secrets (passwords, robot
//! secrets, access tokens) are never part of it. See docs/audit.md.

use std::io::IsTerminal;
use std::sync::OnceLock;

use crate::config::Location;
use anyhow::Context;
use berth_registry::audit::{Actor, ActorKind};
use berth_registry::auth::{AccountError, RobotPermission, Role};
use berth_registry::{
    AuditAction, AuditConfig, AuditEntry, AuditLog, Auth, Limits, Outcome, Registry,
};
use clap::Subcommand;

/// `berth user …`
#[derive(Subcommand)]
pub enum UserCmd {
    /// Create a user. The password is asked twice at a terminal (not shown), else read from BERTH_NEW_PASSWORD or the first line of stdin.
    Add {
        /// Login name.
        name: String,
        /// Make the user a system administrator.
        #[arg(long)]
        admin: bool,
        /// E-mail address.
        #[arg(long, default_value = "")]
        email: String,
    },
    /// List users.
    List,
    /// Set a user's password (asked twice at a terminal, else BERTH_NEW_PASSWORD or the first line of stdin).
    Passwd {
        /// Login name.
        name: String,
    },
    /// Delete a user.
    Delete {
        /// Login name.
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// `berth project …`
#[derive(Subcommand)]
pub enum ProjectCmd {
    /// Create a project.
    Create {
        /// Project name (the first component of its repositories' names).
        name: String,
        /// Anyone, also anonymous callers, may pull.
        #[arg(long)]
        public: bool,
        /// Make it a pull-through cache of this upstream registry (name or
        /// id, see `berth registry add`).
        #[arg(long)]
        proxy: Option<String>,
        /// With --proxy: the cache size limit (10GiB, 500MB, …); past it the
        /// least recently pulled artifacts are evicted.
        #[arg(long, requires = "proxy")]
        cache_limit: Option<String>,
    },
    /// List projects.
    List,
    /// Change visibility, IP allow-lists, or a proxy project's cache limit.
    Set {
        /// Project name.
        name: String,
        /// Public (anonymous pull) or not.
        #[arg(long)]
        public: Option<bool>,
        /// CIDRs that may pull (repeatable). Replaces the list; not given: the
        /// list is kept; `any`: the list is cleared (any address may pull).
        #[arg(long = "pull-cidr")]
        pull_cidrs: Vec<String>,
        /// CIDRs that may push and delete (repeatable). Replaces the list; not
        /// given: kept; `any`: cleared (any address).
        #[arg(long = "push-cidr")]
        push_cidrs: Vec<String>,
        /// A proxy project's cache size limit (10GiB, 500MB, …), or `none`.
        #[arg(long)]
        cache_limit: Option<String>,
    },
    /// Give a user a role: projectAdmin, maintainer, developer, guest, limitedGuest.
    Member {
        /// Project name.
        project: String,
        /// User name.
        user: String,
        /// Role name.
        role: String,
        /// Limit the role to these repository globs (relative to the project; repeatable).
        #[arg(long = "repository")]
        repositories: Vec<String>,
    },
    /// Delete a project: its record, members, robots, policies and quota.
    /// Refused while it has repositories, unless --force deletes them too.
    Delete {
        /// Project name.
        name: String,
        /// Also delete every repository of the project (their tags and
        /// manifests; blobs stay for garbage collection).
        #[arg(long)]
        force: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// `berth robot …`
#[derive(Subcommand)]
pub enum RobotCmd {
    /// Create a robot account; prints its name and secret (shown once).
    Create {
        /// Short name; the account is `robot$<project>+<name>` (or `robot$<name>` without --project).
        name: String,
        /// Owning project (omit for a system robot, then give --all-projects).
        #[arg(long)]
        project: Option<String>,
        /// A system robot's permissions apply in every project.
        #[arg(long)]
        all_projects: bool,
        /// Actions: pull, push, delete (comma-separated).
        #[arg(long, default_value = "pull")]
        actions: String,
        /// Limit to these repository globs (relative to the project; repeatable).
        #[arg(long = "repository")]
        repositories: Vec<String>,
        /// Expire after this many days (default: never).
        #[arg(long)]
        expires_days: Option<i64>,
    },
    /// List robot accounts.
    List,
    /// Disable a robot (its credentials stop working).
    Disable {
        /// Full name or id.
        robot: String,
    },
    /// Enable a disabled robot.
    Enable {
        /// Full name or id.
        robot: String,
    },
    /// Replace a robot's secret (generated, or BERTH_NEW_PASSWORD when set); prints it.
    Secret {
        /// Full name or id.
        robot: String,
    },
    /// Delete a robot account.
    Delete {
        /// Full name or id.
        robot: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// `berth token …` (personal access tokens, usable as a password in `docker login`).
#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create a token for a user; prints the secret (shown once).
    Create {
        /// User name.
        user: String,
        /// Token name (unique per user).
        name: String,
        /// Expire after this many days (default: never).
        #[arg(long)]
        expires_days: Option<i64>,
    },
    /// List a user's tokens.
    List {
        /// User name.
        user: String,
    },
    /// Revoke a token.
    Revoke {
        /// User name.
        user: String,
        /// Token name.
        name: String,
    },
}

/// Refuses a data directory that does not exist, or that holds other files
/// but no `meta.db`: run from the wrong directory, an account command must not
/// quietly start a new, empty registry there. An existing empty directory is
/// accepted (accounts may be prepared before the first `serve`). On
/// PostgreSQL there is no file to look for: connecting decides.
pub fn require_data_dir(at: &Location) -> anyhow::Result<()> {
    let berth_meta::DatabaseUrl::Sqlite(db) = &at.database else {
        return Ok(());
    };
    if db.exists() {
        return Ok(());
    }
    let data_dir = &at.data_dir;
    let empty = std::fs::read_dir(data_dir).map(|mut d| d.next().is_none());
    match empty {
        Ok(true) => Ok(()),
        Ok(false) => anyhow::bail!(
            "{} is not a berth data directory (it has files but no meta.db); use --data-dir or BERTH_DATA_DIR",
            data_dir.display()
        ),
        Err(_) => anyhow::bail!(
            "no berth data directory at {} (use --data-dir or BERTH_DATA_DIR; `berth serve` creates one)",
            data_dir.display()
        ),
    }
}

/// Opens the data directory's account store.
pub async fn open(
    at: &Location,
    cfg: berth_registry::AuthConfig,
) -> anyhow::Result<(Registry, Auth)> {
    crate::serve::private_umask();
    require_data_dir(at)?;
    let registry = Registry::open_on(&at.data_dir, &at.database, &at.storage, Limits::default())
        .await
        .with_context(|| format!("opening {at}"))?;
    let (auth, generated) = Auth::open(registry.meta().clone(), &at.data_dir, cfg).await?;
    let _ = ACCOUNTS_AUDIT.set(AuditLog::start(&registry, &AuditConfig::default()));
    if let Some(p) = generated {
        eprintln!(
            "berth: this data directory had no accounts yet: created the system administrator \"admin\" with password: {p}\n\
             berth: this is shown only once; change it with `berth user passwd admin`"
        );
    }
    Ok((registry, auth))
}

/// The audit trail of the account commands, started by [`open`].
static ACCOUNTS_AUDIT: OnceLock<AuditLog> = OnceLock::new();

/// The actor of CLI changes: the OS user ([`os_user`]), kind `system`.
fn cli_actor() -> Actor {
    Actor {
        name: os_user(),
        kind: ActorKind::System,
    }
}

/// The OS user running the command: `$USER`, else `$LOGNAME`, else `uid <n>`.
pub fn os_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| format!("uid {}", unsafe { libc::getuid() }))
}

/// What a CLI change acted on, for its audit entry.
#[derive(Default)]
pub struct CliTarget<'a> {
    /// The project (entry field `repository`).
    pub project: Option<&'a str>,
    /// The account, rule or token acted on (entry field `reference`).
    pub reference: Option<&'a str>,
    /// What changed, without any secret; `cli: ` is put before it.
    pub detail: String,
    /// The digest acted on (entry field `digest`).
    pub digest: Option<&'a str>,
}

/// Records `result` of the CLI change `action` on `target` in `log`, as the
/// OS user ([`os_user`], kind `system`), waits until it is stored, and passes
/// the result through. A failure's detail ends with `; error: <message>`.
pub async fn audit_cli<T>(
    log: &AuditLog,
    action: AuditAction,
    target: CliTarget<'_>,
    result: anyhow::Result<T>,
) -> anyhow::Result<T> {
    let outcome = if result.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    let actor = cli_actor();
    let mut detail = format!("cli: {}", target.detail);
    if let Err(e) = &result {
        detail.push_str(&format!("; error: {e:#}"));
    }
    let mut entry = AuditEntry::new(actor, action, outcome).detail(detail);
    if let Some(p) = target.project {
        entry = entry.repository(p);
    }
    if let Some(r) = target.reference {
        entry = entry.reference(r);
    }
    if let Some(d) = target.digest {
        entry = entry.digest(d);
    }
    log.record(entry);
    let stored = tokio::time::timeout(CLI_AUDIT_WAIT, log.flush())
        .await
        .is_ok();
    if !stored || log.failing() {
        // The writer keeps retrying; stopping it writes what it still holds
        // to <data_dir>/audit-unwritten-*.jsonl (docs/audit.md).
        log.shutdown().await;
        anyhow::bail!(
            "{}, but its audit entry could not be written to the database within {}s; \
             the entry was saved to an audit-unwritten-*.jsonl file in the data directory \
             (see the error above and docs/audit.md)",
            if result.is_ok() {
                "the change was made"
            } else {
                "the command failed"
            },
            CLI_AUDIT_WAIT.as_secs()
        );
    }
    result
}

/// [`audit_cli`] for a command that makes one change on `registry`'s data
/// directory (`gc`, `fsck --repair`, `quota set`): starts an audit writer
/// for it, records `result`, and stops the writer.
pub async fn audit_cli_once<T>(
    registry: &Registry,
    action: AuditAction,
    target: CliTarget<'_>,
    result: anyhow::Result<T>,
) -> anyhow::Result<T> {
    let log = AuditLog::start(registry, &AuditConfig::default());
    let result = audit_cli(&log, action, target, result).await;
    log.shutdown().await;
    result
}

/// Records the signature verdicts a CLI key change produced (action
/// `signature_verify`, as the OS user; repository, digest: the signature,
/// reference: the signed digest, detail `cli: <status>: <why>`; success only
/// when verified) and waits until they are stored.
pub(crate) async fn audited_verdicts(verdicts: &[berth_registry::signing::SignatureVerdict]) {
    let Some(log) = ACCOUNTS_AUDIT.get() else {
        return;
    };
    for v in verdicts {
        // The server's entry for a verdict, with the CLI's actor and prefix.
        let mut entry = berth_server::audit::verdict_entry(cli_actor(), None, v);
        entry.detail = entry.detail.map(|d| format!("cli: {d}"));
        log.record(entry);
    }
    let _ = tokio::time::timeout(CLI_AUDIT_WAIT, log.flush()).await;
}

/// How long a CLI command waits for its audit entry to be stored.
const CLI_AUDIT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// [`audit_cli`] into the account commands' trail (started by [`open`]).
pub(crate) async fn audited<T>(
    action: AuditAction,
    target: CliTarget<'_>,
    result: anyhow::Result<T>,
) -> anyhow::Result<T> {
    match ACCOUNTS_AUDIT.get() {
        Some(log) => audit_cli(log, action, target, result).await,
        None => result,
    }
}

/// The new password of `user add` / `user passwd`: `BERTH_NEW_PASSWORD` when
/// set; else, at a terminal, asked twice without echo (`rpassword`); else the
/// first line of stdin.
///
/// Errors: the two entries differ; nothing given ("no password given").
fn new_password() -> anyhow::Result<String> {
    const NONE_GIVEN: &str = "no password given: type it at a terminal, or give it in BERTH_NEW_PASSWORD or on the first line of stdin";
    if let Ok(p) = std::env::var("BERTH_NEW_PASSWORD") {
        return Ok(p);
    }
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("new password: ")?;
        if first.is_empty() {
            anyhow::bail!(NONE_GIVEN);
        }
        let again = rpassword::prompt_password("repeat the new password: ")?;
        if first != again {
            anyhow::bail!("the two passwords differ; nothing was changed");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        anyhow::bail!(NONE_GIVEN);
    }
    Ok(password)
}

/// Asks "really?" on a terminal; refuses without a terminal unless `yes`.
pub fn confirm(what: &str, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("{what}: refusing without confirmation; pass --yes");
    }
    eprint!("{what}? [y/N] ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    if line.trim().eq_ignore_ascii_case("y") || line.trim().eq_ignore_ascii_case("yes") {
        Ok(())
    } else {
        anyhow::bail!("cancelled")
    }
}

fn days_from_now(days: Option<i64>) -> Option<i64> {
    days.map(|d| berth_meta_now() + d * 86_400_000)
}

fn berth_meta_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn err(e: AccountError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Runs a `berth user` subcommand.
pub async fn user(auth: &Auth, cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Add { name, admin, email } => {
            let result = async {
                let pw = new_password()?;
                let u = auth
                    .create_user(&name, &pw, &email, "", admin)
                    .await
                    .map_err(err)?;
                println!(
                    "created user {} (id {}){}",
                    u.username,
                    u.id,
                    if admin { ", system admin" } else { "" }
                );
                Ok(())
            }
            .await;
            let detail = format!("user created{}", if admin { " (system admin)" } else { "" });
            audited(AuditAction::UserCreate, account(&name, detail), result).await
        }
        UserCmd::List => {
            let (users, _) = auth.meta().users_list("", 0, u64::MAX >> 1).await?;
            println!("ID\tNAME\tROLE");
            for u in users {
                println!(
                    "{}\t{}\t{}",
                    u.id,
                    u.username,
                    if u.sysadmin { "admin" } else { "" }
                );
            }
            Ok(())
        }
        UserCmd::Passwd { name } => {
            let result = async {
                let u = auth.user(&name).await.map_err(err)?;
                let pw = new_password()?;
                auth.set_password(u.id, &pw).await.map_err(err)?;
                println!("password of {name} changed");
                Ok(())
            }
            .await;
            let detail = "password changed".to_string();
            audited(AuditAction::UserUpdate, account(&name, detail), result).await
        }
        UserCmd::Delete { name, yes } => {
            let result = async {
                let u = auth.user(&name).await.map_err(err)?;
                confirm(&format!("delete user {name}"), yes)?;
                auth.delete_user(u.id).await.map_err(err)?;
                println!("deleted user {name}");
                Ok(())
            }
            .await;
            let detail = "user deleted".to_string();
            audited(AuditAction::UserDelete, account(&name, detail), result).await
        }
    }
}

/// The audit target of an account change.
fn account(name: &str, detail: String) -> CliTarget<'_> {
    CliTarget {
        project: None,
        reference: Some(name),
        detail,
        digest: None,
    }
}

/// The audit target of a project change.
fn in_project<'a>(project: &'a str, reference: Option<&'a str>, detail: String) -> CliTarget<'a> {
    CliTarget {
        project: Some(project),
        reference,
        detail,
        digest: None,
    }
}

/// `--cache-limit`: a size above 0, or `none` (`None`).
fn parse_cache_limit(text: &str) -> anyhow::Result<Option<u64>> {
    match crate::config::parse_size(text)? {
        Some(0) => anyhow::bail!(
            "--cache-limit 0 would evict everything but the newest image: give a size, or `none` for no limit"
        ),
        other => Ok(other),
    }
}

/// Runs a `berth project` subcommand.
pub async fn project(registry: &Registry, auth: &Auth, cmd: ProjectCmd) -> anyhow::Result<()> {
    match cmd {
        ProjectCmd::Create {
            name,
            public,
            proxy,
            cache_limit,
        } => {
            let cache_limit = cache_limit
                .map(|s| parse_cache_limit(&s))
                .transpose()?
                .flatten();
            let result = async {
                let owner = auth.meta().user_by_name("admin").await?.map(|u| u.id);
                let upstream = match &proxy {
                    Some(r) => Some(registry.registry(r).await.map_err(err)?),
                    None => None,
                };
                let p = auth
                    .create_project(&name, public, owner)
                    .await
                    .map_err(err)?;
                if let Some(up) = &upstream {
                    registry
                        .project_bind(&name, Some(up.id))
                        .await
                        .map_err(err)?;
                    if cache_limit.is_some() {
                        registry
                            .proxy_cache_limit_set(&name, cache_limit)
                            .await
                            .map_err(err)?;
                    }
                }
                println!(
                    "created project {} (id {}, {}{})",
                    p.name,
                    p.id,
                    if public { "public" } else { "private" },
                    upstream
                        .map(|u| format!(
                            ", a pull-through cache of {} at {}{}",
                            u.name,
                            u.url,
                            cache_limit
                                .map(|n| format!(
                                    ", cache limit {}",
                                    berth_registry::quota::human_bytes(n)
                                ))
                                .unwrap_or_default()
                        ))
                        .unwrap_or_default()
                );
                Ok(())
            }
            .await;
            let detail = format!(
                "project created ({})",
                if public { "public" } else { "private" }
            );
            audited(
                AuditAction::ProjectCreate,
                in_project(&name, None, detail),
                result,
            )
            .await
        }
        ProjectCmd::List => {
            println!("ID\tNAME\tVISIBILITY\tPULL FROM\tPUSH FROM");
            for p in auth.meta().projects_all().await? {
                println!(
                    "{}\t{}\t{}\tpull:{}\tpush:{}",
                    p.id,
                    p.name,
                    if p.public { "public" } else { "private" },
                    p.pull_cidrs.join(","),
                    p.push_cidrs.join(",")
                );
            }
            Ok(())
        }
        ProjectCmd::Set {
            name,
            public,
            pull_cidrs,
            push_cidrs,
            cache_limit,
        } => {
            let cache_limit = cache_limit.map(|s| parse_cache_limit(&s)).transpose()?;
            let result = async {
                let current = auth.project_named(&name).await.map_err(err)?;
                if let Some(limit) = cache_limit {
                    registry
                        .proxy_cache_limit_set(&name, limit)
                        .await
                        .map_err(err)?;
                }
                // Only what is given changes: `project set team --public false`
                // must never drop an allow-list (it would open the project).
                let list = |given: &[String], kept: &[String]| -> Vec<String> {
                    if given.is_empty() {
                        kept.to_vec()
                    } else if given.iter().all(|c| c == "any") {
                        Vec::new()
                    } else {
                        given.to_vec()
                    }
                };
                let pull = list(&pull_cidrs, &current.pull_cidrs);
                let push = list(&push_cidrs, &current.push_cidrs);
                let p = auth
                    .update_project(&name, public.unwrap_or(current.public), &pull, &push)
                    .await
                    .map_err(err)?;
                println!(
                    "project {}: {}",
                    p.name,
                    if p.public { "public" } else { "private" }
                );
                let cache = match cache_limit {
                    Some(Some(n)) => format!(", proxy cache limit {n} bytes"),
                    Some(None) => ", no proxy cache limit".to_string(),
                    None => String::new(),
                };
                if !cache.is_empty() {
                    println!("project {}{cache}", p.name);
                }
                Ok(format!(
                    "project changed: {}, pull from {}, push from {}{cache}",
                    if p.public { "public" } else { "private" },
                    or_any(&p.pull_cidrs),
                    or_any(&p.push_cidrs)
                ))
            }
            .await;
            let detail = match &result {
                Ok(d) => d.clone(),
                Err(_) => "project changed".into(),
            };
            audited(
                AuditAction::ProjectUpdate,
                in_project(&name, None, detail),
                result,
            )
            .await
            .map(|_| ())
        }
        ProjectCmd::Member {
            project,
            user,
            role,
            repositories,
        } => {
            let result = async {
                let r = Role::from_name(&role).ok_or_else(|| {
                    anyhow::anyhow!("unknown role {role:?}: projectAdmin, maintainer, developer, guest, limitedGuest")
                })?;
                let repos = (!repositories.is_empty()).then_some(repositories.as_slice());
                auth.set_member(&project, &user, r, repos)
                    .await
                    .map_err(err)?;
                println!("{user} is {} of {project}", r.name());
                Ok(())
            }
            .await;
            let mut detail = format!("member set: role {role}");
            if !repositories.is_empty() {
                detail.push_str(&format!(", repositories {}", repositories.join(",")));
            }
            audited(
                AuditAction::MemberAdd,
                in_project(&project, Some(&user), detail),
                result,
            )
            .await
        }
        ProjectCmd::Delete { name, force, yes } => {
            let mut detail = "project deleted".to_string();
            let result = async {
                auth.project_named(&name).await.map_err(err)?;
                let repositories = project_repositories(registry, &name).await?;
                if !repositories.is_empty() && !force {
                    anyhow::bail!(
                        "project {name} still has {} repositories ({}); delete them first, or pass --force to delete them with the project",
                        repositories.len(),
                        sample(&repositories)
                    );
                }
                let what = if repositories.is_empty() {
                    format!("delete project {name}")
                } else {
                    format!(
                        "delete project {name} and its {} repositories ({})",
                        repositories.len(),
                        sample(&repositories)
                    )
                };
                confirm(&what, yes)?;
                for repo in &repositories {
                    let parsed = berth_oci::RepositoryName::parse(repo)
                        .with_context(|| format!("repository name {repo:?}"))?;
                    registry
                        .repository_delete(&parsed)
                        .await
                        .with_context(|| format!("deleting repository {repo}"))?;
                }
                auth.delete_project(&name).await.map_err(err)?;
                if repositories.is_empty() {
                    println!("deleted project {name}");
                } else {
                    detail = format!(
                        "project deleted with --force and its {} repositories",
                        repositories.len()
                    );
                    println!(
                        "deleted project {name} and its {} repositories (blobs stay until `berth gc`)",
                        repositories.len()
                    );
                }
                Ok(())
            }
            .await;
            audited(
                AuditAction::ProjectDelete,
                in_project(&name, None, detail),
                result,
            )
            .await
        }
    }
}

/// Names of every repository of `project`, by name.
async fn project_repositories(registry: &Registry, project: &str) -> anyhow::Result<Vec<String>> {
    let filter = berth_registry::RepositoryFilter {
        project: Some(project.to_string()),
        name: None,
    };
    let mut names = Vec::new();
    loop {
        let page = registry
            .repositories(&filter, names.len() as u64, 1000)
            .await?;
        let n = page.items.len();
        names.extend(page.items.into_iter().map(|r| r.name));
        if n < 1000 {
            return Ok(names);
        }
    }
}

/// The first few names of a list, for a message: `a, b, c and 7 more`.
fn sample(names: &[String]) -> String {
    const SHOWN: usize = 3;
    let head = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match names.len().saturating_sub(SHOWN) {
        0 => head,
        more => format!("{head} and {more} more"),
    }
}

/// An allow-list for people: its CIDRs, or `any`.
fn or_any(cidrs: &[String]) -> String {
    if cidrs.is_empty() {
        "any".into()
    } else {
        cidrs.join(",")
    }
}

/// Runs a `berth robot` subcommand.
pub async fn robot(auth: &Auth, cmd: RobotCmd) -> anyhow::Result<()> {
    match cmd {
        RobotCmd::Create {
            name,
            project,
            all_projects,
            actions,
            repositories,
            expires_days,
        } => {
            let detail = format!(
                "robot created: actions {actions}{}{}",
                if repositories.is_empty() {
                    String::new()
                } else {
                    format!(", repositories {}", repositories.join(","))
                },
                expires_days
                    .map(|d| format!(", expires in {d} days"))
                    .unwrap_or_default()
            );
            let result = async {
                if project.is_none() && !all_projects {
                    anyhow::bail!("give --project P, or --all-projects for a system robot");
                }
                let perm = RobotPermission {
                    project: project.clone().unwrap_or_else(|| "*".into()),
                    repositories,
                    actions: actions
                        .split(',')
                        .map(|a| a.trim().to_owned())
                        .filter(|a| !a.is_empty())
                        .collect(),
                };
                let secret = std::env::var("BERTH_NEW_PASSWORD").ok();
                let created = auth
                    .create_robot(
                        project.as_deref(),
                        &name,
                        "",
                        &[perm],
                        days_from_now(expires_days),
                        secret.as_deref(),
                    )
                    .await
                    .map_err(err)?;
                println!("name: {}\nsecret: {}", created.robot.name, created.secret);
                Ok(created.robot.name)
            }
            .await;
            let full = result.as_ref().map_or(name.clone(), |n| n.clone());
            let target = CliTarget {
                project: project.as_deref(),
                reference: Some(&full),
                detail,
                digest: None,
            };
            audited(AuditAction::RobotCreate, target, result)
                .await
                .map(|_| ())
        }
        RobotCmd::List => {
            for r in auth.meta().robots_list(None).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    r.id,
                    r.name,
                    if r.disabled { "disabled" } else { "enabled" },
                    r.permissions
                );
            }
            Ok(())
        }
        RobotCmd::Disable { robot } => set_disabled(auth, &robot, true).await,
        RobotCmd::Enable { robot } => set_disabled(auth, &robot, false).await,
        RobotCmd::Secret { robot } => {
            let result = async {
                let r = auth.robot(&robot).await.map_err(err)?;
                let given = std::env::var("BERTH_NEW_PASSWORD").ok();
                let secret = auth
                    .refresh_robot_secret(r.id, given.as_deref())
                    .await
                    .map_err(err)?;
                println!("name: {}\nsecret: {secret}", r.name);
                Ok(r)
            }
            .await;
            robot_audited(
                AuditAction::RobotUpdate,
                &robot,
                "robot secret replaced",
                result,
            )
            .await
        }
        RobotCmd::Delete { robot, yes } => {
            let result = async {
                let r = auth.robot(&robot).await.map_err(err)?;
                confirm(&format!("delete robot {}", r.name), yes)?;
                auth.delete_robot(r.id).await.map_err(err)?;
                println!("deleted {}", r.name);
                Ok(r)
            }
            .await;
            robot_audited(AuditAction::RobotDelete, &robot, "robot deleted", result).await
        }
    }
}

/// Records a change of the robot `given` (a name or id): on success under its
/// full name and project.
async fn robot_audited(
    action: AuditAction,
    given: &str,
    detail: &str,
    result: anyhow::Result<berth_meta::RobotRecord>,
) -> anyhow::Result<()> {
    let (name, project) = match &result {
        Ok(r) => (r.name.clone(), robot_project(&r.name)),
        Err(_) => (given.to_string(), None),
    };
    let target = CliTarget {
        project: project.as_deref(),
        reference: Some(&name),
        detail: detail.to_string(),
        digest: None,
    };
    audited(action, target, result).await.map(|_| ())
}

/// The project of a project robot (`robot$<project>+<name>`).
fn robot_project(full: &str) -> Option<String> {
    let rest = full.strip_prefix("robot$")?;
    rest.split_once('+').map(|(p, _)| p.to_string())
}

async fn set_disabled(auth: &Auth, robot: &str, disabled: bool) -> anyhow::Result<()> {
    let result = async {
        let r = auth.robot(robot).await.map_err(err)?;
        let perms: Vec<RobotPermission> = serde_json::from_str(&r.permissions).unwrap_or_default();
        auth.update_robot(r.id, &r.description, &perms, r.expires_at, disabled)
            .await
            .map_err(err)?;
        println!(
            "{} {}",
            r.name,
            if disabled { "disabled" } else { "enabled" }
        );
        Ok(r)
    }
    .await;
    let detail = if disabled {
        "robot disabled"
    } else {
        "robot enabled"
    };
    robot_audited(AuditAction::RobotUpdate, robot, detail, result).await
}

/// Runs a `berth token` subcommand.
pub async fn token(auth: &Auth, cmd: TokenCmd) -> anyhow::Result<()> {
    match cmd {
        TokenCmd::Create {
            user,
            name,
            expires_days,
        } => {
            let result = async {
                let u = auth.user(&user).await.map_err(err)?;
                let (_, secret) = auth
                    .create_access_token(u.id, &name, days_from_now(expires_days))
                    .await
                    .map_err(err)?;
                println!("{secret}");
                eprintln!(
                    "berth: access token {name:?} of {user}: shown only once; use it as the password in `docker login`"
                );
                Ok(())
            }
            .await;
            let detail = format!(
                "access token {name:?} created{}",
                expires_days
                    .map(|d| format!(", expires in {d} days"))
                    .unwrap_or_default()
            );
            audited(
                AuditAction::AccessTokenCreate,
                account(&user, detail),
                result,
            )
            .await
        }
        TokenCmd::List { user } => {
            let u = auth.user(&user).await.map_err(err)?;
            for t in auth.meta().access_tokens_of(u.id).await? {
                println!(
                    "{}\t{}\t{}",
                    t.id,
                    t.name,
                    if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    }
                );
            }
            Ok(())
        }
        TokenCmd::Revoke { user, name } => {
            let result = async {
                let u = auth.user(&user).await.map_err(err)?;
                auth.revoke_access_token(u.id, &name).await.map_err(err)?;
                println!("revoked {name}");
                Ok(())
            }
            .await;
            let detail = format!("access token {name:?} revoked");
            audited(
                AuditAction::AccessTokenRevoke,
                account(&user, detail),
                result,
            )
            .await
        }
    }
}
