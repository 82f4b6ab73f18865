-- berth metadata, schema 3 (PostgreSQL twin of migrations/sqlite/0003): the
-- audit trail (docs/audit.md). Append-only and hash-chained:
-- hash = SHA-256(prev_hash || canonical(entry)), both hex; the first entry's
-- prev_hash is 64 zeros. Timestamps are Unix ms. berth assigns `seq` itself
-- (last + 1) inside a write transaction, so the chain is one line however
-- many nodes append.
CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
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

-- Defence in depth: the registry never changes or removes an entry. A
-- database owner can drop these triggers; `berth audit verify` catches what
-- they change afterwards.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
