//! Access-control metadata: users, projects, project members, robot accounts,
//! personal access tokens and installation settings (schema 2,
//! `migrations/sqlite/0002_access.sql`). Decisions (who may do what) are made in
//! `berth-registry`; this module only stores and fetches.

use sqlx::Row;

use crate::error::{MetaError, Result};
use crate::store::{now_ms, MetaStore};

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Row id (Harbor's `user_id`).
    pub id: i64,
    /// Login name.
    pub username: String,
    /// E-mail address (may be empty).
    pub email: String,
    /// Display name (may be empty).
    pub realname: String,
    /// argon2 PHC string.
    pub password_hash: String,
    /// System administrator.
    pub sysadmin: bool,
    /// Last password change, Unix ms.
    pub password_changed_at: i64,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Last update, Unix ms.
    pub updated_at: i64,
    /// Where the password is checked: `local` or `ldap` (migration 19).
    pub source: String,
    /// When the directory last confirmed a directory user, Unix ms (0 for
    /// local users).
    pub directory_checked_at: i64,
}

/// A project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRecord {
    /// Row id (Harbor's `project_id`).
    pub id: i64,
    /// Name: the first component of its repositories' names.
    pub name: String,
    /// Anyone (also anonymous callers) may pull.
    pub public: bool,
    /// The user who created it, if known.
    pub owner_id: Option<i64>,
    /// CIDRs allowed to pull (empty = any), JSON array text.
    pub pull_cidrs: Vec<String>,
    /// CIDRs allowed to push and delete (empty = any).
    pub push_cidrs: Vec<String>,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Last update, Unix ms.
    pub updated_at: i64,
    /// The upstream registry of a proxy project (pull-through cache).
    pub registry_id: Option<i64>,
}

/// A user's role in a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    /// Row id (Harbor's member `id`).
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The user.
    pub user_id: i64,
    /// The user's name.
    pub username: String,
    /// Harbor role id: 1 projectAdmin, 2 developer, 3 guest, 4 maintainer, 5 limitedGuest.
    pub role_id: i64,
    /// Repository glob patterns (relative to the project) the role is limited to;
    /// `None` = the whole project.
    pub repositories: Option<Vec<String>>,
}

/// A robot account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RobotRecord {
    /// Row id.
    pub id: i64,
    /// Full name, `robot$<project>+<name>` or `robot$<name>`.
    pub name: String,
    /// Owning project; `None` for a system-level robot.
    pub project_id: Option<i64>,
    /// Free text.
    pub description: String,
    /// argon2 PHC string of the secret.
    pub secret_hash: String,
    /// Permission list as JSON text (see the migration).
    pub permissions: String,
    /// Expiry, Unix ms; `None` = never.
    pub expires_at: Option<i64>,
    /// Disabled robots cannot authenticate.
    pub disabled: bool,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Last update, Unix ms.
    pub updated_at: i64,
}

/// A personal access token (the secret itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenRecord {
    /// Row id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Name chosen by the owner, unique per user.
    pub name: String,
    /// Expiry, Unix ms; `None` = never.
    pub expires_at: Option<i64>,
    /// When revoked, Unix ms.
    pub revoked_at: Option<i64>,
    /// Creation time, Unix ms.
    pub created_at: i64,
}

fn cidrs(text: String) -> Vec<String> {
    serde_json::from_str(&text).unwrap_or_default()
}

