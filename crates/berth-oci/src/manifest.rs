//! Manifest parsing and validation for `PUT /v2/<name>/manifests/<reference>`
//! (OCI distribution-spec §Pushing Manifests; image-spec §Image Manifest and
//! §Image Index; Docker Image Manifest V2 Schema 2).
//!
//! berth stores a manifest byte-exact; this module only decides whether it is
//! acceptable and extracts what the registry indexes: the media type, the
//! artifact type, the `subject`, the annotations, and the descriptors that must
//! already exist in the repository ([`ChildRef`]).
//!
//! Descriptors are parsed with `oci-spec`'s [`Descriptor`]. The top-level object
//! is read leniently the way Distribution reads it (a manifest without `layers` is
//! an image with no layers), because artifact tools in the wild produce such
//! manifests and the spec's validation is about the descriptors.

use std::collections::BTreeMap;

use oci_spec::image::Descriptor;
use serde::Deserialize;

use crate::digest::Digest;
use crate::media_type::{self, essence};

/// What a descriptor in a manifest points at, for the repository's reference graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChildKind {
    /// `config` of an image manifest.
    Config,
    /// An entry of `layers`.
    Layer,
    /// An entry of `manifests` of an index / manifest list.
    Manifest,
}

impl ChildKind {
    /// Stable name used in storage: `config`, `layer`, `manifest`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChildKind::Config => "config",
            ChildKind::Layer => "layer",
            ChildKind::Manifest => "manifest",
        }
    }

    /// Inverse of [`as_str`](ChildKind::as_str).
    pub fn parse(s: &str) -> Option<ChildKind> {
        match s {
            "config" => Some(ChildKind::Config),
            "layer" => Some(ChildKind::Layer),
            "manifest" => Some(ChildKind::Manifest),
            _ => None,
        }
    }
}

/// A descriptor the repository must already hold for the manifest to be accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChildRef {
    /// Digest of the blob or child manifest.
    pub digest: Digest,
    /// What kind of reference it is.
    pub kind: ChildKind,
    /// Size the descriptor declares, in bytes.
    pub size: u64,
}

/// A validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The effective media type (one of [`media_type::MANIFEST_TYPES`]).
    pub media_type: String,
    /// `artifactType`, or for an image manifest without one, `config.mediaType`
    /// (distribution-spec §Listing Referrers). `None` for an index without one.
    pub artifact_type: Option<String>,
    /// The `subject` descriptor's digest, if any.
    pub subject: Option<Digest>,
    /// Annotations, as a JSON object text (kept for the referrers listing).
    pub annotations: Option<BTreeMap<String, String>>,
    /// Required children, deduplicated, non-distributable layers excluded.
    pub children: Vec<ChildRef>,
}

/// Why a manifest is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON, not an object of the expected shape, or a malformed descriptor.
    #[error("manifest invalid: {0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> ManifestError {
    ManifestError::Invalid(msg.into())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

