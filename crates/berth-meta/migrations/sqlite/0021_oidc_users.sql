-- berth metadata, schema 21: users who sign in through OpenID Connect (docs/identity.md).

-- oidc_subject: the provider's identity of the user, "<iss> <sub>"; a berth
-- user is bound to the first subject that signs in under its name, and
-- another subject with the same name is refused. '' for others.
-- oidc_refresh: the provider's refresh token, sealed with AES-256-GCM under
-- a key derived from the token signing key ('' when the provider gave
-- none); used to ask the provider whether the user still holds, at most
-- every auth.oidc.recheck_secs while their CLI secret is used.
ALTER TABLE users ADD COLUMN oidc_subject TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN oidc_refresh TEXT NOT NULL DEFAULT '';
