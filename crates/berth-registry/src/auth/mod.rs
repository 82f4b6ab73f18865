//! Authentication and authorization: who a caller is ([`Principal`]) and what
//! they may do on a repository ([`Permissions`]), decided here for the `/v2`
//! API, the token endpoint and the management API alike. HTTP stays out: the
//! server turns [`Auth`]'s answers into challenges and status codes.
//!
//! - Identities: users (argon2id password hashes, personal access tokens stored
//!   as SHA-256), robot accounts (`robot$<project>+<name>`, argon2id secret hash,
//!   explicit permission list, expiry, enable/disable).
//! - Projects: the first component of a repository name (`library` for
//!   one-component names); public projects allow anonymous pull; members hold
//!   Harbor's roles, optionally limited to repository globs; IP allow-lists
//!   (CIDR) for pull and for push/delete apply to every caller.
//! - Tokens: Docker token authentication with ES256 JWTs ([`token`]); the key
//!   is generated on first start into a 0600 file in the data directory, or
//!   given by the operator ([`signing_key`]; every node of a scale-out gets the
//!   same one).
//! - Verified Basic credentials are cached for `credential_cache_ttl`, keyed by
//!   an HMAC of the credential under a per-process random key (the cache never
//!   holds a password); any account change clears the cache.

pub mod accounts;
pub mod credential;
pub mod fuzzing;
pub mod ldap;
pub mod oidc;
pub mod permissions;
pub mod principal;
pub mod secret;
pub mod session;
pub mod signing_key;
pub mod throttle;
pub mod token;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use berth_meta::{MemberRecord, MetaStore, ProjectRecord};
use berth_oci::RepositoryName;
use quick_cache::sync::Cache;

pub use accounts::AccountError;
pub use credential::Credential;
pub use permissions::{repository_matches, Permissions, RobotPermission, Role};
pub use principal::Principal;
pub use session::{constant_time_eq, NewSession, Session};
pub use signing_key::SigningKeySource;
pub use token::{Claims, Scope, TokenError, TokenIssuer};

use crate::error::Result;
use throttle::LoginThrottle;

/// `auth.mode`: how callers authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Docker token authentication (Bearer challenge → `/v2/token` → JWT); HTTP
    /// Basic on `/v2` is accepted too. The default.
    #[default]
    Token,
    /// HTTP Basic only (`WWW-Authenticate: Basic`).
    Basic,
    /// No authentication: anonymous push, pull and delete everywhere; projects
    /// implicit. For local experiments and benchmarks.
    None,
}

impl AuthMode {
    /// Parses `token`, `basic` or `none`.
    pub fn parse(s: &str) -> Option<AuthMode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "token" => Some(AuthMode::Token),
            "basic" => Some(AuthMode::Basic),
            "none" => Some(AuthMode::None),
            _ => None,
        }
    }

    /// The mode's name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Token => "token",
            AuthMode::Basic => "basic",
            AuthMode::None => "none",
        }
    }
}

/// Settings of [`Auth`] (the `[auth]` table of the configuration).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// How callers authenticate.
    pub mode: AuthMode,
    /// The service name: `service` in challenges, `aud` of tokens.
    pub service: String,
    /// `iss` of tokens.
    pub issuer: String,
    /// Lifetime of access tokens.
    pub token_ttl: Duration,
    /// Lifetime of refresh tokens (`offline_token=true`, `access_type=offline`).
    pub refresh_ttl: Duration,
    /// A user's first push into a project that does not exist creates it
    /// (private, with them as project admin).
    pub auto_create_projects: bool,
    /// Password for the `admin` user created on first start; generated (and
    /// returned by [`Auth::open`] to be printed once) when `None`.
    pub admin_password: Option<String>,
    /// How long verified Basic credentials stay cached.
    pub credential_cache_ttl: Duration,
    /// Failed logins per user name per window before a lockout (0 = off).
    pub login_failures_per_user: u32,
    /// Failed logins per client address per window before a lockout (0 = off).
    pub login_failures_per_ip: u32,
    /// The lockout window.
    pub login_failure_window: Duration,
    /// Where the token signing key comes from ([`signing_key`]); default: the
    /// data directory's `token-signing-key.pem`.
    pub signing_key: SigningKeySource,
    /// `auth.identity = "ldap"`: users not found locally sign in against
    /// this directory ([`ldap`]); `None` = local accounts only.
    pub ldap: Option<ldap::LdapConfig>,
    /// `auth.identity = "oidc"`: users sign in to the web UI through this
    /// OpenID Connect provider ([`oidc`]) and use a CLI secret for registry
    /// clients; `None` = no provider.
    pub oidc: Option<oidc::OidcConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            mode: AuthMode::Token,
            service: "berth".into(),
            issuer: "berth".into(),
            token_ttl: Duration::from_secs(300),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            auto_create_projects: false,
            admin_password: None,
            credential_cache_ttl: Duration::from_secs(60),
            login_failures_per_user: 10,
            login_failures_per_ip: 100,
            login_failure_window: Duration::from_secs(300),
            signing_key: SigningKeySource::default(),
            ldap: None,
            oidc: None,
        }
    }
}

/// Result of checking credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// Valid: the caller, and the credential it presented (what tokens
    /// issued on this login are bound to).
    Ok(Principal, Credential),
    /// Wrong name, password, secret or token; expired or disabled robot.
    Invalid,
    /// Too many failures recently; retry after this long.
    Throttled(Duration),
}

/// The certificates (DER) of a PEM file of CA certificates (`ca_file` of
/// `[auth.ldap]` and `[auth.oidc]`).
///
/// Errors: text naming what is wrong (no certificate, a malformed one).
pub fn parse_ca_certificates(pem: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    use rustls::pki_types::pem::PemObject;
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.as_ref().to_vec()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(certs)
}

const SIGNING_KEY_SETTING: &str = "token_signing_key_es256";
/// What a credential authenticates today: the principal and the credential's
/// expiry (Unix ms; `None` = never).
type Bound = (Principal, Option<i64>);

const CACHE_FRESH: Duration = Duration::from_secs(5);

/// `users.source` of local accounts.
const LOCAL_SOURCE: &str = "local";
/// `users.source` of users onboarded from an LDAP directory.
const LDAP_SOURCE: &str = "ldap";
/// `users.source` of users onboarded through an OpenID Connect provider.
pub const OIDC_SOURCE: &str = "oidc";
/// `users.oidc_refresh` once the provider refused the user's refresh
/// token: refused without asking again, until a new browser sign-in.
const OIDC_REFUSED: &str = "!refused";
/// The stored password hash of directory users: not a PHC string, so no
/// password ever verifies against it.
const DIRECTORY_PASSWORD_HASH: &str = "!directory";