impl Manifest {
    /// Parses and validates `body`, sent with the `Content-Type` header `content_type`.
    ///
    /// Rules (distribution-spec §Pushing Manifests, image-spec):
    /// - the body is a JSON object with `schemaVersion: 2`;
    /// - the media type is the body's `mediaType`, else the `Content-Type`, else
    ///   inferred (`manifests` → OCI index, `config` → OCI manifest); when both the
    ///   body and the header name one, they must agree. A generic header
    ///   (`application/json`, `application/octet-stream`, …) names none, as in
    ///   Distribution, which sniffs the body for such uploads;
    /// - it is one of [`media_type::MANIFEST_TYPES`] (schema 1 is refused);
    /// - an image manifest has a `config`, an index has `manifests`, and every
    ///   descriptor has a media type, a sha256/sha512 digest and a size.
    ///
    /// Errors: [`ManifestError::Invalid`] with a message naming the rule broken.
    pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
        let env: Envelope = serde_json::from_slice(body)
            .map_err(|e| invalid(format!("not a valid manifest document: {e}")))?;
        if env.schema_version != Some(2) {
            return Err(invalid("schemaVersion must be 2"));
        }
        let header = content_type
            .map(essence)
            .filter(|s| !s.is_empty() && !media_type::is_generic(s));
        if let (Some(h), Some(b)) = (header, env.media_type.as_deref()) {
            if h != b {
                return Err(invalid(format!(
                    "Content-Type {h:?} does not match the manifest's mediaType {b:?}"
                )));
            }
        }
        let media_type = match (env.media_type.as_deref(), header) {
            (Some(b), _) => b.to_string(),
            (None, Some(h)) => h.to_string(),
            (None, None) if env.manifests.is_some() => media_type::OCI_INDEX.to_string(),
            (None, None) => media_type::OCI_MANIFEST.to_string(),
        };
        let is_index = match media_type.as_str() {
            media_type::OCI_MANIFEST | media_type::DOCKER_MANIFEST => false,
            media_type::OCI_INDEX | media_type::DOCKER_MANIFEST_LIST => true,
            media_type::DOCKER_SCHEMA1 | media_type::DOCKER_SCHEMA1_SIGNED => {
                return Err(invalid(
                    "Docker schema 1 manifests are not supported; push schema 2 or OCI",
                ))
            }
            other => {
                return Err(invalid(format!(
                    "unsupported manifest media type {other:?}"
                )))
            }
        };

        let mut children = Vec::new();
        let artifact_type = if is_index {
            if env.config.is_some() || env.layers.is_some() {
                return Err(invalid("an image index has no config or layers"));
            }
            let manifests = env
                .manifests
                .ok_or_else(|| invalid("an image index needs a manifests array"))?;
            for d in &manifests {
                children.push(child(d, ChildKind::Manifest, "manifests")?);
            }
            env.artifact_type
        } else {
            if env.manifests.is_some() {
                return Err(invalid("an image manifest has no manifests array"));
            }
            let config = env
                .config
                .ok_or_else(|| invalid("an image manifest needs a config descriptor"))?;
            children.push(child(&config, ChildKind::Config, "config")?);
            for d in env.layers.iter().flatten() {
                let c = child(d, ChildKind::Layer, "layers")?;
                let mt = d.media_type().to_string();
                let foreign = media_type::is_non_distributable(&mt)
                    || d.urls().as_ref().is_some_and(|u| !u.is_empty());
                if !foreign {
                    children.push(c);
                }
            }
            env.artifact_type
                .or_else(|| Some(config.media_type().to_string()))
        };
        if let Some(t) = &artifact_type {
            if t.is_empty() {
                return Err(invalid("artifactType must not be empty"));
            }
        }
        let subject = match &env.subject {
            Some(s) => Some(descriptor_digest(s, "subject")?),
            None => None,
        };
        children.sort();
        children.dedup_by(|a, b| a.digest == b.digest && a.kind == b.kind);
        Ok(Manifest {
            media_type,
            artifact_type,
            subject,
            annotations: env.annotations,
            children,
        })
    }

    /// True for an image index or Docker manifest list.
    pub fn is_index(&self) -> bool {
        self.media_type == media_type::OCI_INDEX
            || self.media_type == media_type::DOCKER_MANIFEST_LIST
    }
}

fn descriptor_digest(d: &Descriptor, field: &str) -> Result<Digest, ManifestError> {
    Digest::parse(d.digest().as_ref()).map_err(|e| invalid(format!("{field}: {e}")))
}

