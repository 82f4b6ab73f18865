//! Sign-in against an LDAP directory or Active Directory
//! (`auth.identity = "ldap"`, docs/identity.md), with the `ldap3` crate.
//!
//! A password is checked in two steps, as Harbor and most LDAP clients do:
//! 1. bind as the service account (`bind_dn`) and search `user_base` for
//!    `(&<user_filter>(<uid_attribute>=<name>))`, the name escaped
//!    (RFC 4515), exactly one entry;
//! 2. bind as that entry's DN with the password on a fresh connection.
//!
//! An empty password is refused before any bind (an LDAP "unauthenticated
//! bind" would succeed without one). A name that is not a valid berth user
//! name never reaches the directory, so filter metacharacters such as
//! `*)(uid=*` cannot be injected even if escaping were bypassed.
//!
//! Directory failures (unreachable, timeout, the service bind refused) are
//! [`DirectoryError`]s, answered 503 by the server, never "wrong password".
//!
//! Connections bound as the service account are pooled: after a search the
//! connection goes back to an idle list (at most [`MAX_IDLE`], each reused
//! for at most [`IDLE_FOR`]) instead of being unbound, so a busy registry
//! does not open a TCP (and TLS) connection per sign-in. Binds as a user
//! always use a fresh connection, which is closed at once: a connection's
//! identity is never shared.
//!
//! TLS (`ldaps://` or StartTLS) trusts the system's CA store, plus the
//! certificates of `ca_file` when set (a private CA).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};

/// `[auth.ldap]` settings.
#[derive(Debug, Clone)]
pub struct LdapConfig {
    /// `ldap://host:389`, `ldaps://host:636`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before binding.
    pub starttls: bool,
    /// The service account's DN (empty: anonymous search).
    pub bind_dn: String,
    /// Its password (from `bind_password_file` or `BERTH_LDAP_BIND_PASSWORD`;
    /// never logged).
    pub bind_password: String,
    /// Where users are searched, e.g. `ou=people,dc=example,dc=org`.
    pub user_base: String,
    /// What a user entry must match, e.g. `(objectClass=inetOrgPerson)`;
    /// put "disabled" conditions here (AD:
    /// `(!(userAccountControl:1.2.840.113556.1.4.803:=2))`).
    pub user_filter: String,
    /// The attribute holding the login name (`uid`; AD: `sAMAccountName`).
    pub uid_attribute: String,
    /// The e-mail attribute (`mail`).
    pub email_attribute: String,
    /// The display-name attribute (`cn`; AD: `displayName`).
    pub realname_attribute: String,
    /// Where groups are searched (empty: read `membership_attribute` of
    /// the user entry instead, or no groups).
    pub group_base: String,
    /// What a group entry must match, e.g. `(objectClass=groupOfNames)`.
    pub group_filter: String,
    /// The group attribute listing member DNs (`member`; `uniqueMember` for
    /// groupOfUniqueNames).
    pub group_member_attribute: String,
    /// The user attribute listing group DNs (`memberOf`, as AD and
    /// OpenLDAP's memberof overlay keep it); used when `group_base` is empty.
    pub membership_attribute: String,
    /// Connect and per-operation timeout.
    pub timeout: Duration,
    /// How long a directory user's tokens and cached logins are trusted
    /// before the directory is asked again whether the user still exists
    /// and matches `user_filter`.
    pub recheck: Duration,
    /// Follow nested groups: with `group_base`, a group that lists a group
    /// the user is in counts too (searched level by level, at most
    /// [`MAX_NESTING`] levels).
    pub nested_groups: bool,
    /// Extra CA certificates (DER) trusted for the directory's TLS, beside
    /// the system's (`auth.ldap.ca_file`).
    pub ca_certificates: Vec<Vec<u8>>,
}

impl Default for LdapConfig {
    fn default() -> Self {
        LdapConfig {
            url: String::new(),
            starttls: false,
            bind_dn: String::new(),
            bind_password: String::new(),
            user_base: String::new(),
            user_filter: "(objectClass=person)".into(),
            uid_attribute: "uid".into(),
            email_attribute: "mail".into(),
            realname_attribute: "cn".into(),
            group_base: String::new(),
            group_filter: "(objectClass=groupOfNames)".into(),
            group_member_attribute: "member".into(),
            membership_attribute: "memberOf".into(),
            timeout: Duration::from_secs(5),
            recheck: Duration::from_secs(300),
            nested_groups: false,
            ca_certificates: Vec::new(),
        }
    }
}

