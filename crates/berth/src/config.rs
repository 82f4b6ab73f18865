//! berth's configuration: one typed struct with defaults, loaded from a TOML
//! file (`--config`), then `BERTH_*` environment variables, then flags (each
//! later source overrides the earlier ones).
//!
//! Every key, its default and what it does: `docs/berth.example.toml`
//! ([`EXAMPLE`], printed by `berth config example`); a test checks that the
//! file sets exactly [`Config::default`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// `docs/berth.example.toml`: every key with its default and a comment.
pub const EXAMPLE: &str = include_str!("../../../docs/berth.example.toml");
use serde::{Deserialize, Serialize};

/// Parses a listen address: `IP:PORT` (`127.0.0.1:5000`, `[::1]:5000`),
/// `localhost:PORT` (IPv4 loopback) or `:PORT` (every IPv4 interface, as in
/// Distribution's `addr: :5000`; reachable from the network, so mind
/// `auth.mode`).
///
/// Errors: anything else, with the accepted forms in the message.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("{text:?}: the port must be a number from 0 to 65535"))
    };
    if let Some(p) = t.strip_prefix(':') {
        return Ok(SocketAddr::from(([0, 0, 0, 0], port(p)?)));
    }
    if let Some(p) = t.strip_prefix("localhost:") {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port(p)?)));
    }
    t.parse().map_err(|_| {
        format!("{text:?} is not a listen address: use IP:PORT (127.0.0.1:5000), localhost:PORT or :PORT")
    })
}

fn listen_from_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    parse_listen(&text).map_err(serde::de::Error::custom)
}

/// Everything `berth serve` can be told.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:5000`. Also `localhost:PORT`
    /// (loopback) and `:PORT` (every interface), see [`parse_listen`].
    #[serde(deserialize_with = "listen_from_text")]
    pub listen: SocketAddr,
    /// Data directory: `blobs/`, `uploads/`, `meta.db`. Default `./berth-data`.
    pub data_dir: PathBuf,
    /// Log filter, e.g. `info` or `berth=debug,info`. Default `info`.
    pub log_level: String,
    /// `text` (default) or `json`: one JSON object per log line, for log
    /// shippers (`BERTH_LOG_FORMAT`).
    pub log_format: String,
    /// Request limits.
    pub limits: LimitsConfig,
    /// Server behaviour.
    pub server: ServerConfig,
    /// In-memory caches.
    pub cache: CacheSection,
    /// TLS.
    pub tls: TlsSection,
    /// Authentication.
    pub auth: AuthSection,
    /// The audit trail.
    pub audit: AuditSection,
    /// Garbage collection.
    pub gc: GcSection,
    /// Storage quotas.
    pub quota: QuotaSection,
    /// The metadata database.
    pub database: DatabaseSection,
    /// Blob storage.
    pub storage: StorageSection,
    /// Pull-through cache and transparent mirrors.
    pub proxy: ProxySection,
    /// Prometheus metrics.
    pub metrics: MetricsSection,
    /// Webhook delivery.
    pub webhook: WebhookSection,
    /// Vulnerability scanning.
    pub scan: ScanSection,
    /// The web UI.
    pub ui: UiSection,
}

/// `[ui]`: the web UI at `/` (docs/ui.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiSection {
    /// Serve the pages at `/`. Default true. Browser sign-in (`/c/login`)
    /// stays available either way.
    pub enabled: bool,
    /// Seconds a web UI session lasts after sign-in. Default 28800 (8 h).
    pub session_ttl_secs: u64,
}

impl Default for UiSection {
    fn default() -> Self {
        UiSection {
            enabled: true,
            session_ttl_secs: 8 * 3600,
        }
    }
}

impl UiSection {
    /// The server's settings.
    pub fn settings(&self) -> berth_server::ui::UiSettings {
        berth_server::ui::UiSettings {
            enabled: self.enabled,
            session_ttl: std::time::Duration::from_secs(self.session_ttl_secs),
        }
    }
}

/// `[scan]`: vulnerability scanning (docs/supply-chain.md).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanSection {
    /// Cron expression (as `gc.schedule`) at which every image with an SBOM
    /// is matched against the vulnerability database again ("scan all").
    /// Unset: never (images are still matched at push and at each import).
    pub schedule: Option<String>,
    /// The registry's URL as an external scanner adapter reaches it, e.g.
    /// `https://registry.example.com` (the adapter pulls the image from
    /// there). Empty: `http(s)://` and the listen address.
    pub registry_url: String,
}

/// `[webhook]`: delivery of the projects' webhook policies (docs/webhooks.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSection {
    /// Raise and deliver webhook events. Default true.
    pub enabled: bool,
    /// Host (and port) in payloads' `resource_url`, as clients pull, e.g.
    /// `registry.example.com`. Empty: the listen address.
    pub registry_host: String,
    /// Attempts before a delivery is given up. Default 5.
    pub max_attempts: u32,
    /// Milliseconds before the second attempt, doubled before each later
    /// one (at most an hour). Default 2000.
    pub retry_base_ms: u64,
    /// Seconds allowed for one attempt. Default 10.
    pub timeout_secs: u64,
    /// Deliveries waiting beyond which new events are dropped (and
    /// counted). Default 10000.
    pub max_pending: u64,
    /// Deliveries one node sends at once. Default 8.
    pub concurrency: u32,
    /// Days finished deliveries and their logs are kept. Default 30.
    pub keep_days: u64,
}

impl Default for WebhookSection {
    fn default() -> Self {
        let d = berth_registry::webhook::WebhookConfig::default();
        WebhookSection {
            enabled: true,
            registry_host: String::new(),
            max_attempts: d.max_attempts,
            retry_base_ms: d.retry_base.as_millis() as u64,
            timeout_secs: d.timeout.as_secs(),
            max_pending: d.max_pending,
            concurrency: d.concurrency,
            keep_days: d.keep.as_secs() / 86_400,
        }
    }
}

