//! The registry's inventory as the management API (Harbor `/api/v2.0`) presents
//! it: projects, repositories and artifacts with their tags, sizes, push and pull
//! times, the platforms of an index and the image attributes of its config; and
//! the management operations on them (delete a repository or an artifact, add
//! or remove a tag). Writes go through the same core operations as the
//! distribution API, so the manifest cache and any push policy see them.
//!
//! A repository's project is the first component of its name (`library` for
//! one-component names; see `RepositoryName::project`). A project exists when it
//! is stored (the `projects` table) or holds a repository, and `library` always
//! does; the projects listing shows both kinds, stored ones with their record.

use std::collections::BTreeMap;

use berth_meta::{
    ArtifactFilter, ArtifactRow, ProjectRecord, RepositoryFilter, RepositoryRow, TagRow, TextMatch,
};
use berth_oci::{ChildKind, Digest, Reference, RepositoryName, Tag, DEFAULT_PROJECT};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::registry::Registry;

/// One page of a listing and the number of entries matching in all pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<T> {
    /// The entries of the page.
    pub items: Vec<T>,
    /// Entries matching the filter, all pages together.
    pub total: u64,
}

/// The platform of an index entry (image-spec §Image Index `platform`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Platform {
    /// `os`, e.g. `linux`.
    pub os: String,
    /// `architecture`, e.g. `arm64`.
    pub architecture: String,
    /// `variant`, e.g. `v8`.
    pub variant: Option<String>,
    /// `os.version`.
    pub os_version: Option<String>,
}

/// A child manifest of an index, as listed in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactChild {
    /// The child's artifact id (its manifests row), when it is in the repository.
    pub child_id: Option<i64>,
    /// Its digest.
    pub digest: Digest,
    /// Its platform, when the index names one.
    pub platform: Option<Platform>,
    /// The index entry's annotations.
    pub annotations: BTreeMap<String, String>,
    /// The index entry's `urls`.
    pub urls: Vec<String>,
}

/// An artifact (a manifest of a repository) with everything the management API shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactInfo {
    /// The stored row: id, digest, media types, push and pull times.
    pub row: ArtifactRow,
    /// Full repository name.
    pub repository_name: String,
    /// Tags on it, by name (empty when not asked for).
    pub tags: Vec<TagRow>,
    /// Bytes it occupies: the manifest, its config and layers; for an index, the
    /// index plus each child manifest with its config and layers.
    pub size: u64,
    /// Children of an index, in index order.
    pub references: Vec<ArtifactChild>,
    /// For an image: `architecture`, `os`, `variant`, `os.version`, `created`,
    /// `author` and `config` from its config blob.
    pub extra_attrs: Option<Value>,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
}

/// What [`Registry::tag_create`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagCreated {
    /// The tag now points at the artifact.
    Created,
    /// The tag already exists (on this or another artifact) and was left alone.
    AlreadyExists(Digest),
}

/// A project as the management API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectInfo {
    /// Project name.
    pub name: String,
    /// The stored project, when there is one (id, visibility, owner, times).
    pub record: Option<ProjectRecord>,
    /// Login name of the owner, when the stored project has one.
    pub owner_name: Option<String>,
    /// Repositories in the project.
    pub repo_count: u64,
}

/// Result of a component check: `Err` holds what is wrong.
pub type Check = std::result::Result<(), String>;

/// The health of the stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    /// The metadata database answers a query.
    pub database: Check,
    /// The blob store's root is a writable directory.
    pub storage: Check,
}

/// Config blobs larger than this are not read for `extra_attrs`.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