/// The authentication and authorization service. One per process; cheap to
/// share behind an `Arc`.
pub struct Auth {
    meta: MetaStore,
    config: AuthConfig,
    tokens: TokenIssuer,
    keyed: secret::KeyedHash,
    throttle: LoginThrottle,
    credentials: Cache<[u8; 32], (Credential, Instant)>,
    bound: Cache<Credential, (Option<Bound>, Instant)>,
    verified: Cache<[u8; 32], Claims>,
    projects: Cache<String, (Option<ProjectRecord>, Instant)>,
    members: Cache<(i64, i64), (Option<MemberRecord>, Instant)>,
    /// Role ids a user's groups hold in a project, by (project id, user id).
    group_roles: Cache<(i64, i64), (Vec<i64>, Instant)>,
    /// Where a project created by a first push is recorded ([`Auth::audit_to`]).
    audit: std::sync::OnceLock<crate::AuditLog>,
    /// The LDAP directory (`auth.identity = "ldap"`).
    directory: Option<ldap::Directory>,
    /// The OpenID Connect provider (`auth.identity = "oidc"`).
    oidc: Option<oidc::Provider>,
    /// Seals the provider's refresh tokens in the database.
    sealing: secret::SealingKey,
    /// One recheck with the provider at a time in this process, so a
    /// rotated refresh token is never redeemed twice.
    oidc_recheck: tokio::sync::Mutex<()>,
}

impl Auth {
    /// Opens the service: loads the token signing key from
    /// `config.signing_key` (on first start with the default source, generates
    /// it into `<data_dir>/token-signing-key.pem`; see [`signing_key`]),
    /// creates the `admin` user and the public `library` project when absent.
    /// Returns the admin password when it was generated here, to be shown once.
    ///
    /// Errors: metadata failures; a key that cannot be read or parsed as
    /// [`crate::Error::Unsupported`].
    pub async fn open(
        meta: MetaStore,
        data_dir: &std::path::Path,
        config: AuthConfig,
    ) -> Result<(Auth, Option<String>)> {
        let key = signing_key::load_or_create(&meta, data_dir, &config.signing_key).await?;
        let tokens = TokenIssuer::new(&key, &config.service, &config.issuer, config.token_ttl)
            .ok_or_else(|| {
                crate::Error::Unsupported(format!(
                    "the stored token signing key ({SIGNING_KEY_SETTING}) does not parse"
                ))
            })?;
        let directory = match config.ldap.clone() {
            Some(c) => Some(
                ldap::Directory::new(c)
                    .map_err(|e| crate::Error::Unsupported(format!("auth.ldap.ca_file: {e}")))?,
            ),
            None => None,
        };
        let auth = Auth {
            throttle: LoginThrottle::new(
                meta.clone(),
                config.login_failure_window,
                config.login_failures_per_user,
                config.login_failures_per_ip,
            ),
            meta,
            tokens,
            keyed: secret::KeyedHash::new(),
            credentials: Cache::new(10_000),
            bound: Cache::new(10_000),
            verified: Cache::new(10_000),
            projects: Cache::new(10_000),
            members: Cache::new(100_000),
            group_roles: Cache::new(100_000),
            audit: std::sync::OnceLock::new(),
            directory,
            oidc: config.oidc.clone().map(oidc::Provider::new),
            sealing: secret::SealingKey::derive(key.as_bytes(), b"berth oidc refresh token"),
            oidc_recheck: tokio::sync::Mutex::new(()),
            config,
        };
        let generated = auth.bootstrap().await?;
        Ok((auth, generated))
    }

    /// Signs `message` with the registry's key (the token signing key):
    /// ECDSA P-256 SHA-256, ASN.1 DER. Returns the signature and the public
    /// key as PEM (for [`crate::audit_checkpoint`]).
    ///
    /// Errors: [`crate::Error::Unsupported`] when the key cannot sign.
    pub fn sign_with_registry_key(&self, message: &[u8]) -> Result<(Vec<u8>, String)> {
        let (sig, point) = self
            .tokens
            .sign_asn1(message)
            .ok_or_else(|| crate::Error::Unsupported("the registry's key cannot sign".into()))?;
        let pem = crate::signing::keys::p256_pem(&point).map_err(crate::Error::Unsupported)?;
        Ok((sig, pem))
    }

    /// Records the projects that first pushes create (see
    /// [`Auth::permissions`]) in `log`, as `project_create` entries by the
    /// pushing user. Set once; later calls are ignored.
    pub fn audit_to(&self, log: crate::AuditLog) {
        let _ = self.audit.set(log);
    }