/// Idle service-account connections kept for reuse.
pub const MAX_IDLE: usize = 8;
/// How long an idle connection is reused before it is closed (below the
/// idle timeouts directories apply: Active Directory's 900 s).
pub const IDLE_FOR: Duration = Duration::from_secs(60);
/// How many levels of nested groups are followed.
pub const MAX_NESTING: usize = 10;

/// The first value of attribute `attr` of `entry` (attribute names are
/// case-insensitive, RFC 4512 §2.5), or "".
fn first_value(entry: &SearchEntry, attr: &str) -> String {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .and_then(|(_, v)| v.first().cloned())
        .unwrap_or_default()
}

/// An RFC 4515 substring assertion value matching `part` anywhere: `*`
/// for an empty part (`**` is no valid filter).
fn substring(part: &str) -> String {
    if part.is_empty() {
        "*".into()
    } else {
        format!("*{}*", ldap3::ldap_escape(part))
    }
}

/// The directory could not answer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the LDAP directory is unavailable: {0}")]
pub struct DirectoryError(pub String);

/// A user entry the directory confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The entry's DN.
    pub dn: String,
    /// The login name (the value of `uid_attribute`).
    pub username: String,
    /// E-mail (may be empty).
    pub email: String,
    /// Display name (may be empty).
    pub realname: String,
    /// DNs of the groups the directory says the user is in.
    pub groups: Vec<String>,
}

/// An LDAP directory berth signs users in against. Clones share the
/// connection pool.
#[derive(Clone)]
pub struct Directory {
    config: LdapConfig,
    /// TLS settings: the system's CA store with `ca_certificates` added,
    /// on the ring provider (ldap3's own default would need a process-wide
    /// rustls provider).
    tls: Arc<rustls::ClientConfig>,
    /// Idle connections bound as the service account, with when they were
    /// last released.
    idle: Arc<Mutex<Vec<(Conn, Instant)>>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("url", &self.config.url)
            .field("bind_dn", &self.config.bind_dn)
            .finish_non_exhaustive()
    }
}

