//! SBOMs (docs/supply-chain.md "SBOMs"): what is installed in an image,
//! read from its layers as they stream ([`layers`]), written as an SPDX 2.3
//! ([`spdx`]) and a CycloneDX 1.5 ([`cyclonedx`]) JSON document and
//! attached to the image as OCI 1.1 referrers, the shape `oras attach`
//! gives them (an image manifest with `artifactType` set to the document's
//! media type, the empty config, the document as its one layer, the image
//! as `subject`), so `oras discover` and the referrers API list them.
//!
//! Images pushed to a project with `auto_sbom_generation` on (the default)
//! are queued with the push, in its transaction ([`Registry::sbom_wanted`]); any node works the queue
//! ([`Registry::sbom_work`], leases in `scan_tasks`). On demand:
//! [`Registry::sbom_request`] (Harbor's `POST …/artifacts/{ref}/scan` with
//! `scan_type: sbom`). For an image index, each platform manifest gets its
//! own SBOMs.
//!
//! What is read, by ecosystem: the dpkg database ([`dpkg`]), the apk
//! database ([`apk`]), the rpm SQLite database ([`rpm`]), Python core metadata ([`python`]), npm
//! `package.json` files ([`npm`]), Go build information and Rust
//! cargo-auditable data in ELF executables ([`binary`]); the distribution
//! from os-release ([`os_release`]).

pub mod apk;
pub mod binary;
pub mod cyclonedx;
pub mod dpkg;
pub mod layers;
pub mod npm;
pub mod os_release;
pub mod package;
pub mod python;
pub mod rpm;
pub mod spdx;

use std::time::Duration;

use berth_oci::{Digest, Reference, RepositoryName};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};

pub use layers::{Inventory, LayerWalk};
pub use package::{Ecosystem, OsRelease, Package};

use crate::error::{Error, Result};
use crate::registry::Registry;

/// The generator's name in the documents.
pub const GENERATOR_NAME: &str = "berth";
/// The generator's version in the documents.
pub const GENERATOR_VERSION: &str = env!("CARGO_PKG_VERSION");
/// `name-version`, as SPDX's `creators` `Tool:` entry spells it.
pub const GENERATOR: &str = concat!("berth-", env!("CARGO_PKG_VERSION"));
/// Annotation on the SBOM referrers berth makes: the generator. Only
/// referrers carrying it are replaced when an SBOM is made again.
pub const ANNOTATION_GENERATOR: &str = "dev.berth.sbom.generator";
/// The actor SBOM pushes are recorded under (statistics, replication).
pub const SBOM_ACTOR: &str = "sbom";
/// `scan_tasks.kind` of SBOM generation.
pub const KIND: &str = "sbom";
/// How long a node holds a claimed task before another may take it over.
const LEASE: Duration = Duration::from_secs(30 * 60);
/// Claims of one task before it is given up (a layer that kills the node
/// every time must not be retried for ever).
const MAX_ATTEMPTS: i64 = 3;
/// The empty JSON object, the config of every artifact berth attaches
/// (image-spec §Guidance for an empty descriptor).
const EMPTY_CONFIG: &[u8] = b"{}";

/// An image and its inventory, as the documents describe it.
#[derive(Debug, Clone)]
pub struct Described {
    /// Repository name.
    pub repository: String,
    /// The image manifest's digest.
    pub digest: String,
    /// When the documents were made (RFC 3339, UTC).
    pub created: String,
    /// A fresh UUID: the SPDX namespace's and CycloneDX serial number's tail.
    pub serial: String,
    /// What the image holds.
    pub inventory: Inventory,
}

impl Described {
    /// The image's purl, `pkg:oci/<last name component>@<digest>?repository_url=<repository>`.
    pub fn oci_purl(&self) -> String {
        let name = self
            .repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository);
        let Ok(mut purl) = packageurl::PackageUrl::new("oci", name) else {
            return String::new();
        };
        let _ = purl.with_version(self.digest.as_str());
        let _ = purl.add_qualifier("repository_url", self.repository.as_str());
        purl.to_string()
    }
}

/// The SBOMs made for one image manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SbomReport {
    /// The image manifest described.
    pub image: String,
    /// The SPDX referrer manifest (`None`: nothing was found, nothing
    /// attached).
    pub spdx: Option<String>,
    /// The CycloneDX referrer manifest (`None` likewise).
    pub cyclonedx: Option<String>,
    /// Packages found.
    pub packages: usize,
    /// The distribution, e.g. `debian 12`.
    pub os: Option<String>,
}

