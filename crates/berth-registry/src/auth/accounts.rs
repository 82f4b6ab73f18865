//! Account management over [`Auth`]: users, projects, members, robot accounts
//! and personal access tokens. Shared by the management API (`/api/v2.0`) and
//! the `berth user|project|robot|token` CLI. Every change clears the
//! authorization caches of this process (other nodes see it within seconds:
//! their caches hold entries for at most 5 s, verified credentials for
//! `credential_cache_ttl`).

use berth_meta::{
    is_conflict, AccessTokenRecord, MemberRecord, MetaError, ProjectRecord, RobotRecord, UserRecord,
};

use super::permissions::{validate_patterns, RobotPermission, Role};
use super::{secret, Auth};

/// Personal access tokens start with this, so a login can tell them from passwords.
pub const ACCESS_TOKEN_PREFIX: &str = "berth_pat_";

/// Why an account operation failed (the management API maps these to Harbor's
/// error codes: 400 BAD_REQUEST, 404 NOT_FOUND, 409 CONFLICT, 500).
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The request is malformed (bad name, weak password, unknown role, bad CIDR).
    #[error("{0}")]
    Invalid(String),
    /// The user, project, member or robot does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The name is taken.
    #[error("{0}")]
    Conflict(String),
    /// The metadata store failed.
    #[error(transparent)]
    Meta(#[from] MetaError),
}

type Result<T> = std::result::Result<T, AccountError>;

/// A project name: one repository-name component (`[a-z0-9]+([._-][a-z0-9]+)*`), 1–255 bytes.
pub fn valid_project_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.contains('/')
        && berth_oci::RepositoryName::parse(name).is_ok()
}

/// User names berth keeps for itself: `anonymous` (the principal of requests
/// without credentials, and the subject shown for them in the audit trail)
/// and `system` (berth's own actor in the audit trail).
pub const RESERVED_USERNAMES: &[&str] = &["anonymous", "system"];

/// A user name: 1–255 of `[a-z0-9._-@]`, starting with a letter or digit (no `$`,
/// which marks robots (`robot$…`), and no `:`, which HTTP Basic cannot carry),
/// and none of [`RESERVED_USERNAMES`].
pub fn valid_username(name: &str) -> bool {
    let b = name.as_bytes();
    !RESERVED_USERNAMES.contains(&name)
        && !b.is_empty()
        && b.len() <= 255
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-@".contains(c))
}

