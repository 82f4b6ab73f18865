-- berth metadata, schema 20: user groups as project members (docs/identity.md).

-- Harbor's user groups. group_type: 1 LDAP (ldap_group_dn identifies it),
-- 3 OIDC (group_name identifies it).
CREATE TABLE user_groups (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    group_name    TEXT NOT NULL,
    group_type    INTEGER NOT NULL,
    ldap_group_dn TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (group_type, ldap_group_dn, group_name)
);

-- Which stored groups a user is in, as the directory said at their last
-- sign-in or recheck (replaced whole each time).
CREATE TABLE user_group_members (
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    group_id INTEGER NOT NULL REFERENCES user_groups(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX user_group_members_by_group ON user_group_members (group_id);

-- A group's role in a project (Harbor's member_group).
CREATE TABLE project_group_members (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    group_id   INTEGER NOT NULL REFERENCES user_groups(id) ON DELETE CASCADE,
    role_id    INTEGER NOT NULL CHECK (role_id BETWEEN 1 AND 5),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (project_id, group_id)
);
