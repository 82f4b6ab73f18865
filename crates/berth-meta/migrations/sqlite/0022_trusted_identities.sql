-- berth metadata, schema 22: notation trust policies (docs/supply-chain.md).

-- A trusted key of algorithm 'x509-ca' is a certificate of the project's
-- notation trust store; trusted_identities lists, one per line, the
-- distinguished names (notation's "x509.subject: C=US, O=Acme, CN=ci")
-- a leaf certificate's subject must match; '' trusts any subject the
-- certificate vouches for. Unused for cosign keys.
ALTER TABLE trusted_keys ADD COLUMN trusted_identities TEXT NOT NULL DEFAULT '';