impl WebhookSection {
    /// The delivery settings; `listen` is the host used when
    /// `registry_host` is empty.
    pub fn config(&self, listen: &str) -> berth_registry::webhook::WebhookConfig {
        berth_registry::webhook::WebhookConfig {
            registry_host: if self.registry_host.trim().is_empty() {
                listen.to_string()
            } else {
                self.registry_host.trim().trim_end_matches('/').to_string()
            },
            max_attempts: self.max_attempts.max(1),
            retry_base: std::time::Duration::from_millis(self.retry_base_ms.max(1)),
            timeout: std::time::Duration::from_secs(self.timeout_secs.max(1)),
            max_pending: self.max_pending.max(1),
            concurrency: self.concurrency.max(1),
            keep: std::time::Duration::from_secs(self.keep_days.max(1).saturating_mul(86_400)),
        }
    }
}

/// `[metrics]`: the Prometheus exposition (docs/metrics.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// Serve `/metrics` and count requests. Default true.
    pub enabled: bool,
    /// Let anyone scrape `/metrics` on the main listener. Default false: a
    /// system administrator's HTTP Basic credentials are needed (Prometheus'
    /// `basic_auth`). Project names appear in the labels.
    pub public: bool,
    /// Also serve `/metrics`, without authentication, on this address (e.g.
    /// `127.0.0.1:9090`, or an address only the scraper reaches). Empty: not.
    pub listen: String,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            enabled: true,
            public: false,
            listen: String::new(),
        }
    }
}

/// `[proxy]`: pull-through cache (docs/proxy.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxySection {
    /// How long a proxied tag is served without asking upstream again.
    /// humantime, default `5m`.
    pub tag_ttl: String,
    /// What a cached tag answers once upstream no longer has it:
    /// `not_found` (default) or `serve_stale`.
    pub upstream_missing: String,
    /// Transparent mirrors: the upstream host a client names (containerd's
    /// `?ns=`), mapped to the proxy project serving it, e.g.
    /// `{ "docker.io" = "hub" }`.
    pub mirrors: std::collections::BTreeMap<String, String>,
    /// The proxy project serving mirror requests without `ns` (docker's
    /// `registry-mirrors`) for repositories berth does not hold. Empty: none.
    pub default_mirror: String,
}

impl Default for ProxySection {
    fn default() -> Self {
        ProxySection {
            tag_ttl: "5m".into(),
            upstream_missing: "not_found".into(),
            mirrors: Default::default(),
            default_mirror: String::new(),
        }
    }
}

/// `[storage]`: where blobs live (`berth_storage::StorageUrl`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSection {
    /// `file://<dir>` or `s3://bucket/prefix`; empty (the default) is the
    /// data directory. `BERTH_STORAGE_URL`.
    pub url: String,
    /// Answer blob GETs with `307` to a presigned object-store URL (object
    /// stores only). Default false.
    pub redirect: bool,
    /// Lifetime of those URLs, seconds. Default 1200 (20 min).
    pub redirect_expiry_secs: u64,
    /// S3 client settings; each overrides its `AWS_*` environment variable.
    pub s3: S3Section,
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            url: String::new(),
            redirect: false,
            redirect_expiry_secs: 1200,
            s3: S3Section::default(),
        }
    }
}

/// `[storage.s3]`: the S3 client beyond the standard `AWS_*` variables.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Section {
    /// Endpoint URL of a self-hosted store (`AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// Region (`AWS_REGION`).
    pub region: Option<String>,
    /// Access key id (`AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// Secret access key (`AWS_SECRET_ACCESS_KEY`); prefer the variable.
    pub secret_access_key: Option<String>,
    /// Allow a plain-HTTP endpoint (`AWS_ALLOW_HTTP`).
    pub allow_http: Option<bool>,
    /// Virtual-hosted-style requests; default false: path style, as
    /// self-hosted stores (Garage, MinIO) expect.
    pub virtual_hosted_style: bool,
}

/// `[database]`: where the metadata lives (`berth_meta::DatabaseUrl`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSection {
    /// `sqlite://<path>` or `postgres://user:pass@host:port/db`; empty (the
    /// default) is `sqlite://<data_dir>/meta.db`. `BERTH_DATABASE_URL`,
    /// `--database-url`.
    pub url: String,
}

/// `[auth]`: how clients authenticate (see `berth_registry::auth`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    /// `token` (default), `basic` or `none`.
    pub mode: String,
    /// Service name. Default `berth`.
    pub service: String,
    /// Token endpoint URL for challenges; empty derives `<scheme>://<Host>/v2/token`.
    pub realm: String,
    /// Registry token lifetime, seconds. Default 300.
    pub token_ttl_secs: u64,
    /// Refresh token lifetime, seconds. Default 30 days.
    pub refresh_ttl_secs: u64,
    /// First push by a user creates the project. Default false.
    pub auto_create_projects: bool,
    /// Seconds verified Basic credentials stay cached. Default 60.
    pub credential_cache_secs: u64,
    /// Failed logins per user per window before lockout. Default 10.
    pub login_failures_per_user: u32,
    /// Failed logins per address per window before lockout. Default 100.
    pub login_failures_per_ip: u32,
    /// Lockout window, seconds. Default 300.
    pub login_failure_window_secs: u64,
    /// Operator-managed token signing key file (PEM or base64 PKCS#8 P-256),
    /// only read. Default: none, `<data_dir>/token-signing-key.pem` (created on
    /// the first start). `BERTH_TOKEN_SIGNING_KEY` (the key itself) overrides it.
    pub signing_key_file: Option<PathBuf>,
    /// Where users who are not local accounts sign in: `local` (nowhere;
    /// the default), `ldap` (`[auth.ldap]`) or `oidc` (`[auth.oidc]`). Local
    /// accounts (the `admin` among them) and robots keep working either way.
    pub identity: String,
    /// The LDAP directory (`identity = "ldap"`; docs/identity.md).
    pub ldap: LdapSection,
    /// The OpenID Connect provider (`identity = "oidc"`; docs/identity.md).
    pub oidc: OidcSection,
}

