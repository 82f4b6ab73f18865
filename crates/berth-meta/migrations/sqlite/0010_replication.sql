-- berth metadata, schema 10: replication between registries (docs/replication.md).

-- A policy: Harbor's ReplicationPolicy as JSON (`body`), with the columns
-- queries need beside it. Unix ms timestamps.
CREATE TABLE replication_policies (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    enabled      INTEGER NOT NULL DEFAULT 1,
    trigger_type TEXT NOT NULL DEFAULT 'manual',
    body         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

-- One run of a policy. status: InProgress, Succeed, Failed, Stopped.
-- scope: JSON {"repository","tag"} of an event-triggered run (one artifact),
-- NULL for the whole policy.
CREATE TABLE replication_executions (
    id             INTEGER PRIMARY KEY,
    policy_id      INTEGER NOT NULL,
    status         TEXT NOT NULL,
    status_text    TEXT NOT NULL DEFAULT '',
    trigger_kind   TEXT NOT NULL,
    scope          TEXT,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    start_time     INTEGER NOT NULL,
    end_time       INTEGER
);
CREATE INDEX replication_executions_policy ON replication_executions (policy_id, id);

-- One artifact copied (or deleted) by an execution. status: Pending,
-- InProgress, Succeed, Failed, Stopped.
CREATE TABLE replication_tasks (
    id            INTEGER PRIMARY KEY,
    execution_id  INTEGER NOT NULL,
    resource_type TEXT NOT NULL DEFAULT 'artifact',
    src_resource  TEXT NOT NULL,
    dst_resource  TEXT NOT NULL,
    operation     TEXT NOT NULL DEFAULT 'copy',
    status        TEXT NOT NULL,
    bytes         INTEGER NOT NULL DEFAULT 0,
    attempts      INTEGER NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT '',
    log           TEXT NOT NULL DEFAULT '',
    start_time    INTEGER,
    end_time      INTEGER
);
CREATE INDEX replication_tasks_execution ON replication_tasks (execution_id, id);
