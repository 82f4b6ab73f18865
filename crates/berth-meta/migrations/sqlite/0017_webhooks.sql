-- berth metadata, schema 17: webhooks (docs/webhooks.md).

-- Harbor's webhook policies, one project each. event_types: JSON array of
-- Harbor's event names (PUSH_ARTIFACT, ...). targets: JSON array of
-- {type, address, auth_header, skip_cert_verify, payload_format}. secret:
-- the HMAC-SHA256 key of the signature header ('' = unsigned); never
-- answered by the API.
CREATE TABLE webhook_policies (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project     TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled     INTEGER NOT NULL DEFAULT 1,
    event_types TEXT NOT NULL,
    targets     TEXT NOT NULL,
    secret      TEXT NOT NULL DEFAULT '',
    creator     TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (project, name)
);

-- One delivery of one event to one target (Harbor's execution with its one
-- task). status: pending, running, success, error. A running row whose lease
-- (claimed_until, Unix ms) ran out is claimed again. payload: the body as
-- sent; content_type its type. log: one line per attempt.
CREATE TABLE webhook_deliveries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    policy_id     INTEGER NOT NULL REFERENCES webhook_policies(id) ON DELETE CASCADE,
    event_type    TEXT NOT NULL,
    address       TEXT NOT NULL,
    payload       TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    status        TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       INTEGER NOT NULL,
    claimed_until INTEGER NOT NULL DEFAULT 0,
    log           TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER
);
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (status, next_at);
CREATE INDEX webhook_deliveries_policy ON webhook_deliveries (policy_id, id);
