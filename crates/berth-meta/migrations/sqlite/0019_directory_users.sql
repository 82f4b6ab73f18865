-- berth metadata, schema 19: users from a directory (docs/identity.md).

-- source: where the user's password is checked: 'local' (password_hash) or
-- 'ldap' (a bind to the directory; password_hash is a random, unusable
-- hash). directory_checked_at: Unix ms when the directory last confirmed the
-- user (at sign-in, and at most every auth.ldap.recheck_secs while their
-- tokens are used); 0 for local users.
ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT 'local';
ALTER TABLE users ADD COLUMN directory_checked_at INTEGER NOT NULL DEFAULT 0;
