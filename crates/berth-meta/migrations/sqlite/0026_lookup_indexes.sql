-- berth metadata, schema 26: indexes for two lookups that read far more
-- rows than they need when SQLite's planner (which has no statistics) picks
-- a primary key's prefix instead.

-- The referrers of a subject, in digest order straight from the index. With
-- (repo_id, subject) alone, the planner preferred the primary key (repo_id,
-- digest), which gives that order without a sort, and so read every manifest
-- of the repository to find a subject's few referrers (bench/FLAT.md: 2.3 x
-- slower beside 1,000 other manifests).
DROP INDEX manifests_by_subject;
CREATE INDEX manifests_by_subject ON manifests(repo_id, subject, digest) WHERE subject IS NOT NULL;

-- "Does a manifest of this repository reference this digest?" (link expiry,
-- index children, proxy cache eviction) is answered from one index entry.
-- With the child digest alone SQLite's planner preferred the primary key's
-- repo_id prefix, reading every reference of the repository per question.
DROP INDEX manifest_refs_by_child;
CREATE INDEX manifest_refs_by_child ON manifest_refs(child_digest, repo_id);
