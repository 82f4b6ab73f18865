//! cosign signatures (sigstore/cosign `specs/SIGNATURE_SPEC.md`): an image
//! manifest whose layers are simple-signing payloads
//! (`application/vnd.dev.cosign.simplesigning.v1+json`), each with its
//! base64 signature in the layer annotation `dev.cosignproject.cosign/signature`.
//! It signs the manifest its payload names in
//! `critical.image.docker-manifest-digest`, and is found either by the tag
//! `sha256-<hex>.sig` (tag-based discovery) or as an OCI 1.1 referrer of that
//! manifest (`subject`).
//!
//! cosign attestations (`cosign attest`, the same spec's "Attestations"):
//! the same shape with DSSE envelope layers
//! (`application/vnd.dsse.envelope.v1+json`, annotated with the
//! statement's `predicateType`) holding a signed in-toto statement about
//! the image, under the tag `sha256-<hex>.att` or as a referrer.

use base64::Engine;
use berth_oci::Digest;
use oci_spec::image::ImageManifest;

use super::keys::PublicKey;
use super::SignatureStatus;

/// Media type of a simple-signing payload layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// `critical.type` of a cosign image signature.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";
/// The largest payload read (cosign's are a few hundred bytes).
pub const MAX_PAYLOAD: u64 = 64 * 1024;

/// One signed payload of a signature manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPayload {
    /// The payload blob.
    pub digest: Digest,
    /// Its size from the descriptor.
    pub size: u64,
    /// The annotation's base64 signature (`None` when absent).
    pub signature: Option<String>,
}

/// A manifest recognised as a cosign signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignSignature {
    /// The signed manifest.
    pub subject: Digest,
    /// Its payload layers.
    pub payloads: Vec<SignedPayload>,
}

/// Media type of a cosign attestation layer: a DSSE envelope.
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Layer annotation naming an attestation's in-toto predicate type.
pub const PREDICATE_ANNOTATION: &str = "predicateType";
/// The largest attestation envelope read (an SBOM or provenance predicate
/// can be a few MiB).
pub const MAX_ENVELOPE: u64 = 16 << 20;

/// The subject the tag `sha256-<hex>.sig` names.
pub fn subject_of_tag(tag: &str) -> Option<Digest> {
    subject_of_suffixed(tag, ".sig")
}

fn subject_of_suffixed(tag: &str, suffix: &str) -> Option<Digest> {
    let hex = tag.strip_prefix("sha256-")?.strip_suffix(suffix)?;
    Digest::parse(&format!("sha256:{hex}")).ok()
}

/// A manifest recognised as a cosign attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignAttestation {
    /// The attested manifest.
    pub subject: Digest,
    /// Its DSSE envelope layers (`signature` is always `None`: the
    /// signatures are inside the envelopes).
    pub envelopes: Vec<SignedPayload>,
}

/// Recognises a cosign attestation manifest: pushed under the tag
/// `sha256-<hex>.att`, or with a `subject`, holding DSSE envelope layers.
/// `subject` overrides both (an attestation verified again).
pub fn recognize_attestation(
    body: &[u8],
    tag: Option<&str>,
    subject: Option<&Digest>,
) -> Option<CosignAttestation> {
    let (subject, envelopes) = signed_layers(body, DSSE_ENVELOPE, None, tag, ".att", subject)?;
    Some(CosignAttestation { subject, envelopes })
}

/// The layers of media type `media_type` of the image manifest `body`
/// (each with its `annotation`, when one is named) and the manifest they
/// sign: `subject`, else the manifest's `subject`, else the one the tag
/// `sha256-<hex><suffix>` names. `None` when there is no such layer or no
/// subject.
fn signed_layers(
    body: &[u8],
    media_type: &str,
    annotation: Option<&str>,
    tag: Option<&str>,
    suffix: &str,
    subject: Option<&Digest>,
) -> Option<(Digest, Vec<SignedPayload>)> {
    let manifest = ImageManifest::from_reader(body).ok()?;
    let layers: Vec<SignedPayload> = manifest
        .layers()
        .iter()
        .filter(|l| l.media_type().to_string() == media_type)
        .filter_map(|l| {
            Some(SignedPayload {
                digest: Digest::parse(l.digest().as_ref()).ok()?,
                size: l.size(),
                signature: annotation
                    .and_then(|name| l.annotations().as_ref().and_then(|a| a.get(name).cloned())),
            })
        })
        .collect();
    if layers.is_empty() {
        return None;
    }
    let subject = match subject {
        Some(s) => s.clone(),
        None => manifest
            .subject()
            .as_ref()
            .and_then(|s| Digest::parse(s.digest().as_ref()).ok())
            .or_else(|| tag.and_then(|t| subject_of_suffixed(t, suffix)))?,
    };
    Some((subject, layers))
}

