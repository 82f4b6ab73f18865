//! Notation signatures (notaryproject `specs/signature-specification.md`,
//! `signature-envelope-jws.md`, `trust-store-trust-policy.md`): an OCI 1.1
//! referrer of `artifactType` `application/vnd.cncf.notary.signature` whose
//! single layer is the signature envelope, JWS (`application/jose+json`) or
//! COSE (`application/cose`).
//!
//! A JWS envelope (flattened JSON serialization) is verified against the
//! project's trusted certificates (a notation trust store, kept beside the
//! cosign keys as keys of algorithm `x509-ca`):
//! 1. the protected header names a supported `alg` (PS256/384/512,
//!    ES256/384/512), `cty` `application/vnd.cncf.notary.payload.v1+json`,
//!    the signing scheme `notary.x509`, and lists every critical header
//!    it uses in `crit`;
//! 2. the payload's `targetArtifact.digest` is the signed manifest's;
//! 3. the certificate chain in the unprotected header's `x5c` (leaf
//!    first) leads to one of the trusted certificates, every certificate is
//!    valid now, and the leaf allows code signing (extended key usage
//!    `id-kp-codeSigning`), checked with `rustls-webpki`;
//! 4. the signature over `ASCII(protected '.' payload)` verifies with the
//!    leaf's key;
//! 5. when the trusted certificate lists trusted identities (the trust
//!    policy's `x509.subject: <DN>` values), the leaf's subject contains
//!    every attribute of one of them.
//!
//! A COSE envelope (`signature-envelope-cose.md`, a `COSE_Sign1`) goes
//! through the same checks ([`verify_cose`]): its headers are read with
//! `coset`, the signature covers the COSE `Sig_structure`, and the chain
//! is in the unprotected `x5chain` header.

use base64::Engine;
use berth_oci::Digest;
use rustls::pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};

use super::SignatureStatus;

/// `artifactType` of a notation signature manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";
/// Media type of a JWS envelope layer.
pub const JWS: &str = "application/jose+json";
/// Media type of a COSE envelope layer.
pub const COSE: &str = "application/cose";
/// The largest envelope read (a chain of a few certificates).
pub const MAX_ENVELOPE: u64 = 256 * 1024;
/// `cty` of notation's payload.
const PAYLOAD_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";
/// `trusted_keys.algorithm` of a notation trust store certificate.
pub const TRUST_STORE_ALGORITHM: &str = "x509-ca";
/// The DER value of `id-kp-codeSigning` (1.3.6.1.5.5.7.3.3).
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// A manifest recognised as a notation signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotationRef {
    /// The signed manifest.
    pub subject: Digest,
    /// The envelope blob.
    pub layer: Digest,
    /// Its size from the descriptor.
    pub size: u64,
    /// Whether it is a COSE envelope (else JWS).
    pub cose: bool,
}

/// Recognises a notation signature: `artifactType` (or, as registries
/// without it store them, the config media type) [`ARTIFACT_TYPE`], a
/// `subject`, and a JWS or COSE layer. `subject` overrides the manifest's.
pub fn recognize(body: &[u8], subject: Option<&Digest>) -> Option<NotationRef> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = |v: Option<&serde_json::Value>| v.and_then(|x| x.as_str()).map(str::to_string);
    let kind = text(v.get("artifactType"))
        .or_else(|| text(v.get("config").and_then(|c| c.get("mediaType"))))?;
    if kind != ARTIFACT_TYPE {
        return None;
    }
    let layer = v.get("layers")?.as_array()?.iter().find(|l| {
        matches!(
            l.get("mediaType").and_then(|m| m.as_str()),
            Some(JWS) | Some(COSE)
        )
    })?;
    let subject = match subject {
        Some(s) => s.clone(),
        None => Digest::parse(v.get("subject")?.get("digest")?.as_str()?).ok()?,
    };
    Some(NotationRef {
        subject,
        layer: Digest::parse(layer.get("digest")?.as_str()?).ok()?,
        size: layer.get("size")?.as_u64()?,
        cose: layer.get("mediaType").and_then(|m| m.as_str()) == Some(COSE),
    })
}

