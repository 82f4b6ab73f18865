-- berth metadata, schema 15: the vulnerability database and what each image
-- holds (docs/supply-chain.md "Vulnerabilities").

-- Each `berth vuln-db import`: when, from where, how many records it read,
-- how many were new or changed, how many images were matched again.
CREATE TABLE vuln_db_imports (
    id          INTEGER PRIMARY KEY,
    imported_at INTEGER NOT NULL,
    source      TEXT NOT NULL,
    records     INTEGER NOT NULL,
    changed     INTEGER NOT NULL,
    rematched   INTEGER NOT NULL
);

-- One row per OSV record. aliases, links: JSON arrays. severity: Harbor's
-- level (Unknown, None, Low, Medium, High, Critical); score and vector: the
-- highest CVSS base score and its vector, when the record has one.
CREATE TABLE vulnerabilities (
    id        TEXT PRIMARY KEY,
    modified  TEXT NOT NULL,
    aliases   TEXT NOT NULL,
    summary   TEXT NOT NULL,
    severity  TEXT NOT NULL,
    score     TEXT,
    vector    TEXT,
    links     TEXT NOT NULL,
    withdrawn INTEGER NOT NULL DEFAULT 0
);

-- The record's affected[] entries by (OSV ecosystem, package); affected: the
-- entry as JSON (ranges, versions). severity: a per-package level, if any.
CREATE TABLE vuln_affected (
    vuln_id   TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    package   TEXT NOT NULL,
    affected  TEXT NOT NULL,
    severity  TEXT
);
CREATE INDEX vuln_affected_by_package ON vuln_affected (ecosystem, package);
CREATE INDEX vuln_affected_by_vuln ON vuln_affected (vuln_id);

-- What an image holds, as the SBOM found it: the OSV ecosystem and the
-- package name and version advisories use (the source package for dpkg and
-- apk), the installed name and the purl. Replaced at each SBOM.
CREATE TABLE artifact_packages (
    repository TEXT NOT NULL,
    digest     TEXT NOT NULL,
    ecosystem  TEXT NOT NULL,
    package    TEXT NOT NULL,
    version    TEXT NOT NULL,
    name       TEXT NOT NULL,
    purl       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX artifact_packages_by_artifact ON artifact_packages (repository, digest);
CREATE INDEX artifact_packages_by_package ON artifact_packages (ecosystem, package);

-- CVE allow-lists: scope '' is the system's, else a project's. items: JSON
-- array of ids; expires_at: Unix seconds, NULL never.
CREATE TABLE cve_allowlists (
    scope      TEXT PRIMARY KEY,
    items      TEXT NOT NULL,
    expires_at INTEGER
);

-- Harbor's "prevent vulnerable images from running": the lowest severity
-- refused (NULL: off); berth's deny_unscanned: refuse what has no report.
ALTER TABLE projects ADD COLUMN prevent_severity TEXT;
ALTER TABLE projects ADD COLUMN deny_unscanned INTEGER NOT NULL DEFAULT 0;
