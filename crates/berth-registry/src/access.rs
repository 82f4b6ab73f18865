//! The authorization hook. Every registry operation names the [`Access`] it needs;
//! the HTTP layer asks the configured [`AccessPolicy`] before calling the core.
//! The access-control issue adds token and basic authentication policies; until
//! then berth runs with [`AccessPolicy::Anonymous`] (the `auth.mode = none` of the
//! design: anyone may pull, push and delete).

use berth_oci::RepositoryName;

/// An action on a repository, as in the Docker token scope `repository:<name>:<actions>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read manifests, blobs, tags, referrers.
    Pull,
    /// Upload blobs, push manifests and tags.
    Push,
    /// Delete manifests, tags, blobs.
    Delete,
}

impl Action {
    /// The scope action name: `pull`, `push`, `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }
}

/// What a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// `GET /v2/`: any authenticated caller.
    Base,
    /// `GET /v2/_catalog`: `registry:catalog:*`.
    Catalog,
    /// Actions on one repository. A push needs `[Pull, Push]` (Distribution's scope).
    Repository(RepositoryName, Vec<Action>),
}

/// Who may do what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessPolicy {
    /// No authentication: every request is allowed (`auth.mode = none`).
    #[default]
    Anonymous,
}

impl AccessPolicy {
    /// Decides whether an anonymous caller may have `access`.
    pub fn allows(&self, _access: &Access) -> bool {
        match self {
            AccessPolicy::Anonymous => true,
        }
    }
}
