-- berth metadata, schema 4: garbage collection, quotas, usage statistics.
-- Timestamps are Unix milliseconds; days are whole days since 1970-01-01 (UTC).

-- The project of a repository (first path component; `library` for one-component
-- names, as RepositoryName::project), for per-project quota and statistics queries.
ALTER TABLE repositories ADD COLUMN project TEXT GENERATED ALWAYS AS (
    CASE WHEN instr(name, '/') > 0 THEN substr(name, 1, instr(name, '/') - 1) ELSE 'library' END
) VIRTUAL;
CREATE INDEX repositories_by_project ON repositories(project);

-- A committer (upload commit, manifest push, mount) holds the digest while it
-- installs the bytes and records them; garbage collection never sweeps a held
-- digest. A hold left by a crashed committer expires.
CREATE TABLE blob_holds (
    digest      TEXT NOT NULL,
    holder      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (digest, holder)
);

-- A blob garbage collection is deleting: marked (in a transaction that saw no
-- link, manifest, reference or hold keeping it), then its bytes deleted, then the
-- blob row and this mark removed. While marked, committers wait and links refuse it.
CREATE TABLE blob_sweeps (
    digest      TEXT PRIMARY KEY,
    marked_at   INTEGER NOT NULL
);

-- Storage quota of a project in bytes (absent: the configured default).
CREATE TABLE project_quotas (
    project     TEXT PRIMARY KEY,
    limit_bytes INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Who pushed a manifest or moved a tag; pulls per tag.
ALTER TABLE manifests ADD COLUMN pushed_by TEXT;
ALTER TABLE tags ADD COLUMN pushed_by TEXT;
ALTER TABLE tags ADD COLUMN pull_count INTEGER NOT NULL DEFAULT 0;

-- Pushes (manifest PUTs) and pulls (manifest GETs) per project per day.
CREATE TABLE project_daily_stats (
    project     TEXT NOT NULL,
    day         INTEGER NOT NULL,
    pushes      INTEGER NOT NULL DEFAULT 0,
    pulls       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project, day)
);

-- History of background jobs (garbage collection runs).
CREATE TABLE job_runs (
    id                  INTEGER PRIMARY KEY,
    kind                TEXT NOT NULL,
    trigger             TEXT NOT NULL,
    dry_run             INTEGER NOT NULL,
    parameters          TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('running', 'success', 'error')),
    started_at          INTEGER NOT NULL,
    finished_at         INTEGER,
    manifests_deleted   INTEGER NOT NULL DEFAULT 0,
    links_deleted       INTEGER NOT NULL DEFAULT 0,
    blobs_deleted       INTEGER NOT NULL DEFAULT 0,
    bytes_deleted       INTEGER NOT NULL DEFAULT 0,
    uploads_deleted     INTEGER NOT NULL DEFAULT 0,
    error               TEXT
);
CREATE INDEX job_runs_by_kind ON job_runs(kind, id);

-- Garbage collection asks "does any repository hold this digest as a manifest?".
CREATE INDEX manifests_by_digest ON manifests(digest);
