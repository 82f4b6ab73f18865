//! Sigstore bundles attached as OCI 1.1 referrers (sigstore/cosign
//! `specs/BUNDLE_SPEC.md`; what `cosign sign` writes from cosign 3 on, and
//! with `--new-bundle-format` before): a manifest with a `subject` whose
//! single layer is the bundle JSON
//! (`application/vnd.dev.sigstore.bundle.v0.3+json`). Two contents are
//! verified against the project's trusted keys:
//!
//! - `dsseEnvelope` with an in-toto statement
//!   (`application/vnd.in-toto+json`) whose `subject` lists the signed
//!   manifest's sha256: each signature is checked over the DSSE
//!   pre-authentication encoding `DSSEv1 <len> <type> <len> <payload>`
//!   (a statement of another predicate type than cosign's signature
//!   `https://sigstore.dev/cosign/sign/v1` is an attestation, not a
//!   signature);
//! - `messageSignature` whose `messageDigest` is the signed manifest's
//!   sha256: the signature is checked over the manifest's bytes.
//!
//! Keyless bundles (a Fulcio certificate in `verificationMaterial`) are
//! recognised and recorded `unknown_key`: berth trusts keys, not certificate
//! identities, and does not check transparency-log entries.

use base64::Engine;
use berth_oci::Digest;

use super::keys::PublicKey;
use super::SignatureStatus;

/// Media type of a bundle layer (and the `artifactType` of its manifest).
pub const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The in-toto predicate type of cosign's image signatures in bundles.
pub const SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// The largest bundle read (a keyless one with a certificate chain and a
/// log entry is a few KiB).
pub const MAX_BUNDLE: u64 = 256 * 1024;

/// A manifest recognised as a sigstore bundle referrer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleRef {
    /// The signed manifest.
    pub subject: Digest,
    /// The bundle blob.
    pub layer: Digest,
    /// Its size from the descriptor.
    pub size: u64,
}

/// Recognises a bundle referrer: a `subject`, and a layer of media type
/// [`BUNDLE`]. `subject` overrides the manifest's (a bundle verified again).
pub fn recognize(body: &[u8], subject: Option<&Digest>) -> Option<BundleRef> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let layer = v
        .get("layers")?
        .as_array()?
        .iter()
        .find(|l| l.get("mediaType").and_then(|m| m.as_str()) == Some(BUNDLE))?;
    let subject = match subject {
        Some(s) => s.clone(),
        None => Digest::parse(v.get("subject")?.get("digest")?.as_str()?).ok()?,
    };
    Some(BundleRef {
        subject,
        layer: Digest::parse(layer.get("digest")?.as_str()?).ok()?,
        size: layer.get("size")?.as_u64()?,
    })
}

/// DSSE's pre-authentication encoding of `payload` of type `kind`.
pub fn pae(kind: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {kind} {} ", kind.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

fn b64(v: Option<&serde_json::Value>) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(v?.as_str()?.trim())
        .ok()
}

/// A DSSE envelope's signed in-toto statement, as [`dsse_statement`]
/// reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsseStatement {
    /// What the signatures sign: DSSE's pre-authentication encoding.
    pub message: Vec<u8>,
    /// The envelope's signatures, decoded.
    pub signatures: Vec<Vec<u8>>,
    /// The statement's `predicateType`.
    pub predicate_type: Option<String>,
}

/// The signed statement of a DSSE envelope (`{"payloadType", "payload",
/// "signatures"}`, secure-systems-lab DSSE v1) carrying an in-toto
/// statement about `subject`.
///
/// Errors: why it is not such an envelope (another payload type, not
/// base64 or JSON, a statement whose subjects do not include `subject`).
pub fn dsse_statement(env: &serde_json::Value, subject: &Digest) -> Result<DsseStatement, String> {
    let want_hex = subject.as_str().strip_prefix("sha256:").unwrap_or_default();
    let kind = env
        .get("payloadType")
        .and_then(|t| t.as_str())
        .unwrap_or_default();
    if kind != "application/vnd.in-toto+json" {
        return Err(format!(
            "the DSSE payload type is {kind:?}, not an in-toto statement"
        ));
    }
    let payload = b64(env.get("payload")).ok_or("the DSSE payload is not base64")?;
    let statement: serde_json::Value = serde_json::from_slice(&payload)
        .map_err(|e| format!("the in-toto statement is not JSON: {e}"))?;
    let names_subject = statement
        .get("subject")
        .and_then(|s| s.as_array())
        .is_some_and(|subjects| {
            subjects.iter().any(|s| {
                s.get("digest")
                    .and_then(|d| d.get("sha256"))
                    .and_then(|h| h.as_str())
                    == Some(want_hex)
            })
        });
    if !names_subject {
        return Err(format!(
            "the in-toto statement's subjects do not include {subject}"
        ));
    }
    let predicate = statement
        .get("predicateType")
        .and_then(|p| p.as_str())
        .map(str::to_string);
    let sigs = env
        .get("signatures")
        .and_then(|s| s.as_array())
        .map(|a| a.iter().filter_map(|s| b64(s.get("sig"))).collect())
        .unwrap_or_default();
    Ok(DsseStatement {
        message: pae(kind, &payload),
        signatures: sigs,
        predicate_type: predicate,
    })
}

