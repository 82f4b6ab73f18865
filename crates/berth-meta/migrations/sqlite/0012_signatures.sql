-- berth metadata, schema 12: signatures (docs/supply-chain.md).

-- Public keys a project trusts to sign its artifacts (cosign keys, PEM
-- SubjectPublicKeyInfo). algorithm: ecdsa-p256, ed25519 or rsa.
-- fingerprint: hex SHA-256 of the DER key.
CREATE TABLE trusted_keys (
    id          INTEGER PRIMARY KEY,
    project     TEXT NOT NULL,
    name        TEXT NOT NULL,
    algorithm   TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (project, name)
);

-- One row per signature manifest (cosign's `sha256-<hex>.sig` tag form or an
-- OCI 1.1 referrer): what it signs and the verdict against the project's keys
-- when it was pushed or the keys last changed. status: verified, failed,
-- unknown_key, invalid. A row whose manifest is gone is ignored by readers.
CREATE TABLE signatures (
    repository TEXT NOT NULL,
    digest     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    format     TEXT NOT NULL,
    status     TEXT NOT NULL,
    key_name   TEXT,
    detail     TEXT NOT NULL DEFAULT '',
    checked_at INTEGER NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX signatures_by_subject ON signatures (repository, subject);

-- Harbor's `enable_content_trust_cosign`: pulls need a verified signature.
ALTER TABLE projects ADD COLUMN require_signature INTEGER NOT NULL DEFAULT 0;
