//! Trusted public keys: PEM `SubjectPublicKeyInfo` (what `cosign
//! generate-key-pair` writes to `cosign.pub`, and `openssl pkey -pubout`)
//! of an ECDSA P-256, Ed25519 or RSA key, and signature checks with them
//! (`ring`). Schemes, as cosign signs: ECDSA P-256 with SHA-256 (ASN.1 DER
//! signature), Ed25519 (over the message itself), RSA PKCS#1 v1.5 with
//! SHA-256 (2048 to 8192 bits).

use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use spki::der::{Decode, DecodePem, Encode};
use spki::{ObjectIdentifier, SubjectPublicKeyInfoOwned};

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// A key's signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// ECDSA over P-256 with SHA-256.
    EcdsaP256,
    /// Ed25519.
    Ed25519,
    /// RSA PKCS#1 v1.5 with SHA-256.
    Rsa,
}

impl KeyAlgorithm {
    /// The name stored and shown: `ecdsa-p256`, `ed25519`, `rsa`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::Rsa => "rsa",
        }
    }

    fn ring(self) -> &'static dyn VerificationAlgorithm {
        match self {
            KeyAlgorithm::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
            KeyAlgorithm::Ed25519 => &signature::ED25519,
            KeyAlgorithm::Rsa => &signature::RSA_PKCS1_2048_8192_SHA256,
        }
    }
}

/// A parsed public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// Its scheme.
    pub algorithm: KeyAlgorithm,
    /// Hex SHA-256 of the DER `SubjectPublicKeyInfo`.
    pub fingerprint: String,
    /// The key bits as `ring` takes them (the EC point, the Ed25519 key, the
    /// PKCS#1 `RSAPublicKey`).
    bits: Vec<u8>,
}

impl PublicKey {
    /// Parses a PEM `PUBLIC KEY`.
    ///
    /// Errors: a sentence saying what is wrong (not PEM, not a public key, an
    /// unsupported algorithm or curve).
    pub fn from_pem(pem: &str) -> Result<PublicKey, String> {
        let text = pem.trim();
        if text.contains("PRIVATE KEY-----") {
            return Err(
                "this is a private key: give its public key (cosign.pub, or openssl pkey -pubout)"
                    .into(),
            );
        }
        if !text.starts_with("-----BEGIN PUBLIC KEY-----") {
            return Err("not a PEM public key: expected -----BEGIN PUBLIC KEY----- (as cosign.pub, or openssl pkey -pubout, write it)".into());
        }
        let spki = SubjectPublicKeyInfoOwned::from_pem(text.as_bytes()).map_err(|e| {
            format!("not a PEM public key (-----BEGIN PUBLIC KEY-----, as cosign.pub): {e}")
        })?;
        let algorithm = match spki.algorithm.oid {
            EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| ObjectIdentifier::from_der(&p.to_der().ok()?).ok());
                if curve != Some(P256) {
                    return Err(
                        "an ECDSA key on a curve other than P-256 (cosign keys are P-256)".into(),
                    );
                }
                KeyAlgorithm::EcdsaP256
            }
            ED25519 => KeyAlgorithm::Ed25519,
            RSA => {
                let bits = rsa_modulus_bits(spki.subject_public_key.raw_bytes())
                    .ok_or("an RSA key whose modulus does not parse")?;
                if !(2048..=8192).contains(&bits) {
                    return Err(format!("a {bits}-bit RSA key: use 2048 to 8192 bits"));
                }
                KeyAlgorithm::Rsa
            }
            other => {
                return Err(format!(
                    "unsupported key algorithm {other}: use an ECDSA P-256, Ed25519 or RSA key"
                ))
            }
        };
        let der = spki.to_der().map_err(|e| e.to_string())?;
        let fingerprint = hex::encode(ring::digest::digest(&ring::digest::SHA256, &der));
        Ok(PublicKey {
            algorithm,
            fingerprint,
            bits: spki.subject_public_key.raw_bytes().to_vec(),
        })
    }

    /// True when `sig` is a valid signature of `message` by this key.
    pub fn verifies(&self, message: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(self.algorithm.ring(), &self.bits)
            .verify(message, sig)
            .is_ok()
    }
}

/// The size in bits of the modulus of a PKCS#1 `RSAPublicKey` (DER).
fn rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    use spki::der::{asn1::UintRef, Reader, SliceReader};
    let mut reader = SliceReader::new(der).ok()?;
    let n = reader
        .sequence(|r| {
            let n = UintRef::decode(r)?;
            let _e = UintRef::decode(r)?;
            Ok::<_, spki::der::Error>(n)
        })
        .ok()?;
    let bytes = n.as_bytes();
    let first = *bytes.first()?;
    Some(bytes.len() * 8 - first.leading_zeros() as usize)
}

