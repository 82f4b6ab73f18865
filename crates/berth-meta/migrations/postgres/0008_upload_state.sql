-- berth metadata, schema 8 (PostgreSQL twin of migrations/sqlite/0008): the state of an upload session on an object store
-- (berth_storage::object::Cursor as JSON: offset, multipart upload id and
-- parts, saved SHA-256 state, tail length), so any node continues the
-- session. NULL: nothing received yet, or a session on the local filesystem
-- (whose state is its file). `offset_bytes` mirrors the cursor's offset for
-- the compare-and-set that orders two appends to one session.
ALTER TABLE upload_sessions ADD COLUMN state TEXT;
ALTER TABLE upload_sessions ADD COLUMN offset_bytes BIGINT NOT NULL DEFAULT 0;
