//! Sign-in through an OpenID Connect provider (`auth.identity = "oidc"`,
//! docs/identity.md), with the `openidconnect` crate.
//!
//! The browser flow is OpenID Connect Core 1.0 §3.1 (authorization code
//! flow) with PKCE (RFC 7636, S256):
//! 1. [`Provider::begin`] discovers the provider (`<issuer>/.well-known/
//!    openid-configuration`, cached), and makes the authorization URL with a
//!    random `state`, `nonce` and PKCE challenge. The server keeps the three
//!    secrets in a short-lived HttpOnly cookie ([`PendingLogin`]), so any
//!    node can finish the flow.
//! 2. [`Provider::finish`] exchanges the code (with the PKCE verifier and the
//!    client secret) at the token endpoint and checks the ID token
//!    (§3.1.3.7): signature by a key of the provider's JWKS with an algorithm
//!    the provider announces (an unsigned `alg: none` token is refused),
//!    `iss`, `aud` containing the client id, `exp`, and the `nonce` of step 1.
//!    The user name comes from `username_claim`, groups from `groups_claim`.
//!
//! Docker and other registry clients cannot run a browser flow: a user who
//! signed in through the provider sets a CLI secret (Harbor's
//! `/users/{id}/cli_secret`) and uses it as the password. While it is used,
//! berth asks the provider at most every `recheck` whether the user still
//! holds, by redeeming the refresh token of their last sign-in
//! ([`Provider::refresh`]); a provider that refuses it (`invalid_grant`:
//! the user was removed, disabled or their grant revoked) ends their access.

use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreIdToken, CoreIdTokenVerifier,
    CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    TokenResponse,
};
use serde_json::Value;

/// `[auth.oidc]` settings.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The provider's name on the sign-in button (`"OIDC"`).
    pub name: String,
    /// The issuer URL; discovery reads `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret (empty: a public client, PKCE only). Never logged.
    pub client_secret: String,
    /// Scopes asked for (`openid` is always sent).
    pub scopes: Vec<String>,
    /// The ID token claim that names the berth user (`preferred_username`).
    pub username_claim: String,
    /// The ID token claim listing the user's groups (`groups`; empty: none).
    pub groups_claim: String,
    /// Members of this group are system administrators (empty: none).
    pub admin_group: String,
    /// The callback URL registered at the provider; empty: derived from the
    /// request, `<scheme>://<Host>/c/oidc/callback`.
    pub redirect_url: String,
    /// Extra query parameters of the authorization request (e.g.
    /// `prompt=consent`, `access_type=offline` for Google).
    pub extra_auth_params: Vec<(String, String)>,
    /// Per-request timeout of calls to the provider.
    pub timeout: Duration,
    /// How long a CLI secret is trusted before the provider is asked again.
    pub recheck: Duration,
    /// Extra CA certificates (DER) trusted for the provider's TLS, beside
    /// the built-in roots (`auth.oidc.ca_file`).
    pub ca_certificates: Vec<Vec<u8>>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            name: "OIDC".into(),
            issuer: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
            scopes: ["openid", "profile", "email", "offline_access"]
                .map(String::from)
                .to_vec(),
            username_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            admin_group: String::new(),
            redirect_url: String::new(),
            extra_auth_params: Vec::new(),
            timeout: Duration::from_secs(10),
            recheck: Duration::from_secs(300),
            ca_certificates: Vec::new(),
        }
    }
}

/// Why a sign-in through the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached, answered nonsense (discovery,
    /// JWKS, token endpoint), or refuses berth's client credentials.
    #[error("the OpenID Connect provider did not answer as expected: {0}")]
    Unavailable(String),
    /// The provider refused the code or the refresh token (`invalid_grant`
    /// and other OAuth 2.0 errors).
    #[error("the OpenID Connect provider refused the sign-in: {0}")]
    Refused(String),
    /// The ID token failed a check (signature, algorithm, issuer, audience,
    /// expiry, nonce) or lacks a claim berth needs.
    #[error("the ID token is not acceptable: {0}")]
    IdToken(String),
}

/// What a browser must bring back to finish a sign-in: kept in a
/// short-lived HttpOnly cookie as `<state>.<nonce>.<pkce verifier>` (all
/// three base64url, so `.` separates them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    /// The `state` sent to the provider (CSRF protection of the callback).
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier.
    pub verifier: String,
}

