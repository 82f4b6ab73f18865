//! Signed checkpoints of the audit trail (docs/audit.md, "Signed
//! checkpoints"): the registry signs its chain's head (the last entry's `seq`
//! and `hash`) with its key, at an interval and on demand. Whoever keeps a
//! checkpoint can later prove the trail still extends it
//! ([`AuditLog::checkpoint_check`]): rewriting, truncating or rolling back
//! the history before it is then detectable, even by someone who can
//! recompute every hash of a rewritten chain, because the kept checkpoint
//! fixes the hash of entry `seq` and carries the registry's signature.
//!
//! The signed message is the UTF-8 text
//! `berth-audit-checkpoint/1\n<seq>\n<hash>\n<at_ms>\n`; the signature is
//! ECDSA P-256 with SHA-256 (ASN.1 DER, base64) by the token signing key
//! (`auth.signing_key_file`, or `<data_dir>/token-signing-key.pem`).

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::audit::AuditLog;
use crate::auth::Auth;
use crate::error::{Error, Result};
use crate::signing::keys::PublicKey;

/// The `format` of a checkpoint document.
pub const FORMAT: &str = "berth-audit-checkpoint/1";

/// A signed checkpoint, as `GET /api/v2.0/audit-logs/checkpoint` answers it
/// and `berth audit verify --checkpoint FILE` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    /// [`FORMAT`].
    pub format: String,
    /// The entry signed (the head when it was signed).
    pub seq: i64,
    /// Its chain hash (hex SHA-256).
    pub hash: String,
    /// When it was signed, Unix ms.
    pub at_ms: i64,
    /// Hex SHA-256 of the signing key (DER SubjectPublicKeyInfo).
    pub key_id: String,
    /// The signing key, PEM `PUBLIC KEY`.
    pub public_key: String,
    /// Base64 ECDSA P-256 SHA-256 signature (ASN.1 DER) of [`message`].
    pub signature: String,
}

/// The bytes a checkpoint signs.
pub fn message(seq: i64, hash: &str, at_ms: i64) -> Vec<u8> {
    format!("{FORMAT}\n{seq}\n{hash}\n{at_ms}\n").into_bytes()
}

impl SignedCheckpoint {
    /// Checks the format and the signature with the checkpoint's own key, or
    /// with `pinned` (a PEM public key the verifier trusts) when given, which
    /// must then be the key that signed.
    ///
    /// Errors: why it does not hold, in words.
    pub fn check_signature(&self, pinned: Option<&str>) -> std::result::Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("format {:?} is not {FORMAT:?}", self.format));
        }
        let own = PublicKey::from_pem(&self.public_key)?;
        let key = match pinned {
            Some(pem) => {
                let pinned = PublicKey::from_pem(pem)?;
                if pinned.fingerprint != own.fingerprint {
                    return Err(format!(
                        "signed by key {}, not by the key given ({})",
                        own.fingerprint, pinned.fingerprint
                    ));
                }
                pinned
            }
            None => own,
        };
        if key.fingerprint != self.key_id {
            return Err(format!(
                "key_id {} does not match its public key ({})",
                self.key_id, key.fingerprint
            ));
        }
        let sig = base64::engine::general_purpose::STANDARD
            .decode(self.signature.trim())
            .map_err(|_| "the signature is not base64".to_string())?;
        if key.verifies(&message(self.seq, &self.hash, self.at_ms), &sig) {
            Ok(())
        } else {
            Err("the signature does not verify: the checkpoint was altered or forged".into())
        }
    }
}

/// What [`AuditLog::checkpoint_check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointCheck {
    /// The trail's entry `seq` has the checkpoint's hash and the chain is
    /// intact from there to `head`.
    Extends {
        /// The trail's last entry.
        head: i64,
    },
    /// The trail does not extend the checkpoint: why.
    Diverges(String),
    /// Entry `seq` was trimmed into an archive: only the archive can show it.
    Trimmed(String),
}

impl AuditLog {
    /// Signs the chain's current head with the registry's key and stores the
    /// checkpoint. `None` when the trail is empty.
    ///
    /// Errors: [`Error::Meta`]; [`Error::Unsupported`] when the key cannot sign.
    pub async fn checkpoint_sign(&self, auth: &Auth) -> Result<Option<SignedCheckpoint>> {
        let Some((seq, hash)) = self.meta().audit_head().await? else {
            return Ok(None);
        };
        let at_ms = berth_meta::store::now_ms();
        let (signature, public_key) = auth.sign_with_registry_key(&message(seq, &hash, at_ms))?;
        let key = PublicKey::from_pem(&public_key).map_err(Error::Unsupported)?;
        let cp = SignedCheckpoint {
            format: FORMAT.into(),
            seq,
            hash,
            at_ms,
            key_id: key.fingerprint,
            public_key,
            signature: base64::engine::general_purpose::STANDARD.encode(signature),
        };
        self.meta()
            .audit_signed_head_store(&berth_meta::SignedHeadRow {
                seq: cp.seq,
                hash: cp.hash.clone(),
                at: cp.at_ms,
                public_key: cp.public_key.clone(),
                signature: cp.signature.clone(),
            })
            .await?;
        tracing::info!(seq = cp.seq, hash = %cp.hash, key = %cp.key_id, "audit trail head signed");
        Ok(Some(cp))
    }

