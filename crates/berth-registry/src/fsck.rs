//! `berth fsck`: verifies that every recorded blob is present with the right bytes
//! and that every manifest's references resolve to stored bytes.

use std::collections::HashSet;
use std::fmt;

use berth_oci::{ChildKind, Digest};
use berth_storage::StorageError;
use futures::StreamExt;

use crate::error::Result;
use crate::gc::GcStep;
use crate::registry::Registry;

/// One inconsistency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsckProblem {
    /// A blob row whose bytes are missing from storage.
    MissingBlob(Digest),
    /// A blob whose bytes do not hash to its digest, or whose size differs from the record.
    CorruptBlob {
        /// The digest it is stored under.
        digest: Digest,
        /// What the bytes hash to (or a size note).
        found: String,
    },
    /// A manifest that references bytes the registry does not have intact.
    DanglingReference {
        /// Repository.
        repository: String,
        /// The manifest.
        manifest: Digest,
        /// The missing or corrupt child.
        child: Digest,
        /// Config, layer or manifest.
        kind: ChildKind,
    },
}

impl fmt::Display for FsckProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsckProblem::MissingBlob(d) => {
                write!(f, "blob {d}: recorded but its bytes are missing")
            }
            FsckProblem::CorruptBlob { digest, found } => {
                write!(f, "blob {digest}: corrupt ({found})")
            }
            FsckProblem::DanglingReference {
                repository,
                manifest,
                child,
                kind,
            } => write!(
                f,
                "{repository}@{manifest}: {} {child} is missing or corrupt",
                kind.as_str()
            ),
        }
    }
}

/// What fsck found.
#[derive(Debug, Clone, Default)]
pub struct FsckReport {
    /// Blob records verified.
    pub blobs_checked: u64,
    /// Bytes re-hashed.
    pub bytes_checked: u64,
    /// Manifests whose references were checked.
    pub manifests_checked: u64,
    /// Blob files with no record (left by a crash between install and record, or by
    /// deletes; garbage collection removes them). Not a problem.
    pub unrecorded_blobs: u64,
    /// Inconsistencies.
    pub problems: Vec<FsckProblem>,
    /// Blobs removed by `--repair` (corrupt or missing ones are forgotten so clients
    /// push them again).
    pub repaired: u64,
}

impl FsckReport {
    /// True when nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Registry {
    /// Checks every blob record against storage (re-hashing the bytes) and every
    /// manifest reference. With `repair`, corrupt or missing blobs are deleted and
    /// their records forgotten, so the next push uploads them again; manifests are
    /// never changed.
    pub async fn fsck(&self, repair: bool) -> Result<FsckReport> {
        self.fsck_with_progress(repair, &|_| {}).await
    }

    /// [`Registry::fsck`], telling `progress` how far it is: one phase,
    /// `blobs`, with the bytes to re-hash as its total, advanced by each
    /// blob's recorded size (for a progress bar, as [`GcStep`] does for GC).
    pub async fn fsck_with_progress(
        &self,
        repair: bool,
        progress: &(dyn Fn(GcStep) + Send + Sync),
    ) -> Result<FsckReport> {
        let mut report = FsckReport::default();
        let mut good = HashSet::new();
        let recorded = self.meta.all_blobs().await?;
        let recorded_set: HashSet<Digest> = recorded.iter().map(|b| b.digest.clone()).collect();
        progress(GcStep::Phase {
            name: "blobs",
            total: recorded.iter().map(|b| b.size).sum(),
        });
        for blob in &recorded {
            progress(GcStep::Advance(blob.size));
            report.blobs_checked += 1;
            let problem = match self.blobs.size(&blob.digest).await? {
                None => Some(FsckProblem::MissingBlob(blob.digest.clone())),
                Some(size) if size != blob.size => Some(FsckProblem::CorruptBlob {
                    digest: blob.digest.clone(),
                    found: format!("{size} bytes stored, {} recorded", blob.size),
                }),
                Some(size) => {
                    report.bytes_checked += size;
                    match self.blobs.rehash(&blob.digest).await {
                        Ok(d) if d == blob.digest => None,
                        Ok(d) => Some(FsckProblem::CorruptBlob {
                            digest: blob.digest.clone(),
                            found: format!("bytes hash to {d}"),
                        }),
                        Err(StorageError::NotFound) => {
                            Some(FsckProblem::MissingBlob(blob.digest.clone()))
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            match problem {
                None => {
                    good.insert(blob.digest.clone());
                }
                Some(p) => {
                    if repair {
                        self.blobs.delete(&blob.digest).await?;
                        self.meta.forget_blob(&blob.digest).await?;
                        report.repaired += 1;
                    }
                    report.problems.push(p);
                }
            }
        }
        report.manifests_checked = self.meta.all_manifests().await?.len() as u64;
        // A proxy project's manifests name children fetched only when first
        // pulled: one never fetched (no record) is expected there.
        let proxies: HashSet<String> = self
            .meta
            .projects_all()
            .await?
            .into_iter()
            .filter(|p| p.registry_id.is_some())
            .map(|p| p.name)
            .collect();
        for (repository, manifest, kind, child) in self.meta.all_manifest_refs().await? {
            let project = repository.split_once('/').map_or("library", |(p, _)| p);
            if proxies.contains(project) && !recorded_set.contains(&child) {
                continue;
            }
            if !good.contains(&child) {
                report.problems.push(FsckProblem::DanglingReference {
                    repository,
                    manifest,
                    child,
                    kind,
                });
            }
        }
        let mut listing = self.blobs.list();
        while let Some(item) = listing.next().await {
            match item {
                Ok((d, _)) if !recorded_set.contains(&d) => report.unrecorded_blobs += 1,
                Ok(_) => {}
                Err(e) => tracing::warn!("fsck: {e}"),
            }
        }
        Ok(report)
    }
}
