-- berth metadata, schema 27 (PostgreSQL twin of migrations/sqlite/0027): the
-- repository links garbage collection may expire, recorded as they appear, so
-- a collection reads those instead of every link (docs/gc.md "Candidates").

-- A link no manifest of its repository references (yet, or any more): a new
-- link, or one whose last reference went with its manifest. A collection
-- expires those older than the grace period and forgets those a manifest
-- references or whose link is gone; the delete of a reference records the
-- link again. Links of kept images (referenced, older than the grace period)
-- are never read again.
CREATE TABLE gc_pending_links (
    repo_id BIGINT NOT NULL,
    digest  TEXT NOT NULL,
    PRIMARY KEY (repo_id, digest)
);

CREATE FUNCTION gc_pending_link_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO gc_pending_links (repo_id, digest) VALUES (NEW.repo_id, NEW.digest)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE FUNCTION gc_pending_link_unreferenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO gc_pending_links (repo_id, digest) VALUES (OLD.repo_id, OLD.child_digest)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER gc_pending_link_new AFTER INSERT ON repo_blobs
    FOR EACH ROW EXECUTE FUNCTION gc_pending_link_new();
CREATE TRIGGER gc_pending_link_unreferenced AFTER DELETE ON manifest_refs
    FOR EACH ROW EXECUTE FUNCTION gc_pending_link_unreferenced();

INSERT INTO gc_pending_links (repo_id, digest)
SELECT l.repo_id, l.digest FROM repo_blobs l
WHERE NOT EXISTS (SELECT 1 FROM manifest_refs f
                  WHERE f.repo_id = l.repo_id AND f.child_digest = l.digest)
ON CONFLICT DO NOTHING;