    /// The latest stored checkpoint (`None` before the first).
    ///
    /// Errors: [`Error::Meta`]; [`Error::Unsupported`] for a stored key that
    /// does not parse.
    pub async fn checkpoint_latest(&self) -> Result<Option<SignedCheckpoint>> {
        let Some(row) = self.meta().audit_signed_head_latest().await? else {
            return Ok(None);
        };
        let key = PublicKey::from_pem(&row.public_key).map_err(Error::Unsupported)?;
        Ok(Some(SignedCheckpoint {
            format: FORMAT.into(),
            seq: row.seq,
            hash: row.hash,
            at_ms: row.at,
            key_id: key.fingerprint,
            public_key: row.public_key,
            signature: row.signature,
        }))
    }

    /// Whether the stored trail extends `cp`: the chain is intact, and its
    /// entry `cp.seq` (or the trim checkpoint ending there) has `cp.hash`.
    /// The signature is checked separately ([`SignedCheckpoint::check_signature`]).
    ///
    /// Errors: [`Error::Meta`].
    pub async fn checkpoint_check(&self, cp: &SignedCheckpoint) -> Result<CheckpointCheck> {
        if let crate::audit::ChainCheck::Broken(b) = self.verify().await? {
            return Ok(CheckpointCheck::Diverges(format!(
                "the chain is broken: {b}"
            )));
        }
        let head = self.meta().audit_head().await?.map(|(seq, _)| seq);
        if let Some(stored) = self.meta().audit_hash_of(cp.seq).await? {
            return Ok(if stored == cp.hash {
                CheckpointCheck::Extends {
                    head: head.unwrap_or(cp.seq),
                }
            } else {
                CheckpointCheck::Diverges(format!(
                    "entry {} has hash {stored}, the checkpoint says {}: the history up to it was rewritten",
                    cp.seq, cp.hash
                ))
            });
        }
        let trims = self.checkpoints().await?;
        if let Some(t) = trims.iter().find(|t| t.last_seq == cp.seq) {
            return Ok(if t.last_hash == cp.hash {
                CheckpointCheck::Extends {
                    head: head.unwrap_or(cp.seq),
                }
            } else {
                CheckpointCheck::Diverges(format!(
                    "entry {} (the anchor of a trim) has hash {}, the checkpoint says {}: the history up to it was rewritten",
                    cp.seq, t.last_hash, cp.hash
                ))
            });
        }
        if let Some(t) = trims
            .iter()
            .find(|t| t.first_seq <= cp.seq && cp.seq <= t.last_seq)
        {
            return Ok(CheckpointCheck::Trimmed(format!(
                "entry {} was trimmed into the archive of entries {}..{} ({}): check it with berth audit verify --archive",
                cp.seq, t.first_seq, t.last_seq, t.archive
            )));
        }
        Ok(CheckpointCheck::Diverges(match head {
            Some(h) if h < cp.seq => format!(
                "the trail ends at entry {h}, before the checkpoint's entry {}: entries were removed (truncated or rolled back)",
                cp.seq
            ),
            Some(_) => format!("entry {} is missing from the trail", cp.seq),
            None => format!(
                "the trail is empty, but the checkpoint signs entry {}: entries were removed",
                cp.seq
            ),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

    fn signed(seq: i64, hash: &str) -> (SignedCheckpoint, EcdsaKeyPair) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let pem = crate::signing::keys::p256_pem(pair.public_key().as_ref()).unwrap();
        let sig = pair.sign(&rng, &message(seq, hash, 7)).unwrap();
        let key = PublicKey::from_pem(&pem).unwrap();
        (
            SignedCheckpoint {
                format: FORMAT.into(),
                seq,
                hash: hash.into(),
                at_ms: 7,
                key_id: key.fingerprint,
                public_key: pem,
                signature: base64::engine::general_purpose::STANDARD.encode(sig.as_ref()),
            },
            pair,
        )
    }

    #[test]
    fn a_checkpoint_verifies_and_any_change_to_it_does_not() {
        let (cp, _) = signed(12, "ab");
        assert_eq!(cp.check_signature(None), Ok(()));
        let moved = SignedCheckpoint {
            seq: 11,
            ..cp.clone()
        };
        assert!(moved
            .check_signature(None)
            .unwrap_err()
            .contains("altered or forged"));
        let rehashed = SignedCheckpoint {
            hash: "cd".into(),
            ..cp.clone()
        };
        assert!(rehashed.check_signature(None).is_err());
        let (other, _) = signed(12, "ab");
        let e = cp.check_signature(Some(&other.public_key)).unwrap_err();
        assert!(e.contains("not by the key given"), "{e}");
        assert_eq!(cp.check_signature(Some(&cp.public_key)), Ok(()));
    }
}