/// The verdict on one attestation envelope: the DSSE signatures over the
/// in-toto statement, which must name `subject`, checked with the
/// project's keys. `(status, key name, detail)`; the detail names the
/// predicate type.
pub fn verify_attestation(
    envelope: &[u8],
    subject: &Digest,
    keys: &[(String, PublicKey)],
) -> (SignatureStatus, Option<String>, String) {
    let json: serde_json::Value = match serde_json::from_slice(envelope) {
        Ok(v) => v,
        Err(e) => {
            return (
                SignatureStatus::Invalid,
                None,
                format!("the attestation's DSSE envelope is not JSON: {e}"),
            )
        }
    };
    match super::bundle::dsse_statement(&json, subject) {
        Ok(statement) => {
            let what = format!(
                "attestation ({})",
                statement
                    .predicate_type
                    .as_deref()
                    .unwrap_or("no predicate type")
            );
            super::bundle::judge(
                &statement.message,
                &statement.signatures,
                keys,
                false,
                &what,
            )
        }
        Err(why) => (SignatureStatus::Invalid, None, why),
    }
}

/// Recognises a cosign signature manifest: pushed under the tag
/// `sha256-<hex>.sig`, or with a `subject`, holding simple-signing layers.
/// `subject` overrides both (a signature verified again).
pub fn recognize(
    body: &[u8],
    tag: Option<&str>,
    subject: Option<&Digest>,
) -> Option<CosignSignature> {
    let (subject, payloads) = signed_layers(
        body,
        SIMPLE_SIGNING,
        Some(SIGNATURE_ANNOTATION),
        tag,
        ".sig",
        subject,
    )?;
    Some(CosignSignature { subject, payloads })
}

/// Config media types of runnable images.
const IMAGE_CONFIGS: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

/// True for a layer media type a container runtime unpacks into a root
/// filesystem.
fn runnable_layer(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.oci.image.layer.")
        || media_type.starts_with("application/vnd.docker.image.rootfs.")
}

/// True when `body` is an accessory (a signature, attestation, SBOM or other
/// artifact) rather than something a runtime can run: an image manifest whose
/// config is not an image config (`artifactType`-style artifacts, oras' empty
/// config), or none of whose layers is a root-filesystem layer (cosign's
/// tag-form signatures: an image config over simple-signing layers). A
/// `subject` alone does not make an accessory: an image with a `subject` is
/// still an image and still needs a signature under the gate. Indexes are never
/// accessories.
pub fn is_accessory(body: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    if v.get("manifests").is_some() {
        return false;
    }
    let config = v
        .get("config")
        .and_then(|c| c.get("mediaType"))
        .and_then(|m| m.as_str())
        .unwrap_or_default();
    if !IMAGE_CONFIGS.contains(&config) {
        return true;
    }
    let layers = v.get("layers").and_then(|l| l.as_array());
    !layers.is_some_and(|layers| {
        layers.iter().any(|l| {
            l.get("mediaType")
                .and_then(|m| m.as_str())
                .is_some_and(runnable_layer)
        })
    })
}

/// A member of a JSON object by key, ignoring case (cosign's Go decoder does,
/// and the spec's own example writes `Docker-manifest-digest`).
fn member<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// The verdict on one payload: `(status, key name, detail)`.
pub fn verify_payload(
    payload: &[u8],
    signature: Option<&str>,
    subject: &Digest,
    keys: &[(String, PublicKey)],
) -> (SignatureStatus, Option<String>, String) {
    let invalid = |why: String| (SignatureStatus::Invalid, None, why);
    let json: serde_json::Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(e) => return invalid(format!("the simple-signing payload is not JSON: {e}")),
    };
    let critical = member(&json, "critical");
    let kind = critical
        .and_then(|c| member(c, "type"))
        .and_then(|t| t.as_str());
    if kind != Some(SIGNATURE_TYPE) {
        return invalid(format!(
            "the payload's critical.type is {kind:?}, not {SIGNATURE_TYPE:?}"
        ));
    }
    let signed = critical
        .and_then(|c| member(c, "image"))
        .and_then(|i| member(i, "docker-manifest-digest"))
        .and_then(|d| d.as_str());
    if signed != Some(subject.as_str()) {
        return invalid(format!(
            "the payload signs {}, not {subject}",
            signed.unwrap_or("nothing")
        ));
    }
    let Some(sig) = signature else {
        return invalid(format!(
            "the layer has no {SIGNATURE_ANNOTATION} annotation"
        ));
    };
    let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(sig.trim()) else {
        return invalid("the signature annotation is not base64".into());
    };
    if keys.is_empty() {
        return (
            SignatureStatus::UnknownKey,
            None,
            "the project trusts no key yet".into(),
        );
    }
    match keys.iter().find(|(_, k)| k.verifies(payload, &sig)) {
        Some((name, key)) => (
            SignatureStatus::Verified,
            Some(name.clone()),
            format!(
                "verified by {name} ({}, {})",
                key.algorithm.as_str(),
                &key.fingerprint[..16]
            ),
        ),
        None => (
            SignatureStatus::Failed,
            None,
            format!(
                "no trusted key of the project verifies it ({} tried)",
                keys.len()
            ),
        ),
    }
}

