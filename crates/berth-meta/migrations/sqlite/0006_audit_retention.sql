-- berth metadata, schema 6: audit retention (docs/audit.md, "Retention").
-- A trim archives the oldest entries of audit_log to a file, then, in one
-- transaction, stores a checkpoint and deletes them. The checkpoint's last_hash
-- (the hash of entry last_seq) is the anchor the remaining chain starts from:
-- the first remaining entry's prev_hash must equal it. Timestamps are Unix ms.
CREATE TABLE audit_checkpoints (
    id              INTEGER PRIMARY KEY,
    -- The trimmed entries: first_seq..last_seq, entries = how many.
    first_seq       INTEGER NOT NULL,
    last_seq        INTEGER NOT NULL UNIQUE,
    last_hash       TEXT NOT NULL,
    -- When the trim happened.
    at              INTEGER NOT NULL,
    entries         INTEGER NOT NULL,
    -- SHA-256 (hex) of the archive file's bytes, and where it was written.
    archive_sha256  TEXT NOT NULL,
    archive         TEXT NOT NULL,
    CHECK (first_seq >= 1 AND last_seq >= first_seq AND entries = last_seq - first_seq + 1)
);

-- Checkpoints are history too: never changed or removed by berth.
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;

-- audit_log stays append-only, except that entries behind a checkpoint (stored
-- first, in the same transaction) may be deleted.
DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_checkpoints WHERE last_seq >= OLD.seq)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only (only entries behind a checkpoint can be trimmed)');
END;
