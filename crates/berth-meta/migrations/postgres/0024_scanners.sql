-- berth metadata, schema 24 (PostgreSQL twin of migrations/sqlite/0024): external scanners registered
-- through Harbor's pluggable scanner API (docs/supply-chain.md "External
-- scanners").

-- One row per scanner adapter. uuid: the registration id of the API. auth:
-- '' (none), 'Basic', 'Bearer' or 'X-ScannerAdapter-API-Key';
-- access_credential: what that scheme sends ('user:password' for Basic).
-- At most one row has is_default = 1: the scanner that replaces the
-- built-in one. Times: Unix ms.
CREATE TABLE scanner_registrations (
    uuid              TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    description       TEXT NOT NULL DEFAULT '',
    url               TEXT NOT NULL,
    auth              TEXT NOT NULL DEFAULT '',
    access_credential TEXT NOT NULL DEFAULT '',
    skip_cert_verify  BIGINT NOT NULL DEFAULT 0,
    disabled          BIGINT NOT NULL DEFAULT 0,
    is_default        BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