/// A trusted certificate of the project's notation trust store.
#[derive(Debug, Clone)]
pub struct TrustedCert {
    /// The key name it was added under.
    pub name: String,
    /// Its DER.
    pub der: Vec<u8>,
    /// Trusted identities: distinguished names (`C=US, O=Acme, CN=ci`);
    /// empty trusts any subject the certificate vouches for.
    pub identities: Vec<String>,
}

/// Parses a PEM certificate for the trust store: its DER.
///
/// Errors: a sentence saying what is wrong.
pub fn certificate_from_pem(pem: &str) -> Result<Vec<u8>, String> {
    use rustls::pki_types::pem::PemObject;
    let der = CertificateDer::from_pem_slice(pem.trim().as_bytes())
        .map_err(|e| format!("not a PEM certificate (-----BEGIN CERTIFICATE-----): {e}"))?;
    webpki::anchor_from_trusted_cert(&der)
        .map_err(|e| format!("the certificate cannot be a trust anchor: {e}"))?;
    Ok(der.as_ref().to_vec())
}

fn b64url(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
}

/// What a notation envelope of either kind carries, once read.
struct Signed {
    /// The signing algorithm the protected header names.
    alg: Alg,
    /// The bytes the signature signs: JWS's `protected '.' payload`,
    /// COSE's `Sig_structure`.
    message: Vec<u8>,
    /// The signature as the envelope carries it (ECDSA: `r || s`).
    signature: Vec<u8>,
    /// The notation payload (`{"targetArtifact": …}`).
    payload: Vec<u8>,
    /// The certificate chain, leaf first.
    chain: Vec<CertificateDer<'static>>,
}

/// The verdict on a JWS envelope: `(status, trusted certificate name,
/// detail)`.
pub fn verify_jws(
    envelope: &[u8],
    subject: &Digest,
    trusted: &[TrustedCert],
    now: UnixTime,
) -> (SignatureStatus, Option<String>, String) {
    match read_jws(envelope) {
        Ok(signed) => verify_signed(signed, subject, trusted, now),
        Err(why) => (SignatureStatus::Invalid, None, why),
    }
}

/// The verdict on a COSE envelope (notaryproject
/// `signature-envelope-cose.md`: a tagged `COSE_Sign1`, RFC 9052, read
/// with `coset`): `(status, trusted certificate name, detail)`. The same
/// checks as [`verify_jws`], over the COSE headers: `alg` (label 1,
/// ES256/384, PS256/384/512), content type (label 3), `crit` (label 2)
/// listing `io.cncf.notary.signingScheme`, which must be `notary.x509`, and
/// the chain in the unprotected `x5chain` (label 33).
pub fn verify_cose(
    envelope: &[u8],
    subject: &Digest,
    trusted: &[TrustedCert],
    now: UnixTime,
) -> (SignatureStatus, Option<String>, String) {
    match read_cose(envelope) {
        Ok(signed) => verify_signed(signed, subject, trusted, now),
        Err(why) => (SignatureStatus::Invalid, None, why),
    }
}

fn read_jws(envelope: &[u8]) -> Result<Signed, String> {
    let env = serde_json::from_slice::<serde_json::Value>(envelope)
        .map_err(|_| "the JWS envelope is not JSON".to_string())?;
    let field = |k: &str| env.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let (protected_b64, payload_b64, signature_b64) =
        (field("protected"), field("payload"), field("signature"));
    let (Some(protected), Some(payload), Some(signature)) = (
        b64url(protected_b64),
        b64url(payload_b64),
        b64url(signature_b64),
    ) else {
        return Err("the envelope lacks a base64url protected header, payload or signature".into());
    };
    let header = serde_json::from_slice::<serde_json::Value>(&protected)
        .map_err(|_| "the protected header is not JSON".to_string())?;
    let h = |k: &str| header.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    if h("cty") != PAYLOAD_TYPE {
        return Err(format!("the protected header's cty is not {PAYLOAD_TYPE}"));
    }
    let crit: Vec<&str> = header
        .get("crit")
        .and_then(|c| c.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    check_scheme(h(SIGNING_SCHEME), &crit)?;
    let alg = algorithm(h("alg"))
        .ok_or_else(|| format!("alg {:?} is not one of notation's", h("alg")))?;
    let chain = env
        .get("header")
        .and_then(|x| x.get("x5c"))
        .and_then(|x| x.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str())
                .filter_map(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
                .map(CertificateDer::from)
                .collect()
        })
        .unwrap_or_default();
    Ok(Signed {
        alg,
        message: format!("{protected_b64}.{payload_b64}").into_bytes(),
        signature,
        payload,
        chain,
    })
}

