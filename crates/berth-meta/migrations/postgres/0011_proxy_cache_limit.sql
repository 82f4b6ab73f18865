-- berth metadata, schema 11 (PostgreSQL twin of migrations/sqlite/0011): the cache size limit of a proxy project
-- (docs/proxy.md, "Cache size limit"). Bytes; NULL: no limit beyond the quota.
-- When the project's usage passes it, the least recently pulled artifacts are
-- evicted until it fits.
ALTER TABLE projects ADD COLUMN proxy_cache_limit BIGINT;
