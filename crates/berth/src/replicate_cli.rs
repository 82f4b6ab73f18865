//! `berth replicate add|list|run|executions|remove`: replication policies
//! (docs/replication.md), with the same rules as `/api/v2.0/replication`.

use std::sync::Arc;

use berth_registry::replication::{
    FilterSpec, PolicySpec, RegistryRef, TriggerSettings, TriggerSpec,
};
use berth_registry::{AuditAction, Registry};
use clap::Subcommand;

use crate::admin::{audited, confirm, CliTarget};

/// `berth replicate` subcommands.
// Parsed once per process: the size of `Add` costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum ReplicateCmd {
    /// Add a policy: --to REGISTRY (push-based) or --from REGISTRY (pull-based).
    Add {
        /// Unique name.
        name: String,
        /// Copy from berth to this registry (name or id).
        #[arg(long, conflicts_with = "from")]
        to: Option<String>,
        /// Copy from this registry (name or id) into berth.
        #[arg(long)]
        from: Option<String>,
        /// Repositories to copy, a glob (`**` spans `/`); repeatable.
        #[arg(long = "repository")]
        repositories: Vec<String>,
        /// Tags to copy, a glob.
        #[arg(long)]
        tag: Option<String>,
        /// Tags not to copy, a glob.
        #[arg(long)]
        exclude_tag: Option<String>,
        /// manual, event_based (on each push here) or scheduled (--cron).
        #[arg(long, default_value = "manual")]
        trigger: String,
        /// Cron with seconds for --trigger scheduled, e.g. "0 0 3 * * *".
        #[arg(long)]
        cron: Option<String>,
        /// Put destination repositories under this namespace.
        #[arg(long, default_value = "")]
        dest_namespace: String,
        /// Components --dest-namespace replaces: -1 all but the last, 0 none.
        #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
        dest_namespace_replace_count: i64,
        /// Leave destination tags that point elsewhere alone.
        #[arg(long)]
        no_override: bool,
        /// Bandwidth limit per transfer, KB/s.
        #[arg(long)]
        speed: Option<i64>,
        /// With --trigger event_based: also delete at the destination the
        /// tags and manifests deleted here.
        #[arg(long)]
        replicate_deletion: bool,
    },
    /// List policies.
    List,
    /// Run a policy now, here, and wait for its end.
    Run {
        /// Policy name or id.
        policy: String,
    },
    /// List a policy's executions (newest first) with their counts.
    Executions {
        /// Policy name or id.
        policy: String,
    },
    /// Delete a policy and its history.
    Remove {
        /// Policy name or id.
        policy: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

async fn policy_id(registry: &Registry, key: &str) -> anyhow::Result<i64> {
    let all = registry.replication_policies().await?;
    all.iter()
        .find(|(r, _)| r.name == key || r.id.to_string() == key)
        .map(|(r, _)| r.id)
        .ok_or_else(|| anyhow::anyhow!("replication policy {key} not found"))
}

fn target<'a>(name: &'a str, detail: &str) -> CliTarget<'a> {
    CliTarget {
        project: None,
        reference: Some(name),
        detail: detail.to_string(),
        digest: None,
    }
}