/// The verdict on `sigs` over `message` by the project's `keys`: verified
/// by the first key that verifies one; `what` names the thing checked in
/// the detail (`sigstore bundle`, `attestation`); `keyless` when it carries
/// a certificate instead of naming a key.
pub fn judge(
    message: &[u8],
    sigs: &[Vec<u8>],
    keys: &[(String, PublicKey)],
    keyless: bool,
    what: &str,
) -> (SignatureStatus, Option<String>, String) {
    if sigs.is_empty() {
        return (
            SignatureStatus::Invalid,
            None,
            format!("the {what} carries no signature"),
        );
    }
    if let Some((name, key)) = keys
        .iter()
        .find(|(_, k)| sigs.iter().any(|s| k.verifies(message, s)))
    {
        return (
            SignatureStatus::Verified,
            Some(name.clone()),
            format!(
                "{what} verified by {name} ({}, {})",
                key.algorithm.as_str(),
                &key.fingerprint[..16]
            ),
        );
    }
    if keyless {
        return (
            SignatureStatus::UnknownKey,
            None,
            format!(
                "a keyless (certificate) {what}: berth verifies signatures by trusted keys only"
            ),
        );
    }
    if keys.is_empty() {
        return (
            SignatureStatus::UnknownKey,
            None,
            "the project trusts no key yet".into(),
        );
    }
    (
        SignatureStatus::Failed,
        None,
        format!(
            "no trusted key of the project verifies the {what} ({} tried)",
            keys.len()
        ),
    )
}

/// The verdict on a bundle: `(status, key name, detail)`. `manifest`: the
/// signed manifest's bytes (for a `messageSignature`).
pub fn verify(
    bundle: &[u8],
    subject: &Digest,
    manifest: Option<&[u8]>,
    keys: &[(String, PublicKey)],
) -> (SignatureStatus, Option<String>, String) {
    let invalid = |why: String| (SignatureStatus::Invalid, None, why);
    let json: serde_json::Value = match serde_json::from_slice(bundle) {
        Ok(v) => v,
        Err(e) => return invalid(format!("the sigstore bundle is not JSON: {e}")),
    };
    let material = json.get("verificationMaterial");
    let keyless = material
        .is_some_and(|m| m.get("certificate").is_some() || m.get("x509CertificateChain").is_some());
    let want_hex = subject.as_str().strip_prefix("sha256:").unwrap_or_default();
    // (message, signatures) to check.
    let (message, sigs): (Vec<u8>, Vec<Vec<u8>>) = if let Some(env) = json.get("dsseEnvelope") {
        let DsseStatement {
            message,
            signatures: sigs,
            predicate_type,
        } = match dsse_statement(env, subject) {
            Ok(statement) => statement,
            Err(why) => return invalid(why),
        };
        if let Some(p) = predicate_type.filter(|p| p != SIGN_PREDICATE) {
            return invalid(format!(
                "an in-toto attestation ({p}), not a signature: it does not satisfy the signature gate"
            ));
        }
        (message, sigs)
    } else if let Some(ms) = json.get("messageSignature") {
        let digest = ms.get("messageDigest");
        let algorithm = digest
            .and_then(|d| d.get("algorithm"))
            .and_then(|a| a.as_str());
        let value = b64(digest.and_then(|d| d.get("digest")));
        if algorithm != Some("SHA2_256") || value.map(hex::encode).as_deref() != Some(want_hex) {
            return invalid(format!("the message signature does not sign {subject}"));
        }
        let Some(manifest) = manifest else {
            return invalid(format!("the signed manifest {subject} is not stored"));
        };
        let sigs = b64(ms.get("signature")).into_iter().collect();
        (manifest.to_vec(), sigs)
    } else {
        return invalid("the bundle has neither a dsseEnvelope nor a messageSignature".into());
    };
    judge(&message, &sigs, keys, keyless, "sigstore bundle")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBJECT: &str = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

    #[test]
    fn pae_is_dsse_v1() {
        assert_eq!(
            pae("application/vnd.in-toto+json", b"{}"),
            b"DSSEv1 28 application/vnd.in-toto+json 2 {}".to_vec()
        );
    }

    #[test]
    fn a_bundle_referrer_is_recognised_by_its_layer_and_subject() {
        let m = format!(
            r#"{{"artifactType":"{BUNDLE}","config":{{"mediaType":"application/vnd.oci.empty.v1+json"}},
            "layers":[{{"mediaType":"{BUNDLE}","digest":"{SUBJECT}","size":10}}],
            "subject":{{"digest":"{SUBJECT}"}}}}"#
        );
        let r = recognize(m.as_bytes(), None).unwrap();
        assert_eq!((r.subject.as_str(), r.size), (SUBJECT, 10));
        assert!(recognize(br#"{"layers":[]}"#, None).is_none());
    }

    #[test]
    fn statements_about_other_manifests_are_invalid_whatever_the_key() {
        let subject = Digest::parse(SUBJECT).unwrap();
        let statement = serde_json::json!({"_type": "https://in-toto.io/Statement/v1",
            "subject": [{"digest": {"sha256": "ab".repeat(32)}}]});
        let payload =
            base64::engine::general_purpose::STANDARD.encode(statement.to_string().as_bytes());
        let bundle = serde_json::json!({"mediaType": BUNDLE, "dsseEnvelope": {
            "payloadType": "application/vnd.in-toto+json", "payload": payload,
            "signatures": [{"sig": "AAAA"}]}});
        let (s, _, d) = verify(bundle.to_string().as_bytes(), &subject, None, &[]);
        assert_eq!(s, SignatureStatus::Invalid, "{d}");
        let (s, _, d) = verify(b"nope", &subject, None, &[]);
        assert_eq!(s, SignatureStatus::Invalid, "{d}");
    }
}