impl SbomReport {
    /// One line for logs and the audit trail: `N packages; spdx D; cyclonedx D`.
    pub fn summary(&self) -> String {
        match (&self.spdx, &self.cyclonedx) {
            (Some(s), Some(c)) => format!("{} packages; spdx {s}; cyclonedx {c}", self.packages),
            _ => "no packages and no distribution found; nothing attached".to_string(),
        }
    }
}

/// The layers of an image manifest, in order: `(digest, size)`; `None`
/// when `body` is not an image manifest.
fn image_layers(body: &[u8]) -> Option<Vec<(Digest, u64)>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if v.get("manifests").is_some() {
        return None;
    }
    let layers = v.get("layers")?.as_array()?;
    Some(
        layers
            .iter()
            .filter(|l| {
                l.get("mediaType")
                    .and_then(|m| m.as_str())
                    .is_some_and(is_filesystem_layer)
            })
            .filter_map(|l| {
                Some((
                    l.get("digest")?.as_str()?.parse().ok()?,
                    l.get("size")?.as_u64()?,
                ))
            })
            .collect(),
    )
}

/// The first layer of an image manifest, whatever its media type (the
/// document of an SBOM referrer).
fn first_layer(body: &[u8]) -> Option<Digest> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("layers")?
        .as_array()?
        .first()?
        .get("digest")?
        .as_str()?
        .parse()
        .ok()
}

/// A layer that is a filesystem changeset berth can read (tar, plain, gzip
/// or zstd), not a foreign or non-distributable one.
fn is_filesystem_layer(media_type: &str) -> bool {
    !media_type.contains("foreign") && !media_type.contains("nondistributable") && {
        let m = media_type;
        m.starts_with("application/vnd.oci.image.layer.v1.tar")
            || m.starts_with("application/vnd.docker.image.rootfs.diff.tar")
    }
}

/// The child manifests of an image index, by digest; `None` when `body` is
/// not an index.
pub(crate) fn index_children(body: &[u8]) -> Option<Vec<Digest>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    Some(
        v.get("manifests")?
            .as_array()?
            .iter()
            .filter_map(|m| m.get("digest")?.as_str()?.parse().ok())
            .collect(),
    )
}

impl Registry {
    /// Whether a manifest being pushed gets an SBOM (queued in the same
    /// transaction, see [`berth_meta::NewManifest::scan`]): an image (not an
    /// index, whose platform manifests were pushed on their own, nor an
    /// accessory) pushed to a project that makes SBOMs automatically, by
    /// someone other than berth or replication.
    pub(crate) async fn sbom_wanted(
        &self,
        repo: &RepositoryName,
        media_type: &str,
        body: &[u8],
        actor: &str,
    ) -> bool {
        if actor == SBOM_ACTOR
            || actor == crate::replication::REPLICATION_ACTOR
            || media_type == berth_oci::media_type::OCI_INDEX
            || media_type == berth_oci::media_type::DOCKER_MANIFEST_LIST
        {
            return false;
        }
        // The cached setting first: a project without SBOMs never parses
        // the manifest again.
        match self.project_rules(repo.project()).await {
            Ok(rules) => rules.auto_sbom && !crate::signing::cosign::is_accessory(body),
            Err(e) => {
                tracing::warn!(repository = %repo, error = %e, "could not read the project's SBOM setting; no SBOM queued");
                false
            }
        }
    }

