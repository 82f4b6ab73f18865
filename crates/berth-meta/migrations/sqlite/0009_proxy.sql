-- berth metadata, schema 9: upstream registries and proxy projects
-- (pull-through cache, docs/proxy.md).

-- A registry berth talks to (Harbor's /api/v2.0/registries): the upstream of
-- proxy projects, and the source or destination of replication.
-- `type`: docker-registry, harbor or docker-hub. The credential is Basic
-- (access_key, access_secret), also used to fetch bearer tokens.
CREATE TABLE registries (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    type          TEXT NOT NULL,
    url           TEXT NOT NULL,
    insecure      INTEGER NOT NULL DEFAULT 0,
    description   TEXT NOT NULL DEFAULT '',
    access_key    TEXT,
    access_secret TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- A project with a registry is a proxy project: its repositories mirror the
-- upstream's (pull-through, read-only to clients).
ALTER TABLE projects ADD COLUMN registry_id INTEGER REFERENCES registries(id);

-- When a proxied tag was last confirmed upstream (Unix ms): it is not asked
-- again before the tag TTL has passed, however many clients pull it.
CREATE TABLE proxy_tags (
    repository TEXT NOT NULL,
    tag        TEXT NOT NULL,
    checked_at INTEGER NOT NULL,
    PRIMARY KEY (repository, tag)
);

-- Hits and misses of each proxy project, summed over nodes.
CREATE TABLE proxy_stats (
    project  TEXT PRIMARY KEY,
    hits     INTEGER NOT NULL DEFAULT 0,
    misses   INTEGER NOT NULL DEFAULT 0,
    upstream_failures INTEGER NOT NULL DEFAULT 0
);
