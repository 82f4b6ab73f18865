-- berth metadata, schema 3: the audit trail (docs/audit.md).
-- Append-only and hash-chained: hash = SHA-256(prev_hash || canonical(entry)),
-- both hex; the first entry's prev_hash is 64 zeros. Timestamps are Unix ms.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    actor_kind  TEXT NOT NULL CHECK (actor_kind IN ('user', 'robot', 'anonymous', 'system')),
    source_ip   TEXT,
    action      TEXT NOT NULL,
    repository  TEXT,
    reference   TEXT,
    digest      TEXT,
    result      TEXT NOT NULL CHECK (result IN ('success', 'failure')),
    detail      TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_log_by_at ON audit_log(at);
CREATE INDEX audit_log_by_actor ON audit_log(actor, seq);
CREATE INDEX audit_log_by_repository ON audit_log(repository, seq) WHERE repository IS NOT NULL;

-- Defence in depth: the registry never changes or removes an entry. Someone with
-- write access to the file can drop these triggers; `berth audit verify` catches
-- what they change afterwards.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
