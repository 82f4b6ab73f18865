-- berth metadata, schema 28 (PostgreSQL twin of migrations/sqlite/0028): a
-- counter of changes to each repository's tag list (a tag added or removed),
-- so a cached list can be confirmed with one small query instead of read again
-- (docs/architecture.md, "Hot paths"). Moving a tag to another manifest does
-- not change the list of names and does not count.
ALTER TABLE repositories ADD COLUMN tags_changed BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION tags_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE repositories SET tags_changed = tags_changed + 1 WHERE id = OLD.repo_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE repositories SET tags_changed = tags_changed + 1 WHERE id = NEW.repo_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER tags_changed_insert AFTER INSERT ON tags
    FOR EACH ROW EXECUTE FUNCTION tags_changed();
CREATE TRIGGER tags_changed_delete AFTER DELETE ON tags
    FOR EACH ROW EXECUTE FUNCTION tags_changed();
CREATE TRIGGER tags_changed_rename AFTER UPDATE OF repo_id, name ON tags
    FOR EACH ROW EXECUTE FUNCTION tags_changed();