/// `[auth.oidc]`: web UI sign-in through an OpenID Connect provider; CLI
/// secrets for registry clients.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcSection {
    /// The provider's name on the sign-in button. Default `OIDC`.
    pub name: String,
    /// The issuer URL (discovery reads `<issuer>/.well-known/openid-configuration`).
    pub issuer: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// A file holding the client secret (only read; the environment
    /// variable `BERTH_OIDC_CLIENT_SECRET` overrides it). None: a public
    /// client (PKCE only).
    pub client_secret_file: Option<PathBuf>,
    /// Scopes asked for. Default `openid profile email offline_access`
    /// (`offline_access` gets the refresh token berth rechecks users with).
    pub scopes: Vec<String>,
    /// The ID token claim naming the berth user. Default `preferred_username`.
    pub username_claim: String,
    /// The ID token claim listing the user's groups. Default `groups`.
    pub groups_claim: String,
    /// Members of this provider group are system administrators. Default
    /// empty (none).
    pub admin_group: String,
    /// The callback URL registered at the provider. Default empty:
    /// `<scheme>://<Host>/c/oidc/callback` of the browser's request.
    pub redirect_url: String,
    /// Extra parameters of the authorization request, e.g.
    /// `{ prompt = "consent" }`.
    pub extra_auth_params: std::collections::BTreeMap<String, String>,
    /// Per-request timeout of calls to the provider, seconds. Default 10.
    pub timeout_secs: u64,
    /// An OIDC user's CLI secret and sessions are trusted this long before
    /// the provider is asked again (by redeeming their refresh token),
    /// seconds. Default 300.
    pub recheck_secs: u64,
    /// A PEM file of CA certificates trusted for the provider's TLS beside
    /// the built-in roots (a private CA). Default none.
    pub ca_file: Option<PathBuf>,
}

impl Default for OidcSection {
    fn default() -> Self {
        let d = berth_registry::auth::oidc::OidcConfig::default();
        OidcSection {
            name: d.name,
            issuer: d.issuer,
            client_id: d.client_id,
            client_secret_file: None,
            scopes: d.scopes,
            username_claim: d.username_claim,
            groups_claim: d.groups_claim,
            admin_group: d.admin_group,
            redirect_url: d.redirect_url,
            extra_auth_params: Default::default(),
            timeout_secs: d.timeout.as_secs(),
            recheck_secs: d.recheck.as_secs(),
            ca_file: None,
        }
    }
}

impl OidcSection {
    /// The registry's settings, with the client secret read.
    fn to_config(&self) -> anyhow::Result<berth_registry::auth::oidc::OidcConfig> {
        if !(self.issuer.starts_with("https://") || self.issuer.starts_with("http://")) {
            anyhow::bail!(
                "auth.oidc.issuer {:?} must be the provider's http(s) issuer URL",
                self.issuer
            );
        }
        if self.client_id.trim().is_empty() {
            anyhow::bail!(
                "auth.oidc.client_id is empty: set the client id registered at the provider"
            );
        }
        if self.username_claim.trim().is_empty() {
            anyhow::bail!(
                "auth.oidc.username_claim is empty: name the claim that holds the user name"
            );
        }
        let http = |u: &str| u.starts_with("https://") || u.starts_with("http://");
        if !(self.redirect_url.is_empty() || http(&self.redirect_url)) {
            anyhow::bail!(
                "auth.oidc.redirect_url {:?} must be an http(s) URL ending in /c/oidc/callback",
                self.redirect_url
            );
        }
        let client_secret = match std::env::var("BERTH_OIDC_CLIENT_SECRET") {
            Ok(p) if !p.is_empty() => p,
            _ => match &self.client_secret_file {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| {
                        format!("reading auth.oidc.client_secret_file {}", path.display())
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
                None => String::new(),
            },
        };
        let mut scopes = self.scopes.clone();
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".into());
        }
        Ok(berth_registry::auth::oidc::OidcConfig {
            name: if self.name.trim().is_empty() {
                "OIDC".into()
            } else {
                self.name.clone()
            },
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            client_secret,
            scopes,
            username_claim: self.username_claim.clone(),
            groups_claim: self.groups_claim.clone(),
            admin_group: self.admin_group.clone(),
            redirect_url: self.redirect_url.clone(),
            extra_auth_params: self
                .extra_auth_params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            timeout: std::time::Duration::from_secs(self.timeout_secs.max(1)),
            recheck: std::time::Duration::from_secs(self.recheck_secs),
            ca_certificates: ca_file("auth.oidc.ca_file", &self.ca_file)?,
        })
    }
}

/// `[auth.ldap]`: sign-in against an LDAP directory or Active Directory.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapSection {
    /// `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    /// Upgrade `ldap://` with StartTLS before binding. Default false.
    pub starttls: bool,
    /// The service account that searches for users (empty: anonymous).
    pub bind_dn: String,
    /// A file holding the service account's password (only read; the
    /// environment variable `BERTH_LDAP_BIND_PASSWORD` overrides it).
    pub bind_password_file: Option<PathBuf>,
    /// Where users are searched.
    pub user_base: String,
    /// What a user entry must match. Default `(objectClass=person)`.
    pub user_filter: String,
    /// The login-name attribute. Default `uid` (AD: `sAMAccountName`).
    pub uid_attribute: String,
    /// Default `mail`.
    pub email_attribute: String,
    /// Default `cn` (AD: `displayName`).
    pub realname_attribute: String,
    /// Where groups are searched (e.g. `ou=groups,dc=example,dc=org`).
    /// Empty: a user's groups are read from `membership_attribute`.
    pub group_base: String,
    /// What a group entry must match. Default `(objectClass=groupOfNames)`.
    pub group_filter: String,
    /// The group attribute listing member DNs. Default `member`.
    pub group_member_attribute: String,
    /// The user attribute listing group DNs when `group_base` is empty.
    /// Default `memberOf` (AD, OpenLDAP's memberof overlay).
    pub membership_attribute: String,
    /// Connect and per-operation timeout, seconds. Default 5.
    pub timeout_secs: u64,
    /// A directory user's tokens and sessions are trusted this long before
    /// the directory is asked again whether the user still exists, seconds.
    /// Default 300: a user removed from the directory loses access within
    /// this bound plus `credential_cache_secs`.
    pub recheck_secs: u64,
    /// Follow nested groups under `group_base` (a group listing a group the
    /// user is in counts too; up to 10 levels). Default false.
    pub nested_groups: bool,
    /// A PEM file of CA certificates trusted for `ldaps://` and StartTLS
    /// beside the system's (a private CA). Default none.
    pub ca_file: Option<PathBuf>,
}

