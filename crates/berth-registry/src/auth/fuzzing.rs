//! Entry point shared by the `tokens_and_scopes` fuzz target in `fuzz/` and by
//! the corpus replay test (`tests/fuzz_corpus.rs`), as `berth_oci::fuzzing` is
//! for the OCI parsers: every input the fuzzer ever kept is also an ordinary
//! `cargo test` case. It takes arbitrary bytes, must never panic, and asserts
//! the parsers' own invariants.

use std::time::Duration;

use base64::Engine;

use super::token::{Claims, Scope, TokenIssuer};

/// The fuzzing key: a P-256 PKCS#8 key made for this file with `openssl
/// genpkey`, public on purpose, never used to sign anything real. The corpus
/// holds tokens signed with it (service and issuer `berth`), so the fuzzer
/// starts from inputs that pass the signature check.
pub const FUZZ_KEY: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgRKkmArQnQomyrPfx1TP8G9obIY6YvsWcevjjSVGLO0WhRANCAARvnxPPRH88+ofENKnw6lyBg4V7dz2mox60Ud+qBgveUreZEMl4/lrta52aETxUdf5fuh99JtlWShCDqOZ/8Rxh";

/// floor(n / 2) of P-256, big-endian: the largest canonical ECDSA `s`.
const P256_HALF_N: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

fn issuer() -> &'static TokenIssuer {
    static ISSUER: std::sync::OnceLock<TokenIssuer> = std::sync::OnceLock::new();
    ISSUER.get_or_init(|| {
        TokenIssuer::new(FUZZ_KEY, "berth", "berth", Duration::from_secs(300))
            .expect("the fuzzing key parses")
    })
}

/// Scope parsing (`Scope::parse`, `Scope::parse_all`), bearer token
/// verification with a fixed key (`TokenIssuer::verify`) and claims decoding.
///
/// The input is used as text (lossily, so every byte string reaches the
/// parsers): as one scope, as `scope` parameter values (one per line), as a
/// token, and, when it has several lines, as a token built from its first
/// three lines (`b64url(line 1).b64url(line 2).b64url(line 3)`, so the
/// corpus can hold readable JOSE headers and claims). Raw bytes also go to
/// the claims' JSON decoder.
///
/// Invariants: a parsed scope has a non-empty type without `:` or `(`, a
/// non-empty name, non-empty trimmed actions without `,`, and prints back to
/// text that parses to the same scope; `parse_all` yields at most one scope
/// per space-separated word, each what `parse` makes of it; a token that
/// verifies names the service and issuer, has not expired, has no `crit`
/// header and a 64-byte low-S signature.
pub fn tokens_and_scopes(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    scope(&text);
    let lines: Vec<&str> = text.lines().collect();
    let all = Scope::parse_all(lines.iter().copied());
    let words: Vec<&str> = lines
        .iter()
        .flat_map(|l| l.split(' '))
        .filter(|w| !w.is_empty())
        .collect();
    assert!(all.len() <= words.len());
    let singly: Vec<Scope> = words.iter().filter_map(|w| Scope::parse(w)).collect();
    assert_eq!(all, singly);
    for line in &lines {
        scope(line);
    }

    token(text.trim());
    if lines.len() >= 2 {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let part = |i: usize| b64.encode(lines.get(i).copied().unwrap_or(""));
        token(&format!("{}.{}.{}", part(0), part(1), part(2)));
        // The third line taken as an already encoded signature.
        token(&format!(
            "{}.{}.{}",
            part(0),
            part(1),
            lines.get(2).copied().unwrap_or("")
        ));
    }
    let _ = serde_json::from_slice::<Claims>(data);
}

fn scope(s: &str) {
    let Some(sc) = Scope::parse(s) else { return };
    assert!(
        !sc.kind.is_empty() && !sc.kind.contains([':', '(']),
        "{s:?}"
    );
    assert!(!sc.name.is_empty(), "{s:?}");
    for a in &sc.actions {
        assert!(!a.is_empty() && !a.contains(',') && a.trim() == a, "{s:?}");
    }
    assert_eq!(
        Scope::parse(&sc.to_scope_string()).as_ref(),
        Some(&sc),
        "{s:?}"
    );
}

fn token(t: &str) {
    let Ok(claims) = issuer().verify(t) else {
        return;
    };
    assert_eq!(claims.aud, "berth");
    assert_eq!(claims.iss, "berth");
    assert!(
        claims.exp > super::token::unix_now(),
        "expired but accepted"
    );
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = t.split('.').collect();
    assert_eq!(parts.len(), 3, "{t:?}");
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&b64.decode(parts[0]).expect("header base64url"))
            .expect("header JSON");
    assert!(!header.contains_key("crit"), "crit header accepted: {t:?}");
    let sig = b64.decode(parts[2]).expect("signature base64url");
    assert_eq!(sig.len(), 64, "{t:?}");
    assert!(sig[32..] <= P256_HALF_N[..], "high-S signature accepted");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzzing_key_signs_tokens_that_pass_every_check() {
        let (t, _) = issuer()
            .issue("alice", Scope::parse_all(["repository:a:pull"]), None)
            .expect("token");
        tokens_and_scopes(t.as_bytes());
        assert!(issuer().verify(&t).is_ok());
    }
}
