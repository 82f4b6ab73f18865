//! Registry bearer tokens (Docker "Token Authentication Specification" and its
//! JWT implementation, `distribution/docs/spec/auth/jwt.md`): scopes, claims, and
//! the ES256 signing key kept in the metadata store.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::{Deserialize, Serialize};

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
    /// For users' refresh tokens: the password change time they were issued
    /// under; a later password change invalidates them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub berth_pwd: Option<i64>,
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

    /// Signs an access token for `sub` with the granted scopes. Returns the
    /// token and its claims.
    pub fn issue(&self, sub: &str, access: Vec<Scope>) -> Result<(String, Claims), TokenError> {
        self.sign(sub, access, self.ttl, None, None)
    }

    /// Signs a refresh token for `sub` valid for `ttl`.
    pub fn issue_refresh(
        &self,
        sub: &str,
        ttl: Duration,
        password_changed_at: Option<i64>,
    ) -> Result<String, TokenError> {
        self.sign(
            sub,
            Vec::new(),
            ttl,
            Some("refresh".into()),
            password_changed_at,
        )
        .map(|(t, _)| t)
    }

    fn sign(
        &self,
        sub: &str,
        access: Vec<Scope>,
        ttl: Duration,
        kind: Option<String>,
        pwd: Option<i64>,
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
            berth_pwd: pwd,
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        Ok((token, claims))
    }

    /// Verifies signature, algorithm, `aud` (= the service), `iss`, `exp` and
    /// `nbf` (no leeway); returns the claims.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
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
        let (t, claims) = a.issue("alice", vec![scope.clone()]).expect("issue");
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
        let (t, _) = one.issue("alice", vec![]).expect("issue");
        assert!(one.verify(&t).is_ok());
        assert!(two.verify(&t).is_err(), "aud is checked");
    }
}
