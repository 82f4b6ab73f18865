-- berth metadata, schema 28: a counter of changes to each repository's tag
-- list (a tag added or removed), so a cached list can be confirmed with one
-- small query instead of read again after an unrelated commit
-- (docs/architecture.md, "Hot paths"). Moving a tag to another manifest does
-- not change the list of names and does not count.
ALTER TABLE repositories ADD COLUMN tags_changed INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER tags_changed_insert AFTER INSERT ON tags
BEGIN UPDATE repositories SET tags_changed = tags_changed + 1 WHERE id = NEW.repo_id; END;

CREATE TRIGGER tags_changed_delete AFTER DELETE ON tags
BEGIN UPDATE repositories SET tags_changed = tags_changed + 1 WHERE id = OLD.repo_id; END;

CREATE TRIGGER tags_changed_rename AFTER UPDATE OF repo_id, name ON tags
BEGIN
    UPDATE repositories SET tags_changed = tags_changed + 1 WHERE id = OLD.repo_id;
    UPDATE repositories SET tags_changed = tags_changed + 1 WHERE id = NEW.repo_id;
END;
