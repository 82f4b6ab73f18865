//! `berth vuln-db import|status`: the offline vulnerability database
//! (docs/supply-chain.md "Vulnerabilities"), loaded from OSV files on the
//! data directory's database; images whose packages a new or changed
//! record names are matched again at once.

use berth_registry::{AuditAction, Registry};
use clap::Subcommand;

use crate::admin::{audited, CliTarget};

/// `berth vuln-db` subcommands.
#[derive(Debug, Subcommand)]
pub enum VulnDbCmd {
    /// Load or update the database from OSV files: a record (.json), an
    /// export (.zip, e.g. OSV's <ecosystem>/all.zip) or a directory of them.
    /// Records already stored with the same `modified` are skipped.
    Import {
        /// File or directory.
        path: std::path::PathBuf,
    },
    /// Show how many records the database holds and its imports.
    Status,
}

/// Runs a `berth vuln-db` subcommand.
pub async fn vuln_db(registry: &Registry, cmd: VulnDbCmd) -> anyhow::Result<()> {
    match cmd {
        VulnDbCmd::Import { path } => {
            let result = registry
                .vuln_db_import(&path)
                .await
                .map_err(anyhow::Error::from);
            if let Ok(o) = &result {
                println!(
                    "imported {}: {} records read, {} new or changed; {} images matched again (database version {})",
                    path.display(),
                    o.import.records,
                    o.import.changed,
                    o.import.rematched,
                    o.import.id
                );
                for s in &o.skipped {
                    println!("  skipped {s}");
                }
            }
            let detail = match &result {
                Ok(o) => format!(
                    "{}: {} records, {} changed, {} images matched again",
                    path.display(),
                    o.import.records,
                    o.import.changed,
                    o.import.rematched
                ),
                Err(_) => path.display().to_string(),
            };
            audited(
                AuditAction::VulnDbImport,
                CliTarget {
                    detail,
                    ..CliTarget::default()
                },
                result,
            )
            .await
            .map(|_| ())
        }
        VulnDbCmd::Status => {
            let (imports, records) = registry.vuln_db_status().await?;
            println!("{records} records");
            println!("VERSION\tIMPORTED\tRECORDS\tCHANGED\tREMATCHED\tSOURCE");
            for i in imports {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    i.id,
                    chrono::DateTime::from_timestamp_millis(i.imported_at)
                        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                        .unwrap_or_default(),
                    i.records,
                    i.changed,
                    i.rematched,
                    i.source
                );
            }
            Ok(())
        }
    }
}
