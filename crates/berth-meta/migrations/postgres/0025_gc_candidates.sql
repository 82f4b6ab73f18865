-- berth metadata, schema 25 (PostgreSQL twin of migrations/sqlite/0025):
-- garbage-collection candidates recorded as they appear, so a collection reads
-- what changed since the last one instead of every blob row (docs/gc.md
-- "Candidates").

-- A digest that may have lost the last thing keeping it: a blob row was
-- recorded, or a repository link, a manifest, a manifest reference or a
-- committer's hold on it went away. The collector checks each candidate
-- (nothing keeps it: sweep; something does: forget it); whatever removes the
-- keeper later records the digest again. Filled by the triggers below, so
-- every path that deletes a keeper (including cascades from repositories and
-- manifests) records it in the same transaction.
CREATE TABLE gc_candidates (
    digest TEXT PRIMARY KEY
);

CREATE FUNCTION gc_candidate_new_digest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO gc_candidates (digest) VALUES (NEW.digest) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE FUNCTION gc_candidate_old_digest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO gc_candidates (digest) VALUES (OLD.digest) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE FUNCTION gc_candidate_old_child() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO gc_candidates (digest) VALUES (OLD.child_digest) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER gc_candidate_blob AFTER INSERT ON blobs
    FOR EACH ROW EXECUTE FUNCTION gc_candidate_new_digest();
CREATE TRIGGER gc_candidate_link AFTER DELETE ON repo_blobs
    FOR EACH ROW EXECUTE FUNCTION gc_candidate_old_digest();
CREATE TRIGGER gc_candidate_manifest AFTER DELETE ON manifests
    FOR EACH ROW EXECUTE FUNCTION gc_candidate_old_digest();
CREATE TRIGGER gc_candidate_reference AFTER DELETE ON manifest_refs
    FOR EACH ROW EXECUTE FUNCTION gc_candidate_old_child();
-- A hold that goes away without its blob recorded is the trace of a commit
-- that installed bytes and died before recording them.
CREATE TRIGGER gc_candidate_hold AFTER DELETE ON blob_holds
    FOR EACH ROW EXECUTE FUNCTION gc_candidate_old_digest();

-- What earlier collections found by reading every blob row.
INSERT INTO gc_candidates (digest)
SELECT b.digest FROM blobs b
WHERE NOT EXISTS (SELECT 1 FROM repo_blobs l WHERE l.digest = b.digest)
  AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)
  AND NOT EXISTS (SELECT 1 FROM manifest_refs f WHERE f.child_digest = b.digest)
ON CONFLICT DO NOTHING;
INSERT INTO gc_candidates (digest) SELECT digest FROM blob_holds ON CONFLICT DO NOTHING;

-- When a collection last listed the blob storage for files no row records
-- (bytes installed by a commit whose hold a power failure lost, or restored
-- from a backup newer than the database). No row: never; the next collection
-- lists it.
CREATE TABLE gc_storage_scans (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    scanned_at  BIGINT NOT NULL
);