impl Default for LdapSection {
    fn default() -> Self {
        let d = berth_registry::auth::ldap::LdapConfig::default();
        LdapSection {
            url: d.url,
            starttls: d.starttls,
            bind_dn: d.bind_dn,
            bind_password_file: None,
            user_base: d.user_base,
            user_filter: d.user_filter,
            uid_attribute: d.uid_attribute,
            email_attribute: d.email_attribute,
            realname_attribute: d.realname_attribute,
            group_base: d.group_base,
            group_filter: d.group_filter,
            group_member_attribute: d.group_member_attribute,
            membership_attribute: d.membership_attribute,
            timeout_secs: d.timeout.as_secs(),
            recheck_secs: d.recheck.as_secs(),
            nested_groups: d.nested_groups,
            ca_file: None,
        }
    }
}

/// The CA certificates (DER) of PEM file `path`, named `key` in errors.
fn ca_file(key: &str, path: &Option<PathBuf>) -> anyhow::Result<Vec<Vec<u8>>> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let pem = std::fs::read(path).with_context(|| format!("reading {key} {}", path.display()))?;
    berth_registry::auth::parse_ca_certificates(&pem)
        .map_err(|e| anyhow::anyhow!("{key} {}: {e}", path.display()))
}

impl LdapSection {
    /// The registry's settings, with the bind password read.
    fn to_config(&self) -> anyhow::Result<berth_registry::auth::ldap::LdapConfig> {
        if !(self.url.starts_with("ldap://") || self.url.starts_with("ldaps://")) {
            anyhow::bail!(
                "auth.ldap.url {:?} must start with ldap:// or ldaps://",
                self.url
            );
        }
        if self.user_base.trim().is_empty() {
            anyhow::bail!("auth.ldap.user_base is empty: set where users are searched");
        }
        let bind_password = match std::env::var("BERTH_LDAP_BIND_PASSWORD") {
            Ok(p) if !p.is_empty() => p,
            _ => match &self.bind_password_file {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| {
                        format!("reading auth.ldap.bind_password_file {}", path.display())
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
                None => String::new(),
            },
        };
        Ok(berth_registry::auth::ldap::LdapConfig {
            url: self.url.clone(),
            starttls: self.starttls,
            bind_dn: self.bind_dn.clone(),
            bind_password,
            user_base: self.user_base.clone(),
            user_filter: self.user_filter.clone(),
            uid_attribute: self.uid_attribute.clone(),
            email_attribute: self.email_attribute.clone(),
            realname_attribute: self.realname_attribute.clone(),
            group_base: self.group_base.clone(),
            group_filter: self.group_filter.clone(),
            group_member_attribute: self.group_member_attribute.clone(),
            membership_attribute: self.membership_attribute.clone(),
            timeout: std::time::Duration::from_secs(self.timeout_secs.max(1)),
            recheck: std::time::Duration::from_secs(self.recheck_secs),
            nested_groups: self.nested_groups,
            ca_certificates: ca_file("auth.ldap.ca_file", &self.ca_file)?,
        })
    }
}

impl Default for AuthSection {
    fn default() -> Self {
        let d = berth_registry::AuthConfig::default();
        AuthSection {
            mode: d.mode.as_str().into(),
            service: d.service,
            realm: String::new(),
            token_ttl_secs: d.token_ttl.as_secs(),
            refresh_ttl_secs: d.refresh_ttl.as_secs(),
            auto_create_projects: d.auto_create_projects,
            credential_cache_secs: d.credential_cache_ttl.as_secs(),
            login_failures_per_user: d.login_failures_per_user,
            login_failures_per_ip: d.login_failures_per_ip,
            login_failure_window_secs: d.login_failure_window.as_secs(),
            signing_key_file: None,
            identity: "local".into(),
            ldap: LdapSection::default(),
            oidc: OidcSection::default(),
        }
    }
}

impl AuthSection {
    /// The registry's auth settings; the admin password comes from
    /// `BERTH_ADMIN_PASSWORD` (environment only: never in a file).
    pub fn to_auth_config(&self) -> anyhow::Result<berth_registry::AuthConfig> {
        let mode = berth_registry::AuthMode::parse(&self.mode).ok_or_else(|| {
            anyhow::anyhow!("auth.mode {:?} is not one of token, basic, none", self.mode)
        })?;
        if self.token_ttl_secs == 0 {
            anyhow::bail!("auth.token_ttl_secs must be at least 1");
        }
        if let Ok(p) = std::env::var("BERTH_ADMIN_PASSWORD") {
            let n = p.chars().count();
            if n > 0 && n < berth_registry::auth::accounts::MIN_PASSWORD_LEN {
                anyhow::bail!(
                    "BERTH_ADMIN_PASSWORD is refused: password must have at least {} characters; choose a longer one, or unset it to have berth generate one",
                    berth_registry::auth::accounts::MIN_PASSWORD_LEN
                );
            }
        }
        Ok(berth_registry::AuthConfig {
            mode,
            service: self.service.clone(),
            issuer: self.service.clone(),
            token_ttl: std::time::Duration::from_secs(self.token_ttl_secs),
            refresh_ttl: std::time::Duration::from_secs(self.refresh_ttl_secs.max(1)),
            auto_create_projects: self.auto_create_projects,
            admin_password: std::env::var("BERTH_ADMIN_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty()),
            credential_cache_ttl: std::time::Duration::from_secs(self.credential_cache_secs),
            login_failures_per_user: self.login_failures_per_user,
            login_failures_per_ip: self.login_failures_per_ip,
            login_failure_window: std::time::Duration::from_secs(
                self.login_failure_window_secs.max(1),
            ),
            signing_key: self.signing_key_source(),
            ldap: match self.identity.as_str() {
                "ldap" => Some(self.ldap.to_config()?),
                "local" | "oidc" => None,
                other => anyhow::bail!("auth.identity {other:?} is not one of local, ldap, oidc"),
            },
            oidc: match self.identity.as_str() {
                "oidc" => Some(self.oidc.to_config()?),
                _ => None,
            },
        })
    }

    /// Where the token signing key comes from: `BERTH_TOKEN_SIGNING_KEY` (the
    /// key itself; environment overrides the file), else `signing_key_file`,
    /// else the data directory's own key file.
    fn signing_key_source(&self) -> berth_registry::auth::SigningKeySource {
        use berth_registry::auth::{signing_key, SigningKeySource};
        match std::env::var(signing_key::ENV_VAR) {
            Ok(key) if !key.trim().is_empty() => SigningKeySource::Inline(key),
            _ => match &self.signing_key_file {
                Some(path) if !path.as_os_str().is_empty() => SigningKeySource::File(path.clone()),
                _ => SigningKeySource::DataDir,
            },
        }
    }
}

/// `[audit]`: the hash-chained audit trail (docs/audit.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSection {
    /// Record pushes, pulls, deletes, logins and account changes. Default true.
    pub enabled: bool,
    /// Milliseconds the writer gathers entries before one commit: fewer fsyncs
    /// under load, at most this much of the trail lost on a crash. Default 50.
    pub batch_delay_ms: u64,
    /// Entries waiting to be written beyond which new ones are dropped (counted in
    /// an `audit_dropped` entry), so a stuck database cannot exhaust memory.
    /// Identical pulls coalesce and rarely count against it. Default 100 000.
    pub max_pending: usize,
    /// Seconds a failed login or an anonymous token issue absorbs identical ones
    /// after it; they are written as one counted entry when the window closes.
    /// Default 60.
    pub coalesce_window_secs: u64,
    /// Entries older than this many days are archived to
    /// `<data_dir>/audit-archive/` and trimmed behind a checkpoint, once a day,
    /// by `serve`. 0 (the default) keeps everything.
    pub retention_days: u64,
    /// `refuse` (the default, fail closed): while entries cannot be written,
    /// state-changing requests get 503 and CLI changes are refused;
    /// `continue`: changes go on, each failed write is counted and logged at
    /// error level (docs/audit.md "When the trail cannot be written").
    pub on_failure: String,
    /// Seconds between signed checkpoints of the chain's head, taken when the
    /// head moved (docs/audit.md "Signed checkpoints"); 0: only on demand
    /// (`POST /api/v2.0/audit-logs/checkpoint`). Needs accounts (the
    /// registry's key is the token key). Default 3600.
    pub checkpoint_interval_secs: u64,
}

impl Default for AuditSection {
    fn default() -> Self {
        let d = berth_registry::AuditConfig::default();
        AuditSection {
            enabled: d.enabled,
            batch_delay_ms: d.batch_delay.as_millis() as u64,
            max_pending: d.max_pending,
            coalesce_window_secs: d.coalesce_window.as_secs(),
            retention_days: 0,
            checkpoint_interval_secs: 3600,
            on_failure: "refuse".into(),
        }
    }
}

/// `[gc]`: garbage collection (see docs/gc.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GcSection {
    /// When `berth serve` runs garbage collection itself: a cron expression with
    /// seconds (`sec min hour day-of-month month day-of-week`, as Harbor's GC
    /// schedule), or the classic five fields (run at second 0). Unset: never.
    pub schedule: Option<String>,
    /// Repository links (fresh uploads and mounts waiting for their manifest) and
    /// untagged manifests younger than this are kept. humantime, default `2h`.
    pub grace_period: String,
    /// Also delete untagged manifests, their referrers and the children of
    /// untagged indexes. Default false.
    pub delete_untagged: bool,
    /// Upload sessions that received nothing for this long are removed.
    /// humantime, default `24h`.
    pub upload_max_age: String,
}

