-- berth metadata, schema 14 (PostgreSQL twin of migrations/sqlite/0014): SBOM generation tasks (docs/supply-chain.md "SBOMs").

-- One row per (repository, image manifest, kind of scan): the queue and
-- the latest outcome. kind: sbom. status: pending, running, success,
-- error. A running row whose lease (claimed_until, Unix ms) ran out is
-- claimed again; attempts counts the claims. report: JSON of what the run
-- made (the SBOM referrers' digests, the package count). A row whose
-- manifest is gone is ignored by readers.
CREATE TABLE scan_tasks (
    repository    TEXT NOT NULL,
    digest        TEXT NOT NULL,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    detail        TEXT NOT NULL DEFAULT '',
    report        TEXT,
    requested_at  BIGINT NOT NULL,
    started_at    BIGINT,
    finished_at   BIGINT,
    PRIMARY KEY (repository, digest, kind)
);
CREATE INDEX scan_tasks_queue ON scan_tasks (kind, status, requested_at);

-- Harbor's `auto_sbom_generation`: an SBOM for every image pushed (on by default).
ALTER TABLE projects ADD COLUMN auto_sbom BIGINT NOT NULL DEFAULT 1;