    async fn bootstrap(&self) -> Result<Option<String>> {
        let mut generated = None;
        let admin = match self.meta.user_by_name("admin").await? {
            Some(u) => u,
            None => {
                let password = match &self.config.admin_password {
                    Some(p) => {
                        accounts::check_password(p).map_err(|e| {
                            crate::Error::Unsupported(format!(
                                "BERTH_ADMIN_PASSWORD is refused: {e}; choose a longer one, or unset it to have berth generate one"
                            ))
                        })?;
                        p.clone()
                    }
                    None => {
                        let p = secret::random_secret(20);
                        generated = Some(p.clone());
                        p
                    }
                };
                let hash = hash_blocking(password).await;
                match self
                    .meta
                    .user_create("admin", "", "system admin", &hash, true)
                    .await
                {
                    Ok(u) => u,
                    Err(e) if berth_meta::is_conflict(&e) => {
                        generated = None;
                        self.meta
                            .user_by_name("admin")
                            .await?
                            .ok_or(crate::Error::Meta(e))?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        if self
            .meta
            .project_by_name(berth_oci::DEFAULT_PROJECT)
            .await?
            .is_none()
        {
            match self
                .meta
                .project_create(berth_oci::DEFAULT_PROJECT, true, Some(admin.id))
                .await
            {
                Ok(_) => {}
                Err(e) if berth_meta::is_conflict(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(generated)
    }

    /// The configured mode.
    pub fn mode(&self) -> AuthMode {
        self.config.mode
    }

    /// The settings.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// The token signer/verifier.
    pub fn tokens(&self) -> &TokenIssuer {
        &self.tokens
    }

    /// The metadata store (for the account-management operations).
    pub fn meta(&self) -> &MetaStore {
        &self.meta
    }

    /// Forgets every cached credential, principal, project and membership,
    /// here and (on PostgreSQL) on every other node: called after any
    /// account, project, member or robot change committed.
    pub async fn invalidate(&self) {
        self.forget_cached();
        if let Err(e) = self.meta.publish(&berth_meta::Change::Accounts).await {
            tracing::warn!(error = %e, "could not notify the other nodes of an account change");
        }
    }

    /// Forgets every cached credential, principal, project and membership on
    /// this node only (another node announced a change).
    pub fn forget_cached(&self) {
        self.credentials.clear();
        self.bound.clear();
        self.projects.clear();
        self.members.clear();
        self.group_roles.clear();
    }

    /// Checks a user name and password (or personal access token, or robot
    /// name and secret). argon2 runs on the blocking pool.
    ///
    /// A verified credential is cached for `credential_cache_ttl` (keyed by an
    /// HMAC of name and secret), but the principal it names is looked up again
    /// through [`Auth::credential_principal`] (at most 5 s stale), so a
    /// deleted, disabled or demoted account loses a cached login too.
    ///
    /// Throttling ([`throttle`]): failures count per user name *and* source
    /// address, so nobody can lock a victim out from another address; a
    /// caller presenting a cached-valid credential is never throttled.
    pub async fn login(&self, username: &str, password: &str, ip: Option<IpAddr>) -> Result<Login> {
        let lowered = user_name_key(username);
        let username = lowered.as_str();
        let key = self.keyed.tag(&[username, password]);
        if let Some((cred, at)) = self.credentials.get(&key) {
            if at.elapsed() < self.config.credential_cache_ttl {
                if let Some(p) = self.credential_principal(&cred).await? {
                    return Ok(Login::Ok(p, cred));
                }
            }
            self.credentials.remove(&key);
        }
        if let Some(wait) = self.throttle.check(username, ip).await? {
            return Ok(Login::Throttled(wait));
        }
        let found = self.check_credentials(username, password).await?;
        match found {
            Some((principal, cred, until)) => {
                self.throttle.succeeded(username, ip).await?;
                self.credentials.insert(key, (cred.clone(), Instant::now()));
                self.bound.insert(
                    cred.clone(),
                    (Some((principal.clone(), until)), Instant::now()),
                );
                Ok(Login::Ok(principal, cred))
            }
            None => {
                self.throttle.failed(username, ip).await?;
                Ok(Login::Invalid)
            }
        }
    }

    /// Checks a secret without touching the login cache, for re-authentication
    /// (the `old_password` of a password change): throttled like a login per
    /// name and address. `Ok(None)` = wrong; `Err(wait)` = throttled.
    pub async fn check_password(
        &self,
        username: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> Result<std::result::Result<Option<Principal>, Duration>> {
        let lowered = user_name_key(username);
        let username = lowered.as_str();
        if let Some(wait) = self.throttle.check(username, ip).await? {
            return Ok(Err(wait));
        }
        match self.check_credentials(username, password).await? {
            Some((p, Credential::Password { .. }, _)) => {
                self.throttle.succeeded(username, ip).await?;
                Ok(Ok(Some(p)))
            }
            _ => {
                self.throttle.failed(username, ip).await?;
                Ok(Ok(None))
            }
        }
    }

    async fn check_credentials(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<(Principal, Credential, Option<i64>)>> {
        let now = berth_meta::store::now_ms();
        if username.starts_with("robot$") {
            let Some(robot) = self.meta.robot_by_name(username).await? else {
                verify_blocking(password.to_owned(), None).await;
                return Ok(None);
            };
            let ok = verify_blocking(password.to_owned(), Some(robot.secret_hash.clone())).await;
            let live = !robot.disabled && robot.expires_at.is_none_or(|e| e > now);
            if !(ok && live) {
                return Ok(None);
            }
            let cred = Credential::Robot {
                id: robot.id,
                generation: credential::secret_generation(&robot.secret_hash),
            };
            let until = robot.expires_at;
            return Ok(Some((robot_principal(robot), cred, until)));
        }
        let user = self.meta.user_by_name(username).await?;
        // A personal access token used as the password.
        if password.starts_with(accounts::ACCESS_TOKEN_PREFIX) {
            let hash = secret::sha256_hex(password.as_bytes());
            if let Some((token, owner)) = self.meta.access_token_by_hash(&hash).await? {
                let live = token.revoked_at.is_none() && token.expires_at.is_none_or(|e| e > now);
                // A directory user's token dies with their directory entry.
                let owner = match live && owner.username == username {
                    true => self.still_held(owner).await?,
                    false => None,
                };
                if let Some(owner) = owner {
                    let cred = Credential::AccessToken {
                        uid: owner.id,
                        id: token.id,
                    };
                    return Ok(Some((user_principal(owner), cred, token.expires_at)));
                }
            }
        }
        let Some(user) = user else {
            if let Some(dir) = &self.directory {
                return self.directory_login(dir, username, password).await;
            }
            // Same work as for a real user, so timing does not tell names apart.
            verify_blocking(password.to_owned(), None).await;
            return Ok(None);
        };
        if user.source == OIDC_SOURCE {
            // An OIDC user's password is their CLI secret (none until they
            // set one); the provider must still have them.
            if self.oidc.is_none()
                || !verify_blocking(password.to_owned(), Some(user.password_hash.clone())).await
            {
                return Ok(None);
            }
            let Some(user) = self.still_held(user).await? else {
                return Ok(None);
            };
            let cred = Credential::Password {
                uid: user.id,
                generation: user.password_changed_at,
            };
            return Ok(Some((user_principal(user), cred, None)));
        }
        if user.source != LOCAL_SOURCE {
            // A directory user: the directory checks the password; with the
            // directory switched off they cannot sign in at all.
            return match &self.directory {
                Some(dir) => self.directory_login(dir, username, password).await,
                None => Ok(None),
            };
        }
        if !verify_blocking(password.to_owned(), Some(user.password_hash.clone())).await {
            return Ok(None);
        }
        let cred = Credential::Password {
            uid: user.id,
            generation: user.password_changed_at,
        };
        Ok(Some((user_principal(user), cred, None)))
    }

    /// A sign-in of a user the local accounts do not know, against the
    /// directory: on success the user is onboarded (created, or their e-mail
    /// and name refreshed) and authenticates with a password credential.
    async fn directory_login(
        &self,
        dir: &ldap::Directory,
        username: &str,
        password: &str,
    ) -> Result<Option<(Principal, Credential, Option<i64>)>> {
        // berth user names are lowercase; directories match names without
        // regard to case (`Frank` signs in as `frank`).
        let username = &username.to_ascii_lowercase();
        let Some(found) = dir.authenticate(username, password).await.map_err(|e| {
            // The cause names the directory's address: logged, not sent.
            tracing::warn!(user = %username, error = %e, "LDAP sign-in could not be checked");
            crate::Error::DirectoryUnavailable(
                "the LDAP directory cannot be reached to check the password; try again later"
                    .into(),
            )
        })?
        else {
            return Ok(None);
        };
        let Some(user) = self.directory_user(&found).await? else {
            return Ok(None);
        };
        self.onboarded(&user);
        let cred = Credential::Password {
            uid: user.id,
            generation: user.password_changed_at,
        };
        Ok(Some((user_principal(user), cred, None)))
    }

    /// Records which stored LDAP groups (`/usergroups`, matched by DN,
    /// case-insensitively) user `user_id` is in, from the directory's
    /// answer `group_dns`.
    async fn directory_groups_sync(&self, user_id: i64, group_dns: &[String]) -> Result<()> {
        let known = self
            .meta
            .groups_of_type(berth_meta::GROUP_TYPE_LDAP)
            .await?;
        let ids: Vec<i64> = known
            .iter()
            .filter(|g| {
                group_dns
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(&g.ldap_group_dn))
            })
            .map(|g| g.id)
            .collect();
        self.meta.user_groups_set(user_id, &ids).await?;
        self.group_roles.clear();
        Ok(())
    }

    /// The permissions user `user_id`'s groups give in project `project_id`
    /// (the union of their roles'; a user's own role adds to it).
    async fn group_permissions(&self, project_id: i64, user_id: i64) -> Result<Permissions> {
        let roles = match self.group_roles.get(&(project_id, user_id)) {
            Some((r, at)) if at.elapsed() < CACHE_FRESH => r,
            _ => {
                let r = self.meta.group_roles_of(project_id, user_id).await?;
                self.group_roles
                    .insert((project_id, user_id), (r.clone(), Instant::now()));
                r
            }
        };
        Ok(roles
            .into_iter()
            .filter_map(Role::from_id)
            .fold(Permissions::NONE, |p, r| p.union(r.permissions())))
    }

    /// The LDAP directory, when `auth.identity = "ldap"`.
    pub fn directory(&self) -> Option<&ldap::Directory> {
        self.directory.as_ref()
    }

    /// Onboards directory user `username` without their password (Harbor's
    /// `/ldap/users/import`): `Ok(None)` when the directory does not have
    /// them or a local user has the name.
    ///
    /// Errors: [`crate::Error::DirectoryUnavailable`] (with the cause: the
    /// caller is a system administrator), metadata failures.
    pub async fn directory_import(&self, username: &str) -> Result<Option<berth_meta::UserRecord>> {
        let Some(dir) = &self.directory else {
            return Ok(None);
        };
        let Some(found) = dir
            .lookup(&username.to_ascii_lowercase())
            .await
            .map_err(|e| crate::Error::DirectoryUnavailable(e.to_string()))?
        else {
            return Ok(None);
        };
        // The import is audited by its caller, as the administrator's act.
        self.directory_user(&found).await
    }

    /// The berth user of directory entry `found`, created or refreshed
    /// ([`berth_meta::MetaStore::user_from_directory`]) with its groups
    /// recorded; `None` when a local user has the name.
    async fn directory_user(
        &self,
        found: &ldap::DirectoryUser,
    ) -> Result<Option<berth_meta::UserRecord>> {
        let Some(user) = self
            .meta
            .user_from_directory(
                LDAP_SOURCE,
                &found.username,
                &found.email,
                &found.realname,
                DIRECTORY_PASSWORD_HASH,
            )
            .await?
        else {
            return Ok(None);
        };
        self.directory_groups_sync(user.id, &found.groups).await?;
        Ok(Some(user))
    }

    /// Records a `user_create` entry when `user` was just created from the
    /// directory (its first confirmation is its creation).
    fn onboarded(&self, user: &berth_meta::UserRecord) {
        if user.created_at != user.directory_checked_at {
            return;
        }
        if let Some(log) = self.audit.get() {
            log.record(
                crate::AuditEntry::new(
                    crate::Actor::system(),
                    crate::AuditAction::UserCreate,
                    crate::Outcome::Success,
                )
                .reference(&user.username)
                .detail(format!(
                    "onboarded from the {} directory",
                    user.source.to_uppercase()
                )),
            );
        }
    }

    /// User `u` as they stand now when they still hold, else `None`: local
    /// users always; directory users as [`Auth::directory_still_has`] says;
    /// OIDC users as [`Auth::oidc_still_has`] says, with what a recheck
    /// changed (the system-administrator flag of `auth.oidc.admin_group`).
    async fn still_held(
        &self,
        u: berth_meta::UserRecord,
    ) -> Result<Option<berth_meta::UserRecord>> {
        if u.source == OIDC_SOURCE {
            return self.oidc_still_has(u).await;
        }
        Ok(self.directory_still_has(&u).await?.then_some(u))
    }

    /// Whether directory user `u` still holds: asked of the directory at
    /// most every `auth.ldap.recheck_secs`. A user the directory no longer
    /// has (or whose entry no longer matches `user_filter`) fails; so does
    /// every directory user once the directory is switched off. While the
    /// directory cannot answer, the last confirmation stands (logged).
    async fn directory_still_has(&self, u: &berth_meta::UserRecord) -> Result<bool> {
        if u.source == LOCAL_SOURCE {
            return Ok(true);
        }
        let Some(dir) = &self.directory else {
            return Ok(false);
        };
        let now = berth_meta::store::now_ms();
        let fresh = dir.config().recheck.as_millis() as i64;
        if now.saturating_sub(u.directory_checked_at) < fresh {
            return Ok(true);
        }
        match dir.lookup(&u.username).await {
            Ok(Some(found)) => {
                self.meta.user_directory_checked(u.id, now).await?;
                self.directory_groups_sync(u.id, &found.groups).await?;
                Ok(true)
            }
            Ok(None) => {
                tracing::info!(
                    user = %u.username,
                    "the directory no longer has this user; their tokens and sessions are refused"
                );
                Ok(false)
            }
            Err(e) => {
                tracing::warn!(user = %u.username, error = %e, "cannot recheck a directory user; the last confirmation stands");
                Ok(true)
            }
        }
    }

    /// The OpenID Connect provider, when `auth.identity = "oidc"`.
    pub fn oidc(&self) -> Option<&oidc::Provider> {
        self.oidc.as_ref()
    }

    /// Signs in the user the provider vouched for (a checked ID token,
    /// [`oidc::Provider::finish`]): onboards them (created with source
    /// `oidc`, or their e-mail and name refreshed), binds the berth user to
    /// the provider's subject, stores the sealed refresh token, records
    /// their groups (creating OIDC groups not seen before) and, with
    /// `admin_group` set, their system-administrator flag.
    ///
    /// `Ok(Err(reason))` refuses the sign-in: a local or LDAP user has the
    /// name, or another subject of the provider was bound to it first.
    ///
    /// Errors: metadata failures.
    pub async fn oidc_sign_in(
        &self,
        id: &oidc::Identity,
    ) -> Result<std::result::Result<(Principal, Credential), String>> {
        let Some(provider) = &self.oidc else {
            return Ok(Err("OpenID Connect sign-in is not configured".into()));
        };
        let Some(user) = self
            .meta
            .user_from_directory(
                OIDC_SOURCE,
                &id.username,
                &id.email,
                &id.realname,
                DIRECTORY_PASSWORD_HASH,
            )
            .await?
        else {
            return Ok(Err(format!(
                "the user name {:?} belongs to an account that does not sign in through {}; \
                 ask an administrator",
                id.username,
                provider.config().name
            )));
        };
        let now = berth_meta::store::now_ms();
        let sealed = id
            .refresh_token
            .as_deref()
            .map(|t| self.sealing.seal(t))
            .unwrap_or_default();
        if id.refresh_token.is_none() {
            tracing::warn!(
                user = %user.username,
                "the OpenID Connect provider issued no refresh token (add offline_access to \
                 auth.oidc.scopes): berth cannot recheck this user while their CLI secret is used"
            );
        }
        if !self
            .meta
            .user_oidc_bind(user.id, &id.subject, &sealed, now)
            .await?
        {
            return Ok(Err(format!(
                "the user name {:?} is already bound to another identity of the provider; \
                 ask an administrator",
                id.username
            )));
        }
        self.onboarded(&user);
        let user = self.oidc_apply(user, &id.groups).await?;
        self.forget_cached();
        Ok(Ok((
            user_principal(user.clone()),
            Credential::Oidc { uid: user.id },
        )))
    }

    /// Records OIDC user `user`'s groups `names` and, with `admin_group`
    /// set, their system-administrator flag; returns the user as stored.
    async fn oidc_apply(
        &self,
        user: berth_meta::UserRecord,
        names: &[String],
    ) -> Result<berth_meta::UserRecord> {
        let mut known = self
            .meta
            .groups_of_type(berth_meta::GROUP_TYPE_OIDC)
            .await?;
        let mut raced = false;
        for name in names {
            if known.iter().any(|g| g.group_name == *name) {
                continue;
            }
            match self
                .meta
                .group_create(name, berth_meta::GROUP_TYPE_OIDC, "")
                .await
            {
                Ok(g) => {
                    if let Some(log) = self.audit.get() {
                        log.record(
                            crate::AuditEntry::new(
                                crate::Actor::system(),
                                crate::AuditAction::UserGroupCreate,
                                crate::Outcome::Success,
                            )
                            .reference(name)
                            .detail(format!("from the OIDC groups claim of {}", user.username)),
                        );
                    }
                    known.push(g);
                }
                Err(e) if berth_meta::is_conflict(&e) => raced = true,
                Err(e) => return Err(e.into()),
            }
        }
        if raced {
            known = self
                .meta
                .groups_of_type(berth_meta::GROUP_TYPE_OIDC)
                .await?;
        }
        let ids: Vec<i64> = known
            .iter()
            .filter(|g| names.contains(&g.group_name))
            .map(|g| g.id)
            .collect();
        self.meta.user_groups_set(user.id, &ids).await?;
        self.group_roles.clear();
        let admin_group = self
            .oidc
            .as_ref()
            .map(|p| p.config().admin_group.as_str())
            .unwrap_or_default();
        if !admin_group.is_empty() {
            let admin = names.iter().any(|n| n == admin_group);
            if admin != user.sysadmin && (admin || self.meta.other_sysadmins(user.id).await? > 0) {
                self.meta
                    .user_update(user.id, &user.email, &user.realname, admin)
                    .await?;
                self.invalidate().await;
                return Ok(berth_meta::UserRecord {
                    sysadmin: admin,
                    ..user
                });
            }
        }
        Ok(user)
    }

    /// Whether OIDC user `u` still holds: asked of the provider at most
    /// every `auth.oidc.recheck_secs`, by redeeming the refresh token of
    /// their last sign-in (a refused one ends their access; a new ID token
    /// refreshes their groups). Without a stored refresh token there is
    /// nothing to ask and the user holds until deleted in berth; while the
    /// provider cannot be reached, the last confirmation stands (logged).
    /// Returns the user as they stand after the recheck, `None` when they no
    /// longer hold.
    async fn oidc_still_has(
        &self,
        u: berth_meta::UserRecord,
    ) -> Result<Option<berth_meta::UserRecord>> {
        let Some(provider) = &self.oidc else {
            return Ok(None);
        };
        let fresh = provider.config().recheck.as_millis() as i64;
        let stale = |checked: i64| berth_meta::store::now_ms().saturating_sub(checked) >= fresh;
        if !stale(u.directory_checked_at) {
            return Ok(Some(u));
        }
        let _one = self.oidc_recheck.lock().await;
        // Another request may have rechecked while this one waited.
        let Some(u) = self.meta.user_by_id(u.id).await? else {
            return Ok(None);
        };
        if !stale(u.directory_checked_at) {
            return Ok(Some(u));
        }
        let Some((subject, sealed)) = self.meta.user_oidc(u.id).await? else {
            return Ok(None);
        };
        if sealed.is_empty() {
            return Ok(Some(u));
        }
        if sealed == OIDC_REFUSED {
            return Ok(None);
        }
        let Some(refresh) = self.sealing.open(&sealed) else {
            tracing::warn!(user = %u.username, "the stored refresh token does not open (was the token signing key replaced?); the user must sign in to the web UI again");
            return Ok(None);
        };
        match provider.refresh(&refresh).await {
            Ok(oidc::Recheck::Holds {
                groups,
                refresh_token,
            }) => {
                let sealed = refresh_token
                    .map(|t| self.sealing.seal(&t))
                    .unwrap_or(sealed);
                let now = berth_meta::store::now_ms();
                self.meta
                    .user_oidc_bind(u.id, &subject, &sealed, now)
                    .await?;
                match groups {
                    Some(groups) => Ok(Some(self.oidc_apply(u, &groups).await?)),
                    None => Ok(Some(u)),
                }
            }
            Ok(oidc::Recheck::Refused(why)) => {
                tracing::info!(user = %u.username, reason = %why, "the OpenID Connect provider no longer vouches for this user; their CLI secret, tokens and sessions are refused until they sign in to the web UI again");
                self.meta
                    .user_oidc_bind(u.id, &subject, OIDC_REFUSED, u.directory_checked_at)
                    .await?;
                Ok(None)
            }
            Err(e) => {
                tracing::warn!(user = %u.username, error = %e, "cannot recheck an OIDC user; the last confirmation stands");
                Ok(Some(u))
            }
        }
    }

    /// The principal `cred` authenticates today, or `None` once the credential
    /// no longer holds (see [`credential`] for what ends each kind). Looked up
    /// again at most every 5 s per credential; any account change made in this
    /// process clears the cache at once.
    pub async fn credential_principal(&self, cred: &Credential) -> Result<Option<Principal>> {
        Ok(self.credential_state(cred).await?.map(|(p, _)| p))
    }

    /// [`Auth::credential_principal`] with the credential's expiry (Unix ms).
    async fn credential_state(
        &self,
        cred: &Credential,
    ) -> Result<Option<(Principal, Option<i64>)>> {
        let now = berth_meta::store::now_ms();
        let live = |s: &Option<(Principal, Option<i64>)>| {
            s.as_ref()
                .filter(|(_, until)| until.is_none_or(|u| u > now))
                .cloned()
        };
        if let Some((state, at)) = self.bound.get(cred) {
            if at.elapsed() < CACHE_FRESH {
                return Ok(live(&state));
            }
        }
        let state = match cred {
            Credential::Password { uid, generation } => {
                match self
                    .meta
                    .user_by_id(*uid)
                    .await?
                    .filter(|u| u.password_changed_at == *generation)
                {
                    Some(u) => self.still_held(u).await?.map(|u| (user_principal(u), None)),
                    None => None,
                }
            }
            Credential::AccessToken { uid, id } => {
                let token = self
                    .meta
                    .access_tokens_of(*uid)
                    .await?
                    .into_iter()
                    .find(|t| t.id == *id && t.revoked_at.is_none());
                match token {
                    Some(t) => match self.meta.user_by_id(*uid).await? {
                        Some(u) => self
                            .still_held(u)
                            .await?
                            .map(|u| (user_principal(u), t.expires_at)),
                        None => None,
                    },
                    None => None,
                }
            }
            Credential::Oidc { uid } => match self.meta.user_by_id(*uid).await? {
                Some(u) if u.source == OIDC_SOURCE => {
                    self.still_held(u).await?.map(|u| (user_principal(u), None))
                }
                _ => None,
            },
            Credential::Robot { id, generation } => self
                .meta
                .robot_by_id(*id)
                .await?
                .filter(|r| {
                    !r.disabled && credential::secret_generation(&r.secret_hash) == *generation
                })
                .map(|r| {
                    let until = r.expires_at;
                    (robot_principal(r), until)
                }),
        };
        self.bound
            .insert(cred.clone(), (state.clone(), Instant::now()));
        Ok(live(&state))
    }

    /// The principal an access token speaks for today: anonymous for an
    /// anonymous token; for others the principal its bound credential
    /// ([`Claims::berth_cred`]) authenticates now, with its current flags and
    /// robot permissions. `None` (refuse the token) when the credential no
    /// longer holds, when the token carries none (issued before credential
    /// binding), or when it names another subject.
    pub async fn token_principal(&self, claims: &Claims) -> Result<Option<Principal>> {
        if claims.sub.is_empty() {
            return Ok(Some(Principal::Anonymous));
        }
        let Some(cred) = &claims.berth_cred else {
            return Ok(None);
        };
        Ok(self
            .credential_principal(cred)
            .await?
            .filter(|p| p.name() == claims.sub))
    }

    /// A project by name (cached for a few seconds).
    pub async fn project(&self, name: &str) -> Result<Option<ProjectRecord>> {
        if let Some((p, at)) = self.projects.get(name) {
            if at.elapsed() < CACHE_FRESH {
                return Ok(p);
            }
        }
        let p = self.meta.project_by_name(name).await?;
        self.projects
            .insert(name.to_owned(), (p.clone(), Instant::now()));
        Ok(p)
    }

    async fn member(&self, project_id: i64, user_id: i64) -> Result<Option<MemberRecord>> {
        if let Some((m, at)) = self.members.get(&(project_id, user_id)) {
            if at.elapsed() < CACHE_FRESH {
                return Ok(m);
            }
        }
        let m = self.meta.member_of(project_id, user_id).await?;
        self.members
            .insert((project_id, user_id), (m.clone(), Instant::now()));
        Ok(m)
    }

    /// What `who`, calling from `ip`, may do on `repository`. With
    /// `creating` (a push is asked for) a missing project is created when the
    /// caller is a system admin, or a user while `auto_create_projects` is on.
    /// Under `auth.mode = none` everything is allowed.
    pub async fn permissions(
        &self,
        who: &Principal,
        repository: &RepositoryName,
        ip: Option<IpAddr>,
        creating: bool,
    ) -> Result<Permissions> {
        if self.config.mode == AuthMode::None {
            return Ok(Permissions::ALL);
        }
        let project_name = repository.project();
        let mut project = self.project(project_name).await?;
        if project.is_none() && creating {
            if let Principal::User { id, sysadmin, .. } = who {
                if *sysadmin || self.config.auto_create_projects {
                    let (p, created) = self
                        .meta
                        .project_create_owned(project_name, false, *id)
                        .await?;
                    if created {
                        tracing::info!(
                            project = project_name,
                            by = who.name(),
                            "project created by first push"
                        );
                        if let Some(log) = self.audit.get() {
                            let why = if *sysadmin {
                                "a system administrator's push"
                            } else {
                                "a push (auth.auto_create_projects)"
                            };
                            log.record(
                                crate::AuditEntry::new(
                                    crate::Actor::user(who.name()),
                                    crate::AuditAction::ProjectCreate,
                                    crate::Outcome::Success,
                                )
                                .ip(ip)
                                .repository(project_name)
                                .detail(format!(
                                    "private project created by {why} to {repository}"
                                )),
                            );
                        }
                    }
                    self.invalidate().await;
                    project = Some(p);
                }
            }
        }
        let Some(project) = project else {
            // What the caller would hold once their push created the project
            // (a token may be granted for it; the push itself creates it).
            return Ok(match who {
                Principal::User { sysadmin: true, .. } => Permissions::ALL,
                Principal::User { .. } if self.config.auto_create_projects => {
                    Role::ProjectAdmin.permissions()
                }
                _ => Permissions::NONE,
            });
        };
        let mut p = if project.public {
            Permissions::PULL.union(Permissions::LIST)
        } else {
            Permissions::NONE
        };
        match who {
            Principal::Anonymous => {}
            Principal::User { sysadmin: true, .. } => p = Permissions::ALL,
            Principal::User { id, .. } => {
                p = p.union(self.group_permissions(project.id, *id).await?);
                if let Some(m) = self.member(project.id, *id).await? {
                    let patterns = m.repositories.unwrap_or_default();
                    if repository_matches(&patterns, project_name, repository.as_str()) {
                        if let Some(role) = Role::from_id(m.role_id) {
                            p = p.union(role.permissions());
                        }
                    }
                }
            }
            Principal::Robot { permissions, .. } => {
                for perm in permissions {
                    p = p.union(perm.permissions_on(project_name, repository.as_str()));
                }
            }
        }
        Ok(apply_allow_lists(&project, ip, p))
    }

    /// True when `ip` passes the project's allow-lists for `needed` (pull
    /// list for `PULL`/`LIST`, push list for `PUSH`/`DELETE`). Checked on every
    /// request, also for tokens issued earlier.
    pub async fn address_allowed(
        &self,
        repository: &RepositoryName,
        ip: Option<IpAddr>,
        needed: Permissions,
    ) -> Result<bool> {
        if self.config.mode == AuthMode::None {
            return Ok(true);
        }
        match self.project(repository.project()).await? {
            Some(project) => Ok(apply_allow_lists(&project, ip, Permissions::ALL).contains(needed)),
            None => Ok(true),
        }
    }

    /// What `who` may do on a project as a whole (management API): the role's
    /// permissions when the membership is not limited to repositories, else
    /// only `PULL|LIST` if any; `NONE` for an unknown project (unless admin).
    pub async fn project_permissions(&self, who: &Principal, project: &str) -> Result<Permissions> {
        if self.config.mode == AuthMode::None || who.is_sysadmin() {
            return Ok(Permissions::ALL);
        }
        let Some(project) = self.project(project).await? else {
            return Ok(Permissions::NONE);
        };
        let mut p = if project.public {
            Permissions::PULL.union(Permissions::LIST)
        } else {
            Permissions::NONE
        };
        match who {
            Principal::User { id, .. } => {
                p = p.union(self.group_permissions(project.id, *id).await?);
                if let Some(m) = self.member(project.id, *id).await? {
                    if let Some(role) = Role::from_id(m.role_id) {
                        p = p.union(if m.repositories.is_some() {
                            role.permissions().without(Permissions::MANAGE)
                        } else {
                            role.permissions()
                        });
                    }
                }
            }
            Principal::Robot { permissions, .. } => {
                for perm in permissions {
                    let whole = RobotPermission {
                        repositories: Vec::new(),
                        ..perm.clone()
                    };
                    p = p.union(whole.permissions_on(&project.name, &project.name));
                }
            }
            Principal::Anonymous => {}
        }
        Ok(p)
    }

    /// The scopes of `requested` that `who` may have: each repository scope's
    /// actions intersected with [`Auth::permissions`] (`*` = all permitted),
    /// scopes with nothing left dropped; `registry:catalog:*` and
    /// `registry:catalog:search` for everyone (the catalog and `/v1/search`
    /// filter their answers per caller). Token spec §Requesting a Token.
    pub async fn grant(
        &self,
        who: &Principal,
        requested: &[Scope],
        ip: Option<IpAddr>,
    ) -> Result<Vec<Scope>> {
        let mut granted = Vec::new();
        for scope in requested {
            match scope.kind.as_str() {
                "repository" => {
                    let Ok(repo) = RepositoryName::parse(&scope.name) else {
                        continue;
                    };
                    // Never creates a project: only a real push may (see `permissions`).
                    let perms = self.permissions(who, &repo, ip, false).await?;
                    let mut actions: Vec<String> = Vec::new();
                    for a in &scope.actions {
                        let one = [a.as_str()];
                        let names: &[&str] = if a == "*" {
                            &["pull", "push", "delete"]
                        } else {
                            &one
                        };
                        for name in names {
                            let need = match *name {
                                "pull" => Permissions::PULL,
                                "push" => Permissions::PUSH,
                                "delete" => Permissions::DELETE,
                                _ => continue,
                            };
                            if perms.contains(need) && !actions.iter().any(|x| x == name) {
                                actions.push((*name).to_owned());
                            }
                        }
                    }
                    if !actions.is_empty() {
                        granted.push(Scope {
                            kind: scope.kind.clone(),
                            name: scope.name.clone(),
                            actions,
                        });
                    }
                }
                "registry" if scope.name == "catalog" => {
                    // `*` lists (`/v2/_catalog`), `search` is what the docker
                    // daemon asks for before `GET /v1/search`; both answers
                    // are filtered per caller.
                    let actions: Vec<String> = scope
                        .actions
                        .iter()
                        .filter(|a| *a == "*" || *a == "search")
                        .cloned()
                        .collect();
                    if !actions.is_empty() {
                        granted.push(Scope {
                            kind: "registry".into(),
                            name: "catalog".into(),
                            actions,
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(granted)
    }

    /// Verifies a bearer token (signature, `aud`, `iss`, expiry); verified
    /// tokens are cached until they expire. Refresh tokens are refused here.
    pub fn verify_token(&self, token: &str) -> std::result::Result<Claims, TokenError> {
        let key = {
            let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
            let mut k = [0u8; 32];
            k.copy_from_slice(d.as_ref());
            k
        };
        if let Some(c) = self.verified.get(&key) {
            if c.exp > token::unix_now() {
                return Ok(c);
            }
            self.verified.remove(&key);
            return Err(TokenError::Invalid("token expired".into()));
        }
        let claims = self.tokens.verify(token)?;
        if claims.berth_kind.is_some() {
            return Err(TokenError::Invalid(
                "a refresh token is not an access token".into(),
            ));
        }
        self.verified.insert(key, claims.clone());
        Ok(claims)
    }

    /// The principal and credential a refresh token was issued on, while that
    /// credential still holds ([`credential`]): a rotated robot secret, a
    /// revoked or expired personal access token, a changed password or a
    /// deleted (even if recreated) account ends it.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Option<(Principal, Credential)>> {
        let Ok(claims) = self.tokens.verify(refresh_token) else {
            return Ok(None);
        };
        if claims.berth_kind.as_deref() != Some("refresh") {
            return Ok(None);
        }
        let Some(cred) = claims.berth_cred else {
            return Ok(None);
        };
        // A refresh is rare and decisive: read the credential fresh.
        self.bound.remove(&cred);
        match self.credential_state(&cred).await? {
            Some((p, _)) if p.name() == claims.sub => Ok(Some((p, cred))),
            _ => Ok(None),
        }
    }

    /// A refresh token for `who` bound to `cred` (token spec
    /// `offline_token=true`): valid for `refresh_ttl`, never longer than the
    /// credential itself (a personal access token's or robot's expiry).
    pub async fn issue_refresh(
        &self,
        who: &Principal,
        cred: &Credential,
    ) -> Result<Option<String>> {
        if !who.is_authenticated() {
            return Ok(None);
        }
        let Some((_, until)) = self.credential_state(cred).await? else {
            return Ok(None);
        };
        let mut ttl = self.config.refresh_ttl;
        if let Some(until) = until {
            let left = until.saturating_sub(berth_meta::store::now_ms()).max(0) as u64;
            ttl = ttl.min(Duration::from_millis(left));
            if ttl < Duration::from_secs(1) {
                return Ok(None);
            }
        }
        Ok(self
            .tokens
            .issue_refresh(who.name(), ttl, cred.clone())
            .ok())
    }
}

/// The name a sign-in is checked, throttled and cached under: berth user
/// names are lowercase (`accounts::valid_username`), so `Carol` can only
/// mean `carol`, as directories and providers see it, and every spelling
/// shares one failure counter. Robot names are taken as given.
fn user_name_key(typed: &str) -> String {
    if typed.starts_with("robot$") {
        typed.to_string()
    } else {
        typed.to_ascii_lowercase()
    }
}

fn user_principal(u: berth_meta::UserRecord) -> Principal {
    Principal::User {
        id: u.id,
        name: u.username,
        sysadmin: u.sysadmin,
    }
}

fn robot_principal(r: berth_meta::RobotRecord) -> Principal {
    Principal::Robot {
        permissions: serde_json::from_str(&r.permissions).unwrap_or_default(),
        id: r.id,
        name: r.name,
    }
}

fn apply_allow_lists(project: &ProjectRecord, ip: Option<IpAddr>, p: Permissions) -> Permissions {
    let allowed = |cidrs: &[String]| {
        cidrs.is_empty()
            || ip.is_some_and(|ip| {
                cidrs.iter().any(|c| {
                    c.parse::<ipnet::IpNet>()
                        .map(|n| n.contains(&ip))
                        .unwrap_or_else(|_| c.parse::<IpAddr>().map(|a| a == ip).unwrap_or(false))
                })
            })
    };
    let mut p = p;
    if !allowed(&project.pull_cidrs) {
        p = p.without(Permissions::PULL).without(Permissions::LIST);
    }
    if !allowed(&project.push_cidrs) {
        p = p.without(Permissions::PUSH).without(Permissions::DELETE);
    }
    p
}

async fn hash_blocking(password: String) -> String {
    tokio::task::spawn_blocking(move || secret::hash_password(&password))
        .await
        .unwrap_or_default()
}

/// argon2 verification on the blocking pool; with `None` it verifies against a
/// fixed dummy hash so unknown names cost as much as known ones.
async fn verify_blocking(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || match phc {
        Some(h) => secret::verify_password(&password, &h),
        None => {
            static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            let h = DUMMY.get_or_init(|| secret::hash_password("berth-dummy-password"));
            secret::verify_password(&password, h);
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// Hashes a password on the blocking pool (argon2id).
pub async fn hash_password(password: &str) -> String {
    hash_blocking(password.to_owned()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn auth(dir: &std::path::Path) -> (crate::Registry, Auth) {
        let reg = crate::Registry::open_at(
            dir,
            &berth_meta::testing::database_url(dir).await,
            crate::Limits::default(),
        )
        .await
        .expect("registry");
        let cfg = AuthConfig {
            admin_password: Some("admin-password".into()),
            ..AuthConfig::default()
        };
        let (auth, generated) = Auth::open(reg.meta().clone(), dir, cfg)
            .await
            .expect("auth");
        assert_eq!(generated, None, "the configured password is used");
        (reg, auth)
    }

    fn user(id: i64, name: &str) -> Principal {
        Principal::User {
            id,
            name: name.into(),
            sysadmin: false,
        }
    }

    #[tokio::test]
    async fn only_project_admins_and_system_admins_manage_members() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (_reg, auth) = auth(tmp.path()).await;
        auth.create_project("team", false, None)
            .await
            .expect("project");
        let mut who = Vec::new();
        for role in [
            Role::ProjectAdmin,
            Role::Maintainer,
            Role::Developer,
            Role::Guest,
            Role::LimitedGuest,
        ] {
            let name = role.name().to_ascii_lowercase();
            let u = auth
                .create_user(&name, "password-123", "", "", false)
                .await
                .expect("user");
            auth.set_member("team", &name, role, None)
                .await
                .expect("member");
            who.push((role, user(u.id, &name)));
        }
        for (role, p) in &who {
            let held = auth.project_permissions(p, "team").await.expect("perms");
            assert_eq!(
                held.contains(Permissions::MANAGE),
                *role == Role::ProjectAdmin,
                "{role:?}"
            );
            assert_eq!(
                auth.project_permissions(p, "other").await.expect("perms"),
                Permissions::NONE
            );
        }
        let admin = auth
            .meta()
            .user_by_name("admin")
            .await
            .expect("db")
            .expect("admin");
        let admin = Principal::User {
            id: admin.id,
            name: admin.username,
            sysadmin: admin.sysadmin,
        };
        assert_eq!(
            auth.project_permissions(&admin, "team").await.expect("p"),
            Permissions::ALL
        );
        // The library project exists from the first start and is public.
        let lib = RepositoryName::parse("busybox").expect("name");
        let anon = auth
            .permissions(&Principal::Anonymous, &lib, None, false)
            .await
            .expect("p");
        assert!(anon.contains(Permissions::PULL) && !anon.contains(Permissions::PUSH));
    }

    #[tokio::test]
    async fn memberships_limited_to_repository_patterns() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (_reg, auth) = auth(tmp.path()).await;
        auth.create_project("team", false, None)
            .await
            .expect("project");
        let u = auth
            .create_user("carol", "password-123", "", "", false)
            .await
            .expect("user");
        let patterns = vec!["web*".to_string()];
        auth.set_member("team", "carol", Role::Developer, Some(&patterns))
            .await
            .expect("member");
        let carol = user(u.id, "carol");
        let web = RepositoryName::parse("team/web-app").expect("name");
        let db = RepositoryName::parse("team/db").expect("name");
        assert!(auth
            .permissions(&carol, &web, None, false)
            .await
            .expect("p")
            .contains(Permissions::PUSH));
        assert_eq!(
            auth.permissions(&carol, &db, None, false).await.expect("p"),
            Permissions::NONE
        );
        // Scope intersection: asking for more than held grants only what is held.
        let scopes =
            Scope::parse_all(["repository:team/web-app:pull,push,delete repository:team/db:pull"]);
        let granted = auth.grant(&carol, &scopes, None).await.expect("grant");
        assert_eq!(granted.len(), 1);
        assert_eq!(granted[0].actions, ["pull", "push"]);
    }

    #[tokio::test]
    async fn wrong_secrets_disabled_or_expired_robots_and_revoked_tokens_do_not_log_in() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (_reg, auth) = auth(tmp.path()).await;
        auth.create_project("team", false, None)
            .await
            .expect("project");
        let perm = RobotPermission {
            project: "team".into(),
            repositories: vec![],
            actions: vec!["pull".into()],
        };
        let ci = auth
            .create_robot(
                Some("team"),
                "ci",
                "",
                std::slice::from_ref(&perm),
                None,
                None,
            )
            .await
            .expect("robot");
        assert_eq!(ci.robot.name, "robot$team+ci");
        assert!(matches!(
            auth.login("robot$team+ci", &ci.secret, None)
                .await
                .expect("login"),
            Login::Ok(..)
        ));
        assert_eq!(
            auth.login("robot$team+ci", "not-the-secret", None)
                .await
                .expect("l"),
            Login::Invalid
        );
        auth.update_robot(ci.robot.id, "", std::slice::from_ref(&perm), None, true)
            .await
            .expect("disable");
        assert_eq!(
            auth.login("robot$team+ci", &ci.secret, None)
                .await
                .expect("l"),
            Login::Invalid
        );
        let old = auth
            .create_robot(Some("team"), "old", "", &[perm], Some(1), None)
            .await
            .expect("robot");
        assert_eq!(
            auth.login("robot$team+old", &old.secret, None)
                .await
                .expect("l"),
            Login::Invalid
        );
        let u = auth
            .create_user("dave", "password-123", "", "", false)
            .await
            .expect("u");
        let (_, pat) = auth
            .create_access_token(u.id, "laptop", None)
            .await
            .expect("pat");
        assert!(matches!(
            auth.login("dave", &pat, None).await.expect("l"),
            Login::Ok(..)
        ));
        assert_eq!(
            auth.login("erin", &pat, None).await.expect("l"),
            Login::Invalid,
            "bound to its owner"
        );
        auth.revoke_access_token(u.id, "laptop")
            .await
            .expect("revoke");
        assert_eq!(
            auth.login("dave", &pat, None).await.expect("l"),
            Login::Invalid
        );
        // A password change is seen at once by this process.
        assert!(matches!(
            auth.login("dave", "password-123", None).await.expect("l"),
            Login::Ok(..)
        ));
        auth.set_password(u.id, "another-password")
            .await
            .expect("passwd");
        assert_eq!(
            auth.login("dave", "password-123", None).await.expect("l"),
            Login::Invalid
        );
    }
}
