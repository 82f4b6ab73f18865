//! `berth sbom generate|show`: SBOMs of images on the data directory
//! (docs/supply-chain.md "SBOMs"). `generate` makes them now, as the
//! server's SBOM worker does; `show` prints the latest one.

use berth_oci::{Digest, Reference, RepositoryName};
use berth_registry::{AuditAction, Registry};
use clap::{Subcommand, ValueEnum};

use crate::admin::{audited, CliTarget};

/// `berth sbom` subcommands.
#[derive(Debug, Subcommand)]
pub enum SbomCmd {
    /// Make the SBOMs of an image now (each platform of an index) and attach
    /// them as SPDX and CycloneDX referrers, replacing those berth made before.
    Generate {
        /// The image: NAME:TAG or NAME@DIGEST, e.g. team/app:1.
        image: String,
    },
    /// Print an image's latest SBOM document.
    Show {
        /// The image: NAME:TAG or NAME@DIGEST (a platform manifest, not an index).
        image: String,
        /// Which document.
        #[arg(long, value_enum, default_value_t = Format::Spdx)]
        format: Format,
    },
}

/// An SBOM format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// SPDX 2.3 JSON.
    Spdx,
    /// CycloneDX 1.5 JSON.
    Cyclonedx,
}

/// Splits `NAME:TAG` / `NAME@DIGEST` (a bare NAME means `:latest`).
fn image_ref(s: &str) -> anyhow::Result<(RepositoryName, Reference)> {
    let (name, reference) = match s.split_once('@') {
        Some((n, d)) => (n, d.to_string()),
        None => match s.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, t.to_string()),
            _ => (s, "latest".to_string()),
        },
    };
    let repo = RepositoryName::parse(name)
        .map_err(|e| anyhow::anyhow!("invalid repository name {name:?}: {e}"))?;
    let reference = Reference::parse(&reference)
        .map_err(|e| anyhow::anyhow!("invalid reference {reference:?}: {e}"))?;
    Ok((repo, reference))
}

/// The digest `reference` names in `repo`.
async fn resolve(
    registry: &Registry,
    repo: &RepositoryName,
    reference: &Reference,
) -> anyhow::Result<Digest> {
    Ok(registry.manifest_get(repo, reference, false).await?.digest)
}

/// Runs a `berth sbom` subcommand.
pub async fn sbom(registry: &Registry, cmd: SbomCmd) -> anyhow::Result<()> {
    match cmd {
        SbomCmd::Generate { image } => {
            let (repo, reference) = image_ref(&image)?;
            let digest = resolve(registry, &repo, &reference).await?;
            let images = registry.sbom_request(&repo, &digest).await?;
            for image in images {
                let result = registry
                    .sbom_generate(&repo, &image)
                    .await
                    .map_err(anyhow::Error::from);
                if let Ok(r) = &result {
                    println!(
                        "{repo}@{image}: {} packages{}",
                        r.packages,
                        r.os.as_deref()
                            .map(|o| format!(" on {o}"))
                            .unwrap_or_default(),
                    );
                    match (&r.spdx, &r.cyclonedx) {
                        (Some(s), Some(c)) => println!("  spdx      {s}\n  cyclonedx {c}"),
                        _ => println!("  nothing found: no SBOM attached"),
                    }
                }
                let detail = match &result {
                    Ok(r) => r.summary(),
                    Err(_) => "sbom".into(),
                };
                // What the worker would do with the queued task, done here.
                let (status, why) = match &result {
                    Ok(_) => ("success", String::new()),
                    Err(e) => ("error", format!("{e:#}")),
                };
                let report = result
                    .as_ref()
                    .ok()
                    .and_then(|r| serde_json::to_string(r).ok());
                registry
                    .sbom_finish(&repo, &image, status, &why, report.as_deref())
                    .await?;
                audited(
                    AuditAction::SbomGenerate,
                    CliTarget {
                        project: Some(repo.as_str()),
                        reference: None,
                        detail,
                        digest: Some(image.as_str()),
                    },
                    result,
                )
                .await?;
            }
            Ok(())
        }
        SbomCmd::Show { image, format } => {
            let (repo, reference) = image_ref(&image)?;
            let digest = resolve(registry, &repo, &reference).await?;
            let media_type = match format {
                Format::Spdx => berth_registry::sbom::spdx::MEDIA_TYPE,
                Format::Cyclonedx => berth_registry::sbom::cyclonedx::MEDIA_TYPE,
            };
            let document = registry
                .sbom_document(&repo, &digest, media_type)
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{repo}@{digest} has no {media_type} SBOM attached: none was made yet (berth sbom generate {repo}@{digest}), nothing was found in it (no documents are attached then), or it is not an image"
                    )
                })?;
            println!("{}", String::from_utf8_lossy(&document));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        let (r, t) = image_ref("team/app:1").unwrap();
        assert_eq!((r.as_str(), t.to_string().as_str()), ("team/app", "1"));
        let (_, t) = image_ref("team/app").unwrap();
        assert_eq!(t.to_string(), "latest");
        let d = format!("sha256:{}", "a".repeat(64));
        let (r, t) = image_ref(&format!("team/app@{d}")).unwrap();
        assert_eq!((r.as_str(), t.to_string()), ("team/app", d));
        assert!(image_ref("Team/App:1").is_err());
    }
}
