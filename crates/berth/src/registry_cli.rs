//! `berth registry add|list|remove|ping`: upstream registries, the sources of
//! proxy projects (docs/proxy.md). The same rules as `/api/v2.0/registries`.

use berth_registry::{AuditAction, NewRegistry, Registry};
use clap::Subcommand;

use crate::admin::{audited, CliTarget};

/// `berth registry` subcommands.
#[derive(Debug, Subcommand)]
pub enum RegistryCmd {
    /// Add an upstream registry. The password is read from
    /// BERTH_REGISTRY_PASSWORD, or from the first line of stdin with
    /// --password-stdin.
    Add {
        /// Unique name.
        name: String,
        /// Base URL, e.g. https://registry-1.docker.io or http://127.0.0.1:5001.
        #[arg(long)]
        url: String,
        /// docker-registry (any OCI registry), harbor (Harbor or berth) or docker-hub.
        #[arg(long = "type", default_value = "docker-registry")]
        kind: String,
        /// User name (or access key) for Basic and token requests.
        #[arg(long)]
        username: Option<String>,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
        /// Accept any TLS certificate.
        #[arg(long)]
        insecure: bool,
        /// Free text.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List upstream registries.
    List,
    /// Remove an upstream registry no project uses.
    Remove {
        /// Name or id.
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Check that a registry answers and accepts its credential.
    Ping {
        /// Name or id.
        name: String,
    },
}

fn secret(username: &Option<String>, stdin: bool) -> anyhow::Result<Option<String>> {
    if username.is_none() {
        if stdin || std::env::var_os("BERTH_REGISTRY_PASSWORD").is_some() {
            anyhow::bail!(
                "a password was given (BERTH_REGISTRY_PASSWORD or --password-stdin) without --username: give both, or neither for anonymous access"
            );
        }
        return Ok(None);
    }
    if stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        return Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()));
    }
    Ok(std::env::var("BERTH_REGISTRY_PASSWORD").ok())
}

/// Runs a `berth registry` subcommand.
pub async fn registry(registry: &Registry, cmd: RegistryCmd) -> anyhow::Result<()> {
    fn target<'a>(name: &'a str, detail: &str) -> CliTarget<'a> {
        CliTarget {
            project: None,
            reference: Some(name),
            detail: detail.to_string(),
            digest: None,
        }
    }
    match cmd {
        RegistryCmd::Add {
            name,
            url,
            kind,
            username,
            password_stdin,
            insecure,
            description,
        } => {
            let result = async {
                let new = NewRegistry {
                    access_secret: secret(&username, password_stdin)?,
                    name: name.clone(),
                    kind,
                    url: url.trim_end_matches('/').to_string(),
                    insecure,
                    description,
                    access_key: username,
                };
                let r = registry.registry_add(&new).await?;
                println!(
                    "added registry {} (id {}, {} at {})",
                    r.name, r.id, r.kind, r.url
                );
                Ok(())
            }
            .await;
            audited(
                AuditAction::RegistryCreate,
                target(&name, "registry added"),
                result,
            )
            .await
        }
        RegistryCmd::List => {
            println!("ID\tNAME\tTYPE\tURL\tCREDENTIAL\tPROXIED BY");
            for r in registry.registries().await? {
                let users = registry.meta().registry_projects(r.id).await?;
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    r.id,
                    r.name,
                    r.kind,
                    r.url,
                    r.access_key.as_deref().unwrap_or("-"),
                    if users.is_empty() {
                        "-".to_string()
                    } else {
                        users.join(",")
                    }
                );
            }
            Ok(())
        }
        RegistryCmd::Remove { name, yes } => {
            let result = async {
                let r = registry.registry(&name).await?;
                crate::admin::confirm(&format!("remove registry {}", r.name), yes)?;
                registry.registry_remove(r.id).await?;
                println!("removed registry {}", r.name);
                Ok(())
            }
            .await;
            audited(
                AuditAction::RegistryDelete,
                target(&name, "registry removed"),
                result,
            )
            .await
        }
        RegistryCmd::Ping { name } => {
            let r = registry.registry(&name).await?;
            registry.registry_ping(r.clone()).await?;
            let how = if r.access_key.is_some() {
                "accepts the credential"
            } else {
                "allows anonymous pulls"
            };
            println!("registry {} at {} answers and {how}", r.name, r.url);
            Ok(())
        }
    }
}
