-- berth metadata, schema 5: project policies (retention, tag immutability, tag naming).
-- Policies and rules are stored as JSON text in Harbor's shapes; berth-registry
-- parses and validates them. Timestamps are Unix milliseconds.

-- One retention policy per project (Harbor's retention policy JSON).
CREATE TABLE retention_policies (
    project      TEXT PRIMARY KEY,
    policy       TEXT NOT NULL,
    updated_at   INTEGER NOT NULL,
    -- When the scheduler last ran it (NULL: never); the next cron time is
    -- computed after max(updated_at, last_run_at).
    last_run_at  INTEGER
);

-- Immutable tag rules of a project (Harbor's immutable tag rule JSON).
CREATE TABLE immutable_rules (
    id          INTEGER PRIMARY KEY,
    project     TEXT NOT NULL,
    rule        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX immutable_rules_by_project ON immutable_rules(project);

-- The tag naming rule of a project: a regular expression every pushed tag must match.
CREATE TABLE tag_naming_rules (
    project     TEXT PRIMARY KEY,
    pattern     TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);