fn child(d: &Descriptor, kind: ChildKind, field: &str) -> Result<ChildRef, ManifestError> {
    if d.media_type().to_string().is_empty() {
        return Err(invalid(format!("{field}: descriptor without mediaType")));
    }
    Ok(ChildRef {
        digest: descriptor_digest(d, field)?,
        kind,
        size: d.size(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media_type::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},
            "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":3}}]{extra}}}"#,
            d('a'),
            d('b')
        )
    }

    #[test]
    fn image_manifest_lists_config_and_layers_as_children() {
        let m = Manifest::parse(image("").as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(m.media_type, OCI_MANIFEST);
        assert_eq!(m.children.len(), 2);
        assert_eq!(m.children[0].kind, ChildKind::Config);
        assert_eq!(
            m.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
        assert!(m.subject.is_none());
    }

    #[test]
    fn content_type_disagreeing_with_media_type_is_invalid() {
        let err = Manifest::parse(image("").as_bytes(), Some(OCI_INDEX)).unwrap_err();
        assert!(err.to_string().contains("does not match"));
    }

    #[test]
    fn generic_content_type_defers_to_the_body() {
        let m = Manifest::parse(image("").as_bytes(), Some("application/json")).unwrap();
        assert_eq!(m.media_type, OCI_MANIFEST);
        let m = Manifest::parse(image("").as_bytes(), Some("application/octet-stream")).unwrap();
        assert_eq!(m.media_type, OCI_MANIFEST);
    }

    #[test]
    fn content_type_parameters_are_ignored() {
        let ct = format!("{OCI_MANIFEST}; charset=utf-8");
        assert!(Manifest::parse(image("").as_bytes(), Some(&ct)).is_ok());
    }

    #[test]
    fn subject_and_artifact_type_are_extracted() {
        let extra = format!(
            r#","artifactType":"application/vnd.example.sbom","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":9}},"annotations":{{"k":"v"}}"#,
            d('c')
        );
        let m = Manifest::parse(image(&extra).as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(
            m.artifact_type.as_deref(),
            Some("application/vnd.example.sbom")
        );
        assert_eq!(m.subject.unwrap().as_str(), d('c'));
        assert_eq!(m.annotations.unwrap()["k"], "v");
    }

    #[test]
    fn foreign_and_nondistributable_layers_are_not_required() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}",
            "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{}","size":2}},
            "layers":[{{"mediaType":"{DOCKER_FOREIGN_LAYER}","digest":"{}","size":3,"urls":["https://example.com/x"]}},
                      {{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":"{}","size":3}},
                      {{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":3,"urls":["https://example.com/y"]}}]}}"#,
            d('a'),
            d('b'),
            d('c'),
            d('e')
        );
        let m = Manifest::parse(body.as_bytes(), Some(DOCKER_MANIFEST)).unwrap();
        assert_eq!(m.children.len(), 1);
    }

    #[test]
    fn index_children_are_manifests() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[
              {{"mediaType":"{DOCKER_MANIFEST}","digest":"{}","size":5,"platform":{{"os":"linux","architecture":"arm64","variant":"v8","features":["x"]}}}}]}}"#,
            d('a')
        );
        let m = Manifest::parse(body.as_bytes(), Some(DOCKER_MANIFEST_LIST)).unwrap();
        assert!(m.is_index());
        assert_eq!(m.children[0].kind, ChildKind::Manifest);
        assert_eq!(m.artifact_type, None);
    }

    #[test]
    fn media_type_is_taken_from_header_when_body_has_none() {
        let body = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[]}}"#,
            d('a')
        );
        let m = Manifest::parse(body.as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(m.media_type, OCI_MANIFEST);
    }

    #[test]
    fn malformed_manifests_are_invalid() {
        let cases = [
            "not json".to_string(),
            "[]".to_string(),
            r#"{"schemaVersion":1}"#.to_string(),
            format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[]}}"#),
            format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}"}}"#),
            format!(r#"{{"schemaVersion":2,"mediaType":"{DOCKER_SCHEMA1}"}}"#),
            r#"{"schemaVersion":2,"mediaType":"application/x-unknown"}"#.to_string(),
            image("").replace(&d('b'), "sha256:nothex"),
            image("").replace(&d('b'), "md5:d41d8cd98f00b204e9800998ecf8427e"),
            image("").replace("\"size\":3", "\"size\":-3"),
        ];
        for body in cases {
            assert!(
                Manifest::parse(body.as_bytes(), None).is_err(),
                "{body} accepted"
            );
        }
    }
}
