-- berth metadata, schema 18: web UI sessions (docs/ui.md).

-- One signed-in browser. id_hash: SHA-256 hex of the session cookie's value
-- (the value itself is never stored). credential: the JSON credential the
-- user signed in with (berth_registry::auth::Credential), looked up again on
-- every use, so a changed password or a deleted account ends the session.
-- csrf_token: what state-changing requests must echo in X-Berth-CSRF-Token.
-- expires_at: Unix ms; expired rows are deleted at the next sign-in.
CREATE TABLE ui_sessions (
    id_hash    TEXT PRIMARY KEY,
    username   TEXT NOT NULL,
    credential TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE INDEX ui_sessions_expiry ON ui_sessions (expires_at);
