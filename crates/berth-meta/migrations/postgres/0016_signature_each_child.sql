-- berth metadata, schema 16 (PostgreSQL twin of migrations/sqlite/0016): the signature gate per platform manifest (docs/supply-chain.md "The pull gate").

-- With the signature gate on: every platform manifest of an index needs its
-- own verified signature, and an index passes when each of them has one
-- (off: an index's signature covers its platform manifests).
ALTER TABLE projects ADD COLUMN signature_each_child BIGINT NOT NULL DEFAULT 0;
