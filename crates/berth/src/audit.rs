//! `berth audit verify`, `berth audit export` (read-only over `meta.db`) and
//! `berth audit trim` (archive old entries, delete them behind a checkpoint);
//! all safe while `serve` runs (docs/audit.md).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::Location;
use berth_registry::audit::{
    self, ArchiveCheck, ArchiveStart, AuditCheckpoint, AuditFilter, AuditLog, ChainCheck, TrimError,
};

async fn open(at: &Location) -> anyhow::Result<AuditLog> {
    at.require_existing()?;
    AuditLog::open_read_only(&at.database)
        .await
        .with_context(|| format!("opening the audit trail in {at}"))
}

fn checkpoint_text(cp: &AuditCheckpoint) -> String {
    format!(
        "entries {}..{} ({}) trimmed at {}, anchor hash {}, archive sha256 {} ({})",
        cp.first_seq,
        cp.last_seq,
        cp.entries,
        audit::rfc3339(cp.at),
        cp.last_hash,
        cp.archive_sha256,
        cp.archive
    )
}

/// Walks the chain: exit 0 and the entry count and head hash (and the
/// checkpoint it starts at) when intact; exit 1 and `entry <seq> <why>` for the
/// first broken entry. Each of `archives` is then checked against the
/// checkpoints ([`audit::verify_archive`]); a broken one also exits 1.
pub async fn verify(
    at: &Location,
    archives: &[std::path::PathBuf],
    checkpoint: Option<&std::path::Path>,
    key: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let log = open(at).await?;
    let (bar, progress) = crate::progress::bar(crate::progress::Unit::Items);
    let check = log.verify_with_progress(&progress).await;
    bar.finish_and_clear();
    let check = check.context("reading the audit trail")?;
    let mut ok = match check {
        ChainCheck::Intact {
            entries,
            head_hash,
            checkpoint,
        } => {
            println!("audit trail intact: {entries} entries, head hash {head_hash}");
            match checkpoint {
                Some(cp) => println!(
                    "starts at checkpoint: {}; entries before it are proven only by their archive (berth audit verify --archive)",
                    checkpoint_text(&cp)
                ),
                None => println!("starts at genesis (never trimmed)"),
            }
            true
        }
        ChainCheck::Broken(b) => {
            println!("audit trail broken: {b}");
            false
        }
    };
    if !archives.is_empty() {
        let cps = log.checkpoints().await.context("reading the checkpoints")?;
        for path in archives {
            let check = audit::verify_archive(path, &cps)
                .with_context(|| format!("reading the archive {}", path.display()))?;
            match check {
                ArchiveCheck::Intact {
                    entries,
                    first_seq,
                    last_seq,
                    start,
                    checkpoint,
                    sha256,
                    sha256_matches,
                } => {
                    let from = match start {
                        ArchiveStart::Genesis => "genesis".to_string(),
                        ArchiveStart::Checkpoint(c) => {
                            format!("the checkpoint through entry {}", c.last_seq)
                        }
                    };
                    println!(
                        "archive {} intact: {entries} entries {first_seq}..{last_seq}, linked from {from} to the anchor of the checkpoint through entry {}; sha256 {sha256} {}",
                        path.display(),
                        checkpoint.last_seq,
                        if sha256_matches {
                            "as recorded"
                        } else {
                            "differs from the recorded one (the file was rewritten; its entries check out)"
                        }
                    );
                }
                ArchiveCheck::Broken(why) => {
                    println!("archive {} broken: {why}", path.display());
                    ok = false;
                }
            }
        }
    }
    if let Some(path) = checkpoint {
        match verify_checkpoint(&log, path, key).await? {
            CheckpointVerdict::Holds => {}
            CheckpointVerdict::Fails => ok = false,
            CheckpointVerdict::Unknown => return Ok(ExitCode::from(2)),
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `--before`: a time ([`audit::parse_time`]) or an age in days (`90d`).
fn cutoff(before: &str) -> anyhow::Result<i64> {
    let b = before.trim();
    if let Some(days) = b.strip_suffix(['d', 'D']) {
        if !days.is_empty() && days.bytes().all(|c| c.is_ascii_digit()) {
            let days: i64 = days.parse().context("--before: too many days")?;
            let now = chrono::Utc::now().timestamp_millis();
            return Ok(now.saturating_sub(days.saturating_mul(86_400_000)));
        }
    }
    audit::parse_time(b).with_context(|| {
        format!("--before {before:?}: use RFC 3339 UTC (2026-12-01T03:00:00Z), a date (2026-12-01), Unix milliseconds or an age (90d)")
    })
}

/// Archives the entries before `before` to `archive` and trims them behind a
/// checkpoint (only with `yes`; otherwise prints the plan). Exit 0 when done or
/// nothing to do, 1 when the trail is broken (nothing trimmed).
pub async fn trim(
    at: &Location,
    before: &str,
    archive: &Path,
    yes: bool,
) -> anyhow::Result<ExitCode> {
    let before_ms = cutoff(before)?;
    at.require_existing()?;
    if archive.exists() {
        anyhow::bail!(
            "the archive {} exists already: choose a new file (archives are kept, never overwritten)",
            archive.display()
        );
    }
    let log = AuditLog::open_for_maintenance(&at.database)
        .await
        .with_context(|| format!("opening the audit trail in {at}"))?;
    let Some(plan) = log
        .plan_trim(before_ms)
        .await
        .context("reading the audit trail")?
    else {
        println!(
            "nothing to trim: no entry before {}",
            audit::rfc3339(before_ms)
        );
        return Ok(ExitCode::SUCCESS);
    };
    if !yes {
        println!(
            "would archive entries {}..{} ({} entries, before {}) to {} and delete them behind a checkpoint; run again with --yes",
            plan.first_seq,
            plan.last_seq,
            plan.entries(),
            audit::rfc3339(before_ms),
            archive.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let origin = "berth audit trim";
    match log.trim(&plan, archive, origin, false).await {
        Ok(r) => {
            println!(
                "trimmed: {}; recorded as entry {}",
                checkpoint_text(&r.checkpoint),
                r.note_seq
            );
            println!(
                "keep the archive, and the anchor hash {} somewhere this host cannot write",
                r.checkpoint.last_hash
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(TrimError::Broken(b)) => {
            println!("audit trail broken: {b}; nothing trimmed");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(anyhow::Error::new(e).context("trimming the audit trail")),
    }
}

/// Writes the entries between `since` and `until` (inclusive) as JSON lines,
/// oldest first, to `output` or stdout.
pub async fn export(
    at: &Location,
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
    let log = open(at).await?;
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
            match writeln!(out, "{}", audit::record_json(r)) {
                Ok(()) => n += 1,
                // `berth audit export | head`: the reader has all it wants.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    return Ok(ExitCode::SUCCESS)
                }
                Err(e) => return Err(e).context("writing the export"),
            }
        }
    }
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        other => other.context("writing the export")?,
    }
    if let Some(p) = output {
        eprintln!("exported {n} entries to {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

enum CheckpointVerdict {
    Holds,
    Fails,
    Unknown,
}

/// `--checkpoint FILE [--key PEM]`: the checkpoint's signature, then whether
/// the trail extends it; prints one line saying which.
async fn verify_checkpoint(
    log: &berth_registry::AuditLog,
    path: &std::path::Path,
    key: Option<&std::path::Path>,
) -> anyhow::Result<CheckpointVerdict> {
    use berth_registry::audit_checkpoint::{CheckpointCheck, SignedCheckpoint};
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the checkpoint {}", path.display()))?;
    let cp: SignedCheckpoint = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a signed checkpoint", path.display()))?;
    let pinned = match key {
        Some(k) => Some(
            std::fs::read_to_string(k)
                .with_context(|| format!("reading the key {}", k.display()))?,
        ),
        None => None,
    };
    if let Err(why) = cp.check_signature(pinned.as_deref()) {
        println!("checkpoint {} refused: {why}", path.display());
        return Ok(CheckpointVerdict::Fails);
    }
    let check = log
        .checkpoint_check(&cp)
        .await
        .context("checking the trail against the checkpoint")?;
    Ok(match check {
        CheckpointCheck::Extends { head } => {
            println!(
                "checkpoint holds: entry {} has hash {} as signed by key {}; the trail extends it to entry {head}",
                cp.seq, cp.hash, cp.key_id
            );
            CheckpointVerdict::Holds
        }
        CheckpointCheck::Diverges(why) => {
            println!("checkpoint broken: {why}");
            CheckpointVerdict::Fails
        }
        CheckpointCheck::Trimmed(why) => {
            println!("checkpoint not checked: {why}");
            CheckpointVerdict::Unknown
        }
    })
}
