//! Registry bearer tokens (Docker "Token Authentication Specification" and its
//! JWT implementation, `distribution/docs/spec/auth/jwt.md`): scopes, claims, and
//! the ES256 signing key kept in the metadata store.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::{Deserialize, Serialize};

use super::credential::Credential;

/// One requested or granted resource scope: `repository:team/app:pull,push`,
/// `registry:catalog:*` (token spec §Requesting a Token, "scope").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Resource type: `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Resource name: a repository name, or `catalog`.
    pub name: String,
    /// Actions: `pull`, `push`, `delete`, `*`.
    pub actions: Vec<String>,
}

impl Scope {
    /// Parses `type[(class)]:name:actions`. The name may itself contain `:` (a
    /// registry host with a port), so the type is split at the first `:` and the
    /// actions at the last. Returns `None` for anything else.
    pub fn parse(s: &str) -> Option<Scope> {
        let (kind, rest) = s.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        // `repository(plugin)` style resource classes are reduced to the type.
        let kind = kind.split('(').next().unwrap_or(kind);
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        let actions: Vec<String> = actions
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        Some(Scope {
            kind: kind.to_owned(),
            name: name.to_owned(),
            actions,
        })
    }

    /// Parses every scope in a list of `scope` parameter values; each value may
    /// hold several space-separated scopes (the OAuth2 form). Unparseable ones are skipped.
    pub fn parse_all<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Scope> {
        values
            .into_iter()
            .flat_map(|v| v.split(' '))
            .filter(|s| !s.is_empty())
            .filter_map(Scope::parse)
            .collect()
    }

    /// The scope as text: `type:name:a,b`.
    pub fn to_scope_string(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

/// The claims of a berth token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer (`auth.issuer`, default `berth`).
    pub iss: String,
    /// Subject: the principal's name; empty for anonymous.
    pub sub: String,
    /// Audience: the service (`auth.service`).
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Not before, Unix seconds.
    pub nbf: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Unique id.
    pub jti: String,
    /// Granted scopes (empty for refresh tokens).
    #[serde(default)]
    pub access: Vec<Scope>,
    /// `refresh` for refresh tokens (accepted only by the token endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub berth_kind: Option<String>,
    /// The credential the subject authenticated with (absent for anonymous
    /// tokens): checked again on every use, so the token dies with it
    /// ([`super::credential`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub berth_cred: Option<Credential>,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Bad signature, wrong audience or issuer, malformed, expired.
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Signs and verifies tokens with one ES256 key.
pub struct TokenIssuer {
    /// The key, PKCS#8 DER (for [`TokenIssuer::sign_asn1`]).
    pkcs8: Vec<u8>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    service: String,
    issuer: String,
    ttl: Duration,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A new P-256 key as base64 PKCS#8 (what the metadata store keeps).
pub fn generate_key() -> Option<String> {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(doc.as_ref()))
}

impl TokenIssuer {
    /// Signs `message` with the token key: ECDSA P-256 SHA-256, ASN.1 DER.
    /// Returns the signature and the public point (65 bytes). `None` when
    /// signing fails (it does not with a key [`TokenIssuer::new`] accepted).
    pub fn sign_asn1(&self, message: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &self.pkcs8,
            &rng,
        )
        .ok()?;
        let sig = pair.sign(&rng, message).ok()?;
        Some((sig.as_ref().to_vec(), pair.public_key().as_ref().to_vec()))
    }

    /// An issuer over a base64 PKCS#8 P-256 key (see [`generate_key`]); `None`
    /// when the key does not parse.
    pub fn new(key_b64: &str, service: &str, issuer: &str, ttl: Duration) -> Option<TokenIssuer> {
        let pkcs8 = base64::engine::general_purpose::STANDARD
            .decode(key_b64)
            .ok()?;
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pkcs8,
            &SystemRandom::new(),
        )
        .ok()?;
        let public = pair.public_key().as_ref().to_vec();
        // The key id: the first 16 hex digits of SHA-256 of the public key.
        let kid = hex::encode(&ring::digest::digest(&ring::digest::SHA256, &public).as_ref()[..8]);
        Some(TokenIssuer {
            pkcs8: pkcs8.clone(),
            encoding: EncodingKey::from_ec_der(&pkcs8),
            decoding: DecodingKey::from_ec_der(&public),
            kid,
            service: service.to_owned(),
            issuer: issuer.to_owned(),
            ttl,
        })
    }