fn user_row(r: sqlx::any::AnyRow) -> UserRecord {
    UserRecord {
        id: r.get("id"),
        username: r.get("username"),
        email: r.get("email"),
        realname: r.get("realname"),
        password_hash: r.get("password_hash"),
        sysadmin: r.get::<i64, _>("sysadmin") != 0,
        password_changed_at: r.get("password_changed_at"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        // Absent from a database opened read-only before migration 19.
        source: r.try_get("source").unwrap_or_else(|_| "local".into()),
        directory_checked_at: r.try_get("directory_checked_at").unwrap_or(0),
    }
}

fn project_row(r: sqlx::any::AnyRow) -> ProjectRecord {
    ProjectRecord {
        id: r.get("id"),
        name: r.get("name"),
        public: r.get::<i64, _>("public") != 0,
        owner_id: r.get("owner_id"),
        pull_cidrs: cidrs(r.get("pull_cidrs")),
        push_cidrs: cidrs(r.get("push_cidrs")),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        registry_id: r.get("registry_id"),
    }
}

fn member_row(r: sqlx::any::AnyRow) -> MemberRecord {
    let repositories: Option<String> = r.get("repositories");
    MemberRecord {
        id: r.get("id"),
        project_id: r.get("project_id"),
        user_id: r.get("user_id"),
        username: r.get("username"),
        role_id: r.get("role_id"),
        repositories: repositories.and_then(|t| serde_json::from_str(&t).ok()),
    }
}

fn robot_row(r: sqlx::any::AnyRow) -> RobotRecord {
    RobotRecord {
        id: r.get("id"),
        name: r.get("name"),
        project_id: r.get("project_id"),
        description: r.get("description"),
        secret_hash: r.get("secret_hash"),
        permissions: r.get("permissions"),
        expires_at: r.get("expires_at"),
        disabled: r.get::<i64, _>("disabled") != 0,
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

fn token_row(r: sqlx::any::AnyRow) -> AccessTokenRecord {
    AccessTokenRecord {
        id: r.get("id"),
        user_id: r.get("user_id"),
        name: r.get("name"),
        expires_at: r.get("expires_at"),
        revoked_at: r.get("revoked_at"),
        created_at: r.get("created_at"),
    }
}

/// True when the error is a UNIQUE constraint violation (name taken).
pub fn is_conflict(e: &MetaError) -> bool {
    matches!(e, MetaError::Database(sqlx::Error::Database(d)) if d.is_unique_violation())
}

const MEMBER_COLUMNS: &str = "m.id, m.project_id, m.user_id, u.username, m.role_id, m.repositories";

impl MetaStore {
    // ---- settings ----

    /// The value of an installation setting.
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    /// Stores `value` under `key` unless the key exists; returns the stored value
    /// (the existing one if another process got there first).
    pub async fn setting_init(&self, key: &str, value: &str) -> Result<String> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT(key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&mut *tx)
        .await?;
        let stored: String = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Removes an installation setting; `true` when it existed.
    pub async fn setting_delete(&self, key: &str) -> Result<bool> {
        let done = self
            .write_one(sqlx::query("DELETE FROM settings WHERE key = $1").bind(key))
            .await?;
        Ok(done.rows_affected() > 0)
    }

    // ---- users ----

    /// Creates a user. Errors: a UNIQUE violation ([`is_conflict`]) when the name is taken.
    pub async fn user_create(
        &self,
        username: &str,
        email: &str,
        realname: &str,
        password_hash: &str,
        sysadmin: bool,
    ) -> Result<UserRecord> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, email, realname, password_hash, sysadmin, password_changed_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(username)
        .bind(email)
        .bind(realname)
        .bind(password_hash)
        .bind(sysadmin as i64)
        .bind(now)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(UserRecord {
            id,
            username: username.to_owned(),
            email: email.to_owned(),
            realname: realname.to_owned(),
            password_hash: password_hash.to_owned(),
            sysadmin,
            password_changed_at: now,
            created_at: now,
            updated_at: now,
            source: "local".into(),
            directory_checked_at: 0,
        })
    }

    /// A user the directory `source` (e.g. `ldap`) just confirmed: created
    /// on first sign-in (Harbor's onboarding, not a system administrator,
    /// with `password_hash` unusable), else its e-mail and display name
    /// refreshed; `directory_checked_at` set to now either way. A local user
    /// of that name is left alone (`Ok(None)`): local accounts are never
    /// taken over by the directory.
    ///
    /// Errors: [`crate::MetaError::Database`].
    pub async fn user_from_directory(
        &self,
        source: &str,
        username: &str,
        email: &str,
        realname: &str,
        password_hash: &str,
    ) -> Result<Option<UserRecord>> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO users (username, email, realname, password_hash, sysadmin, password_changed_at,
                                created_at, updated_at, source, directory_checked_at)
             VALUES ($1, $2, $3, $4, 0, $5, $5, $5, $6, $5)
             ON CONFLICT (username) DO UPDATE
             SET email = $2, realname = $3, updated_at = $5, directory_checked_at = $5
             WHERE users.source = $6",
        )
        .bind(username)
        .bind(email)
        .bind(realname)
        .bind(password_hash)
        .bind(now)
        .bind(source)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query("SELECT * FROM users WHERE username = $1 AND source = $2")
            .bind(username)
            .bind(source)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row.map(user_row))
    }

    /// The OpenID Connect binding of user `id` (migration 21): its
    /// `oidc_subject` (`"<iss> <sub>"`) and sealed refresh token, each empty
    /// when there is none; `None` when the user does not exist.
    ///
    /// Errors: [`crate::MetaError::Database`].
    pub async fn user_oidc(&self, id: i64) -> Result<Option<(String, String)>> {
        let row = sqlx::query("SELECT oidc_subject, oidc_refresh FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(|r| (r.get("oidc_subject"), r.get("oidc_refresh"))))
    }

    /// Binds user `id` to OIDC subject `subject` unless it is bound to
    /// another one, and records the provider's confirmation: the sealed
    /// refresh token `refresh_sealed` and `directory_checked_at = at_ms`.
    /// Returns false when the user is bound to another subject or absent.
    ///
    /// Errors: [`crate::MetaError::Database`].
    pub async fn user_oidc_bind(
        &self,
        id: i64,
        subject: &str,
        refresh_sealed: &str,
        at_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE users SET oidc_subject = $2, oidc_refresh = $3, directory_checked_at = $4
             WHERE id = $1 AND (oidc_subject = '' OR oidc_subject = $2)",
        )
        .bind(id)
        .bind(subject)
        .bind(refresh_sealed)
        .bind(at_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Records that the directory confirmed user `id` at `at_ms`.
    ///
    /// Errors: [`crate::MetaError::Database`].
    pub async fn user_directory_checked(&self, id: i64, at_ms: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE users SET directory_checked_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user by name.
    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query("SELECT * FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(user_row))
    }

    /// A user by id.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(user_row))
    }

    /// How many system administrators there are other than user `id`.
    pub async fn other_sysadmins(&self, id: i64) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE sysadmin = 1 AND id <> $1")
                .bind(id)
                .fetch_one(&self.write)
                .await?,
        )
    }

    /// Users whose name contains `name_like` (all when empty), ordered by id;
    /// returns the page and the total count.
    pub async fn users_list(
        &self,
        name_like: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<UserRecord>, u64)> {
        let pattern = format!("%{}%", name_like.replace('%', "\\%").replace('_', "\\_"));
        let rows = sqlx::query(
            "SELECT * FROM users WHERE username LIKE $1 ESCAPE '\\' ORDER BY id LIMIT $2 OFFSET $3",
        )
        .bind(&pattern)
        .bind(limit as i64)
        .bind(offset as i64)
        .fetch_all(&self.read)
        .await?;
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username LIKE $1 ESCAPE '\\'")
                .bind(&pattern)
                .fetch_one(&self.read)
                .await?;
        Ok((rows.into_iter().map(user_row).collect(), total as u64))
    }

    /// Replaces a user's password hash and bumps `password_changed_at`.
    /// Returns false when the user does not exist.
    pub async fn user_set_password(&self, id: i64, password_hash: &str) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE users SET password_hash = $1, password_changed_at = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(password_hash)
        .bind(now)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Updates profile fields and the admin flag. Returns false when absent.
    pub async fn user_update(
        &self,
        id: i64,
        email: &str,
        realname: &str,
        sysadmin: bool,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE users SET email = $1, realname = $2, sysadmin = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(email)
        .bind(realname)
        .bind(sysadmin as i64)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Deletes a user (memberships and tokens go with it). Returns false when absent.
    pub async fn user_delete(&self, id: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    // ---- projects ----

    /// Creates a project. Errors: UNIQUE violation when the name is taken.
    pub async fn project_create(
        &self,
        name: &str,
        public: bool,
        owner_id: Option<i64>,
    ) -> Result<ProjectRecord> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO projects (name, public, owner_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(name)
        .bind(public as i64)
        .bind(owner_id)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ProjectRecord {
            id,
            name: name.to_owned(),
            public,
            owner_id,
            pull_cidrs: Vec::new(),
            push_cidrs: Vec::new(),
            created_at: now,
            updated_at: now,
            registry_id: None,
        })
    }

    /// Creates a project with `owner_id` as its project admin, unless it exists.
    /// Returns the project and whether it was created.
    pub async fn project_create_owned(
        &self,
        name: &str,
        public: bool,
        owner_id: i64,
    ) -> Result<(ProjectRecord, bool)> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO projects (name, public, owner_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT(name) DO NOTHING",
        )
        .bind(name)
        .bind(public as i64)
        .bind(owner_id)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        let row = sqlx::query("SELECT * FROM projects WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        let project = project_row(row);
        if inserted {
            sqlx::query(
                "INSERT INTO project_members (project_id, user_id, role_id, created_at, updated_at) VALUES ($1, $2, 1, $3, $4)",
            )
            .bind(project.id)
            .bind(owner_id)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok((project, inserted))
    }

    /// A project by name.
    pub async fn project_by_name(&self, name: &str) -> Result<Option<ProjectRecord>> {
        let row = sqlx::query("SELECT * FROM projects WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(project_row))
    }

    /// A project by id.
    pub async fn project_by_id(&self, id: i64) -> Result<Option<ProjectRecord>> {
        let row = sqlx::query("SELECT * FROM projects WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(project_row))
    }

    /// Every project, ordered by name.
    pub async fn projects_all(&self) -> Result<Vec<ProjectRecord>> {
        let rows = sqlx::query("SELECT * FROM projects ORDER BY name")
            .fetch_all(&self.read)
            .await?;
        Ok(rows.into_iter().map(project_row).collect())
    }

    /// Updates a project's visibility and IP allow-lists. Returns false when absent.
    pub async fn project_update(
        &self,
        id: i64,
        public: bool,
        pull_cidrs: &[String],
        push_cidrs: &[String],
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE projects SET public = $1, pull_cidrs = $2, push_cidrs = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(public as i64)
        .bind(serde_json::to_string(pull_cidrs).unwrap_or_else(|_| "[]".into()))
        .bind(serde_json::to_string(push_cidrs).unwrap_or_else(|_| "[]".into()))
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Deletes a project in one transaction: its record, members and robots,
    /// and the policies and quota kept under its name (retention policy,
    /// immutable tag rules, tag naming rule, storage quota, proxy counters), so a project later
    /// created with the same name starts without them. Repositories are not
    /// touched. Returns false when absent.
    pub async fn project_delete(&self, id: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let name: Option<String> = sqlx::query_scalar("SELECT name FROM projects WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(name) = name else {
            return Ok(false);
        };
        for table in [
            "retention_policies",
            "immutable_rules",
            "tag_naming_rules",
            "project_quotas",
            "proxy_stats",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE project = $1"
            )))
            .bind(&name)
            .execute(&mut *tx)
            .await?;
        }
        let n = sqlx::query("DELETE FROM projects WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    // ---- members ----

    /// Adds or replaces a user's role in a project.
    pub async fn member_set(
        &self,
        project_id: i64,
        user_id: i64,
        role_id: i64,
        repositories: Option<&[String]>,
    ) -> Result<MemberRecord> {
        let now = now_ms();
        let repos = repositories.map(|r| serde_json::to_string(r).unwrap_or_else(|_| "[]".into()));
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO project_members (project_id, user_id, role_id, repositories, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT(project_id, user_id) DO UPDATE SET role_id = excluded.role_id,
                 repositories = excluded.repositories, updated_at = excluded.updated_at",
        )
        .bind(project_id)
        .bind(user_id)
        .bind(role_id)
        .bind(&repos)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MEMBER_COLUMNS} FROM project_members m JOIN users u ON u.id = m.user_id
             WHERE m.project_id = $1 AND m.user_id = $2"
        )))
        .bind(project_id)
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(member_row(row))
    }

    /// A user's membership in a project.
    pub async fn member_of(&self, project_id: i64, user_id: i64) -> Result<Option<MemberRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MEMBER_COLUMNS} FROM project_members m JOIN users u ON u.id = m.user_id
             WHERE m.project_id = $1 AND m.user_id = $2"
        )))
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(member_row))
    }

    /// A membership by its id.
    pub async fn member_by_id(&self, id: i64) -> Result<Option<MemberRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MEMBER_COLUMNS} FROM project_members m JOIN users u ON u.id = m.user_id WHERE m.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(member_row))
    }

    /// Members of a project, ordered by id.
    pub async fn members_of_project(&self, project_id: i64) -> Result<Vec<MemberRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MEMBER_COLUMNS} FROM project_members m JOIN users u ON u.id = m.user_id
             WHERE m.project_id = $1 ORDER BY m.id"
        )))
        .bind(project_id)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(member_row).collect())
    }

    /// Every membership of a user.
    pub async fn memberships_of_user(&self, user_id: i64) -> Result<Vec<MemberRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MEMBER_COLUMNS} FROM project_members m JOIN users u ON u.id = m.user_id
             WHERE m.user_id = $1 ORDER BY m.project_id"
        )))
        .bind(user_id)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(member_row).collect())
    }

    /// Removes a membership by id. Returns false when absent.
    pub async fn member_delete(&self, id: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM project_members WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    // ---- robots ----

    /// Creates a robot account. Errors: UNIQUE violation when the name is taken.
    pub async fn robot_create(
        &self,
        name: &str,
        project_id: Option<i64>,
        description: &str,
        secret_hash: &str,
        permissions: &str,
        expires_at: Option<i64>,
    ) -> Result<RobotRecord> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO robots (name, project_id, description, secret_hash, permissions, expires_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(name)
        .bind(project_id)
        .bind(description)
        .bind(secret_hash)
        .bind(permissions)
        .bind(expires_at)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RobotRecord {
            id,
            name: name.to_owned(),
            project_id,
            description: description.to_owned(),
            secret_hash: secret_hash.to_owned(),
            permissions: permissions.to_owned(),
            expires_at,
            disabled: false,
            created_at: now,
            updated_at: now,
        })
    }

    /// A robot by full name.
    pub async fn robot_by_name(&self, name: &str) -> Result<Option<RobotRecord>> {
        let row = sqlx::query("SELECT * FROM robots WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(robot_row))
    }

    /// A robot by id.
    pub async fn robot_by_id(&self, id: i64) -> Result<Option<RobotRecord>> {
        let row = sqlx::query("SELECT * FROM robots WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(robot_row))
    }

    /// Robots of a project (`Some(id)`) or every robot (`None`), ordered by id.
    pub async fn robots_list(&self, project_id: Option<i64>) -> Result<Vec<RobotRecord>> {
        let rows = match project_id {
            Some(p) => {
                sqlx::query("SELECT * FROM robots WHERE project_id = $1 ORDER BY id")
                    .bind(p)
                    .fetch_all(&self.read)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM robots ORDER BY id")
                    .fetch_all(&self.read)
                    .await?
            }
        };
        Ok(rows.into_iter().map(robot_row).collect())
    }

    /// Updates a robot's mutable fields; `secret_hash` only when `Some`.
    /// Returns false when absent.
    pub async fn robot_update(
        &self,
        id: i64,
        description: &str,
        permissions: &str,
        expires_at: Option<i64>,
        disabled: bool,
        secret_hash: Option<&str>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE robots SET description = $1, permissions = $2, expires_at = $3, disabled = $4,
                 secret_hash = COALESCE($5, secret_hash), updated_at = $6 WHERE id = $7",
        )
        .bind(description)
        .bind(permissions)
        .bind(expires_at)
        .bind(disabled as i64)
        .bind(secret_hash)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Deletes a robot. Returns false when absent.
    pub async fn robot_delete(&self, id: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM robots WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    // ---- personal access tokens ----

    /// Records a personal access token by the SHA-256 hex of its secret.
    pub async fn access_token_create(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        expires_at: Option<i64>,
    ) -> Result<AccessTokenRecord> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO access_tokens (user_id, name, token_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(expires_at)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AccessTokenRecord {
            id,
            user_id,
            name: name.to_owned(),
            expires_at,
            revoked_at: None,
            created_at: now,
        })
    }

    /// The token with this secret hash and its owner.
    pub async fn access_token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<(AccessTokenRecord, UserRecord)>> {
        let row = sqlx::query(
            "SELECT t.id AS t_id, t.user_id, t.name, t.expires_at, t.revoked_at, t.created_at AS t_created
             FROM access_tokens t WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.read)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let token = AccessTokenRecord {
            id: r.get("t_id"),
            user_id: r.get("user_id"),
            name: r.get("name"),
            expires_at: r.get("expires_at"),
            revoked_at: r.get("revoked_at"),
            created_at: r.get("t_created"),
        };
        Ok(self.user_by_id(token.user_id).await?.map(|u| (token, u)))
    }

    /// A user's tokens, ordered by id.
    pub async fn access_tokens_of(&self, user_id: i64) -> Result<Vec<AccessTokenRecord>> {
        let rows = sqlx::query("SELECT * FROM access_tokens WHERE user_id = $1 ORDER BY id")
            .bind(user_id)
            .fetch_all(&self.read)
            .await?;
        Ok(rows.into_iter().map(token_row).collect())
    }

    /// Revokes a user's token by name. Returns false when absent or already revoked.
    pub async fn access_token_revoke(&self, user_id: i64, name: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE access_tokens SET revoked_at = $1 WHERE user_id = $2 AND name = $3 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(user_id)
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }
}