    /// The image manifests `digest` of `repo` stands for: its platform
    /// manifests for an index, itself for an image.
    ///
    /// Errors: [`Error::ManifestUnknown`], [`Error::NameUnknown`];
    /// [`Error::Unsupported`] for an accessory.
    pub(crate) async fn sbom_images(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Vec<Digest>> {
        let m = self.manifest_read(repo, digest).await?;
        let body = m.body.unwrap_or_default();
        match index_children(&body) {
            Some(children) => Ok(children),
            None if crate::signing::cosign::is_accessory(&body) => Err(Error::Unsupported(format!(
                "{digest} is an accessory (a signature, an SBOM or another artifact no runtime runs), not an image: it has no filesystem to scan"
            ))),
            None => Ok(vec![digest.clone()]),
        }
    }

    /// Queues SBOM generation for `digest` of `repo` (each platform
    /// manifest of an index), made again when it was made before. Returns
    /// the image manifests queued.
    ///
    /// Errors: [`Error::ManifestUnknown`], [`Error::NameUnknown`];
    /// [`Error::Unsupported`] for an accessory (a signature, an SBOM).
    pub async fn sbom_request(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Vec<Digest>> {
        let images = self.sbom_images(repo, digest).await?;
        for image in &images {
            self.meta
                .scan_request(repo.as_str(), image.as_str(), KIND)
                .await?;
        }
        self.scan_wakeup.notify_one();
        Ok(images)
    }

    /// Whether images pushed to `project` get an SBOM.
    ///
    /// Errors: [`Error::Meta`].
    pub async fn auto_sbom(&self, project: &str) -> Result<bool> {
        Ok(self.project_rules(project).await?.auto_sbom)
    }

    /// Waits until this node queues an SBOM task (other nodes' requests are
    /// seen by polling).
    pub async fn sbom_requested(&self) {
        self.scan_wakeup.notified().await;
    }

    /// Works the SBOM queue until it is empty: claims each task (any node
    /// may), makes the SBOMs and records the outcome. Returns the tasks
    /// that ran, with their outcome.
    pub async fn sbom_work(&self) -> Vec<(berth_meta::ScanTaskRow, Result<SbomReport>)> {
        let mut done = Vec::new();
        loop {
            let task = match self.meta.scan_claim(KIND, LEASE.as_millis() as i64).await {
                Ok(Some(t)) => t,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim an SBOM task");
                    break;
                }
            };
            let outcome = if task.attempts > MAX_ATTEMPTS {
                Err(Error::Unsupported(format!(
                    "given up after {MAX_ATTEMPTS} attempts that did not finish"
                )))
            } else {
                match (
                    RepositoryName::parse(&task.repository),
                    task.digest.parse::<Digest>(),
                ) {
                    (Ok(repo), Ok(digest)) => {
                        *self.sbom_running.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some((task.repository.clone(), task.digest.clone()));
                        let made = self.sbom_generate(&repo, &digest).await;
                        *self.sbom_running.lock().unwrap_or_else(|p| p.into_inner()) = None;
                        made
                    }
                    _ => Err(Error::Unsupported("not a repository and digest".into())),
                }
            };
            let finished = match &outcome {
                Ok(report) => {
                    let text = serde_json::to_string(report).ok();
                    self.meta
                        .scan_finish(
                            &task.repository,
                            &task.digest,
                            KIND,
                            "success",
                            "",
                            text.as_deref(),
                        )
                        .await
                }
                Err(e) => {
                    // The scan an image gets at push cannot be made: Harbor's
                    // SCANNING_FAILED.
                    let mut event = crate::webhook::Event::on_repository(
                        crate::webhook::EventType::ScanningFailed,
                        &task.repository,
                        crate::vuln::SCANNER,
                    );
                    event.digest = Some(task.digest.clone());
                    event.extra = Some(serde_json::json!({ crate::vuln::REPORT_MIME: {
                        "scan_status": "Error",
                        "complete_percent": 0,
                        "scanner": crate::vuln::scanner_json(),
                        "detail": e.to_string(),
                    }}));
                    self.webhook_notify(event);
                    self.meta
                        .scan_finish(
                            &task.repository,
                            &task.digest,
                            KIND,
                            "error",
                            &e.to_string(),
                            None,
                        )
                        .await
                }
            };
            if let Err(e) = finished {
                tracing::warn!(error = %e, "could not record an SBOM task's outcome");
            }
            done.push((task, outcome));
        }
        done
    }

    /// The SBOM referrers of `subject` in `repo` (SPDX and CycloneDX, made
    /// by berth or pushed by clients).
    ///
    /// Errors: [`Error::Meta`].
    pub async fn sboms_of(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
    ) -> Result<Vec<crate::listing::Referrer>> {
        let mut out = self
            .referrers(repo, subject, Some(spdx::MEDIA_TYPE))
            .await?;
        out.extend(
            self.referrers(repo, subject, Some(cyclonedx::MEDIA_TYPE))
                .await?,
        );
        Ok(out)
    }

    /// Records the outcome of an SBOM made outside the queue (`berth sbom
    /// generate`), as the worker records its own.
    ///
    /// Errors: [`Error::Meta`].
    pub async fn sbom_finish(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        status: &str,
        detail: &str,
        report: Option<&str>,
    ) -> Result<()> {
        Ok(self
            .meta
            .scan_finish(repo.as_str(), digest.as_str(), KIND, status, detail, report)
            .await?)
    }

    /// The document of the latest SBOM of `media_type` (SPDX or CycloneDX)
    /// attached to image `digest` of `repo`; `None` without one.
    ///
    /// Errors: [`Error::Meta`], [`Error::Storage`].
    pub async fn sbom_document(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        media_type: &str,
    ) -> Result<Option<Bytes>> {
        let mut found = self.referrers(repo, digest, Some(media_type)).await?;
        // Newest first: berth's documents carry their creation time.
        found.sort_by_key(|r| {
            std::cmp::Reverse(
                r.annotations
                    .as_deref()
                    .and_then(|a| serde_json::from_str::<Value>(a).ok())
                    .and_then(|a| {
                        a.get("org.opencontainers.image.created")?
                            .as_str()
                            .map(str::to_string)
                    })
                    .unwrap_or_default(),
            )
        });
        let Some(referrer) = found.first() else {
            return Ok(None);
        };
        let m = self.manifest_read(repo, &referrer.digest).await?;
        let Some(layer) = first_layer(m.body.as_deref().unwrap_or_default()) else {
            return Ok(None);
        };
        Ok(Some(self.blobs.read_all(&layer).await?))
    }

    /// Puts the task this node is working on back in the queue (at
    /// shutdown: another node, or this one after a restart, takes it at
    /// once instead of after the lease).
    pub async fn sbom_release(&self) {
        let running = self
            .sbom_running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some((repository, digest)) = running {
            if let Err(e) = self.meta.scan_release(&repository, &digest, KIND).await {
                tracing::warn!(%repository, %digest, error = %e, "could not put an SBOM task back in the queue");
            }
        }
    }

    /// The SBOM task of `digest` in `repo`, if one was ever requested.
    pub async fn sbom_status(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<berth_meta::ScanTaskRow>> {
        Ok(self
            .meta
            .scan_task(repo.as_str(), digest.as_str(), KIND)
            .await?)
    }

    /// Reads the image manifest `digest` of `repo`'s layers and returns what
    /// is installed.
    ///
    /// Errors: [`Error::ManifestUnknown`]; [`Error::Unsupported`] when it
    /// is not an image manifest, a layer is not stored here (a proxy
    /// project's layer never pulled) or cannot be read as a tar.
    pub async fn sbom_inventory(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Inventory> {
        let m = self.manifest_read(repo, digest).await?;
        let layers = image_layers(m.body.as_deref().unwrap_or_default())
            .ok_or_else(|| Error::Unsupported(format!("{digest} is not an image manifest")))?;
        for (layer, _) in &layers {
            if self.blobs.size(layer).await?.is_none() {
                return Err(Error::Unsupported(format!(
                    "layer {layer} of {digest} is not stored here (a proxy project stores layers once they are pulled)"
                )));
            }
        }
        let blobs = self.blobs.clone();
        let handle = tokio::runtime::Handle::current();
        let walked = tokio::task::spawn_blocking(move || {
            let mut walk = LayerWalk::default();
            for (layer, size) in layers {
                let stream = handle
                    .block_on(blobs.read(&layer, 0..size))
                    .map_err(|e| format!("layer {layer}: {e}"))?;
                let reader = tokio_util::io::SyncIoBridge::new_with_handle(
                    tokio_util::io::StreamReader::new(stream),
                    handle.clone(),
                );
                walk.layer(reader)
                    .map_err(|e| format!("layer {layer} is not a readable tar: {e}"))?;
            }
            Ok::<_, String>(walk.finish())
        })
        .await
        .map_err(|e| Error::Unsupported(format!("reading the layers failed: {e}")))?;
        walked.map_err(Error::Unsupported)
    }

    /// Makes the SBOMs of image manifest `digest` in `repo` now, attaches
    /// them as referrers and removes those berth attached before.
    ///
    /// Errors: as [`Registry::sbom_inventory`]; a push refused (the
    /// project's quota).
    pub async fn sbom_generate(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<SbomReport> {
        let inventory = self.sbom_inventory(repo, digest).await?;
        let subject = self.manifest_read(repo, digest).await?;
        let described = Described {
            repository: repo.to_string(),
            digest: digest.to_string(),
            created: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            serial: uuid::Uuid::new_v4().to_string(),
            inventory,
        };
        let before = self.referrers(repo, digest, None).await?;
        // An image where nothing was found (a static binary, a scratch
        // image, an artifact with a tar layer) gets no documents: an empty
        // SBOM tells a client nothing, and every such artifact would grow
        // referrers nobody pushed.
        let found = !described.inventory.packages.is_empty() || described.inventory.os.is_some();
        let (spdx, cyclonedx) = if found {
            let spdx = self
                .sbom_attach(
                    repo,
                    &subject,
                    spdx::MEDIA_TYPE,
                    &spdx::document(&described),
                )
                .await?;
            let cyclonedx = self
                .sbom_attach(
                    repo,
                    &subject,
                    cyclonedx::MEDIA_TYPE,
                    &cyclonedx::document(&described),
                )
                .await?;
            (Some(spdx), Some(cyclonedx))
        } else {
            (None, None)
        };
        for old in before {
            let ours = old
                .annotations
                .as_deref()
                .is_some_and(|a| a.contains(ANNOTATION_GENERATOR));
            let sbom = matches!(
                old.artifact_type.as_deref(),
                Some(spdx::MEDIA_TYPE | cyclonedx::MEDIA_TYPE)
            );
            let new = Some(&old.digest) == spdx.as_ref() || Some(&old.digest) == cyclonedx.as_ref();
            if ours && sbom && !new {
                if let Err(e) = self
                    .manifest_delete(repo, &Reference::Digest(old.digest.clone()))
                    .await
                {
                    tracing::warn!(repository = %repo, digest = %old.digest, error = %e, "could not remove an SBOM made before");
                }
            }
        }
        tracing::info!(
            repository = %repo, %digest, packages = described.inventory.packages.len(),
            "SBOM made"
        );
        // What the vulnerability database is matched against, now and when
        // it changes (no layer is read again).
        self.meta
            .artifact_packages_set(
                repo.as_str(),
                digest.as_str(),
                &crate::vuln::package_rows(&described.inventory),
            )
            .await?;
        if let Err(e) = self.vuln_match(repo, digest).await {
            tracing::debug!(repository = %repo, %digest, error = %e, "no vulnerability report");
        }
        Ok(SbomReport {
            image: digest.to_string(),
            spdx: spdx.map(|d| d.to_string()),
            cyclonedx: cyclonedx.map(|d| d.to_string()),
            packages: described.inventory.packages.len(),
            os: described
                .inventory
                .os
                .as_ref()
                .map(|o| format!("{} {}", o.id, o.version_id)),
        })
    }

    /// Pushes `document` as a referrer of `subject`: its blob, the empty
    /// config, the manifest (by digest). Returns the manifest's digest.
    async fn sbom_attach(
        &self,
        repo: &RepositoryName,
        subject: &crate::ManifestContent,
        media_type: &str,
        document: &Value,
    ) -> Result<Digest> {
        let bytes =
            Bytes::from(serde_json::to_vec(document).map_err(|e| {
                Error::Unsupported(format!("could not write the SBOM document: {e}"))
            })?);
        let config = self
            .sbom_blob(repo, Bytes::from_static(EMPTY_CONFIG))
            .await?;
        let layer = self.sbom_blob(repo, bytes.clone()).await?;
        let file = if media_type == spdx::MEDIA_TYPE {
            "sbom.spdx.json"
        } else {
            "sbom.cdx.json"
        };
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": berth_oci::media_type::OCI_MANIFEST,
            "artifactType": media_type,
            "config": {
                "mediaType": berth_oci::media_type::OCI_EMPTY,
                "digest": config.to_string(),
                "size": EMPTY_CONFIG.len(),
                "data": "e30=",
            },
            "layers": [{
                "mediaType": media_type,
                "digest": layer.to_string(),
                "size": bytes.len(),
                "annotations": { "org.opencontainers.image.title": file },
            }],
            "subject": {
                "mediaType": subject.media_type,
                "digest": subject.digest.to_string(),
                "size": subject.size,
            },
            "annotations": {
                "org.opencontainers.image.created": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                ANNOTATION_GENERATOR: GENERATOR,
            },
        });
        let body =
            Bytes::from(serde_json::to_vec(&manifest).map_err(|e| {
                Error::Unsupported(format!("could not write the SBOM manifest: {e}"))
            })?);
        let digest = Digest::of(berth_oci::Algorithm::Sha256, &body);
        self.manifest_put_as(
            repo,
            &Reference::Digest(digest.clone()),
            Some(berth_oci::media_type::OCI_MANIFEST),
            body,
            SBOM_ACTOR,
        )
        .await?;
        Ok(digest)
    }

    /// Stores `bytes` as a blob of `repo` (a monolithic upload).
    async fn sbom_blob(&self, repo: &RepositoryName, bytes: Bytes) -> Result<Digest> {
        let digest = Digest::of(berth_oci::Algorithm::Sha256, &bytes);
        let stream = futures::stream::once(async move { Ok(bytes) }).boxed();
        self.upload_monolithic(repo, Some(digest.as_str()), stream)
            .await
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn only_filesystem_layers_are_read() {
        assert!(is_filesystem_layer(
            "application/vnd.oci.image.layer.v1.tar+gzip"
        ));
        assert!(is_filesystem_layer(
            "application/vnd.oci.image.layer.v1.tar+zstd"
        ));
        assert!(is_filesystem_layer(
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        ));
        assert!(!is_filesystem_layer(
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
        ));
        assert!(!is_filesystem_layer("application/spdx+json"));
    }
}