/// The PEM `PUBLIC KEY` of a P-256 public point (65 bytes, uncompressed,
/// as `ring` gives it).
///
/// Errors: a point of the wrong shape.
pub fn p256_pem(point: &[u8]) -> Result<String, String> {
    use spki::der::EncodePem;
    let curve = spki::der::Any::encode_from(&P256).map_err(|e| e.to_string())?;
    let spki = SubjectPublicKeyInfoOwned {
        algorithm: spki::AlgorithmIdentifierOwned {
            oid: EC_PUBLIC_KEY,
            parameters: Some(curve),
        },
        subject_public_key: spki::der::asn1::BitString::from_bytes(point)
            .map_err(|e| e.to_string())?,
    };
    spki.to_pem(spki::der::pem::LineEnding::LF)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair};

    /// PEM of a `SubjectPublicKeyInfo` with `oid` (and EC `curve`) around `bits`.
    fn pem_of(oid: ObjectIdentifier, curve: Option<ObjectIdentifier>, bits: &[u8]) -> String {
        let spki = SubjectPublicKeyInfoOwned {
            algorithm: spki::AlgorithmIdentifierOwned {
                oid,
                parameters: curve.map(|c| spki::der::Any::from(&c)),
            },
            subject_public_key: spki::der::asn1::BitString::from_bytes(bits).unwrap(),
        };
        use spki::der::EncodePem;
        spki.to_pem(spki::der::pem::LineEnding::LF).unwrap()
    }

    #[test]
    fn ecdsa_p256_and_ed25519_keys_verify_their_signatures_only() {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let ec = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        let key = PublicKey::from_pem(&pem_of(EC_PUBLIC_KEY, Some(P256), ec.public_key().as_ref()))
            .unwrap();
        assert_eq!(key.algorithm, KeyAlgorithm::EcdsaP256);
        let sig = ec.sign(&rng, b"payload").unwrap();
        assert!(key.verifies(b"payload", sig.as_ref()));
        assert!(!key.verifies(b"payload!", sig.as_ref()));

        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let ed = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let key = PublicKey::from_pem(&pem_of(ED25519, None, ed.public_key().as_ref())).unwrap();
        assert_eq!(key.algorithm, KeyAlgorithm::Ed25519);
        assert!(key.verifies(b"m", ed.sign(b"m").as_ref()));
        assert!(!key.verifies(b"m", ec.sign(&rng, b"m").unwrap().as_ref()));
    }

    /// DER `RSAPublicKey` with a `bits`-bit modulus.
    fn rsa_key(bits: usize) -> Vec<u8> {
        let mut n = vec![0xffu8; bits / 8];
        n.insert(0, 0); // positive INTEGER
        let e = [1u8, 0, 1];
        let int = |v: &[u8]| {
            let mut out = vec![0x02];
            out.extend(der_len(v.len()));
            out.extend(v);
            out
        };
        let body: Vec<u8> = [int(&n), int(&e)].concat();
        let mut out = vec![0x30];
        out.extend(der_len(body.len()));
        out.extend(body);
        out
    }

    fn der_len(n: usize) -> Vec<u8> {
        match n {
            0..=127 => vec![n as u8],
            128..=255 => vec![0x81, n as u8],
            _ => vec![0x82, (n >> 8) as u8, n as u8],
        }
    }

    #[test]
    fn rsa_keys_are_taken_from_2048_to_8192_bits() {
        assert_eq!(rsa_modulus_bits(&rsa_key(2048)), Some(2048));
        assert!(PublicKey::from_pem(&pem_of(RSA, None, &rsa_key(2048))).is_ok());
        let e = PublicKey::from_pem(&pem_of(RSA, None, &rsa_key(1024))).unwrap_err();
        assert!(e.contains("1024-bit"), "{e}");
    }

    #[test]
    fn other_curves_algorithms_and_garbage_are_refused_with_a_reason() {
        let p384 = ObjectIdentifier::new_unwrap("1.3.132.0.34");
        let e = PublicKey::from_pem(&pem_of(EC_PUBLIC_KEY, Some(p384), &[4; 97])).unwrap_err();
        assert!(e.contains("P-256"), "{e}");
        let dsa = ObjectIdentifier::new_unwrap("1.2.840.10040.4.1");
        let e = PublicKey::from_pem(&pem_of(dsa, None, &[1; 20])).unwrap_err();
        assert!(e.contains("unsupported key algorithm"), "{e}");
        let e = PublicKey::from_pem("hello").unwrap_err();
        assert!(e.contains("not a PEM public key"), "{e}");
        let e = PublicKey::from_pem("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----")
            .unwrap_err();
        assert!(e.contains("private key"), "{e}");
    }
}