impl Default for GcSection {
    fn default() -> Self {
        GcSection {
            schedule: None,
            grace_period: "2h".into(),
            delete_untagged: false,
            upload_max_age: "24h".into(),
        }
    }
}

/// `[quota]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaSection {
    /// Storage quota of projects without their own (set with `berth quota set`):
    /// a size such as `10GiB`, `500MB`, `1048576`, or `unlimited` (the default).
    pub default: String,
}

impl Default for QuotaSection {
    fn default() -> Self {
        QuotaSection {
            default: "unlimited".into(),
        }
    }
}

/// Parses a size: a number of bytes with an optional unit (`B`, `KB`/`MB`/`GB`/`TB`
/// powers of 1000, `KiB`/`MiB`/`GiB`/`TiB` powers of 1024; case-insensitive,
/// spaces allowed), or `unlimited` / `none` (`None`).
pub fn parse_size(text: &str) -> anyhow::Result<Option<u64>> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.parse().map_err(|_| {
        anyhow::anyhow!("invalid size {text:?}: expected e.g. 10GiB, 500MB or 1048576")
    })?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        other => anyhow::bail!("invalid size {text:?}: unknown unit {other:?}"),
    };
    Ok(Some((num * mult as f64).round() as u64))
}

/// Parses a humantime duration (`2h`, `30m`, `1h 30m`, `0s`), naming the key on error.
pub fn parse_duration(key: &str, text: &str) -> anyhow::Result<std::time::Duration> {
    humantime::parse_duration(text.trim())
        .map_err(|e| anyhow::anyhow!("{key} = {text:?} is not a duration like 2h or 30m: {e}"))
}

/// Parses a cron expression with seconds (6 or 7 fields); five fields get `0`
/// seconds prepended.
pub fn parse_cron(text: &str) -> anyhow::Result<cron::Schedule> {
    use std::str::FromStr;
    let t = text.trim();
    let full = if t.split_whitespace().count() == 5 {
        format!("0 {t}")
    } else {
        t.to_string()
    };
    cron::Schedule::from_str(&full).map_err(|e| {
        anyhow::anyhow!(
            "{text:?} is not a cron expression ({e}); \
             use six fields, sec min hour day-of-month month day-of-week, e.g. \"0 0 3 * * *\" (03:00 UTC daily)"
        )
    })
}

/// `[tls]`: serve HTTPS with this certificate chain and key (PEM). Both or neither.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    /// PEM certificate chain.
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

/// `[cache]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSection {
    /// Bytes of manifests kept in memory. Default 64 MiB; 0 disables the cache
    /// and the tag list cache with it.
    pub manifest_bytes: u64,
    /// Milliseconds after which a cached manifest (or tag list) is re-validated,
    /// bounding how long a change made by another process (or node) can go unseen. Local changes are
    /// seen at once. Default 2000.
    pub manifest_ttl_ms: u64,
}

