-- berth metadata, schema 2: access control (users, projects, members, robot
-- accounts, personal access tokens, settings). Timestamps are Unix milliseconds.

-- Users log in with a password (argon2 PHC string) or a personal access token.
CREATE TABLE users (
    id                  INTEGER PRIMARY KEY,
    username            TEXT NOT NULL UNIQUE,
    email               TEXT NOT NULL DEFAULT '',
    realname            TEXT NOT NULL DEFAULT '',
    password_hash       TEXT NOT NULL,
    sysadmin            INTEGER NOT NULL DEFAULT 0,
    -- Bumped on every password change: refresh tokens issued before it stop working.
    password_changed_at INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

-- A project is the first component of repository names (`library` for one-component names).
CREATE TABLE projects (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    public      INTEGER NOT NULL DEFAULT 0,
    owner_id    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    -- JSON arrays of CIDRs; empty = any address.
    pull_cidrs  TEXT NOT NULL DEFAULT '[]',
    push_cidrs  TEXT NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Project roles, with Harbor's ids: 1 projectAdmin, 2 developer, 3 guest,
-- 4 maintainer, 5 limitedGuest. `repositories` is a JSON array of glob patterns
-- (relative to the project) the role is limited to; NULL = the whole project.
CREATE TABLE project_members (
    id           INTEGER PRIMARY KEY,
    project_id   INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_id      INTEGER NOT NULL CHECK (role_id BETWEEN 1 AND 5),
    repositories TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (project_id, user_id)
);
CREATE INDEX project_members_by_user ON project_members(user_id);

-- Robot accounts: `robot$<project>+<name>` (project level) or `robot$<name>`
-- (system level, project_id NULL). `permissions` is a JSON array of
-- {"project": "p" | "*", "repositories": ["glob", ...], "actions": ["pull", ...]}.
CREATE TABLE robots (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    project_id   INTEGER REFERENCES projects(id) ON DELETE CASCADE,
    description  TEXT NOT NULL DEFAULT '',
    secret_hash  TEXT NOT NULL,
    permissions  TEXT NOT NULL,
    -- NULL = never expires.
    expires_at   INTEGER,
    disabled     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

-- Personal access tokens (CLI secrets): usable as a password, expire, revocable.
-- High-entropy secrets, so stored as a SHA-256 hex digest and looked up by it.
CREATE TABLE access_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    created_at   INTEGER NOT NULL,
    UNIQUE (user_id, name)
);

-- Installation-wide values (the token signing key, ...).
CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