/// Runs a `berth replicate` subcommand.
pub async fn replicate(registry: &Arc<Registry>, cmd: ReplicateCmd) -> anyhow::Result<()> {
    match cmd {
        ReplicateCmd::Add {
            name,
            to,
            from,
            repositories,
            tag,
            exclude_tag,
            trigger,
            cron,
            dest_namespace,
            dest_namespace_replace_count,
            no_override,
            speed,
            replicate_deletion,
        } => {
            let result = async {
                if to.is_none() && from.is_none() {
                    anyhow::bail!(
                        "give --to REGISTRY (push-based: copy from berth) or --from REGISTRY (pull-based: copy into berth)"
                    );
                }
                match (trigger.as_str(), &cron) {
                    ("scheduled", None) => anyhow::bail!(
                        "--trigger scheduled needs --cron, e.g. --cron '0 0 3 * * *' (six fields, seconds first)"
                    ),
                    ("scheduled", Some(_)) | (_, None) => {}
                    (_, Some(_)) => anyhow::bail!("--cron needs --trigger scheduled"),
                }
                let side = |key: &Option<String>| {
                    let key = key.clone();
                    async move {
                        match key {
                            Some(k) => Ok::<_, anyhow::Error>(Some(RegistryRef {
                                id: registry.registry(&k).await?.id,
                            })),
                            None => Ok(None),
                        }
                    }
                };
                let mut filters: Vec<FilterSpec> = repositories
                    .iter()
                    .map(|r| FilterSpec {
                        kind: "name".into(),
                        value: r.clone(),
                        decoration: None,
                    })
                    .collect();
                if let Some(t) = tag {
                    filters.push(FilterSpec {
                        kind: "tag".into(),
                        value: t,
                        decoration: None,
                    });
                }
                if let Some(t) = exclude_tag {
                    filters.push(FilterSpec {
                        kind: "tag".into(),
                        value: t,
                        decoration: Some("excludes".into()),
                    });
                }
                let spec = PolicySpec {
                    name: name.clone(),
                    description: String::new(),
                    src_registry: side(&from).await?,
                    dest_registry: side(&to).await?,
                    dest_namespace,
                    dest_namespace_replace_count,
                    trigger: Some(TriggerSpec {
                        kind: trigger,
                        trigger_settings: cron.map(|c| TriggerSettings { cron: c }),
                    }),
                    filters,
                    replicate_deletion,
                    override_tags: !no_override,
                    enabled: true,
                    speed: speed.unwrap_or(-1),
                };
                let row = registry.replication_policy_add(&spec).await?;
                println!("added replication policy {} (id {})", row.name, row.id);
                Ok(())
            }
            .await;
            audited(
                AuditAction::ReplicationPolicyCreate,
                target(&name, "replication policy added"),
                result,
            )
            .await
        }
        ReplicateCmd::List => {
            println!("ID\tNAME\tDIRECTION\tTRIGGER\tENABLED");
            for (row, spec) in registry.replication_policies().await? {
                let direction = match (&spec.src_registry, &spec.dest_registry) {
                    (Some(s), _) if s.id > 0 => format!("pull from registry {}", s.id),
                    (_, Some(d)) => format!("push to registry {}", d.id),
                    _ => "-".into(),
                };
                println!(
                    "{}\t{}\t{direction}\t{}\t{}",
                    row.id,
                    row.name,
                    spec.trigger_type(),
                    row.enabled
                );
            }
            Ok(())
        }
        ReplicateCmd::Run { policy } => {
            let result = async {
                let id = policy_id(registry, &policy).await?;
                let e = registry.replication_run_now(id).await?;
                let tasks = registry.meta().replication_tasks(e.id).await?;
                for t in &tasks {
                    println!(
                        "{}\t{} -> {}\t{} bytes{}",
                        t.status,
                        t.src_resource,
                        t.dst_resource,
                        t.bytes,
                        if t.error.is_empty() {
                            String::new()
                        } else {
                            format!("\t{}", t.error)
                        }
                    );
                }
                println!("execution {}: {} ({})", e.id, e.status, e.status_text);
                if e.status != "Succeed" {
                    anyhow::bail!("replication execution {} ended {}", e.id, e.status);
                }
                Ok(())
            }
            .await;
            audited(
                AuditAction::ReplicationRun,
                target(&policy, "replication run from the CLI"),
                result,
            )
            .await
        }
        ReplicateCmd::Executions { policy } => {
            let id = policy_id(registry, &policy).await?;
            println!("ID\tSTATUS\tTRIGGER\tTASKS\tFAILED\tTEXT");
            for e in registry.meta().replication_executions(Some(id)).await? {
                let tasks = registry.meta().replication_tasks(e.id).await?;
                let failed = tasks.iter().filter(|t| t.status == "Failed").count();
                println!(
                    "{}\t{}\t{}\t{}\t{failed}\t{}",
                    e.id,
                    e.status,
                    e.trigger,
                    tasks.len(),
                    e.status_text
                );
            }
            Ok(())
        }
        ReplicateCmd::Remove { policy, yes } => {
            let result = async {
                let id = policy_id(registry, &policy).await?;
                confirm(
                    &format!("delete replication policy {policy} and its history"),
                    yes,
                )?;
                registry.replication_policy_remove(id).await?;
                println!("deleted replication policy {policy}");
                Ok(())
            }
            .await;
            audited(
                AuditAction::ReplicationPolicyDelete,
                target(&policy, "replication policy deleted"),
                result,
            )
            .await
        }
    }
}
