//! `berth audit verify` and `berth audit export`: read-only over `meta.db`, safe
//! while `serve` runs (docs/audit.md).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use berth_registry::audit::{self, AuditFilter, AuditLog, ChainCheck};

async fn open(data_dir: &Path) -> anyhow::Result<AuditLog> {
    if !data_dir.join("meta.db").exists() {
        anyhow::bail!("{} holds no berth data (no meta.db)", data_dir.display());
    }
    AuditLog::open_read_only(data_dir)
        .await
        .with_context(|| format!("opening the audit trail in {}", data_dir.display()))
}

/// Walks the chain: exit 0 and the entry count and head hash when intact; exit 1
/// and `entry <seq> <why>` for the first broken entry.
pub async fn verify(data_dir: &Path) -> anyhow::Result<ExitCode> {
    let log = open(data_dir).await?;
    let check = log.verify().await.context("reading the audit trail")?;
    Ok(match check {
        ChainCheck::Intact { entries, head_hash } => {
            println!("audit trail intact: {entries} entries, head hash {head_hash}");
            ExitCode::SUCCESS
        }
        ChainCheck::Broken(b) => {
            println!("audit trail broken: {b}");
            ExitCode::from(1)
        }
    })
}

/// Writes the entries between `since` and `until` (inclusive) as JSON lines,
/// oldest first, to `output` or stdout.
pub async fn export(
    data_dir: &Path,
    since: Option<&str>,
    until: Option<&str>,
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let time = |s: Option<&str>, flag: &str| -> anyhow::Result<Option<i64>> {
        s.map(|v| {
            audit::parse_time(v).with_context(|| {
                format!("{flag} {v:?}: use RFC 3339 UTC (2026-12-01T03:00:00Z), a date (2026-12-01) or Unix milliseconds")
            })
        })
        .transpose()
    };
    let filter = AuditFilter {
        from_ms: time(since, "--since")?,
        to_ms: time(until, "--until")?,
        ..Default::default()
    };
    let log = open(data_dir).await?;
    let mut out: Box<dyn Write> = match output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut after = 0;
    let mut n = 0u64;
    loop {
        let rows = log
            .entries_after(&filter, after, 1000)
            .await
            .context("reading the audit trail")?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for r in &rows {
            writeln!(out, "{}", audit::record_json(r)).context("writing the export")?;
            n += 1;
        }
    }
    out.flush().context("writing the export")?;
    if let Some(p) = output {
        eprintln!("exported {n} entries to {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}
