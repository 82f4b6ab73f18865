//! `berth trust add|list|remove`: the public keys a project trusts to sign
//! its artifacts, and `berth trust require`: the signature pull gate
//! (docs/supply-chain.md). The same rules as `/api/v2.0/projects/{p}/trusted-keys`.

use berth_registry::signing::{SignatureStatus, SignatureVerdict};
use berth_registry::{AuditAction, ProjectSwitch, Registry};

use clap::Subcommand;

use crate::admin::{audited, CliTarget};

/// `berth trust` subcommands.
#[derive(Debug, Subcommand)]
pub enum TrustCmd {
    /// Trust a public key (PEM, e.g. cosign.pub) for a project's signatures;
    /// the project's signatures are verified again.
    Add {
        /// Project name.
        #[arg(long)]
        project: String,
        /// A name for the key (letters, digits, '.', '_', '-').
        #[arg(long)]
        name: String,
        /// The PEM public key file (ECDSA P-256, Ed25519 or RSA: cosign), or
        /// a PEM CA certificate (the notation trust store).
        #[arg(long)]
        key: std::path::PathBuf,
        /// With a certificate: a trusted identity of the trust policy, e.g.
        /// "x509.subject: C=US, O=Acme, CN=ci" (repeatable; none: any).
        #[arg(long = "identity")]
        identities: Vec<String>,
    },
    /// List a project's trusted keys.
    List {
        /// Project name.
        #[arg(long)]
        project: String,
    },
    /// Stop trusting a key; the project's signatures are verified again.
    Remove {
        /// Project name.
        #[arg(long)]
        project: String,
        /// Key name.
        #[arg(long)]
        name: String,
    },
    /// Turn the signature pull gate on or off: with it on, only artifacts
    /// with a signature verified by a trusted key can be pulled.
    Require {
        /// Project name.
        #[arg(long)]
        project: String,
        /// true or false.
        #[arg(long, action = clap::ArgAction::Set)]
        signature: bool,
        /// true: every platform manifest of an index needs its own
        /// signature; false: an index's signature covers them (the default).
        #[arg(long, action = clap::ArgAction::Set)]
        each_child: Option<bool>,
    },
}

/// Prints how many signatures got each verdict, lists those not verified,
/// and records every verdict in the audit trail.
async fn report(verdicts: &[SignatureVerdict]) {
    let mut counts = std::collections::BTreeMap::new();
    for v in verdicts {
        *counts.entry(v.status.as_str()).or_insert(0) += 1;
    }
    if !counts.is_empty() {
        let line: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        println!("  verdicts: {}", line.join(", "));
    }
    for v in verdicts
        .iter()
        .filter(|v| v.status != SignatureStatus::Verified)
        .take(20)
    {
        println!(
            "  {} signs {}@{}: {} ({})",
            v.signature,
            v.repository,
            v.subject,
            v.status.as_str(),
            v.detail
        );
    }
    crate::admin::audited_verdicts(verdicts).await;
}

/// Records a key change's `result` (its detail on success) as
/// `trusted_key_change` of key `name` in `project`; `fallback` is the
/// detail of a failure.
async fn audited_key_change(
    project: &str,
    name: &str,
    fallback: &str,
    result: anyhow::Result<String>,
) -> anyhow::Result<()> {
    let detail = result
        .as_ref()
        .ok()
        .cloned()
        .unwrap_or_else(|| fallback.into());
    audited(
        AuditAction::TrustedKeyChange,
        CliTarget {
            project: Some(project),
            reference: Some(name),
            detail,
            digest: None,
        },
        result,
    )
    .await
    .map(|_| ())
}

/// Runs a `berth trust` subcommand.
pub async fn trust(registry: &Registry, cmd: TrustCmd) -> anyhow::Result<()> {
    match cmd {
        TrustCmd::Add {
            project,
            name,
            key,
            identities,
        } => {
            let result = async {
                let pem = std::fs::read_to_string(&key)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", key.display()))?;
                let (row, verdicts) = registry
                    .trusted_key_add(&project, &name, &pem, &identities)
                    .await?;
                println!(
                    "project {project} trusts key {} ({}, sha256 {}); {} signature(s) verified again",
                    row.name,
                    row.algorithm,
                    row.fingerprint,
                    verdicts.len()
                );
                report(&verdicts).await;
                Ok(format!("trusted key added: {} {}", row.algorithm, row.fingerprint))
            }
            .await;
            audited_key_change(&project, &name, "trusted key add", result).await
        }
        TrustCmd::List { project } => {
            if !registry.project_exists(&project).await? {
                anyhow::bail!("project {project} not found");
            }
            println!("NAME\tALGORITHM\tSHA256");
            for k in registry.trusted_keys(&project).await? {
                println!("{}\t{}\t{}", k.name, k.algorithm, k.fingerprint);
            }
            Ok(())
        }
        TrustCmd::Remove { project, name } => {
            let result = async {
                let (row, verdicts) = registry.trusted_key_remove(&project, &name).await?;
                println!(
                    "project {project} no longer trusts key {name}; {} signature(s) verified again",
                    verdicts.len()
                );
                report(&verdicts).await;
                Ok(format!(
                    "trusted key removed: {} {}",
                    row.algorithm, row.fingerprint
                ))
            }
            .await;
            audited_key_change(&project, &name, "trusted key remove", result).await
        }
        TrustCmd::Require {
            project,
            signature,
            each_child,
        } => {
            let result = async {
                registry
                    .project_switch_set(&project, ProjectSwitch::RequireSignature, signature)
                    .await?;
                if let Some(on) = each_child {
                    registry
                        .project_switch_set(&project, ProjectSwitch::SignatureEachChild, on)
                        .await?;
                }
                println!(
                    "project {project}: pulls {} a verified signature{}",
                    if signature { "need" } else { "do not need" },
                    match each_child {
                        Some(true) => "; each platform manifest needs its own",
                        Some(false) => "; an index's signature covers its platform manifests",
                        None => "",
                    }
                );
                Ok(())
            }
            .await;
            audited(
                AuditAction::ProjectUpdate,
                CliTarget {
                    project: Some(&project),
                    reference: None,
                    detail: match each_child {
                        Some(on) => format!(
                            "enable_content_trust_cosign={signature} signature_each_child={on}"
                        ),
                        None => format!("enable_content_trust_cosign={signature}"),
                    },
                    digest: None,
                },
                result,
            )
            .await
        }
    }
}