impl PendingLogin {
    /// The cookie value.
    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.state, self.nonce, self.verifier)
    }

    /// Parses a cookie value; `None` when it is not three base64url parts.
    pub fn decode(s: &str) -> Option<PendingLogin> {
        let mut parts = s.split('.');
        let (state, nonce, verifier) = (parts.next()?, parts.next()?, parts.next()?);
        let ok = |p: &str| {
            !p.is_empty()
                && p.len() <= 256
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        (parts.next().is_none() && ok(state) && ok(nonce) && ok(verifier)).then(|| PendingLogin {
            state: state.into(),
            nonce: nonce.into(),
            verifier: verifier.into(),
        })
    }
}

/// Who the provider says signed in (from a checked ID token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `"<iss> <sub>"`: the provider's stable identity of the user.
    pub subject: String,
    /// The berth user name: `username_claim`, lowercased.
    pub username: String,
    /// `email` (empty when absent).
    pub email: String,
    /// `name` (empty when absent).
    pub realname: String,
    /// `groups_claim` (a list of strings, or one string).
    pub groups: Vec<String>,
    /// The refresh token, when the provider issued one.
    pub refresh_token: Option<String>,
}

/// What the provider said when asked again about a user ([`Provider::refresh`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recheck {
    /// The user still holds. `groups` is the new groups claim when the
    /// provider sent a new ID token; `refresh_token` the rotated token.
    Holds {
        /// The groups of the new ID token, when one came.
        groups: Option<Vec<String>>,
        /// A new refresh token, when the provider rotated it.
        refresh_token: Option<String>,
    },
    /// The provider refused the refresh token: the user no longer holds.
    Refused(String),
}

/// How long discovered metadata and keys are reused.
const METADATA_FRESH: Duration = Duration::from_secs(600);

/// The configured provider: settings, an HTTP client that never follows
/// redirects (OpenID Connect Discovery §4: the issuer is taken as given),
/// and the discovered metadata.
pub struct Provider {
    config: OidcConfig,
    http: reqwest::Client,
    metadata: tokio::sync::RwLock<Option<(CoreProviderMetadata, Instant)>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// A provider for `config`; nothing is fetched until it is used.
    pub fn new(config: OidcConfig) -> Provider {
        let http = http_client(config.timeout, &config.ca_certificates);
        Provider {
            config,
            http,
            metadata: tokio::sync::RwLock::new(None),
        }
    }

    /// The settings.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Fetches the discovery document of `issuer` (the configured one when
    /// `None`) and the keys it names: Harbor's `/system/oidc/ping`.
    ///
    /// Errors: [`OidcError::Unavailable`] with the cause.
    /// For the configured provider it also presents the client credentials
    /// at the token endpoint (with a refresh token that cannot exist): a
    /// provider that answers `invalid_client` or `unauthorized_client`
    /// refuses berth's client id or secret.
    pub async fn ping(&self, issuer: Option<&str>) -> Result<(), OidcError> {
        match issuer {
            Some(i) if i != self.config.issuer => discover(&self.http, i).await.map(|_| ()),
            _ => {
                let client = self.client(self.metadata(true).await?, "")?;
                let probe = RefreshToken::new("berth-ping-not-a-refresh-token".into());
                let answer = client
                    .exchange_refresh_token(&probe)
                    .map_err(|e| OidcError::Unavailable(e.to_string()))?
                    .request_async(&self.http)
                    .await;
                match answer {
                    Err(RequestTokenError::ServerResponse(r))
                        if matches!(
                            r.error(),
                            CoreErrorResponseType::InvalidClient
                                | CoreErrorResponseType::UnauthorizedClient
                        ) =>
                    {
                        Err(OidcError::Unavailable(format!(
                            "the token endpoint refuses berth's client credentials \
                             (auth.oidc.client_id and the client secret): {}",
                            r.error()
                        )))
                    }
                    Err(RequestTokenError::ServerResponse(_)) | Ok(_) => Ok(()),
                    Err(other) => Err(OidcError::Unavailable(error_chain(&other))),
                }
            }
        }
    }

    async fn metadata(&self, fresh: bool) -> Result<CoreProviderMetadata, OidcError> {
        if !fresh {
            if let Some((m, at)) = &*self.metadata.read().await {
                if at.elapsed() < METADATA_FRESH {
                    return Ok(m.clone());
                }
            }
        }
        let m = discover(&self.http, &self.config.issuer).await?;
        *self.metadata.write().await = Some((m.clone(), Instant::now()));
        Ok(m)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
        redirect_url: &str,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        OidcError,
    > {
        let secret = (!self.config.client_secret.is_empty())
            .then(|| ClientSecret::new(self.config.client_secret.clone()));
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            secret,
        );
        Ok(if redirect_url.is_empty() {
            client
        } else {
            client.set_redirect_uri(
                RedirectUrl::new(redirect_url.to_string())
                    .map_err(|e| OidcError::Unavailable(format!("redirect URL: {e}")))?,
            )
        })
    }

