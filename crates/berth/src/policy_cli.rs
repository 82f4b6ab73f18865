//! `berth retention`, `berth immutable`, `berth tag-rule`: project policies,
//! managed directly on the data directory (like `berth fsck`; safe while
//! `berth serve` runs, which picks up rule changes within 10 s).
//!
//! Every change (not `show`/`list`) is an audit entry in the same data
//! directory, recorded as in [`crate::admin::audit_cli`]; a change declined at
//! the confirmation prompt is a `failure` entry.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use berth_registry::policy::immutability::ImmutableRule;
use berth_registry::{AuditAction, AuditConfig, AuditLog, Registry, RetentionPolicy};

use crate::admin::{audit_cli, CliTarget};
use crate::config::Location;
use clap::Subcommand;

/// `berth retention …`.
#[derive(Subcommand)]
pub enum RetentionCmd {
    /// Set (replace) a project's retention policy from a JSON file (Harbor's
    /// retention policy shape; see docs/policies.md).
    Set {
        /// The project (first component of repository names).
        #[arg(long)]
        project: String,
        /// The policy JSON file (`-` for standard input).
        #[arg(long)]
        file: PathBuf,
    },
    /// Print a project's retention policy as JSON.
    Show {
        /// The project.
        #[arg(long)]
        project: String,
    },
    /// Evaluate a project's retention policy now and delete what no rule keeps,
    /// printing what is kept (and by which rule) and what is deleted (and why).
    /// Blobs are left for garbage collection.
    Run {
        /// The project.
        #[arg(long)]
        project: String,
        /// Only report; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation before deleting.
        #[arg(long)]
        yes: bool,
    },
    /// Remove a project's retention policy.
    Delete {
        /// The project.
        #[arg(long)]
        project: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// `berth immutable …`.
#[derive(Subcommand)]
pub enum ImmutableCmd {
    /// Protect tags matching a pattern: they can be neither moved to another
    /// digest nor deleted, nor their manifests deleted.
    Add {
        /// The project.
        #[arg(long)]
        project: String,
        /// Tag pattern (doublestar glob, e.g. `v*`, `{release,stable}-*`).
        #[arg(long)]
        tag: String,
        /// Repository pattern relative to the project [default: `**`, all].
        #[arg(long, default_value = "**")]
        repo: String,
    },
    /// List a project's immutable tag rules (id, then the rule as JSON).
    List {
        /// The project.
        #[arg(long)]
        project: String,
    },
    /// Remove rule ID of a project.
    Remove {
        /// The project.
        #[arg(long)]
        project: String,
        /// The rule's id (from `list`).
        #[arg(long)]
        id: i64,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// `berth tag-rule …`.
#[derive(Subcommand)]
pub enum TagRuleCmd {
    /// Require every pushed tag of the project to match REGEX (whole tag).
    Set {
        /// The project.
        #[arg(long)]
        project: String,
        /// Regular expression, e.g. `v?\d+\.\d+\.\d+`.
        #[arg(long)]
        pattern: String,
    },
    /// Print the project's tag naming rule.
    Show {
        /// The project.
        #[arg(long)]
        project: String,
    },
    /// Remove the project's tag naming rule (any tag is accepted again).
    Clear {
        /// The project.
        #[arg(long)]
        project: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// Said after every rule change: a running server caches a project's rules
/// for up to 10 s (docs/policies.md), so the change is not instant there.
const APPLIES: &str = " (a running server applies it within 10 s)";

async fn open(at: &Location) -> anyhow::Result<Registry> {
    at.open_registry().await
}

/// Refuses a project that does not exist (neither stored nor holding a
/// repository, as [`Registry::project_exists`] and the management API see
/// it): a policy for it would be stored and never apply (docs/policies.md).
/// Errors: "project NAME does not exist".
async fn require_project(registry: &Registry, project: &str) -> anyhow::Result<()> {
    match registry.project_exists(project).await? {
        true => Ok(()),
        false => anyhow::bail!(
            "project {project} does not exist (create it with `berth project create {project}`)"
        ),
    }
}

impl RetentionCmd {
    fn project(&self) -> &str {
        match self {
            Self::Set { project, .. }
            | Self::Show { project, .. }
            | Self::Run { project, .. }
            | Self::Delete { project, .. } => project,
        }
    }
}

impl ImmutableCmd {
    fn project(&self) -> &str {
        match self {
            Self::Add { project, .. }
            | Self::List { project, .. }
            | Self::Remove { project, .. } => project,
        }
    }
}

impl TagRuleCmd {
    fn project(&self) -> &str {
        match self {
            Self::Set { project, .. }
            | Self::Show { project, .. }
            | Self::Clear { project, .. } => project,
        }
    }
}

/// Asks `question` on the terminal; false unless the answer is y/yes. Refuses
/// (false) when standard input is not a terminal.
fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("{question}: refusing without a terminal to confirm; pass --yes");
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Records a change of `project`'s policies: `result` is the detail of what
/// was done, or `None` when the operator declined at the prompt (a failure
/// entry with `what`, the command still succeeds).
async fn audited(
    audit: &AuditLog,
    action: AuditAction,
    project: &str,
    reference: Option<&str>,
    what: &str,
    result: anyhow::Result<Option<String>>,
) -> anyhow::Result<()> {
    let (detail, result) = match result {
        Ok(Some(done)) => (done, Ok(())),
        Ok(None) => {
            let declined = Err(anyhow::anyhow!("declined at the confirmation prompt"));
            let target = CliTarget {
                project: Some(project),
                reference,
                detail: what.to_string(),
                digest: None,
            };
            let _ = audit_cli::<()>(audit, action, target, declined).await;
            return Ok(());
        }
        Err(e) => (what.to_string(), Err(e)),
    };
    let target = CliTarget {
        project: Some(project),
        reference,
        detail,
        digest: None,
    };
    audit_cli(audit, action, target, result).await
}

/// Runs `berth retention …`.
pub async fn retention(at: &Location, cmd: RetentionCmd) -> anyhow::Result<()> {
    let registry = open(at).await?;
    if let Err(e) = require_project(&registry, cmd.project()).await {
        registry.close().await;
        return Err(e);
    }
    let audit = AuditLog::start(&registry, &AuditConfig::default());
    let result = async {
        match cmd {
            RetentionCmd::Set { project, file } => {
                let result = async {
                    let text = if file.as_os_str() == "-" {
                        std::io::read_to_string(std::io::stdin())?
                    } else {
                        std::fs::read_to_string(&file)
                            .with_context(|| format!("reading {}", file.display()))?
                    };
                    let policy: RetentionPolicy = serde_json::from_str(&text)
                        .with_context(|| format!("{} is not a retention policy", file.display()))?;
                    registry.retention_policy_set(&project, &policy).await?;
                    let what = format!(
                        "{} rules{}",
                        policy.rules.len(),
                        policy
                            .schedule_expr()
                            .map(|c| format!(", scheduled at {c:?} (UTC)"))
                            .unwrap_or_default()
                    );
                    println!("retention policy of project {project} set: {what}{APPLIES}");
                    Ok(Some(format!("retention policy set: {what}")))
                }
                .await;
                audited(
                    &audit,
                    AuditAction::RetentionChange,
                    &project,
                    None,
                    "retention policy set",
                    result,
                )
                .await?;
            }
            RetentionCmd::Show { project } => match registry.retention_policy(&project).await? {
                Some(p) => println!("{}", serde_json::to_string_pretty(&p)?),
                None => anyhow::bail!("project {project} has no retention policy"),
            },
            RetentionCmd::Delete { project, yes } => {
                let result = async {
                    if !yes
                        && !confirm(&format!("remove the retention policy of project {project}"))?
                    {
                        println!("nothing removed");
                        return Ok(None);
                    }
                    registry.retention_policy_delete(&project).await?;
                    println!("retention policy of project {project} removed{APPLIES}");
                    Ok(Some("retention policy removed".to_string()))
                }
                .await;
                audited(
                    &audit,
                    AuditAction::RetentionChange,
                    &project,
                    None,
                    "retention policy removed",
                    result,
                )
                .await?;
            }
            RetentionCmd::Run {
                project,
                dry_run,
                yes,
            } => {
                let run = if dry_run { "dry run" } else { "run" };
                let result = async {
                    let now = berth_meta::store::now_ms();
                    if !dry_run && !yes {
                        let preview = registry.retention_run(&project, now, true, "cli").await?;
                        println!("{preview}");
                        let n = preview.deleted().count();
                        if n == 0 {
                            return Ok(Some(format!(
                                "run: {} kept, 0 deleted, 0 errors",
                                preview.kept().count()
                            )));
                        }
                        if !confirm(&format!("delete these {n} tags and manifests"))? {
                            println!("nothing deleted");
                            return Ok(None);
                        }
                    }
                    let spinner =
                        crate::progress::spinner(&format!("retention {run} of {project}"));
                    let report = registry.retention_run(&project, now, dry_run, "cli").await;
                    spinner.finish_and_clear();
                    let report = report?;
                    println!("{report}");
                    if report.errors() > 0 {
                        anyhow::bail!("{} items could not be deleted", report.errors());
                    }
                    Ok(Some(format!(
                        "{run}: {} kept, {} deleted, {} errors",
                        report.kept().count(),
                        report.deleted().count(),
                        report.errors()
                    )))
                }
                .await;
                audited(
                    &audit,
                    AuditAction::RetentionRun,
                    &project,
                    None,
                    run,
                    result,
                )
                .await?;
            }
        }
        Ok(())
    }
    .await;
    audit.shutdown().await;
    registry.close().await;
    result
}

/// Runs `berth immutable …`.
pub async fn immutable(at: &Location, cmd: ImmutableCmd) -> anyhow::Result<()> {
    let registry = open(at).await?;
    if let Err(e) = require_project(&registry, cmd.project()).await {
        registry.close().await;
        return Err(e);
    }
    let audit = AuditLog::start(&registry, &AuditConfig::default());
    let result = async {
        match cmd {
            ImmutableCmd::Add { project, tag, repo } => {
                let rule = ImmutableRule::new(&tag, &repo);
                let result = registry.immutable_rule_add(&project, rule.clone()).await;
                let id = result.as_ref().ok().map(|id| id.to_string());
                let result = result.map_err(anyhow::Error::from).map(|id| {
                    println!(
                        "immutable rule {id} of project {project}: {}{APPLIES}",
                        rule.describe()
                    );
                    Some(format!("immutable rule added: {}", rule.describe()))
                });
                audited(
                    &audit,
                    AuditAction::ImmutableRuleChange,
                    &project,
                    id.as_deref(),
                    "immutable rule added",
                    result,
                )
                .await?;
            }
            ImmutableCmd::List { project } => {
                for rule in registry.immutable_rules(&project).await? {
                    println!(
                        "{}\t{}{}\t{}",
                        rule.id.unwrap_or_default(),
                        rule.describe(),
                        if rule.disabled { " (disabled)" } else { "" },
                        serde_json::to_string(&rule)?
                    );
                }
            }
            ImmutableCmd::Remove { project, id, yes } => {
                let result = async {
                    if !yes
                        && !confirm(&format!("remove immutable rule {id} of project {project}"))?
                    {
                        println!("nothing removed");
                        return Ok(None);
                    }
                    registry.immutable_rule_delete(&project, id).await?;
                    println!("immutable rule {id} of project {project} removed{APPLIES}");
                    Ok(Some("immutable rule removed".to_string()))
                }
                .await;
                let id = id.to_string();
                audited(
                    &audit,
                    AuditAction::ImmutableRuleChange,
                    &project,
                    Some(&id),
                    "immutable rule removed",
                    result,
                )
                .await?;
            }
        }
        Ok(())
    }
    .await;
    audit.shutdown().await;
    registry.close().await;
    result
}

/// Runs `berth tag-rule …`.
pub async fn tag_rule(at: &Location, cmd: TagRuleCmd) -> anyhow::Result<()> {
    let registry = open(at).await?;
    if let Err(e) = require_project(&registry, cmd.project()).await {
        registry.close().await;
        return Err(e);
    }
    let audit = AuditLog::start(&registry, &AuditConfig::default());
    let result = async {
        match cmd {
            TagRuleCmd::Set { project, pattern } => {
                let result = registry
                    .tag_naming_rule_set(&project, Some(&pattern))
                    .await
                    .map_err(anyhow::Error::from)
                    .map(|()| {
                        println!("tags pushed to project {project} must match {pattern}{APPLIES}");
                        Some(format!("tag naming rule set: {pattern}"))
                    });
                let what = format!("tag naming rule set: {pattern}");
                audited(
                    &audit,
                    AuditAction::TagRuleChange,
                    &project,
                    None,
                    &what,
                    result,
                )
                .await?;
            }
            TagRuleCmd::Show { project } => match registry.tag_naming_rule(&project).await? {
                Some(p) => println!("{p}"),
                None => println!("project {project} has no tag naming rule"),
            },
            TagRuleCmd::Clear { project, yes } => {
                let result = async {
                    if !yes
                        && !confirm(&format!("remove the tag naming rule of project {project}"))?
                    {
                        println!("nothing removed");
                        return Ok(None);
                    }
                    registry.tag_naming_rule_set(&project, None).await?;
                    println!("project {project} has no tag naming rule{APPLIES}");
                    Ok(Some("tag naming rule cleared".to_string()))
                }
                .await;
                audited(
                    &audit,
                    AuditAction::TagRuleChange,
                    &project,
                    None,
                    "tag naming rule cleared",
                    result,
                )
                .await?;
            }
        }
        Ok(())
    }
    .await;
    audit.shutdown().await;
    registry.close().await;
    result
}