/// The protected header `io.cncf.notary.signingScheme`.
const SIGNING_SCHEME: &str = "io.cncf.notary.signingScheme";
/// COSE's `x5chain` header label (RFC 9360).
const X5CHAIN: i64 = 33;

/// The signing scheme must be `notary.x509` and be marked critical.
fn check_scheme(scheme: &str, crit: &[&str]) -> Result<(), String> {
    if scheme != "notary.x509" {
        return Err(format!(
            "signing scheme {scheme:?} is not supported (notary.x509 is)"
        ));
    }
    if !crit.contains(&SIGNING_SCHEME) {
        return Err(format!("crit does not list {SIGNING_SCHEME}"));
    }
    Ok(())
}

fn read_cose(envelope: &[u8]) -> Result<Signed, String> {
    use coset::iana::{self, EnumI64};
    use coset::{CborSerializable, TaggedCborSerializable};
    let sign1 = coset::CoseSign1::from_tagged_slice(envelope)
        .or_else(|_| coset::CoseSign1::from_slice(envelope))
        .map_err(|e| format!("the COSE envelope is not a COSE_Sign1: {e}"))?;
    let header = &sign1.protected.header;
    match &header.content_type {
        Some(coset::RegisteredLabel::Text(t)) if t == PAYLOAD_TYPE => {}
        _ => {
            return Err(format!(
                "the protected header's content type is not {PAYLOAD_TYPE}"
            ))
        }
    }
    let text_header = |name: &str| {
        header.rest.iter().find_map(|(label, value)| match label {
            coset::Label::Text(l) if l == name => value.as_text(),
            _ => None,
        })
    };
    let crit: Vec<&str> = header
        .crit
        .iter()
        .filter_map(|c| match c {
            coset::RegisteredLabelWithPrivate::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    check_scheme(text_header(SIGNING_SCHEME).unwrap_or_default(), &crit)?;
    let name = match &header.alg {
        Some(coset::RegisteredLabelWithPrivate::Assigned(a)) => match a {
            iana::Algorithm::ES256 => "ES256",
            iana::Algorithm::ES384 => "ES384",
            iana::Algorithm::PS256 => "PS256",
            iana::Algorithm::PS384 => "PS384",
            iana::Algorithm::PS512 => "PS512",
            other => return Err(format!("alg {} is not one of notation's", other.to_i64())),
        },
        other => return Err(format!("alg {other:?} is not one of notation's")),
    };
    let alg = algorithm(name).ok_or_else(|| format!("alg {name} is not supported"))?;
    let chain = sign1
        .unprotected
        .rest
        .iter()
        .find_map(|(label, value)| match label {
            coset::Label::Int(X5CHAIN) => Some(value),
            _ => None,
        })
        .map(|v| match v {
            coset::cbor::value::Value::Bytes(one) => vec![CertificateDer::from(one.clone())],
            coset::cbor::value::Value::Array(many) => many
                .iter()
                .filter_map(|c| c.as_bytes())
                .map(|c| CertificateDer::from(c.clone()))
                .collect(),
            _ => Vec::new(),
        })
        .unwrap_or_default();
    let payload = sign1
        .payload
        .clone()
        .ok_or("the COSE envelope has a detached payload")?;
    Ok(Signed {
        alg,
        message: sign1.tbs_data(b""),
        signature: sign1.signature.clone(),
        payload,
        chain,
    })
}

/// Checks a read envelope: its payload names `subject`, its signature
/// verifies with its leaf certificate, and its chain leads to a trusted
/// certificate whose identities the leaf matches.
fn verify_signed(
    signed: Signed,
    subject: &Digest,
    trusted: &[TrustedCert],
    now: UnixTime,
) -> (SignatureStatus, Option<String>, String) {
    let invalid = |why: String| (SignatureStatus::Invalid, None, why);
    let Signed {
        alg,
        message,
        signature,
        payload,
        chain,
    } = signed;
    let Ok(claims) = serde_json::from_slice::<serde_json::Value>(&payload) else {
        return invalid("the payload is not JSON".into());
    };
    let target = claims
        .get("targetArtifact")
        .and_then(|t| t.get("digest"))
        .and_then(|d| d.as_str())
        .unwrap_or_default();
    if target != subject.as_str() {
        return invalid(format!(
            "the payload's targetArtifact is {target:?}, not the signed manifest {subject}"
        ));
    }
    let Some(leaf) = chain.first() else {
        return invalid("the unprotected header has no x5c certificate chain".into());
    };
    if trusted.is_empty() {
        return (
            SignatureStatus::UnknownKey,
            None,
            "the project trusts no certificate for notation signatures yet".into(),
        );
    }
    let Ok(ee) = webpki::EndEntityCert::try_from(leaf) else {
        return invalid("the leaf certificate of x5c does not parse".into());
    };
    let signature = if alg.ecdsa_len > 0 {
        match fixed_to_der(&signature, alg.ecdsa_len) {
            Some(s) => s,
            None => return invalid("the ECDSA signature has the wrong length".into()),
        }
    } else {
        signature
    };
    if ee
        .verify_signature(alg.verify, &message, &signature)
        .is_err()
    {
        return (
            SignatureStatus::Failed,
            None,
            "the signature does not verify with the leaf certificate's key (changed after signing?)"
                .into(),
        );
    }
    let mut last = String::from("no trusted certificate issued the chain");
    for t in trusted {
        let anchor_der = CertificateDer::from(t.der.clone());
        let Ok(anchor) = webpki::anchor_from_trusted_cert(&anchor_der) else {
            continue;
        };
        let intermediates: Vec<CertificateDer<'static>> = chain[1..].to_vec();
        match ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &intermediates,
            now,
            webpki::KeyUsage::required(CODE_SIGNING),
            None,
            None,
        ) {
            Ok(_) => {
                if t.identities.is_empty() || t.identities.iter().any(|i| subject_matches(leaf, i))
                {
                    return (
                        SignatureStatus::Verified,
                        Some(t.name.clone()),
                        format!(
                            "verified: the chain leads to trusted certificate {}",
                            t.name
                        ),
                    );
                }
                last = format!(
                    "the leaf's subject is none of the trusted identities of {}",
                    t.name
                );
            }
            Err(e) => {
                last = match e {
                    webpki::Error::CertExpired { .. } => {
                        "a certificate of the chain has expired".into()
                    }
                    webpki::Error::CertNotValidYet { .. } => {
                        "a certificate of the chain is not valid yet".into()
                    }
                    webpki::Error::RequiredEkuNotFoundContext(_) => {
                        "the leaf certificate does not allow code signing".into()
                    }
                    webpki::Error::UnknownIssuer => last,
                    other => format!("the chain does not verify: {other}"),
                };
            }
        }
    }
    (SignatureStatus::Failed, None, last)
}

struct Alg {
    verify: &'static dyn SignatureVerificationAlgorithm,
    /// The byte length of r (and s) of an ECDSA JWS signature; 0 for RSA.
    ecdsa_len: usize,
}

fn algorithm(name: &str) -> Option<Alg> {
    use webpki::ring as w;
    let (verify, ecdsa_len) = match name {
        "PS256" => (w::RSA_PSS_2048_8192_SHA256_LEGACY_KEY, 0),
        "PS384" => (w::RSA_PSS_2048_8192_SHA384_LEGACY_KEY, 0),
        "PS512" => (w::RSA_PSS_2048_8192_SHA512_LEGACY_KEY, 0),
        "ES256" => (w::ECDSA_P256_SHA256, 32),
        "ES384" => (w::ECDSA_P384_SHA384, 48),
        _ => return None,
    };
    Some(Alg { verify, ecdsa_len })
}

/// A JWS ECDSA signature (`r || s`, RFC 7518 §3.4) as ASN.1 DER
/// `SEQUENCE { INTEGER r, INTEGER s }`, which the verifier takes.
fn fixed_to_der(sig: &[u8], half: usize) -> Option<Vec<u8>> {
    if sig.len() != 2 * half {
        return None;
    }
    let int = |x: &[u8]| {
        let x = {
            let first = x.iter().position(|b| *b != 0).unwrap_or(x.len() - 1);
            &x[first..]
        };
        let mut out = vec![0x02];
        let pad = x[0] & 0x80 != 0;
        out.push((x.len() + usize::from(pad)) as u8);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(x);
        out
    };
    let body = [int(&sig[..half]), int(&sig[half..])].concat();
    let mut out = vec![0x30];
    if body.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(body.len() as u8);
    out.extend(body);
    Some(out)
}

/// Whether the subject of certificate `der` contains every attribute of
/// distinguished name `wanted` (`C=US, O=Acme, CN=ci`; an optional
/// `x509.subject:` prefix as in notation's trust policy).
fn subject_matches(der: &[u8], wanted: &str) -> bool {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return false;
    };
    let have = dn_pairs(&cert.subject().to_string());
    let wanted = wanted.trim();
    let wanted = wanted.strip_prefix("x509.subject:").unwrap_or(wanted);
    let want = dn_pairs(wanted);
    !want.is_empty() && want.iter().all(|w| have.contains(w))
}