/// The minimum password length.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Checks a new password against the policy (at least [`MIN_PASSWORD_LEN`]
/// characters).
pub(crate) fn check_password(p: &str) -> Result<()> {
    if p.chars().count() < MIN_PASSWORD_LEN {
        return Err(AccountError::Invalid(format!(
            "password must have at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    Ok(())
}

fn check_cidrs(cidrs: &[String]) -> Result<()> {
    for c in cidrs {
        let ok = c.parse::<ipnet::IpNet>().is_ok() || c.parse::<std::net::IpAddr>().is_ok();
        if !ok {
            return Err(AccountError::Invalid(format!(
                "{c:?} is not a CIDR (e.g. 10.0.0.0/8) or an IP address"
            )));
        }
    }
    Ok(())
}

fn conflict_or(e: MetaError, what: String) -> AccountError {
    if is_conflict(&e) {
        AccountError::Conflict(what)
    } else {
        AccountError::Meta(e)
    }
}

/// A new robot account's secret, returned once.
#[derive(Debug, Clone)]
pub struct RobotCreated {
    /// The stored robot.
    pub robot: RobotRecord,
    /// The secret (shown once; only its hash is stored).
    pub secret: String,
}

impl Auth {
    /// Creates a user. Errors: Invalid (name, password), Conflict (name taken).
    pub async fn create_user(
        &self,
        username: &str,
        password: &str,
        email: &str,
        realname: &str,
        sysadmin: bool,
    ) -> Result<UserRecord> {
        if RESERVED_USERNAMES.contains(&username) || username.starts_with("robot$") {
            return Err(AccountError::Invalid(format!(
                "the user name {username:?} is reserved (anonymous callers, berth itself and robot accounts use it)"
            )));
        }
        if !valid_username(username) {
            let shown: String = username.chars().take(64).collect();
            return Err(AccountError::Invalid(format!(
                "invalid user name {shown:?}: use 1-255 of a-z 0-9 . _ - @, starting with a letter or digit"
            )));
        }
        check_password(password)?;
        let hash = super::hash_password(password).await;
        let user = self
            .meta()
            .user_create(username, email, realname, &hash, sysadmin)
            .await
            .map_err(|e| conflict_or(e, format!("user {username} already exists")))?;
        self.invalidate().await;
        Ok(user)
    }

    /// A user by name. Errors: NotFound.
    pub async fn user(&self, username: &str) -> Result<UserRecord> {
        self.meta()
            .user_by_name(username)
            .await?
            .ok_or_else(|| AccountError::NotFound(format!("user {username} not found")))
    }

    /// Replaces a user's password (refresh tokens issued before stop working).
    /// Errors: Invalid for a user who signs in through the directory (their
    /// password is the directory's; a stored one would never be used).
    pub async fn set_password(&self, user_id: i64, password: &str) -> Result<()> {
        if let Some(u) = self.meta().user_by_id(user_id).await? {
            if u.source == super::OIDC_SOURCE {
                return Err(AccountError::Invalid(format!(
                    "{} signs in through OpenID Connect: set a CLI secret instead \
                     (PUT /api/v2.0/users/{user_id}/cli_secret)",
                    u.username
                )));
            }
            if u.source != "local" {
                return Err(AccountError::Invalid(format!(
                    "{} signs in through the {} directory: change the password there",
                    u.username,
                    u.source.to_uppercase()
                )));
            }
        }
        check_password(password)?;
        let hash = super::hash_password(password).await;
        if !self.meta().user_set_password(user_id, &hash).await? {
            return Err(AccountError::NotFound(format!("user {user_id} not found")));
        }
        self.invalidate().await;
        Ok(())
    }

    /// Sets the CLI secret of a user who signs in through the OpenID Connect
    /// provider: the password registry clients (`docker login`) use for
    /// them. Registry tokens issued on the previous secret stop working.
    /// Errors: NotFound; Invalid for users of other sources (they have a
    /// password) and for secrets shorter than [`MIN_PASSWORD_LEN`].
    pub async fn set_cli_secret(&self, user_id: i64, secret: &str) -> Result<()> {
        let u = self
            .meta()
            .user_by_id(user_id)
            .await?
            .ok_or_else(|| AccountError::NotFound(format!("user {user_id} not found")))?;
        if u.source != super::OIDC_SOURCE {
            return Err(AccountError::Invalid(format!(
                "{} does not sign in through OpenID Connect: only OIDC users have a CLI secret; \
                 they use their password",
                u.username
            )));
        }
        if secret.chars().count() < MIN_PASSWORD_LEN {
            return Err(AccountError::Invalid(format!(
                "a CLI secret must have at least {MIN_PASSWORD_LEN} characters"
            )));
        }
        let hash = super::hash_password(secret).await;
        if !self.meta().user_set_password(user_id, &hash).await? {
            return Err(AccountError::NotFound(format!("user {user_id} not found")));
        }
        self.invalidate().await;
        Ok(())
    }

    /// Grants or revokes system administration. Errors: NotFound; Invalid when
    /// it would demote the last system administrator (nobody could manage the
    /// registry any more).
    pub async fn set_sysadmin(&self, user_id: i64, sysadmin: bool) -> Result<()> {
        let u = self
            .meta()
            .user_by_id(user_id)
            .await?
            .ok_or_else(|| AccountError::NotFound(format!("user {user_id} not found")))?;
        if u.sysadmin && !sysadmin && self.meta().other_sysadmins(user_id).await? == 0 {
            return Err(AccountError::Invalid(format!(
                "{} is the last system administrator and cannot be demoted; make another user administrator first",
                u.username
            )));
        }
        self.meta()
            .user_update(u.id, &u.email, &u.realname, sysadmin)
            .await?;
        self.invalidate().await;
        Ok(())
    }

    /// Deletes a user. The `admin` user and the last system administrator
    /// cannot be deleted.
    pub async fn delete_user(&self, user_id: i64) -> Result<()> {
        let user = self
            .meta()
            .user_by_id(user_id)
            .await?
            .ok_or_else(|| AccountError::NotFound(format!("user {user_id} not found")))?;
        if user.username == "admin" {
            return Err(AccountError::Invalid(
                "the admin user cannot be deleted".into(),
            ));
        }
        if user.sysadmin && self.meta().other_sysadmins(user_id).await? == 0 {
            return Err(AccountError::Invalid(format!(
                "{} is the last system administrator and cannot be deleted; make another user administrator first",
                user.username
            )));
        }
        self.meta().user_delete(user_id).await?;
        self.invalidate().await;
        Ok(())
    }

    /// Creates a project. Errors: Invalid (name), Conflict (exists).
    pub async fn create_project(
        &self,
        name: &str,
        public: bool,
        owner_id: Option<i64>,
    ) -> Result<ProjectRecord> {
        if !valid_project_name(name) {
            return Err(AccountError::Invalid(format!(
                "invalid project name {name:?}: lowercase letters and digits, separated by single . _ or -"
            )));
        }
        let p = self
            .meta()
            .project_create(name, public, owner_id)
            .await
            .map_err(|e| conflict_or(e, format!("project {name} already exists")))?;
        self.invalidate().await;
        Ok(p)
    }

    /// A project by name. Errors: NotFound.
    pub async fn project_named(&self, name: &str) -> Result<ProjectRecord> {
        self.meta()
            .project_by_name(name)
            .await?
            .ok_or_else(|| AccountError::NotFound(format!("project {name} not found")))
    }

    /// Sets a project's visibility and IP allow-lists (CIDRs; empty = any).
    pub async fn update_project(
        &self,
        name: &str,
        public: bool,
        pull_cidrs: &[String],
        push_cidrs: &[String],
    ) -> Result<ProjectRecord> {
        check_cidrs(pull_cidrs)?;
        check_cidrs(push_cidrs)?;
        let p = self.project_named(name).await?;
        self.meta()
            .project_update(p.id, public, pull_cidrs, push_cidrs)
            .await?;
        self.invalidate().await;
        self.project_named(name).await
    }

    /// Deletes a project's record, members and robots (its repositories are
    /// not touched; delete them first through the repository API).
    pub async fn delete_project(&self, name: &str) -> Result<()> {
        let p = self.project_named(name).await?;
        self.meta().project_delete(p.id).await?;
        self.invalidate().await;
        Ok(())
    }

    /// Gives `username` `role` in `project`, optionally limited to repository
    /// globs (relative to the project). Replaces an existing membership.
    pub async fn set_member(
        &self,
        project: &str,
        username: &str,
        role: Role,
        repositories: Option<&[String]>,
    ) -> Result<MemberRecord> {
        if let Some(r) = repositories {
            validate_patterns(r).map_err(|bad| {
                AccountError::Invalid(format!("invalid repository pattern {bad:?}"))
            })?;
        }
        let p = self.project_named(project).await?;
        let u = self.user(username).await?;
        let m = self
            .meta()
            .member_set(p.id, u.id, role.id(), repositories)
            .await?;
        self.invalidate().await;
        Ok(m)
    }

    /// Removes a membership by id.
    pub async fn remove_member(&self, member_id: i64) -> Result<()> {
        if !self.meta().member_delete(member_id).await? {
            return Err(AccountError::NotFound(format!(
                "member {member_id} not found"
            )));
        }
        self.invalidate().await;
        Ok(())
    }

    /// Creates a robot account named `robot$<project>+<name>` (or `robot$<name>`
    /// for a system robot, `project = None`). `secret` = `None` generates one
    /// (32 characters). `expires_at` is Unix ms, `None` = never.
    pub async fn create_robot(
        &self,
        project: Option<&str>,
        name: &str,
        description: &str,
        permissions: &[RobotPermission],
        expires_at: Option<i64>,
        secret: Option<&str>,
    ) -> Result<RobotCreated> {
        if !valid_username(name) {
            return Err(AccountError::Invalid(format!(
                "invalid robot name {name:?}"
            )));
        }
        for perm in permissions {
            validate_patterns(&perm.repositories).map_err(|bad| {
                AccountError::Invalid(format!("invalid repository pattern {bad:?}"))
            })?;
            if let Some(bad) = perm
                .actions
                .iter()
                .find(|a| !["pull", "push", "delete", "*"].contains(&a.as_str()))
            {
                return Err(AccountError::Invalid(format!(
                    "unknown action {bad:?}: use pull, push, delete"
                )));
            }
        }
        let (full, project_id, permissions) = match project {
            Some(p) => {
                let rec = self.project_named(p).await?;
                // A project robot never reaches outside its project.
                let scoped: Vec<RobotPermission> = permissions
                    .iter()
                    .map(|perm| RobotPermission {
                        project: p.to_owned(),
                        ..perm.clone()
                    })
                    .collect();
                (format!("robot${p}+{name}"), Some(rec.id), scoped)
            }
            None => (format!("robot${name}"), None, permissions.to_vec()),
        };
        let secret = match secret {
            Some(s) => {
                check_password(s)?;
                s.to_owned()
            }
            None => secret::random_secret(32),
        };
        let hash = super::hash_password(&secret).await;
        let perms_json = serde_json::to_string(&permissions).unwrap_or_else(|_| "[]".into());
        let robot = self
            .meta()
            .robot_create(
                &full,
                project_id,
                description,
                &hash,
                &perms_json,
                expires_at,
            )
            .await
            .map_err(|e| conflict_or(e, format!("robot {full} already exists")))?;
        self.invalidate().await;
        Ok(RobotCreated { robot, secret })
    }

    /// A robot by full name or id text.
    pub async fn robot(&self, name_or_id: &str) -> Result<RobotRecord> {
        let found = match name_or_id.parse::<i64>() {
            Ok(id) => self.meta().robot_by_id(id).await?,
            Err(_) => self.meta().robot_by_name(name_or_id).await?,
        };
        found.ok_or_else(|| AccountError::NotFound(format!("robot {name_or_id} not found")))
    }

    /// Updates a robot: description, permissions, expiry, disabled. Returns the new record.
    pub async fn update_robot(
        &self,
        id: i64,
        description: &str,
        permissions: &[RobotPermission],
        expires_at: Option<i64>,
        disabled: bool,
    ) -> Result<RobotRecord> {
        let perms_json = serde_json::to_string(permissions).unwrap_or_else(|_| "[]".into());
        if !self
            .meta()
            .robot_update(id, description, &perms_json, expires_at, disabled, None)
            .await?
        {
            return Err(AccountError::NotFound(format!("robot {id} not found")));
        }
        self.invalidate().await;
        self.robot(&id.to_string()).await
    }

    /// Replaces a robot's secret (Harbor's "refresh secret"): the given one, or
    /// a generated one when `None`. Returns the secret.
    pub async fn refresh_robot_secret(&self, id: i64, secret: Option<&str>) -> Result<String> {
        let robot = self.robot(&id.to_string()).await?;
        let secret = match secret {
            Some(s) => {
                check_password(s)?;
                s.to_owned()
            }
            None => secret::random_secret(32),
        };
        let hash = super::hash_password(&secret).await;
        self.meta()
            .robot_update(
                id,
                &robot.description,
                &robot.permissions,
                robot.expires_at,
                robot.disabled,
                Some(&hash),
            )
            .await?;
        self.invalidate().await;
        Ok(secret)
    }

    /// Deletes a robot.
    pub async fn delete_robot(&self, id: i64) -> Result<()> {
        if !self.meta().robot_delete(id).await? {
            return Err(AccountError::NotFound(format!("robot {id} not found")));
        }
        self.invalidate().await;
        Ok(())
    }

    /// Creates a personal access token for a user; returns its record and the
    /// secret (`berth_pat_` + 40 hex digits), shown once.
    pub async fn create_access_token(
        &self,
        user_id: i64,
        name: &str,
        expires_at: Option<i64>,
    ) -> Result<(AccessTokenRecord, String)> {
        if name.is_empty() || name.len() > 100 {
            return Err(AccountError::Invalid(
                "token name must be 1-100 characters".into(),
            ));
        }
        let secret = format!("{ACCESS_TOKEN_PREFIX}{}", secret::random_hex(20));
        let rec = self
            .meta()
            .access_token_create(
                user_id,
                name,
                &secret::sha256_hex(secret.as_bytes()),
                expires_at,
            )
            .await
            .map_err(|e| conflict_or(e, format!("a token named {name} already exists")))?;
        Ok((rec, secret))
    }

    /// Revokes a user's token by name.
    pub async fn revoke_access_token(&self, user_id: i64, name: &str) -> Result<()> {
        if !self.meta().access_token_revoke(user_id, name).await? {
            return Err(AccountError::NotFound(format!(
                "no active token named {name}"
            )));
        }
        self.invalidate().await;
        Ok(())
    }
}
