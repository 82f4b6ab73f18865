//! Content digests: `algorithm ":" encoded`, as defined by the OCI image-spec
//! §Digests. berth stores and verifies two algorithms, `sha256` (canonical) and
//! `sha512`; any other algorithm is refused with [`DigestError::Unsupported`].
//!
//! Because the encoded part is checked to be lowercase hex of the exact length, a
//! [`Digest`] can be used to build storage keys without any escaping: it can never
//! contain `/`, `.` or any other path syntax.

use std::fmt;
use std::str::FromStr;

/// A digest algorithm berth can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, 64 hex characters. The canonical algorithm: digests berth computes
    /// itself (for example of a manifest pushed by tag) use it.
    Sha256,
    /// SHA-512, 128 hex characters.
    Sha512,
}

impl Algorithm {
    /// The name as it appears before the colon: `sha256` or `sha512`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the hex-encoded digest value.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    fn ring(self) -> &'static ring::digest::Algorithm {
        match self {
            Algorithm::Sha256 => &ring::digest::SHA256,
            Algorithm::Sha512 => &ring::digest::SHA512,
        }
    }
}

/// Why a string is not a usable digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not of the form `algorithm:encoded` with the grammar of OCI image-spec §Digests.
    #[error("invalid digest syntax: {0:?}")]
    Syntax(String),
    /// Well-formed, but an algorithm berth does not verify (only sha256 and sha512 are).
    #[error("unsupported digest algorithm {0:?}: only sha256 and sha512 are accepted")]
    Unsupported(String),
}

/// A validated digest such as `sha256:e3b0c442…`.
///
/// Parsing (OCI image-spec §Digests): the algorithm must be `sha256` or `sha512` and the
/// encoded part lowercase hex of exactly 64 or 128 characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    // The full text `alg:hex`, kept so `as_str` is free.
    text: String,
}

impl Digest {
    /// Parses and validates a digest string.
    ///
    /// Errors: [`DigestError::Syntax`] when the string breaks the grammar,
    /// [`DigestError::Unsupported`] for a well-formed digest of another algorithm.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| DigestError::Syntax(s.to_string()))?;
        // Generic grammar: algorithm-component ([+._-] algorithm-component)*, with
        // components [a-z0-9]+; encoded [a-zA-Z0-9=_-]+.
        let alg_ok = !alg.is_empty()
            && alg.split(['+', '.', '_', '-']).all(|c| {
                !c.is_empty()
                    && c.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        let enc_ok = !hex.is_empty()
            && hex
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'=' || b == b'_' || b == b'-');
        if !alg_ok || !enc_ok {
            return Err(DigestError::Syntax(s.to_string()));
        }
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(DigestError::Unsupported(alg.to_string())),
        };
        if hex.len() != algorithm.hex_len()
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(DigestError::Syntax(s.to_string()));
        }
        Ok(Digest {
            algorithm,
            text: s.to_string(),
        })
    }

    /// Computes the digest of `bytes` with `algorithm`.
    pub fn of(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        let mut h = Hasher::new(algorithm);
        h.update(bytes);
        h.finish()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex-encoded value after the colon.
    pub fn hex(&self) -> &str {
        &self.text[self.algorithm.as_str().len() + 1..]
    }

    /// The full `algorithm:hex` text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.text)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

/// Incremental hashing for one algorithm; feed bytes as they stream in, then
/// [`finish`](Hasher::finish) to get the [`Digest`]. Backed by `ring` (assembly
/// SHA-2 implementations).
#[derive(Clone)]
pub struct Hasher {
    algorithm: Algorithm,
    ctx: ring::digest::Context,
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(algorithm: Algorithm) -> Hasher {
        Hasher {
            algorithm,
            ctx: ring::digest::Context::new(algorithm.ring()),
        }
    }

    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.ctx.update(bytes);
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let out = self.ctx.finish();
        let text = format!("{}:{}", self.algorithm.as_str(), hex::encode(out.as_ref()));
        Digest {
            algorithm: self.algorithm,
            text,
        }
    }

    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// A SHA-256 whose running state can be saved as bytes and restored in
/// another process: the hash of an upload session on an object store, which
/// any node continues (OCI dist-spec v1.1 §Pushing blobs in chunks). Slower
/// to set up than [`Hasher`] (sha2 instead of ring), the same digests.
#[derive(Clone, Default)]
pub struct ResumableSha256(sha2::Sha256);

impl ResumableSha256 {
    /// A fresh hasher.
    pub fn new() -> ResumableSha256 {
        ResumableSha256::default()
    }

    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        sha2::Digest::update(&mut self.0, bytes);
    }

    /// The running state, as bytes to store (opaque; fixed size).
    pub fn save(&self) -> Vec<u8> {
        use sha2::digest::common::hazmat::SerializableState;
        self.0.serialize().to_vec()
    }

    /// A hasher in the state [`ResumableSha256::save`] gave; `None` for bytes
    /// that are not such a state.
    pub fn restore(state: &[u8]) -> Option<ResumableSha256> {
        use sha2::digest::common::hazmat::{SerializableState, SerializedState};
        let state = SerializedState::<sha2::Sha256>::try_from(state).ok()?;
        sha2::Sha256::deserialize(&state).ok().map(ResumableSha256)
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let out = sha2::Digest::finalize(self.0);
        Digest {
            algorithm: Algorithm::Sha256,
            text: format!("sha256:{}", hex::encode(out)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_sha256_state_continues_to_the_same_digest() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        for cut in [0, 1, 63, 64, 65, 100_000, data.len()] {
            let mut h = ResumableSha256::new();
            h.update(&data[..cut]);
            let saved = h.save();
            let mut resumed = ResumableSha256::restore(&saved).expect("restores");
            resumed.update(&data[cut..]);
            assert_eq!(
                resumed.finish(),
                Digest::of(Algorithm::Sha256, &data),
                "cut {cut}"
            );
        }
        assert!(ResumableSha256::restore(b"not a state").is_none());
    }

    const EMPTY_SHA256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn sha256_of_empty_input_is_the_well_known_value() {
        assert_eq!(Digest::of(Algorithm::Sha256, b"").as_str(), EMPTY_SHA256);
    }

    #[test]
    fn sha512_digest_parses_and_round_trips() {
        let d = Digest::of(Algorithm::Sha512, b"abc");
        assert_eq!(d.hex().len(), 128);
        assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
    }

    #[test]
    fn streaming_hash_equals_one_shot_hash() {
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(b"hello ");
        h.update(b"world");
        assert_eq!(h.finish(), Digest::of(Algorithm::Sha256, b"hello world"));
    }

    #[test]
    fn uppercase_hex_is_a_syntax_error() {
        let upper = EMPTY_SHA256.to_uppercase().replace("SHA256", "sha256");
        assert!(matches!(Digest::parse(&upper), Err(DigestError::Syntax(_))));
    }

    #[test]
    fn wrong_length_is_a_syntax_error() {
        assert!(matches!(
            Digest::parse("sha256:abc"),
            Err(DigestError::Syntax(_))
        ));
    }

    #[test]
    fn unknown_algorithm_is_unsupported() {
        assert!(matches!(
            Digest::parse("md5:d41d8cd98f00b204e9800998ecf8427e"),
            Err(DigestError::Unsupported(_))
        ));
    }

    #[test]
    fn path_syntax_is_rejected() {
        for bad in [
            "sha256:../../etc/passwd",
            "../sha256:aa",
            "sha256/aa",
            "",
            ":",
            "sha256:",
            "sha256:%2e%2e",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