impl Default for CacheSection {
    fn default() -> Self {
        let d = berth_registry::CacheConfig::default();
        CacheSection {
            manifest_bytes: d.max_bytes,
            manifest_ttl_ms: d.ttl.as_millis() as u64,
        }
    }
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest manifest accepted, in bytes. Default 4 MiB.
    pub max_manifest_bytes: usize,
    /// Most entries in one tags or catalog page. Default 10 000.
    pub max_page: u32,
    /// Largest request head (request line + headers), bytes. Default 64 KiB:
    /// room for large bearer tokens; larger heads get 431.
    pub max_header_bytes: usize,
    /// Requests per second per client (identity once authenticated, else IP);
    /// over it, 429 TOOMANYREQUESTS with Retry-After. Default 0: unlimited, because
    /// no per-IP figure fits both a loopback benchmark and clients behind one NAT;
    /// operators set it for their traffic.
    pub rate_per_second: u32,
    /// Burst size of the per-client bucket. Default 0: twice `rate_per_second`.
    pub rate_burst: u32,
    /// Upload sessions one client may hold open at once (sessions older than an
    /// hour stop counting). Default 1000; 0 disables the cap. Over it: 429.
    pub max_upload_sessions_per_client: usize,
    /// Largest upload request body (a PATCH chunk, a PUT's final chunk, a
    /// monolithic POST), bytes. Default 0: unlimited, because docker and skopeo
    /// stream a whole layer in one PATCH. Over it: 413 SIZE_INVALID.
    pub max_chunk_bytes: u64,
    /// Largest management API (`/api/v2.0`) request body, bytes. Default 1 MiB.
    /// Over it: 413 PAYLOAD_TOO_LARGE before the body is read past the limit.
    pub max_api_body_bytes: usize,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT. Default 30.
    pub shutdown_grace_secs: u64,
    /// Seconds a client has to send a complete request head (and to finish the TLS
    /// handshake): a client trickling headers cannot hold a connection. Default 30.
    pub header_timeout_secs: u64,
    /// Seconds any request body may send nothing before the request is cut off
    /// (an upload's chunk is rolled back). Default 120.
    pub body_idle_timeout_secs: u64,
    /// Seconds a buffered request body (management API JSON, token form,
    /// manifest) has to arrive whole; after this long an upload body must
    /// average `body_min_bytes_per_sec`. Default 30.
    pub body_read_timeout_secs: u64,
    /// The slowest average rate, bytes per second, an upload body may keep
    /// after `body_read_timeout_secs` (a body trickling 1 byte every 10 s is
    /// cut off). Default 1024; 0 disables the minimum.
    pub body_min_bytes_per_sec: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            data_dir: PathBuf::from("./berth-data"),
            log_level: "info".into(),
            log_format: "text".into(),
            limits: LimitsConfig::default(),
            server: ServerConfig::default(),
            cache: CacheSection::default(),
            tls: TlsSection::default(),
            auth: AuthSection::default(),
            audit: AuditSection::default(),
            gc: GcSection::default(),
            quota: QuotaSection::default(),
            database: DatabaseSection::default(),
            storage: StorageSection::default(),
            proxy: ProxySection::default(),
            metrics: MetricsSection::default(),
            webhook: WebhookSection::default(),
            scan: ScanSection::default(),
            ui: UiSection::default(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let d = berth_registry::Limits::default();
        LimitsConfig {
            max_manifest_bytes: d.max_manifest_bytes,
            max_page: d.max_page,
            max_header_bytes: 64 * 1024,
            rate_per_second: 0,
            rate_burst: 0,
            max_upload_sessions_per_client: 1000,
            max_chunk_bytes: 0,
            max_api_body_bytes: 1024 * 1024,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            shutdown_grace_secs: 30,
            header_timeout_secs: 30,
            body_idle_timeout_secs: 120,
            body_read_timeout_secs: 30,
            body_min_bytes_per_sec: 1024,
        }
    }
}

/// Where a registry's data lives: blobs (and, on SQLite, the metadata) under
/// `data_dir`, metadata in `database`. What the CLI commands open.
#[derive(Debug, Clone)]
pub struct Location {
    /// `data_dir`: `blobs/`, `uploads/` (and `meta.db` on SQLite).
    pub data_dir: PathBuf,
    /// The metadata database.
    pub database: berth_meta::DatabaseUrl,
    /// The blob storage.
    pub storage: berth_registry::BlobStorage,
}

impl Location {
    /// Refuses a location that holds no registry, so a command run with the
    /// wrong `--data-dir` says so instead of starting an empty one: on SQLite
    /// the database file must exist. (A PostgreSQL database is checked by
    /// connecting to it.)
    pub fn require_existing(&self) -> anyhow::Result<()> {
        if let berth_meta::DatabaseUrl::Sqlite(path) = &self.database {
            if !path.exists() {
                anyhow::bail!(
                    "{} holds no berth data (no {})",
                    self.data_dir.display(),
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| path.display().to_string())
                );
            }
        }
        Ok(())
    }

    /// Opens the existing registry here (migrating its schema if needed).
    pub async fn open_registry(&self) -> anyhow::Result<berth_registry::Registry> {
        self.require_existing()?;
        berth_registry::Registry::open_on(
            &self.data_dir,
            &self.database,
            &self.storage,
            berth_registry::Limits::default(),
        )
        .await
        .with_context(|| format!("opening {self}"))
    }
}

impl std::fmt::Display for Location {
    /// `data directory D` on SQLite; `data directory D and database URL`
    /// (password hidden) otherwise.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.database {
            berth_meta::DatabaseUrl::Sqlite(p) if *p == self.data_dir.join("meta.db") => {
                write!(f, "data directory {}", self.data_dir.display())
            }
            db => write!(
                f,
                "data directory {} and database {db}",
                self.data_dir.display()
            ),
        }
    }
}