/// rustls settings trusting the system's CA store and `extra` (DER).
fn tls_config(extra: &[Vec<u8>]) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    for der in extra {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| format!("a CA certificate is not usable: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

type Conn = ldap3::Ldap;

fn failed(what: &str, e: ldap3::LdapError) -> DirectoryError {
    let why = match e {
        ldap3::LdapError::LdapResult { result } => result_text(result.rc, &result.text),
        other => other.to_string(),
    };
    DirectoryError(format!("{what}: {why}"))
}

/// An LDAP result code with its name and what usually causes it.
fn result_text(rc: u32, text: &str) -> String {
    let name = match rc {
        32 => "noSuchObject: the base DN does not exist",
        49 => "invalidCredentials: wrong DN or password",
        50 => "insufficientAccessRights",
        53 => "unwillingToPerform (e.g. a DN without a password)",
        87 => "filterError: the filter does not parse",
        _ => "",
    };
    let text = if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    };
    if name.is_empty() {
        format!("LDAP result code {rc}{text}")
    } else {
        format!("LDAP result code {rc} ({name}){text}")
    }
}

impl Directory {
    /// A directory with these settings (nothing is contacted yet).
    ///
    /// Errors: a CA certificate of `ca_certificates` that rustls cannot use.
    pub fn new(config: LdapConfig) -> Result<Directory, String> {
        let tls = Arc::new(tls_config(&config.ca_certificates)?);
        Ok(Directory {
            config,
            tls,
            idle: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Its settings.
    pub fn config(&self) -> &LdapConfig {
        &self.config
    }

    async fn connect(&self) -> Result<Conn, DirectoryError> {
        let settings = LdapConnSettings::new()
            .set_conn_timeout(self.config.timeout)
            .set_starttls(self.config.starttls)
            .set_config(self.tls.clone());
        let (conn, ldap) = LdapConnAsync::with_settings(settings, &self.config.url)
            .await
            .map_err(|e| failed(&format!("connecting to {}", self.config.url), e))?;
        ldap3::drive!(conn);
        Ok(ldap)
    }

    /// A connection bound as the service account: an idle one from the
    /// pool, or a new one.
    async fn service(&self) -> Result<Conn, DirectoryError> {
        loop {
            let next = self.idle.lock().map(|mut idle| idle.pop()).ok().flatten();
            match next {
                Some((mut ldap, at)) => {
                    if at.elapsed() < IDLE_FOR && !ldap.is_closed() {
                        return Ok(ldap);
                    }
                    let _ = ldap.unbind().await;
                }
                None => break,
            }
        }
        self.fresh_service().await
    }

    /// A new connection bound as the service account.
    async fn fresh_service(&self) -> Result<Conn, DirectoryError> {
        let mut ldap = self.connect().await?;
        if !self.config.bind_dn.is_empty() {
            ldap.with_timeout(self.config.timeout)
                .simple_bind(&self.config.bind_dn, &self.config.bind_password)
                .await
                .and_then(|r| r.success())
                .map_err(|e| failed("the service account's bind (auth.ldap.bind_dn)", e))?;
        }
        Ok(ldap)
    }

    /// Returns a service-account connection whose last operation succeeded
    /// to the pool (or closes it when the pool is full).
    async fn release(&self, mut ldap: Conn) {
        if ldap.is_closed() {
            return;
        }
        let full = self.idle.lock().map_or(true, |idle| idle.len() >= MAX_IDLE);
        if full {
            let _ = ldap.unbind().await;
        } else if let Ok(mut idle) = self.idle.lock() {
            idle.push((ldap, Instant::now()));
        }
    }

    /// Checks that the directory answers and the service account can bind.
    ///
    /// Errors: [`DirectoryError`].
    pub async fn ping(&self) -> Result<(), DirectoryError> {
        let c = &self.config;
        let mut ldap = self.fresh_service().await?;
        // The settings every sign-in uses: user_base exists and user_filter
        // (and group_filter, with group_base) parse.
        let mut checks = vec![(
            c.user_base.as_str(),
            c.user_filter.as_str(),
            "auth.ldap.user_base",
        )];
        if !c.group_base.is_empty() {
            checks.push((
                c.group_base.as_str(),
                c.group_filter.as_str(),
                "auth.ldap.group_base",
            ));
        }
        let mut outcome = Ok(());
        for (base, filter, what) in checks {
            let r = ldap
                .with_timeout(c.timeout)
                .with_search_options(ldap3::SearchOptions::new().sizelimit(1))
                .search(base, Scope::Subtree, filter, vec!["1.1"])
                .await;
            let checked = match r {
                Ok(ldap3::SearchResult(_, res)) if res.rc == 0 || res.rc == 4 => Ok(()),
                Ok(ldap3::SearchResult(_, res)) => Err(DirectoryError(format!(
                    "searching {what}: {}",
                    result_text(res.rc, &res.text)
                ))),
                Err(e) => Err(failed(&format!("searching {what}"), e)),
            };
            if let Err(e) = checked {
                outcome = Err(e);
                break;
            }
        }
        let _ = ldap.unbind().await;
        outcome
    }

    /// The entry of login name `username` (valid berth user names only),
    /// if exactly one matches `user_filter`.
    ///
    /// Errors: [`DirectoryError`].
    pub async fn lookup(&self, username: &str) -> Result<Option<DirectoryUser>, DirectoryError> {
        if !super::accounts::valid_username(username) {
            return Ok(None);
        }
        let mut ldap = self.service().await?;
        let mut found = self.find(&mut ldap, username).await;
        if let Ok(Some(user)) = &mut found {
            if !self.config.group_base.is_empty() {
                match self.groups_of(&mut ldap, &user.dn).await {
                    Ok(groups) => user.groups = groups,
                    Err(e) => found = Err(e),
                }
            }
        }
        if found.is_ok() {
            self.release(ldap).await;
        } else {
            let _ = ldap.unbind().await;
        }
        found
    }

    async fn find(
        &self,
        ldap: &mut Conn,
        username: &str,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        let c = &self.config;
        let filter = format!(
            "(&{}({}={}))",
            c.user_filter,
            c.uid_attribute,
            ldap3::ldap_escape(username)
        );
        let attrs = vec![
            c.uid_attribute.as_str(),
            c.email_attribute.as_str(),
            c.realname_attribute.as_str(),
            c.membership_attribute.as_str(),
        ];
        let (entries, _) = ldap
            .with_timeout(c.timeout)
            .search(&c.user_base, Scope::Subtree, &filter, attrs)
            .await
            .and_then(|r| r.success())
            .map_err(|e| failed("searching auth.ldap.user_base", e))?;
        if entries.len() != 1 {
            return Ok(None);
        }
        let Some(entry) = entries.into_iter().next().map(SearchEntry::construct) else {
            return Ok(None);
        };
        let first = |attr: &str| first_value(&entry, attr);
        // Directories match names without regard to case; the berth
        // account is the lowercase name, which must be the one asked for.
        let name = first(&c.uid_attribute).to_ascii_lowercase();
        if name != username {
            return Ok(None);
        }
        let groups = entry
            .attrs
            .iter()
            .filter(|(k, _)| {
                !c.membership_attribute.is_empty()
                    && k.eq_ignore_ascii_case(&c.membership_attribute)
            })
            .flat_map(|(_, v)| v.iter().cloned())
            .collect();
        Ok(Some(DirectoryUser {
            username: name,
            email: first(&c.email_attribute),
            realname: first(&c.realname_attribute),
            dn: entry.dn,
            groups,
        }))
    }

    /// Users whose login name contains `part` (all with ""), at most
    /// `limit`, as the directory returns them (Harbor's
    /// `/ldap/users/search`). Names that are not valid berth user names are
    /// left out (they could never sign in).
    ///
    /// Errors: [`DirectoryError`].
    pub async fn search_users(
        &self,
        part: &str,
        limit: i32,
    ) -> Result<Vec<DirectoryUser>, DirectoryError> {
        let c = &self.config;
        let filter = format!(
            "(&{}({}={}))",
            c.user_filter,
            c.uid_attribute,
            substring(part)
        );
        let mut ldap = self.service().await?;
        let found = ldap
            .with_timeout(c.timeout)
            .with_search_options(ldap3::SearchOptions::new().sizelimit(limit))
            .search(
                &c.user_base,
                Scope::Subtree,
                &filter,
                vec![
                    c.uid_attribute.as_str(),
                    c.email_attribute.as_str(),
                    c.realname_attribute.as_str(),
                ],
            )
            .await
            .map_err(|e| failed("searching auth.ldap.user_base", e));
        if found.is_ok() {
            self.release(ldap).await;
        } else {
            let _ = ldap.unbind().await;
        }
        // A size-limited search answers rc 4 (sizeLimitExceeded) with the
        // entries it has: a full page, not a failure.
        let result = found?;
        if result.1.rc != 0 && result.1.rc != 4 {
            return Err(DirectoryError(format!(
                "searching auth.ldap.user_base: {}",
                result_text(result.1.rc, &result.1.text)
            )));
        }
        Ok(result
            .0
            .into_iter()
            .map(SearchEntry::construct)
            .filter_map(|e| {
                let get = |attr: &str| first_value(&e, attr);
                let username = get(&c.uid_attribute).to_ascii_lowercase();
                super::accounts::valid_username(&username).then(|| DirectoryUser {
                    email: get(&c.email_attribute),
                    realname: get(&c.realname_attribute),
                    username,
                    dn: e.dn.clone(),
                    groups: Vec::new(),
                })
            })
            .collect())
    }

    /// Groups under `group_base` whose `cn` contains `part`, or the one
    /// entry at `dn` when given; (DN, name) pairs (Harbor's
    /// `/ldap/groups/search`).
    ///
    /// Errors: [`DirectoryError`]; an empty `group_base` finds nothing.
    pub async fn search_groups(
        &self,
        part: &str,
        dn: Option<&str>,
    ) -> Result<Vec<(String, String)>, DirectoryError> {
        let c = &self.config;
        if c.group_base.is_empty() && dn.is_none() {
            return Ok(Vec::new());
        }
        let (base, scope, filter) = match dn {
            Some(dn) => (dn.to_string(), Scope::Base, c.group_filter.clone()),
            None => (
                c.group_base.clone(),
                Scope::Subtree,
                format!("(&{}(cn={}))", c.group_filter, substring(part)),
            ),
        };
        let mut ldap = self.service().await?;
        let found = ldap
            .with_timeout(c.timeout)
            .with_search_options(ldap3::SearchOptions::new().sizelimit(100))
            .search(&base, scope, &filter, vec!["cn"])
            .await
            .map_err(|e| failed("searching for groups", e));
        if found.is_ok() {
            self.release(ldap).await;
        } else {
            let _ = ldap.unbind().await;
        }
        let ldap3::SearchResult(entries, result) = found?;
        // 32 noSuchObject: no entry at that DN.
        if ![0, 4, 32].contains(&result.rc) {
            return Err(DirectoryError(format!(
                "searching for groups: {}",
                result_text(result.rc, &result.text)
            )));
        }
        Ok(entries
            .into_iter()
            .map(SearchEntry::construct)
            .map(|e| {
                let name = first_value(&e, "cn");
                (e.dn, name)
            })
            .collect())
    }

    /// DNs of the groups under `group_base` that list `user_dn`; with
    /// `nested_groups`, also the groups that list those, level by level
    /// (at most [`MAX_NESTING`] levels; a cycle ends where it closes).
    async fn groups_of(
        &self,
        ldap: &mut Conn,
        user_dn: &str,
    ) -> Result<Vec<String>, DirectoryError> {
        let mut found: Vec<String> = Vec::new();
        let mut level = vec![user_dn.to_string()];
        for _ in 0..MAX_NESTING {
            let mut next = Vec::new();
            for member in &level {
                for dn in self.groups_listing(ldap, member).await? {
                    if !found.iter().any(|f| f.eq_ignore_ascii_case(&dn)) {
                        found.push(dn.clone());
                        next.push(dn);
                    }
                }
            }
            if !self.config.nested_groups || next.is_empty() {
                break;
            }
            level = next;
        }
        Ok(found)
    }

    /// DNs of the groups under `group_base` that list `member_dn`.
    async fn groups_listing(
        &self,
        ldap: &mut Conn,
        member_dn: &str,
    ) -> Result<Vec<String>, DirectoryError> {
        let c = &self.config;
        let filter = format!(
            "(&{}({}={}))",
            c.group_filter,
            c.group_member_attribute,
            ldap3::ldap_escape(member_dn)
        );
        let (entries, _) = ldap
            .with_timeout(c.timeout)
            .search(&c.group_base, Scope::Subtree, &filter, vec!["1.1"])
            .await
            .and_then(|r| r.success())
            .map_err(|e| failed("searching auth.ldap.group_base", e))?;
        Ok(entries
            .into_iter()
            .map(|e| SearchEntry::construct(e).dn)
            .collect())
    }

    /// Checks `password` for `username`: `Ok(Some)` when the directory
    /// accepts a bind as the user's entry, `Ok(None)` for an unknown user,
    /// an invalid name, an empty or wrong password.
    ///
    /// Errors: [`DirectoryError`] when the directory cannot tell.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        if password.is_empty() {
            return Ok(None);
        }
        let Some(user) = self.lookup(username).await? else {
            return Ok(None);
        };
        let mut ldap = self.connect().await?;
        let bound = ldap
            .with_timeout(self.config.timeout)
            .simple_bind(&user.dn, password)
            .await
            .map_err(|e| failed("binding as the user", e))?;
        let _ = ldap.unbind().await;
        // 49 invalidCredentials (also a locked or expired account on AD).
        match bound.rc {
            0 => Ok(Some(user)),
            49 | 53 => Ok(None),
            rc => Err(DirectoryError(format!(
                "binding as the user: {}",
                result_text(rc, &bound.text)
            ))),
        }
    }
}