    /// The service name tokens are issued for (`aud`).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Lifetime of access tokens.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Signs an access token for `sub` with the granted scopes, bound to the
    /// credential `cred` (`None`: anonymous). Returns the token and its claims.
    pub fn issue(
        &self,
        sub: &str,
        access: Vec<Scope>,
        cred: Option<Credential>,
    ) -> Result<(String, Claims), TokenError> {
        self.sign(sub, access, self.ttl, None, cred)
    }

    /// Signs a refresh token for `sub` valid for `ttl`, bound to `cred`.
    pub fn issue_refresh(
        &self,
        sub: &str,
        ttl: Duration,
        cred: Credential,
    ) -> Result<String, TokenError> {
        self.sign(sub, Vec::new(), ttl, Some("refresh".into()), Some(cred))
            .map(|(t, _)| t)
    }

    fn sign(
        &self,
        sub: &str,
        access: Vec<Scope>,
        ttl: Duration,
        kind: Option<String>,
        cred: Option<Credential>,
    ) -> Result<(String, Claims), TokenError> {
        let now = unix_now();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: sub.to_owned(),
            aud: self.service.clone(),
            exp: now + ttl.as_secs().max(1),
            nbf: now.saturating_sub(1),
            iat: now,
            jti: super::secret::random_hex(16),
            access,
            berth_kind: kind,
            berth_cred: cred,
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        Ok((low_s(&token), claims))
    }

    /// Verifies signature, algorithm, `aud` (= the service), `iss`, `exp` and
    /// `nbf` (no leeway); returns the claims. Refused besides: a header with a
    /// `crit` member (RFC 7515 §4.1.11: berth understands no extension, so any
    /// listed one is unknown) and a non-canonical ECDSA signature (`s` above
    /// n/2, the malleable twin of a valid signature; berth signs low-S only).
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        strict_shape(token)?;
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&[&self.service]);
        v.set_issuer(&[&self.issuer]);
        v.leeway = 0;
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)
            .map(|d| d.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }
}

/// The order of the P-256 group, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];
/// floor(n / 2): the largest canonical (low) `s`.
const P256_HALF_N: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