    /// Starts a sign-in: the provider's authorization URL (code flow, PKCE
    /// S256, `state`, `nonce`, the configured scopes and extra parameters)
    /// and what the browser must bring back.
    ///
    /// Errors: [`OidcError::Unavailable`] when discovery fails.
    pub async fn begin(&self, redirect_url: &str) -> Result<(String, PendingLogin), OidcError> {
        let client = self.client(self.metadata(false).await?, redirect_url)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for s in self.config.scopes.iter().filter(|s| *s != "openid") {
            req = req.add_scope(Scope::new(s.clone()));
        }
        for (k, v) in &self.config.extra_auth_params {
            req = req.add_extra_param(k.clone(), v.clone());
        }
        let (url, state, nonce) = req.url();
        Ok((
            url.to_string(),
            PendingLogin {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                verifier: verifier.secret().clone(),
            },
        ))
    }

    /// Finishes a sign-in: exchanges `code` and checks the ID token against
    /// `pending` (see the module docs).
    ///
    /// Errors: [`OidcError::Unavailable`], [`OidcError::Refused`] (the code
    /// was refused), [`OidcError::IdToken`].
    pub async fn finish(
        &self,
        code: &str,
        pending: &PendingLogin,
        redirect_url: &str,
    ) -> Result<Identity, OidcError> {
        let client = self.client(self.metadata(false).await?, redirect_url)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| OidcError::Unavailable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        let id_token = response.id_token().ok_or_else(|| {
            OidcError::IdToken("the token response has no id_token (is `openid` a scope?)".into())
        })?;
        let claims = verify_id_token(
            &id_token.to_string(),
            &client.id_token_verifier(),
            &pending.nonce,
        )?;
        let mut identity = self.identity(&claims)?;
        identity.refresh_token = response.refresh_token().map(|t| t.secret().clone());
        Ok(identity)
    }

    /// Asks the provider whether the user of `refresh_token` still holds by
    /// redeeming it (OpenID Connect Core §12). A new ID token in the answer
    /// is checked like a sign-in's (without a nonce) and its groups returned.
    ///
    /// Errors: [`OidcError::Unavailable`] when the provider cannot be asked
    /// or refuses berth itself (`invalid_client` after a client secret
    /// change: no user's fault); only `invalid_grant` is
    /// `Ok(Recheck::Refused)`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Recheck, OidcError> {
        let client = self.client(self.metadata(false).await?, "")?;
        let token = RefreshToken::new(refresh_token.to_string());
        let answer = client
            .exchange_refresh_token(&token)
            .map_err(|e| OidcError::Unavailable(e.to_string()))?
            .request_async(&self.http)
            .await;
        let response = match answer {
            Ok(r) => r,
            Err(RequestTokenError::ServerResponse(r))
                if *r.error() == CoreErrorResponseType::InvalidGrant =>
            {
                return Ok(Recheck::Refused(match r.error_description() {
                    Some(d) => format!("invalid_grant: {d}"),
                    None => "invalid_grant".into(),
                }))
            }
            Err(RequestTokenError::ServerResponse(r)) => {
                return Err(OidcError::Unavailable(format!(
                    "the token endpoint refused berth's refresh request: {}{}",
                    r.error(),
                    r.error_description()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                )))
            }
            Err(other) => return Err(token_error(other)),
        };
        let groups = match response.id_token() {
            Some(t) => {
                let verifier = client.id_token_verifier();
                let claims = verify_id_token(&t.to_string(), &verifier, "")?;
                Some(self.groups(&claims))
            }
            None => None,
        };
        Ok(Recheck::Holds {
            groups,
            refresh_token: response.refresh_token().map(|t| t.secret().clone()),
        })
    }

    /// The identity in checked claims `claims`.
    fn identity(&self, claims: &Value) -> Result<Identity, OidcError> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
        let claim = &self.config.username_claim;
        let raw = text(claim);
        if raw.is_empty() {
            return Err(OidcError::IdToken(format!(
                "the ID token has no {claim:?} claim to name the user (auth.oidc.username_claim)"
            )));
        }
        let username = raw.to_lowercase();
        if !super::accounts::valid_username(&username) {
            return Err(OidcError::IdToken(format!(
                "the {claim:?} claim {raw:?} is not a valid berth user name \
                 (1-255 of a-z 0-9 . _ - @, starting with a letter or digit)"
            )));
        }
        Ok(Identity {
            subject: format!("{} {}", text("iss"), text("sub")),
            username,
            email: text("email").to_string(),
            realname: text("name").to_string(),
            groups: self.groups(claims),
            refresh_token: None,
        })
    }

    fn groups(&self, claims: &Value) -> Vec<String> {
        if self.config.groups_claim.is_empty() {
            return Vec::new();
        }
        match claims.get(&self.config.groups_claim) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .filter(|g| !g.is_empty() && g.len() <= 255)
                .map(String::from)
                .collect(),
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 255 => vec![s.clone()],
            _ => Vec::new(),
        }
    }
}