#[cfg(test)]
mod attestation_tests {
    use super::*;

    const SUBJECT: &str = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

    #[test]
    fn attestations_are_recognised_by_their_envelope_layers_and_tag() {
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{SUBJECT}","size":2}},
            "layers":[{{"mediaType":"{DSSE_ENVELOPE}","digest":"{SUBJECT}","size":10,
              "annotations":{{"predicateType":"https://slsa.dev/provenance/v1"}}}}]}}"#
        );
        let tag = format!("{}.att", SUBJECT.replace(':', "-"));
        let a = recognize_attestation(m.as_bytes(), Some(&tag), None).unwrap();
        assert_eq!(a.subject.as_str(), SUBJECT);
        assert_eq!(a.envelopes.len(), 1);
        assert!(recognize_attestation(m.as_bytes(), Some("latest"), None).is_none());
        assert!(
            recognize(m.as_bytes(), Some(&tag), None).is_none(),
            "not a signature"
        );
        assert!(is_accessory(m.as_bytes()));
        let subject = Digest::parse(SUBJECT).unwrap();
        let (status, _, detail) = verify_attestation(b"{not json", &subject, &[]);
        assert_eq!(status, SignatureStatus::Invalid, "{detail}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBJECT: &str = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

    fn payload(digest: &str, kind: &str) -> Vec<u8> {
        serde_json::json!({
            "critical": {"identity": {"docker-reference": "r/app"},
                         "image": {"Docker-manifest-digest": digest}, "type": kind},
            "optional": null})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn the_tag_form_names_its_subject() {
        assert_eq!(
            subject_of_tag(&format!("{}.sig", SUBJECT.replace(':', "-")))
                .unwrap()
                .as_str(),
            SUBJECT
        );
        assert!(subject_of_tag("sha256-abc.sig").is_none());
        assert!(subject_of_tag("latest").is_none());
    }

    #[test]
    fn payloads_that_do_not_sign_the_subject_are_invalid_whatever_the_key() {
        let subject = Digest::parse(SUBJECT).unwrap();
        let other = "sha256:fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9";
        let (s, _, d) =
            verify_payload(&payload(other, SIGNATURE_TYPE), Some("AAAA"), &subject, &[]);
        assert_eq!(s, SignatureStatus::Invalid);
        assert!(d.contains(other), "{d}");
        let (s, _, d) = verify_payload(b"{not json", Some("AAAA"), &subject, &[]);
        assert_eq!(s, SignatureStatus::Invalid);
        assert!(d.contains("not JSON"), "{d}");
        let (s, _, _) = verify_payload(&payload(SUBJECT, "other"), Some("AAAA"), &subject, &[]);
        assert_eq!(s, SignatureStatus::Invalid);
        let (s, _, d) = verify_payload(
            &payload(SUBJECT, SIGNATURE_TYPE),
            Some("AAAA"),
            &subject,
            &[],
        );
        assert_eq!(s, SignatureStatus::UnknownKey, "{d}");
    }

    #[test]
    fn accessories_are_told_from_runnable_images() {
        let image_config = r#""config":{"mediaType":"application/vnd.oci.image.config.v1+json"}"#;
        let tar = r#"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip"}"#;
        let docker_tar = r#"{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip"}"#;
        let sig = r#"{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json"}"#;
        let m = |body: String| is_accessory(body.as_bytes());
        // Runnable: an image config with a root-filesystem layer, with or
        // without a subject; any index.
        assert!(!m(format!(r#"{{{image_config},"layers":[{tar}]}}"#)));
        assert!(!m(format!(
            r#"{{"config":{{"mediaType":"application/vnd.docker.container.image.v1+json"}},"layers":[{docker_tar}]}}"#
        )));
        assert!(!m(format!(
            r#"{{{image_config},"layers":[{tar}],"subject":{{"digest":"sha256:x"}}}}"#
        )));
        assert!(!m(
            r#"{"manifests":[],"subject":{"digest":"sha256:x"}}"#.to_string()
        ));
        // Accessories: cosign's tag form, artifacts with their own config type.
        assert!(m(format!(r#"{{{image_config},"layers":[{sig}]}}"#)));
        assert!(m(format!(
            r#"{{"config":{{"mediaType":"application/vnd.oci.empty.v1+json"}},"layers":[{tar}]}}"#
        )));
        assert!(!m("not json".to_string()));
    }
}
