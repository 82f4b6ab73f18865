//! berth's configuration: one typed struct with defaults, loaded from a TOML
//! file (`--config`), then `BERTH_*` environment variables, then flags (each
//! later source overrides the earlier ones).
//!
//! ```toml
//! listen = "127.0.0.1:5000"   # BERTH_LISTEN, --listen
//! data_dir = "./berth-data"   # BERTH_DATA_DIR, --data-dir
//! log_level = "info"          # BERTH_LOG_LEVEL, --log-level (a tracing filter)
//!
//! [limits]
//! max_manifest_bytes = 4194304  # largest manifest accepted (413 above)
//! max_page = 10000              # most tags / repositories in one listing page
//! max_header_bytes = 65536      # largest request head (431 above)
//! rate_per_second = 0           # requests per second per client (0: unlimited)
//! rate_burst = 0                # bucket size (0: twice the rate)
//! max_upload_sessions_per_client = 1000  # open upload sessions per client (0: unlimited)
//! max_chunk_bytes = 0           # largest upload request body (0: unlimited)
//!
//! [server]
//! shutdown_grace_secs = 30      # on SIGTERM, how long in-flight requests may finish
//! header_timeout_secs = 30      # time to send a request head / finish the TLS handshake
//! body_idle_timeout_secs = 120  # an upload body that sends nothing this long is cut off
//!
//! [tls]                         # both or neither; HTTP/1.1 and HTTP/2 by ALPN
//! cert = "/etc/berth/tls.crt"   # BERTH_TLS_CERT, --tls-cert (PEM chain)
//! key = "/etc/berth/tls.key"    # BERTH_TLS_KEY, --tls-key (PEM key)
//!
//! [auth]
//! mode = "token"                # BERTH_AUTH_MODE, --auth-mode: token | basic | none
//! service = "berth"             # `service` in challenges, `aud` of tokens
//! realm = ""                    # token endpoint URL in challenges (default: from the Host header)
//! token_ttl_secs = 300          # lifetime of registry tokens
//! refresh_ttl_secs = 2592000    # lifetime of refresh tokens (30 days)
//! auto_create_projects = false  # a user's first push creates a private project they administer
//! credential_cache_secs = 60    # verified Basic credentials cached this long
//! login_failures_per_user = 10  # failed logins per user name per window before lockout (0: off)
//! login_failures_per_ip = 100   # failed logins per client address per window (0: off)
//! login_failure_window_secs = 300
//!
//! [cache]
//! manifest_bytes = 67108864     # hot manifests kept in memory (0 disables)
//! manifest_ttl_ms = 2000        # how stale a cached tag may be w.r.t. other processes
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// Everything `berth serve` can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:5000`.
    pub listen: SocketAddr,
    /// Data directory: `blobs/`, `uploads/`, `meta.db`. Default `./berth-data`.
    pub data_dir: PathBuf,
    /// Log filter, e.g. `info` or `berth=debug,info`. Default `info`.
    pub log_level: String,
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
}

/// `[auth]`: how clients authenticate (see `berth_registry::auth`).
#[derive(Debug, Clone, Deserialize)]
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
        })
    }
}

/// `[tls]`: serve HTTPS with this certificate chain and key (PEM). Both or neither.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    /// PEM certificate chain.
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

/// `[cache]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSection {
    /// Bytes of manifests kept in memory. Default 64 MiB; 0 disables the cache.
    pub manifest_bytes: u64,
    /// Milliseconds after which a cached manifest is re-validated, bounding how long
    /// a change made by another process (or node) can go unseen. Local changes are
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
#[derive(Debug, Clone, Deserialize)]
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
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT. Default 30.
    pub shutdown_grace_secs: u64,
    /// Seconds a client has to send a complete request head (and to finish the TLS
    /// handshake): a client trickling headers cannot hold a connection. Default 30.
    pub header_timeout_secs: u64,
    /// Seconds an upload body may send nothing before the request is cut off and
    /// the chunk rolled back. Default 120.
    pub body_idle_timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            data_dir: PathBuf::from("./berth-data"),
            log_level: "info".into(),
            limits: LimitsConfig::default(),
            server: ServerConfig::default(),
            cache: CacheSection::default(),
            tls: TlsSection::default(),
            auth: AuthSection::default(),
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
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            shutdown_grace_secs: 30,
            header_timeout_secs: 30,
            body_idle_timeout_secs: 120,
        }
    }
}

impl Config {
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
        Ok(())
    }

    /// The manifest cache settings.
    pub fn cache_config(&self) -> berth_registry::CacheConfig {
        berth_registry::CacheConfig {
            max_bytes: self.cache.manifest_bytes,
            ttl: std::time::Duration::from_millis(self.cache.manifest_ttl_ms),
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

    #[test]
    fn defaults_listen_on_loopback_port_5000() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:5000");
        assert_eq!(c.limits.max_manifest_bytes, 4 * 1024 * 1024);
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
    fn settings_that_would_silently_break_listings_are_refused() {
        let mut c = Config::default();
        assert!(c.validate().is_ok());
        c.limits.max_page = 0;
        assert!(c.validate().is_err());
        c.limits.max_page = 1;
        c.limits.max_manifest_bytes = 10;
        assert!(c.validate().is_err());
    }
}