/// Checks ID token `raw` with `verifier` (signature, algorithm, `iss`,
/// `aud`, `exp`, `iat`) and, when `nonce` is not empty, its `nonce`; returns
/// its claims as JSON.
///
/// Errors: [`OidcError::IdToken`] naming the failed check.
pub fn verify_id_token(
    raw: &str,
    verifier: &CoreIdTokenVerifier<'_>,
    nonce: &str,
) -> Result<Value, OidcError> {
    let token: CoreIdToken = raw
        .parse()
        .map_err(|e| OidcError::IdToken(format!("not a JWT: {e}")))?;
    if nonce.is_empty() {
        token
            .claims(verifier, |_: Option<&Nonce>| Ok(()))
            .map_err(|e| OidcError::IdToken(e.to_string()))?;
    } else {
        token
            .claims(verifier, &Nonce::new(nonce.to_string()))
            .map_err(|e| OidcError::IdToken(e.to_string()))?;
    }
    // The signature holds: read every claim (the configured username and
    // groups claims are not standard ones) from the payload.
    let payload = raw
        .split('.')
        .nth(1)
        .ok_or_else(|| OidcError::IdToken("not a JWT".into()))?;
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
        .map_err(|e| OidcError::IdToken(format!("payload: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| OidcError::IdToken(format!("payload: {e}")))
}

fn http_client(timeout: Duration, ca_certificates: &[Vec<u8>]) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout);
    for der in ca_certificates {
        if let Ok(cert) = reqwest::Certificate::from_der(der) {
            b = b.add_root_certificate(cert);
        }
    }
    b.build().unwrap_or_default()
}

async fn discover(http: &reqwest::Client, issuer: &str) -> Result<CoreProviderMetadata, OidcError> {
    let url = IssuerUrl::new(issuer.to_string())
        .map_err(|e| OidcError::Unavailable(format!("issuer URL {issuer:?}: {e}")))?;
    CoreProviderMetadata::discover_async(url, http)
        .await
        .map_err(|e| OidcError::Unavailable(error_chain(&e)))
}

fn token_error<RE: std::error::Error + 'static>(
    e: RequestTokenError<RE, openidconnect::StandardErrorResponse<CoreErrorResponseType>>,
) -> OidcError {
    match e {
        RequestTokenError::ServerResponse(r) => OidcError::Refused(match r.error_description() {
            Some(d) => format!("{}: {d}", r.error()),
            None => r.error().to_string(),
        }),
        other => OidcError::Unavailable(error_chain(&other)),
    }
}

