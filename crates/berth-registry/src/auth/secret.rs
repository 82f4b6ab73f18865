//! Password hashing (argon2id, PHC strings), random secrets, and the keyed hash
//! used as the credential-cache key.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// argon2id cost of new hashes: 7 MiB of memory, 5 passes, 1 lane — OWASP's
/// Password Storage Cheat Sheet lists it as equivalent in strength to the
/// crate's default (19 MiB, 2 passes). berth takes the low-memory end because a
/// registry verifies logins concurrently (each hash holds its memory for its
/// whole run): 16 parallel logins need 112 MiB instead of 304 MiB, and a small
/// node's peak RSS stays small. Verification reads the cost from each stored
/// PHC string, so hashes made with other parameters keep working.
const MEMORY_KIB: u32 = 7 * 1024;
const PASSES: u32 = 5;

fn hasher() -> Argon2<'static> {
    match Params::new(MEMORY_KIB, PASSES, 1, None) {
        Ok(params) => Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        Err(_) => Argon2::default(),
    }
}
use ring::rand::{SecureRandom, SystemRandom};

/// Hashes a password with argon2id and a random salt; returns the PHC string.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    // SystemRandom only fails when the OS has no entropy source at all.
    let _ = SystemRandom::new().fill(&mut salt);
    hasher()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// Verifies `password` against a PHC string (constant-time inside argon2).
/// A malformed hash verifies nothing.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordVerifier::<str>::verify_password(&hasher(), password.as_bytes(), phc).is_ok()
}

/// `n` random bytes as lowercase hex (`2n` characters).
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    let _ = SystemRandom::new().fill(&mut bytes);
    hex::encode(bytes)
}

/// A random alphanumeric secret of `len` characters (robot secrets, generated
/// admin passwords): ~5.95 bits per character.
pub fn random_secret(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = vec![0u8; len];
    let _ = SystemRandom::new().fill(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// SHA-256 of `data` as lowercase hex (personal access tokens are stored this way).
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

/// HMAC-SHA256 of `parts` (NUL-separated) under a per-process key: the key of
/// the verified-credentials cache, so the cache never holds a password.
pub struct KeyedHash(ring::hmac::Key);

impl KeyedHash {
    /// A hasher with a fresh random key.
    pub fn new() -> KeyedHash {
        let rng = SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng).unwrap_or_else(|_| {
            ring::hmac::Key::new(ring::hmac::HMAC_SHA256, random_hex(32).as_bytes())
        });
        KeyedHash(key)
    }

    /// The tag of `parts`.
    pub fn tag(&self, parts: &[&str]) -> [u8; 32] {
        let mut ctx = ring::hmac::Context::with_key(&self.0);
        for p in parts {
            ctx.update(p.as_bytes());
            ctx.update(&[0]);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }
}

impl Default for KeyedHash {
    fn default() -> Self {
        KeyedHash::new()
    }
}

/// AES-256-GCM sealing of secrets berth must keep and use again (an OIDC
/// provider's refresh tokens), under a key derived with HKDF-SHA256 from
/// key material every node shares (the token signing key). A sealed value
/// is `base64url(nonce || ciphertext || tag)`; a database dump alone does
/// not reveal it.
pub struct SealingKey(ring::aead::LessSafeKey);

impl SealingKey {
    /// The key for purpose `info` derived from `material`.
    pub fn derive(material: &[u8], info: &[u8]) -> SealingKey {
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"berth sealing key");
        let prk = salt.extract(material);
        let mut bytes = [0u8; 32];
        let info = [info];
        // 32 bytes is within HKDF-SHA256's output limit; fill cannot fail.
        if let Ok(okm) = prk.expand(&info, ring::hkdf::HKDF_SHA256) {
            let _ = okm.fill(&mut bytes);
        }
        let key = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &bytes)
            .unwrap_or_else(|_| unreachable!("a 32-byte key fits AES-256"));
        SealingKey(ring::aead::LessSafeKey::new(key))
    }

    /// Seals `plain` with a random nonce.
    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; 12];
        let _ = SystemRandom::new().fill(&mut nonce);
        let mut data = plain.as_bytes().to_vec();
        if self
            .0
            .seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::empty(),
                &mut data,
            )
            .is_err()
        {
            return String::new();
        }
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, out)
    }

    /// Opens a value [`SealingKey::seal`] made; `None` when it was made with
    /// another key, altered, or is not a sealed value.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let raw = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sealed)
            .ok()?;
        if raw.len() < 12 + 16 {
            return None;
        }
        let (nonce, rest) = raw.split_at(12);
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = rest.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, ring::aead::Aad::empty(), &mut data)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("s3cret");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("s3cret ", &h));
        assert!(!verify_password("s3cret", "not a hash"));
        assert_ne!(hash_password("s3cret"), h, "salted");
    }

    #[test]
    fn new_hashes_use_the_low_memory_cost_and_old_ones_still_verify() {
        let h = hash_password("s3cret");
        assert!(h.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{h}");
        // A hash with the crate's default cost (19 MiB, 2 passes), as stored by
        // earlier berth versions.
        let old = Argon2::default()
            .hash_password_with_salt(b"s3cret", b"saltsaltsalt")
            .unwrap()
            .to_string();
        assert!(old.contains("m=19456,t=2,p=1"), "{old}");
        assert!(verify_password("s3cret", &old));
        assert!(!verify_password("wrong", &old));
    }

    #[test]
    fn sealed_values_open_only_with_their_key() {
        let k = SealingKey::derive(b"material", b"purpose");
        let sealed = k.seal("refresh-token-1");
        assert_ne!(sealed, k.seal("refresh-token-1"), "a fresh nonce each time");
        assert!(!sealed.contains("refresh-token-1"));
        assert_eq!(k.open(&sealed).as_deref(), Some("refresh-token-1"));
        assert_eq!(SealingKey::derive(b"other", b"purpose").open(&sealed), None);
        assert_eq!(
            SealingKey::derive(b"material", b"other").open(&sealed),
            None
        );
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(k.open(&String::from_utf8(tampered).expect("ascii")), None);
        assert_eq!(k.open("junk"), None);
    }

    #[test]
    fn secrets_are_random() {
        assert_eq!(random_secret(32).len(), 32);
        assert_ne!(random_secret(32), random_secret(32));
        let k = KeyedHash::new();
        assert_eq!(k.tag(&["a", "b"]), k.tag(&["a", "b"]));
        assert_ne!(k.tag(&["a", "b"]), k.tag(&["ab", ""]));
    }
}