/// `n - s` for a 32-byte big-endian `s < n`.
fn negate_mod_n(s: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(P256_N[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

/// Rewrites a freshly signed ES256 JWS to its low-S form (`s` → `n - s` when
/// `s > n/2`; both verify, only the low one is accepted by [`TokenIssuer::verify`]).
fn low_s(token: &str) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let Some((signed, sig)) = token.rsplit_once('.') else {
        return token.to_owned();
    };
    let Ok(mut raw) = b64.decode(sig) else {
        return token.to_owned();
    };
    if raw.len() != 64 || raw[32..] <= P256_HALF_N[..] {
        return token.to_owned();
    }
    let s = negate_mod_n(&raw[32..]);
    raw[32..].copy_from_slice(&s);
    format!("{signed}.{}", b64.encode(raw))
}

/// The checks `jsonwebtoken` does not make: no `crit` header member, and a
/// 64-byte `r || s` signature with `s <= n/2`.
fn strict_shape(token: &str) -> Result<(), TokenError> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bad = |m: &str| TokenError::Invalid(m.to_owned());
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("a token has three dot-separated parts"));
    };
    let header = b64
        .decode(header)
        .map_err(|_| bad("the token header is not base64url"))?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|_| bad("the token header is not a JSON object"))?;
    if header.contains_key("crit") {
        return Err(bad(
            "the token header lists critical extensions berth does not understand",
        ));
    }
    let sig = b64
        .decode(sig)
        .map_err(|_| bad("the token signature is not base64url"))?;
    if sig.len() != 64 {
        return Err(bad("an ES256 signature is 64 bytes"));
    }
    if sig[32..] > P256_HALF_N[..] {
        return Err(bad("non-canonical (high-S) ECDSA signature"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(service: &str) -> TokenIssuer {
        TokenIssuer::new(
            &generate_key().expect("key"),
            service,
            "berth",
            Duration::from_secs(300),
        )
        .expect("issuer")
    }

    #[test]
    fn scopes_parse_like_distribution() {
        let s = Scope::parse("repository:team/app:pull,push").expect("scope");
        assert_eq!(
            (s.kind.as_str(), s.name.as_str()),
            ("repository", "team/app")
        );
        assert_eq!(s.actions, ["pull", "push"]);
        let s = Scope::parse("repository:localhost:5000/app:pull").expect("port");
        assert_eq!(s.name, "localhost:5000/app");
        let s = Scope::parse("repository(plugin):a:pull").expect("class");
        assert_eq!(s.kind, "repository");
        assert_eq!(
            Scope::parse("registry:catalog:*").expect("catalog").actions,
            ["*"]
        );
        assert_eq!(Scope::parse("nonsense"), None);
        assert_eq!(
            Scope::parse_all(["repository:a:pull repository:b:push"]).len(),
            2
        );
    }

    #[test]
    fn tokens_round_trip_and_bind_to_their_service() {
        let a = issuer("svc");
        let scope = Scope::parse("repository:a:pull").expect("scope");
        let (t, claims) = a.issue("alice", vec![scope.clone()], None).expect("issue");
        let back = a.verify(&t).expect("verify");
        assert_eq!(back, claims);
        assert_eq!(back.access, vec![scope]);
        // Another key: bad signature.
        assert!(issuer("svc").verify(&t).is_err());
        // Tampered payload.
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&Claims {
                sub: "admin".into(),
                ..claims
            })
            .expect("json"),
        );
        assert!(a.verify(&parts.join(".")).is_err());
    }

    #[test]
    fn same_key_other_audience_is_refused() {
        let key = generate_key().expect("key");
        let one = TokenIssuer::new(&key, "one", "berth", Duration::from_secs(60)).expect("1");
        let two = TokenIssuer::new(&key, "two", "berth", Duration::from_secs(60)).expect("2");
        let (t, _) = one.issue("alice", vec![], None).expect("issue");
        assert!(one.verify(&t).is_ok());
        assert!(two.verify(&t).is_err(), "aud is checked");
    }

    fn resign(a: &TokenIssuer, header_json: &str, payload_b64: &str) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let signing_input = format!("{}.{payload_b64}", b64.encode(header_json));
        let sig =
            jsonwebtoken::crypto::sign(signing_input.as_bytes(), &a.encoding, Algorithm::ES256)
                .expect("sign");
        low_s(&format!("{signing_input}.{sig}"))
    }

    #[test]
    fn jwt_strictness_refuses_unknown_crit_headers() {
        let a = issuer("svc");
        let (t, _) = a.issue("alice", vec![], None).expect("issue");
        let payload = t.split('.').nth(1).expect("payload");
        let plain = resign(&a, r#"{"alg":"ES256","typ":"JWT"}"#, payload);
        assert!(a.verify(&plain).is_ok(), "re-signed without crit verifies");
        let crit = resign(
            &a,
            r#"{"alg":"ES256","typ":"JWT","crit":["exp-ext"],"exp-ext":1}"#,
            payload,
        );
        let err = a.verify(&crit).expect_err("crit refused");
        assert!(err.to_string().contains("critical"), "{err}");
    }

    #[test]
    fn jwt_strictness_refuses_high_s_signatures() {
        let a = issuer("svc");
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        for _ in 0..8 {
            let (t, _) = a.issue("alice", vec![], None).expect("issue");
            let (signed, sig) = t.rsplit_once('.').expect("sig");
            let mut raw = b64.decode(sig).expect("b64");
            assert!(raw[32..] <= P256_HALF_N[..], "berth signs low-S");
            assert!(a.verify(&t).is_ok());
            // The malleable twin: (r, n - s) is a valid ECDSA signature too.
            let high = negate_mod_n(&raw[32..]);
            raw[32..].copy_from_slice(&high);
            let twin = format!("{signed}.{}", b64.encode(&raw));
            let err = a.verify(&twin).expect_err("high-S refused");
            assert!(err.to_string().contains("high-S"), "{err}");
        }
    }
}