/// `e` and its sources, joined with ": ".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        text.push_str(": ");
        text.push_str(&s.to_string());
        cur = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    //! ID token checks (OpenID Connect Core §3.1.3.7) on tokens made here
    //! with a P-256 key, against a JWKS holding its public half.
    use super::*;
    use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

    const ISSUER: &str = "https://idp.example";
    const CLIENT: &str = "berth";

    struct Key {
        pair: EcdsaKeyPair,
        pkcs8: Vec<u8>,
    }

    fn key() -> Key {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("key")
            .as_ref()
            .to_vec();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng).expect("pair");
        Key { pair, pkcs8 }
    }

    fn b64(data: &[u8]) -> String {
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, data)
    }

    fn jwks(k: &Key) -> CoreJsonWebKeySet {
        let point = k.pair.public_key().as_ref();
        let jwk = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
            "x": b64(&point[1..33]), "y": b64(&point[33..65]),
        }]});
        serde_json::from_value(jwk).expect("jwks")
    }

    fn verifier(k: &Key) -> CoreIdTokenVerifier<'static> {
        CoreIdTokenVerifier::new_public_client(
            ClientId::new(CLIENT.into()),
            IssuerUrl::new(ISSUER.into()).expect("issuer"),
            jwks(k),
        )
        .set_allowed_algs([CoreJwsSigningAlgorithm::EcdsaP256Sha256])
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64
    }

    fn claims() -> Value {
        serde_json::json!({
            "iss": ISSUER, "sub": "u-1", "aud": CLIENT, "iat": now(), "exp": now() + 300,
            "nonce": "n-1", "preferred_username": "Alice", "email": "alice@example.org",
            "groups": ["devs", "ops"],
        })
    }

    fn signed(k: &Key, claims: &Value) -> String {
        let enc = jsonwebtoken::EncodingKey::from_ec_der(&k.pkcs8);
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(&header, claims, &enc).expect("sign")
    }

    fn provider() -> Provider {
        Provider::new(OidcConfig {
            issuer: ISSUER.into(),
            client_id: CLIENT.into(),
            ..OidcConfig::default()
        })
    }

    #[test]
    fn a_well_formed_id_token_is_accepted_and_names_the_user() {
        let k = key();
        let c = verify_id_token(&signed(&k, &claims()), &verifier(&k), "n-1").expect("valid");
        let id = provider().identity(&c).expect("identity");
        assert_eq!(id.username, "alice");
        assert_eq!(id.subject, format!("{ISSUER} u-1"));
        assert_eq!(id.groups, vec!["devs".to_string(), "ops".to_string()]);
        assert_eq!(id.email, "alice@example.org");
    }

    #[test]
    fn an_id_token_for_another_audience_is_refused() {
        let k = key();
        let mut c = claims();
        c["aud"] = "someone-else".into();
        let err = verify_id_token(&signed(&k, &c), &verifier(&k), "n-1").unwrap_err();
        assert!(err.to_string().contains("audience"), "{err}");
    }

    #[test]
    fn an_expired_id_token_is_refused() {
        let k = key();
        let mut c = claims();
        c["iat"] = (now() - 7200).into();
        c["exp"] = (now() - 3600).into();
        let err = verify_id_token(&signed(&k, &c), &verifier(&k), "n-1").unwrap_err();
        assert!(err.to_string().contains("expire"), "{err}");
    }

    #[test]
    fn an_id_token_with_another_nonce_is_refused() {
        let k = key();
        let err = verify_id_token(&signed(&k, &claims()), &verifier(&k), "n-2").unwrap_err();
        assert!(err.to_string().to_lowercase().contains("nonce"), "{err}");
    }

    #[test]
    fn an_unsigned_id_token_is_refused() {
        let k = key();
        let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
        let body = b64(claims().to_string().as_bytes());
        for raw in [format!("{header}.{body}."), format!("{header}.{body}")] {
            assert!(
                verify_id_token(&raw, &verifier(&k), "n-1").is_err(),
                "alg none accepted: {raw}"
            );
        }
    }

    #[test]
    fn an_id_token_signed_by_another_key_or_issuer_is_refused() {
        let (k, other) = (key(), key());
        assert!(verify_id_token(&signed(&other, &claims()), &verifier(&k), "n-1").is_err());
        let mut c = claims();
        c["iss"] = "https://evil.example".into();
        let err = verify_id_token(&signed(&k, &c), &verifier(&k), "n-1").unwrap_err();
        assert!(err.to_string().to_lowercase().contains("issuer"), "{err}");
    }

    #[test]
    fn a_user_name_claim_must_make_a_valid_berth_user_name() {
        let p = provider();
        let mut c = claims();
        c["preferred_username"] = "robot$x".into();
        assert!(p.identity(&c).is_err());
        c.as_object_mut()
            .expect("object")
            .remove("preferred_username");
        assert!(p
            .identity(&c)
            .unwrap_err()
            .to_string()
            .contains("preferred_username"));
    }

    #[test]
    fn pending_logins_round_trip_and_reject_junk() {
        let p = PendingLogin {
            state: "s-1_A".into(),
            nonce: "n".into(),
            verifier: "v".into(),
        };
        assert_eq!(PendingLogin::decode(&p.encode()), Some(p));
        for junk in ["", "a.b", "a.b.c.d", "a.b.c d", "a..c", "a.b.c;x=y"] {
            assert_eq!(PendingLogin::decode(junk), None, "{junk}");
        }
    }
}