impl Config {
    /// The metadata database: `database.url`, or `<data_dir>/meta.db`.
    ///
    /// Errors: a `database.url` that is neither `sqlite://` nor `postgres://`.
    pub fn database_url(&self) -> anyhow::Result<berth_meta::DatabaseUrl> {
        if self.database.url.is_empty() {
            return Ok(berth_meta::DatabaseUrl::sqlite_in(&self.data_dir));
        }
        self.database
            .url
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))
    }

    /// Where the data lives ([`Location`]).
    pub fn location(&self) -> anyhow::Result<Location> {
        Ok(Location {
            data_dir: self.data_dir.clone(),
            database: self.database_url()?,
            storage: self.blob_storage()?,
        })
    }

    /// The blob storage: `storage.url` with `[storage.s3]`.
    ///
    /// Errors: a `storage.url` that is neither `file://` nor `s3://`.
    pub fn blob_storage(&self) -> anyhow::Result<berth_registry::BlobStorage> {
        let url = if self.storage.url.is_empty() {
            None
        } else {
            Some(
                self.storage
                    .url
                    .parse::<berth_storage::StorageUrl>()
                    .map_err(|e| anyhow::anyhow!(e))?,
            )
        };
        let s3 = &self.storage.s3;
        if self.storage.redirect && self.storage.redirect_expiry_secs == 0 {
            anyhow::bail!("storage.redirect_expiry_secs must be at least 1 (the default is 1200)");
        }
        Ok(berth_registry::BlobStorage {
            redirect: self
                .storage
                .redirect
                .then(|| std::time::Duration::from_secs(self.storage.redirect_expiry_secs)),
            url,
            s3: berth_storage::S3Settings {
                endpoint: s3.endpoint.clone(),
                region: s3.region.clone(),
                access_key_id: s3.access_key_id.clone(),
                secret_access_key: s3.secret_access_key.clone(),
                allow_http: s3.allow_http,
                virtual_hosted_style: s3.virtual_hosted_style,
            },
        })
    }

    /// Defaults, overlaid with the TOML file at `path` when given.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        match path {
            None => Ok(Config::default()),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading config file {}", p.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("parsing config file {}", p.display()))
            }
        }
    }

    /// Refuses settings that would make the registry misbehave silently.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.auth.to_auth_config()?;
        self.database_url()?;
        self.blob_storage()?;
        if let Some(cron) = &self.scan.schedule {
            parse_cron(cron).map_err(|e| anyhow::anyhow!("scan.schedule: {e}"))?;
        }
        if !self.metrics.listen.trim().is_empty() {
            if !self.metrics.enabled {
                anyhow::bail!("metrics.listen is set but metrics.enabled is false: turn metrics on or leave listen empty");
            }
            parse_listen(self.metrics.listen.trim())
                .map_err(|e| anyhow::anyhow!("metrics.listen: {e}"))?;
        }
        if self.ui.session_ttl_secs == 0 {
            anyhow::bail!(
                "ui.session_ttl_secs must be at least 1 (0 would end every session at sign-in)"
            );
        }
        if self.log_format != "text" && self.log_format != "json" {
            anyhow::bail!("log_format {:?} is not one of text, json", self.log_format);
        }
        if self.limits.max_page == 0 {
            anyhow::bail!("limits.max_page must be at least 1 (0 would make every tags and catalog listing empty)");
        }
        if self.server.header_timeout_secs == 0 || self.server.body_idle_timeout_secs == 0 {
            anyhow::bail!("server timeouts must be at least 1 second");
        }
        if self.limits.max_header_bytes < 8192 {
            anyhow::bail!("limits.max_header_bytes must be at least 8192 (the default is 65536)");
        }
        if self.limits.max_manifest_bytes < 4096 {
            anyhow::bail!(
                "limits.max_manifest_bytes must be at least 4096 (the default is 4194304)"
            );
        }
        self.gc_options()?;
        if let Some(cron) = &self.gc.schedule {
            parse_cron(cron).map_err(|e| anyhow::anyhow!("gc.schedule: {e}"))?;
        }
        self.default_quota()?;
        let proxy = self.proxy_config()?;
        for project in proxy
            .mirrors
            .iter()
            .map(|m| &m.project)
            .chain(proxy.default_mirror.as_ref())
        {
            if berth_oci::RepositoryName::parse(project).is_err() || project.contains('/') {
                anyhow::bail!(
                    "proxy: {project:?} is not a project name (lower-case letters, digits, '.', '_', '-')"
                );
            }
        }
        match (&self.tls.cert, &self.tls.key) {
            (Some(cert), Some(key)) => {
                for (name, path) in [("tls.cert", cert), ("tls.key", key)] {
                    std::fs::metadata(path)
                        .with_context(|| format!("{name} = {}", path.display()))?;
                }
            }
            (None, None) => {}
            _ => anyhow::bail!(
                "TLS needs both a certificate (tls.cert, --tls-cert) and a key (tls.key, --tls-key)"
            ),
        }
        if berth_registry::OnAuditFailure::parse(&self.audit.on_failure).is_none() {
            anyhow::bail!(
                "audit.on_failure {:?} is not one of refuse, continue",
                self.audit.on_failure
            );
        }
        Ok(())
    }

    /// Garbage-collection parameters from `[gc]` (trigger `schedule`, no settle:
    /// the server invalidates its own cache).
    pub fn gc_options(&self) -> anyhow::Result<berth_registry::GcOptions> {
        Ok(berth_registry::GcOptions {
            dry_run: false,
            delete_untagged: self.gc.delete_untagged,
            grace_period: parse_duration("gc.grace_period", &self.gc.grace_period)?,
            upload_max_age: parse_duration("gc.upload_max_age", &self.gc.upload_max_age)?,
            settle: std::time::Duration::ZERO,
            scan_storage: false,
            trigger: berth_registry::GcTrigger::Schedule,
        })
    }

    /// The pull-through cache settings from `[proxy]`.
    ///
    /// Errors: a malformed `tag_ttl` or an unknown `upstream_missing`.
    pub fn proxy_config(&self) -> anyhow::Result<berth_registry::ProxyConfig> {
        let upstream_missing = match self.proxy.upstream_missing.as_str() {
            "not_found" => berth_registry::UpstreamMissing::NotFound,
            "serve_stale" => berth_registry::UpstreamMissing::ServeStale,
            other => anyhow::bail!(
                "proxy.upstream_missing = {other:?}: use \"not_found\" or \"serve_stale\""
            ),
        };
        Ok(berth_registry::ProxyConfig {
            tag_ttl: parse_duration("proxy.tag_ttl", &self.proxy.tag_ttl)?,
            upstream_missing,
            mirrors: self
                .proxy
                .mirrors
                .iter()
                .map(|(ns, project)| berth_registry::Mirror {
                    ns: ns.clone(),
                    project: project.clone(),
                })
                .collect(),
            default_mirror: Some(self.proxy.default_mirror.clone()).filter(|p| !p.is_empty()),
        })
    }

    /// `quota.default` in bytes (`None`: unlimited).
    pub fn default_quota(&self) -> anyhow::Result<Option<u64>> {
        parse_size(&self.quota.default).map_err(|e| e.context("quota.default"))
    }

    /// The manifest cache settings.
    pub fn cache_config(&self) -> berth_registry::CacheConfig {
        berth_registry::CacheConfig {
            max_bytes: self.cache.manifest_bytes,
            ttl: std::time::Duration::from_millis(self.cache.manifest_ttl_ms),
        }
    }

    /// The audit writer settings.
    pub fn audit_config(&self) -> berth_registry::AuditConfig {
        berth_registry::AuditConfig {
            enabled: self.audit.enabled,
            batch_delay: std::time::Duration::from_millis(self.audit.batch_delay_ms),
            max_pending: self.audit.max_pending,
            coalesce_window: std::time::Duration::from_secs(self.audit.coalesce_window_secs.max(1)),
            retention: (self.audit.retention_days > 0).then(|| {
                std::time::Duration::from_secs(self.audit.retention_days.saturating_mul(86_400))
            }),
            on_failure: berth_registry::OnAuditFailure::parse(&self.audit.on_failure)
                .unwrap_or_default(),
            ..Default::default()
        }
    }

    /// The limits for the registry core.
    pub fn registry_limits(&self) -> berth_registry::Limits {
        berth_registry::Limits {
            max_manifest_bytes: self.limits.max_manifest_bytes,
            max_page: self.limits.max_page,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/berth.example.toml sets every key to the code's default: it parses
    /// (no unknown key), and as TOML it equals the serialized defaults (no key
    /// missing, no value different). Keys without a default appear commented.
    #[test]
    fn example_file_sets_exactly_the_defaults() {
        let parsed: Config = toml::from_str(EXAMPLE).expect("docs/berth.example.toml parses");
        let file = toml::Value::try_from(&parsed).unwrap();
        let defaults = toml::Value::try_from(Config::default()).unwrap();
        assert_eq!(
            file, defaults,
            "docs/berth.example.toml differs from Config::default()"
        );
        for unset in [
            "# cert =",
            "# key =",
            "# signing_key_file =",
            "# schedule =",
        ] {
            assert!(EXAMPLE.contains(unset), "example lacks {unset:?}");
        }
        parsed.validate().unwrap();
    }

    #[test]
    fn listen_takes_localhost_and_bare_ports() {
        assert_eq!(
            parse_listen("localhost:5001").unwrap().to_string(),
            "127.0.0.1:5001"
        );
        assert_eq!(parse_listen(":5002").unwrap().to_string(), "0.0.0.0:5002");
        assert_eq!(
            parse_listen("[::1]:5003").unwrap().to_string(),
            "[::1]:5003"
        );
        assert!(parse_listen("localhost")
            .unwrap_err()
            .contains("localhost:PORT"));
        assert!(parse_listen(":x").is_err());
    }

    #[test]
    fn defaults_listen_on_loopback_port_5000() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:5000");
        assert_eq!(c.limits.max_manifest_bytes, 4 * 1024 * 1024);
        assert!(c.audit_config().enabled);
    }

    #[test]
    fn audit_can_be_turned_off() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("berth.toml");
        std::fs::write(&p, "[audit]\nenabled = false\nbatch_delay_ms = 5\n").unwrap();
        let c = Config::load(Some(&p)).unwrap();
        assert!(!c.audit_config().enabled);
        assert_eq!(c.audit_config().batch_delay.as_millis(), 5);
        assert_eq!(c.audit_config().retention, None);
        assert_eq!(c.audit_config().coalesce_window.as_secs(), 60);
    }

    #[test]
    fn audit_retention_is_in_days_and_zero_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("berth.toml");
        std::fs::write(
            &p,
            "[audit]\nretention_days = 90\ncoalesce_window_secs = 5\n",
        )
        .unwrap();
        let a = Config::load(Some(&p)).unwrap().audit_config();
        assert_eq!(
            a.retention,
            Some(std::time::Duration::from_secs(90 * 86_400))
        );
        assert_eq!(a.coalesce_window.as_secs(), 5);
        assert_eq!(Config::default().audit_config().retention, None);
    }

    #[test]
    fn toml_overrides_defaults_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("berth.toml");
        std::fs::write(
            &p,
            "listen = \"127.0.0.1:6000\"\n[limits]\nmax_manifest_bytes = 1024\n",
        )
        .unwrap();
        let c = Config::load(Some(&p)).unwrap();
        assert_eq!(c.listen.port(), 6000);
        assert_eq!(c.limits.max_manifest_bytes, 1024);
        assert_eq!(c.limits.max_page, 10_000);
        std::fs::write(&p, "lsiten = \"x\"\n").unwrap();
        assert!(Config::load(Some(&p)).is_err());
    }

    #[test]
    fn gc_and_quota_keys_parse_and_bad_values_are_refused() {
        let c = Config::default();
        let gc = c.gc_options().unwrap();
        assert_eq!(gc.grace_period, std::time::Duration::from_secs(7200));
        assert_eq!(gc.upload_max_age, std::time::Duration::from_secs(86400));
        assert!(!gc.delete_untagged);
        assert_eq!(c.default_quota().unwrap(), None);
        assert_eq!(parse_size("10GiB").unwrap(), Some(10 << 30));
        assert_eq!(parse_size("500 MB").unwrap(), Some(500_000_000));
        assert_eq!(parse_size("1.5KiB").unwrap(), Some(1536));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_cron("0 0 3 * * *").is_ok());
        assert!(parse_cron("*/5 * * * *").is_ok());
        assert!(parse_cron("every night").is_err());
        let mut bad = Config::default();
        bad.gc.grace_period = "soon".into();
        assert!(bad.validate().is_err());
        let mut bad = Config::default();
        bad.gc.schedule = Some("61 * * * * *".into());
        assert!(bad.validate().is_err());
    }

    #[test]
    fn settings_that_would_silently_break_listings_are_refused() {
        let mut c = Config::default();
        assert!(c.validate().is_ok());
        c.limits.max_page = 0;
        assert!(c.validate().is_err());
        c.limits.max_page = 1;
        c.limits.max_manifest_bytes = 10;
        assert!(c.validate().is_err());
    }

    #[test]
    fn the_deployment_example_config_is_valid() {
        let c: Config = toml::from_str(include_str!("../../../deploy/berth.toml")).unwrap();
        c.validate().unwrap();
        assert!(matches!(
            c.blob_storage().unwrap().url,
            Some(berth_storage::StorageUrl::S3 { .. })
        ));
    }
}
