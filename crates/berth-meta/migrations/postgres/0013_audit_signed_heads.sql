-- berth metadata, schema 13 (PostgreSQL twin of migrations/sqlite/0013): signed checkpoints of the audit chain's head
-- (docs/audit.md, "Signed checkpoints"). at: Unix ms. signature: base64
-- ECDSA P-256 with SHA-256 (ASN.1 DER) by the registry's key over the message
-- docs/audit.md gives; public_key: that key, PEM.
CREATE TABLE audit_signed_heads (
    seq        BIGINT PRIMARY KEY,
    hash       TEXT NOT NULL,
    at         BIGINT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL
);