/// Whether `identity` is a usable trusted identity: a distinguished name
/// (`A=v, B=w`), optionally prefixed `x509.subject:`.
pub fn identity_parses(identity: &str) -> bool {
    let i = identity.trim();
    let i = i.strip_prefix("x509.subject:").unwrap_or(i);
    !i.trim().is_empty()
        && i.split(',').all(|p| {
            p.split_once('=')
                .is_some_and(|(a, v)| !a.trim().is_empty() && !v.trim().is_empty())
        })
}

/// `(ATTRIBUTE, value)` pairs of a DN written `A=v, B=w`.
fn dn_pairs(dn: &str) -> Vec<(String, String)> {
    dn.split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(a, v)| (a.trim().to_ascii_uppercase(), v.trim().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jws_ecdsa_signatures_become_der() {
        let mut sig = vec![0u8; 64];
        sig[0] = 0x80; // r needs a leading zero
        sig[32] = 0x00;
        sig[33] = 0x01; // s has a leading zero to drop
        let der = fixed_to_der(&sig, 32).unwrap();
        assert_eq!(der[0], 0x30);
        assert_eq!(&der[2..5], &[0x02, 33, 0x00]);
        assert!(fixed_to_der(&sig[..63], 32).is_none());
    }

    #[test]
    fn distinguished_names_compare_by_attributes() {
        assert_eq!(
            dn_pairs("C=US, o=Acme ,CN=ci"),
            vec![
                ("C".into(), "US".into()),
                ("O".into(), "Acme".into()),
                ("CN".into(), "ci".into())
            ]
        );
    }

    #[test]
    fn only_notation_referrers_are_recognised() {
        let s = "sha256:".to_string() + &"a".repeat(64);
        let l = "sha256:".to_string() + &"b".repeat(64);
        let m = serde_json::json!({
            "schemaVersion": 2, "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json"},
            "layers": [{"mediaType": JWS, "digest": l, "size": 10}],
            "subject": {"digest": s, "size": 1, "mediaType": "application/vnd.oci.image.manifest.v1+json"},
        });
        let r = recognize(m.to_string().as_bytes(), None).unwrap();
        assert_eq!(r.subject.as_str(), s);
        assert!(!r.cose);
        let mut other = m.clone();
        other["artifactType"] = "application/spdx+json".into();
        assert!(recognize(other.to_string().as_bytes(), None).is_none());
    }
}
