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
    fn secrets_are_random() {
        assert_eq!(random_secret(32).len(), 32);
        assert_ne!(random_secret(32), random_secret(32));
        let k = KeyedHash::new();
        assert_eq!(k.tag(&["a", "b"]), k.tag(&["a", "b"]));
        assert_ne!(k.tag(&["a", "b"]), k.tag(&["ab", ""]));
    }
}