const IMAGE_CONFIG_TYPES: [&str; 2] = [
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

fn is_index_type(media_type: &str) -> bool {
    media_type == berth_oci::media_type::OCI_INDEX
        || media_type == berth_oci::media_type::DOCKER_MANIFEST_LIST
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

impl Registry {
    /// True when the project is stored or has at least one repository; `library`
    /// always exists.
    pub async fn project_exists(&self, project: &str) -> Result<bool> {
        if project == DEFAULT_PROJECT || self.meta.project_by_name(project).await?.is_some() {
            return Ok(true);
        }
        let filter = RepositoryFilter {
            project: Some(project.to_string()),
            name: None,
        };
        Ok(self.meta.repository_rows(&filter, 0, 0).await?.1 > 0)
    }

    /// The stored project's id, if it is stored.
    pub async fn project_id(&self, project: &str) -> Result<Option<i64>> {
        Ok(self.meta.project_by_name(project).await?.map(|p| p.id))
    }

    /// Every project name: `library`, stored ones and those that have a
    /// repository, by name.
    pub async fn projects(&self) -> Result<Vec<String>> {
        let mut names = self.meta.repository_projects().await?;
        names.push(DEFAULT_PROJECT.to_string());
        names.extend(self.meta.projects_all().await?.into_iter().map(|p| p.name));
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// One project with its record, owner and repository count; `None` when it
    /// does not exist (see [`Registry::project_exists`]).
    pub async fn project_info(&self, project: &str) -> Result<Option<ProjectInfo>> {
        if !self.project_exists(project).await? {
            return Ok(None);
        }
        let record = self.meta.project_by_name(project).await?;
        let owner_name = match record.as_ref().and_then(|r| r.owner_id) {
            Some(id) => self.meta.user_by_id(id).await?.map(|u| u.username),
            None => None,
        };
        let filter = RepositoryFilter {
            project: Some(project.to_string()),
            name: None,
        };
        let (_, repo_count) = self.meta.repository_rows(&filter, 0, 0).await?;
        Ok(Some(ProjectInfo {
            name: project.to_string(),
            record,
            owner_name,
            repo_count,
        }))
    }

    /// Repositories matching `filter`, by name, `limit` after skipping `offset`.
    pub async fn repositories(
        &self,
        filter: &RepositoryFilter,
        offset: u64,
        limit: u64,
    ) -> Result<Listing<RepositoryRow>> {
        let (items, total) = self.meta.repository_rows(filter, offset, limit).await?;
        Ok(Listing { items, total })
    }

    /// The repository `relative` of `project`, as Harbor addresses it
    /// (`/projects/team/repositories/app` is `team/app`). In `library`, a
    /// one-component name also finds the repository pushed without a project
    /// (`busybox` for `library/busybox`), preferring `library/<name>` if both exist.
    ///
    /// Errors: [`Error::NameInvalid`], [`Error::NameUnknown`].
    pub async fn resolve_repository(&self, project: &str, relative: &str) -> Result<RepositoryRow> {
        let full = RepositoryName::parse(&format!("{project}/{relative}"))?;
        if let Some(row) = self.meta.repository_row(full.as_str()).await? {
            return Ok(row);
        }
        if project == DEFAULT_PROJECT && !relative.contains('/') {
            let bare = RepositoryName::parse(relative)?;
            if let Some(row) = self.meta.repository_row(bare.as_str()).await? {
                return Ok(row);
            }
        }
        Err(Error::NameUnknown(full.to_string()))
    }

    /// Deletes a repository: its manifests, tags and blob links. Blobs stay for
    /// garbage collection.
    ///
    /// Errors: [`Error::NameUnknown`].
    pub async fn repository_delete(&self, repo: &RepositoryName) -> Result<()> {
        let (tags, digests) = self
            .meta
            .delete_repository(repo.as_str())
            .await?
            .ok_or_else(|| Error::NameUnknown(repo.to_string()))?;
        for tag in tags {
            self.forget(repo.as_str(), &tag).await;
        }
        for d in digests {
            self.forget(repo.as_str(), d.as_str()).await;
        }
        Ok(())
    }

    /// Artifacts of `repo` matching `filter`, newest push first, `limit` after
    /// skipping `offset`; with their tags when `with_tags`.
    pub async fn artifacts(
        &self,
        repo: &RepositoryRow,
        filter: &ArtifactFilter,
        offset: u64,
        limit: u64,
        with_tags: bool,
    ) -> Result<Listing<ArtifactInfo>> {
        let (rows, total) = self
            .meta
            .artifact_rows(repo.id, filter, offset, limit)
            .await?;
        let mut tags = if with_tags {
            let digests: Vec<Digest> = rows.iter().map(|r| r.digest.clone()).collect();
            self.meta.tags_of(repo.id, &digests).await?
        } else {
            vec![]
        };
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let (mine, rest): (Vec<_>, Vec<_>) =
                tags.into_iter().partition(|t| t.digest == row.digest);
            tags = rest;
            items.push(self.artifact_info(&repo.name, row, mine).await?);
        }
        Ok(Listing { items, total })
    }

    /// The artifact `reference` (digest or tag) of `repo`, with its tags.
    ///
    /// Errors: [`Error::ManifestUnknown`].
    pub async fn artifact(
        &self,
        repo: &RepositoryRow,
        reference: &Reference,
    ) -> Result<ArtifactInfo> {
        let digest = self.artifact_digest(&repo.name, reference).await?;
        let row = self
            .meta
            .artifact_row(repo.id, &digest)
            .await?
            .ok_or_else(|| Error::ManifestUnknown(reference.to_string()))?;
        let tags = self
            .meta
            .tags_of(repo.id, std::slice::from_ref(&digest))
            .await?;
        self.artifact_info(&repo.name, row, tags).await
    }

    async fn artifact_digest(&self, repo: &str, reference: &Reference) -> Result<Digest> {
        match reference {
            Reference::Digest(d) => Ok(d.clone()),
            Reference::Tag(t) => Ok(self
                .meta
                .manifest_by_tag(repo, t.as_str())
                .await?
                .ok_or_else(|| Error::ManifestUnknown(reference.to_string()))?
                .digest),
        }
    }

    /// Deletes the artifact `reference` names (by tag: the artifact the tag is on,
    /// as Harbor does) with every tag on it. Returns its digest.
    ///
    /// Errors: [`Error::ManifestUnknown`].
    pub async fn artifact_delete(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<Digest> {
        let digest = self.artifact_digest(repo.as_str(), reference).await?;
        self.manifest_delete(repo, &Reference::Digest(digest.clone()))
            .await?;
        Ok(digest)
    }

    /// Puts `tag` on the artifact `reference` names (Harbor's "add tag", used to
    /// retag or roll back), by pushing the artifact's manifest again under the
    /// tag, so the push path's checks and cache invalidation apply. An existing
    /// tag is left alone: [`TagCreated::AlreadyExists`].
    ///
    /// Errors: [`Error::ManifestUnknown`], or what a manifest push may refuse
    /// (e.g. [`Error::PolicyDenied`]).
    pub async fn tag_create(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        tag: &Tag,
    ) -> Result<TagCreated> {
        if let Some(existing) = self
            .meta
            .manifest_by_tag(repo.as_str(), tag.as_str())
            .await?
        {
            return Ok(TagCreated::AlreadyExists(existing.digest));
        }
        let digest = self.artifact_digest(repo.as_str(), reference).await?;
        if digest.algorithm() != berth_oci::Algorithm::Sha256 {
            // A tag push stores the bytes under their sha256 digest, which would
            // record a second manifest rather than tag this one.
            return Err(Error::Unsupported(format!(
                "cannot tag {digest}: only sha256 manifests can be tagged here"
            )));
        }
        let content = self
            .manifest_get(repo, &Reference::Digest(digest.clone()), true)
            .await?;
        let body = content
            .body
            .ok_or_else(|| Error::ManifestUnknown(digest.to_string()))?;
        self.manifest_put(
            repo,
            &Reference::Tag(tag.clone()),
            Some(&content.media_type),
            body,
        )
        .await?;
        Ok(TagCreated::Created)
    }

    /// Removes `tag` from the artifact `reference` names; the artifact stays.
    ///
    /// Errors: [`Error::ManifestUnknown`] when the artifact is unknown or the tag
    /// is not on it.
    pub async fn tag_delete(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        tag: &Tag,
    ) -> Result<()> {
        let digest = self.artifact_digest(repo.as_str(), reference).await?;
        match self
            .meta
            .manifest_by_tag(repo.as_str(), tag.as_str())
            .await?
        {
            Some(m) if m.digest == digest => {
                self.manifest_delete(repo, &Reference::Tag(tag.clone()))
                    .await
            }
            _ => Err(Error::ManifestUnknown(format!("tag {tag} on {digest}"))),
        }
    }

    /// Projects and repositories whose name contains `q` (at most the page limit
    /// of each).
    pub async fn search(&self, q: &str) -> Result<(Vec<String>, Vec<RepositoryRow>)> {
        let projects = self
            .projects()
            .await?
            .into_iter()
            .filter(|p| p.contains(q))
            .take(self.limits.max_page as usize)
            .collect();
        let filter = RepositoryFilter {
            project: None,
            name: Some(TextMatch::Contains(q.to_string())),
        };
        let (repos, _) = self
            .meta
            .repository_rows(&filter, 0, u64::from(self.limits.max_page))
            .await?;
        Ok((projects, repos))
    }

    /// Checks the metadata database (a query) and the blob store: its root,
    /// `blobs/` and `uploads/` are directories that are not read-only.
    pub async fn health(&self) -> HealthReport {
        let database = self.meta.ping().await.map_err(|e| e.to_string());
        if self.blobs.is_object_store() {
            let storage = self.blobs.check_writable().await.map_err(|e| e.to_string());
            return HealthReport { database, storage };
        }
        let mut storage = Ok(());
        let root = self.blobs.root();
        for dir in [root.to_path_buf(), root.join("blobs"), root.join("uploads")] {
            let check = match tokio::fs::metadata(&dir).await {
                Ok(m) if !m.is_dir() => Err(format!("{} is not a directory", dir.display())),
                Ok(m) if m.permissions().readonly() => {
                    Err(format!("{} is read-only", dir.display()))
                }
                Ok(_) => Ok(()),
                Err(e) => Err(format!("{}: {e}", dir.display())),
            };
            if check.is_err() {
                storage = check;
                break;
            }
        }
        HealthReport { database, storage }
    }

    async fn artifact_info(
        &self,
        repo: &str,
        row: ArtifactRow,
        tags: Vec<TagRow>,
    ) -> Result<ArtifactInfo> {
        let children = self
            .meta
            .manifest_children(row.repository_id, &row.digest)
            .await?;
        let blob_bytes = |c: &[(ChildKind, Digest, Option<u64>)]| -> u64 {
            c.iter()
                .filter(|(k, _, _)| *k != ChildKind::Manifest)
                .filter_map(|(_, _, s)| *s)
                .sum()
        };
        let mut size = row.size + blob_bytes(&children);
        let mut references = Vec::new();
        let mut extra_attrs = None;
        let annotations = row
            .annotations
            .as_deref()
            .and_then(|a| serde_json::from_str::<Value>(a).ok())
            .map(|v| string_map(Some(&v)))
            .unwrap_or_default();
        if is_index_type(&row.media_type) {
            for (kind, child, _) in &children {
                if *kind != ChildKind::Manifest {
                    continue;
                }
                if let Some(c) = self.meta.artifact_row(row.repository_id, child).await? {
                    let grand = self
                        .meta
                        .manifest_children(row.repository_id, child)
                        .await?;
                    size += c.size + blob_bytes(&grand);
                }
            }
            references = self.index_entries(row.repository_id, &row.digest).await?;
        } else if let Some((_, config, Some(config_size))) =
            children.iter().find(|(k, _, _)| *k == ChildKind::Config)
        {
            let is_image = row
                .artifact_type
                .as_deref()
                .is_some_and(|t| IMAGE_CONFIG_TYPES.contains(&t));
            if is_image && *config_size <= MAX_CONFIG_BYTES {
                extra_attrs = self.image_attributes(config).await;
            }
        }
        Ok(ArtifactInfo {
            row,
            repository_name: repo.to_string(),
            tags,
            size,
            references,
            extra_attrs,
            annotations,
        })
    }

    /// The `manifests` of a stored index with their platforms.
    async fn index_entries(&self, repo_id: i64, digest: &Digest) -> Result<Vec<ArtifactChild>> {
        let bytes = match self.blobs.read_all(digest).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(%digest, error = %e, "index bytes unreadable; listing it without references");
                return Ok(vec![]);
            }
        };
        let doc: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let mut out = Vec::new();
        for entry in doc
            .get("manifests")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(child) = text(entry, "digest").and_then(|d| d.parse::<Digest>().ok()) else {
                continue;
            };
            let child_id = self.meta.artifact_row(repo_id, &child).await?.map(|r| r.id);
            let platform = entry.get("platform").map(|p| Platform {
                os: text(p, "os").unwrap_or_default(),
                architecture: text(p, "architecture").unwrap_or_default(),
                variant: text(p, "variant"),
                os_version: text(p, "os.version"),
            });
            out.push(ArtifactChild {
                child_id,
                digest: child,
                platform,
                annotations: string_map(entry.get("annotations")),
                urls: entry
                    .get("urls")
                    .and_then(Value::as_array)
                    .map(|u| {
                        u.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// Harbor's `extra_attrs` of an image, from its config blob.
    async fn image_attributes(&self, config: &Digest) -> Option<Value> {
        let bytes = match self.blobs.read_all(config).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(%config, error = %e, "config blob unreadable; no extra_attrs");
                return None;
            }
        };
        let doc: Value = serde_json::from_slice(&bytes).ok()?;
        let mut attrs = serde_json::Map::new();
        for key in [
            "architecture",
            "os",
            "variant",
            "os.version",
            "created",
            "author",
            "config",
        ] {
            if let Some(v) = doc.get(key) {
                attrs.insert(key.to_string(), v.clone());
            }
        }
        Some(Value::Object(attrs))
    }
}

/// One line of an image's build history (its config's `history`, OCI
/// image-spec §Properties `history`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HistoryLine {
    /// When the step ran (RFC 3339), as recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command of the step.
    pub created_by: String,
    /// A comment, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// True when the step made no layer (`ENV`, `CMD`, …).
    pub empty_layer: bool,
}

/// One layer of an image manifest with the history line that made it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageLayer {
    /// Its digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its size, bytes.
    pub size: u64,
    /// The step that made it: the n-th history line that is not an
    /// `empty_layer` goes with the n-th layer (image-spec §history).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// What an image manifest and its config say of how it was built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageBuild {
    /// The manifest's layers, in order.
    pub layers: Vec<ImageLayer>,
    /// The config's history, in order (empty for an index or an artifact
    /// without an image config).
    pub history: Vec<HistoryLine>,
}

impl Registry {
    /// The layers of the stored image manifest `digest` and its config's
    /// build history. An index has neither; a config over 1 MiB or not JSON
    /// gives no history.
    ///
    /// Errors: [`Error::Storage`] when the manifest cannot be read.
    pub async fn image_build(&self, digest: &Digest) -> Result<ImageBuild> {
        let bytes = self.blobs.read_all(digest).await?;
        let doc: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let mut build = ImageBuild::default();
        if let Some(config) = doc
            .get("config")
            .and_then(|c| text(c, "digest"))
            .and_then(|d| d.parse::<Digest>().ok())
        {
            let small = doc
                .get("config")
                .and_then(|c| c.get("size"))
                .and_then(Value::as_u64)
                .is_some_and(|s| s <= MAX_CONFIG_BYTES);
            if small {
                if let Ok(config) = self.blobs.read_all(&config).await {
                    let config: Value = serde_json::from_slice(&config).unwrap_or(Value::Null);
                    build.history = config
                        .get("history")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|h| HistoryLine {
                            created: text(h, "created"),
                            created_by: text(h, "created_by").unwrap_or_default(),
                            comment: text(h, "comment").unwrap_or_default(),
                            empty_layer: h
                                .get("empty_layer")
                                .and_then(Value::as_bool)
                                .unwrap_or(false),
                        })
                        .collect();
                }
            }
        }
        let mut steps = build.history.iter().filter(|h| !h.empty_layer);
        build.layers = doc
            .get("layers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|l| ImageLayer {
                digest: text(l, "digest").unwrap_or_default(),
                media_type: text(l, "mediaType").unwrap_or_default(),
                size: l.get("size").and_then(Value::as_u64).unwrap_or(0),
                created_by: steps.next().map(|h| h.created_by.clone()),
            })
            .collect();
        Ok(build)
    }
}
