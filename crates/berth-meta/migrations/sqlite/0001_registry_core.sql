-- berth metadata, schema 1: the registry core (OCI distribution).
-- Timestamps are Unix milliseconds. Digests are 'alg:hex' text.

-- A repository exists once something was pushed or mounted into it.
CREATE TABLE repositories (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

-- Every blob whose bytes are installed in the blob store (layers, configs, manifests).
CREATE TABLE blobs (
    digest      TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Which repositories may read which blobs (pushed or mounted there).
CREATE TABLE repo_blobs (
    repo_id     INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest      TEXT NOT NULL REFERENCES blobs(digest),
    linked_at   INTEGER NOT NULL,
    PRIMARY KEY (repo_id, digest)
);
CREATE INDEX repo_blobs_by_digest ON repo_blobs(digest);

-- Manifests of a repository; the bytes are the blob with the same digest.
CREATE TABLE manifests (
    repo_id         INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest          TEXT NOT NULL REFERENCES blobs(digest),
    media_type      TEXT NOT NULL,
    artifact_type   TEXT,
    subject         TEXT,
    size            INTEGER NOT NULL,
    annotations     TEXT,
    pushed_at       INTEGER NOT NULL,
    last_pulled_at  INTEGER,
    pull_count      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (repo_id, digest)
);
CREATE INDEX manifests_by_subject ON manifests(repo_id, subject) WHERE subject IS NOT NULL;

-- What a manifest needs: config and layers (blobs) or child manifests (index).
CREATE TABLE manifest_refs (
    repo_id         INTEGER NOT NULL,
    manifest_digest TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('config', 'layer', 'manifest')),
    child_digest    TEXT NOT NULL,
    PRIMARY KEY (repo_id, manifest_digest, kind, child_digest),
    FOREIGN KEY (repo_id, manifest_digest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_refs_by_child ON manifest_refs(child_digest);

-- Tags point at a manifest of the same repository.
CREATE TABLE tags (
    repo_id         INTEGER NOT NULL,
    name            TEXT NOT NULL,
    digest          TEXT NOT NULL,
    pushed_at       INTEGER NOT NULL,
    last_pulled_at  INTEGER,
    PRIMARY KEY (repo_id, name),
    FOREIGN KEY (repo_id, digest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE
);

-- Open upload sessions; the bytes live in the blob store's uploads/<id>/data.
CREATE TABLE upload_sessions (
    id          TEXT PRIMARY KEY,
    repository  TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
