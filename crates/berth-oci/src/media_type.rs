//! Media types berth treats specially. Everything else (config types of artifacts,
//! layer types) is stored and served unchanged.

/// OCI image manifest (image-spec §Image Manifest).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index (image-spec §Image Index).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest v2, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (schema 2 fat manifest).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 1 (signed and unsigned): refused, as current Distribution does.
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Docker schema 1, signed.
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// Docker's foreign (non-distributable) layer.
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// The OCI empty descriptor's media type (`{}`), image-spec §Guidance for an empty descriptor.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// The four manifest media types berth accepts on `PUT /v2/<name>/manifests/<ref>`.
pub const MANIFEST_TYPES: [&str; 4] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// Strips parameters and whitespace from a `Content-Type` value:
/// `application/json; charset=utf-8` → `application/json`.
pub fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// True for `Content-Type` values that say nothing about which manifest format a
/// body is (`application/json`, `application/octet-stream`, `text/plain`, and the
/// form type curl sends by default): the body's `mediaType` decides then.
pub fn is_generic(content_type: &str) -> bool {
    matches!(
        content_type,
        "application/json"
            | "application/octet-stream"
            | "text/plain"
            | "application/x-www-form-urlencoded"
    )
}

/// True for layers a registry must not require to be present: the OCI
/// `nondistributable` layer types and Docker's foreign layer type.
pub fn is_non_distributable(media_type: &str) -> bool {
    media_type.contains("nondistributable") || media_type == DOCKER_FOREIGN_LAYER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn essence_strips_parameters() {
        assert_eq!(
            essence("application/json; charset=utf-8"),
            "application/json"
        );
        assert_eq!(essence(OCI_MANIFEST), OCI_MANIFEST);
    }

    #[test]
    fn nondistributable_layers_are_recognised() {
        assert!(is_non_distributable(
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        ));
        assert!(is_non_distributable(DOCKER_FOREIGN_LAYER));
        assert!(!is_non_distributable(
            "application/vnd.oci.image.layer.v1.tar+gzip"
        ));
    }
}
