//! Project policies: retention, tag immutability and tag naming (Harbor's
//! semantics and JSON shapes; see `docs/policies.md`).
//!
//! Module map:
//! - [`selector`] — Harbor's repository and tag selectors (doublestar globs, regex).
//! - [`rules`] — the per-project rules the manifest PUT/DELETE paths enforce,
//!   cached in memory: [`immutability`] and [`naming`].
//! - [`retention`] — retention policies: storage, dry-run and run, reports, schedules.
//! - [`engine`] — the pure evaluation of a retention policy over one repository.
//!
//! Management operations return [`PolicyError`], not the OCI [`crate::Error`]:
//! they are served by the management API, whose errors are not the distribution
//! spec's.

pub mod engine;
pub mod immutability;
pub mod naming;
pub mod retention;
pub mod rules;
pub mod selector;

#[cfg(test)]
mod tests;

use crate::error::Error;

/// A failed policy management operation.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The policy or rule is malformed (HTTP 400); the message says what.
    #[error("{0}")]
    Invalid(String),
    /// The policy or rule does not exist (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The registry failed underneath (HTTP 500).
    #[error(transparent)]
    Registry(#[from] Error),
}

impl PolicyError {
    /// The HTTP status a management API should answer with.
    pub fn status(&self) -> u16 {
        match self {
            PolicyError::Invalid(_) => 400,
            PolicyError::NotFound(_) => 404,
            PolicyError::Registry(e) => e.status(),
        }
    }
}

impl From<berth_meta::MetaError> for PolicyError {
    fn from(e: berth_meta::MetaError) -> Self {
        PolicyError::Registry(Error::from(e))
    }
}
