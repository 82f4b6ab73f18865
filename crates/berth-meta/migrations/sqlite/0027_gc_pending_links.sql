-- berth metadata, schema 27: the repository links garbage collection may
-- expire, recorded as they appear, so a collection reads those instead of
-- every link (docs/gc.md "Candidates").

-- A link no manifest of its repository references (yet, or any more): a new
-- link, or one whose last reference went with its manifest. A collection
-- expires those older than the grace period and forgets those a manifest
-- references or whose link is gone; the delete of a reference records the
-- link again. Links of kept images (referenced, older than the grace period)
-- are never read again.
CREATE TABLE gc_pending_links (
    repo_id INTEGER NOT NULL,
    digest  TEXT NOT NULL,
    PRIMARY KEY (repo_id, digest)
);

CREATE TRIGGER gc_pending_link_new AFTER INSERT ON repo_blobs
BEGIN INSERT OR IGNORE INTO gc_pending_links (repo_id, digest) VALUES (NEW.repo_id, NEW.digest); END;

CREATE TRIGGER gc_pending_link_unreferenced AFTER DELETE ON manifest_refs
BEGIN INSERT OR IGNORE INTO gc_pending_links (repo_id, digest) VALUES (OLD.repo_id, OLD.child_digest); END;

INSERT OR IGNORE INTO gc_pending_links (repo_id, digest)
SELECT l.repo_id, l.digest FROM repo_blobs l
WHERE NOT EXISTS (SELECT 1 FROM manifest_refs f
                  WHERE f.repo_id = l.repo_id AND f.child_digest = l.digest);
