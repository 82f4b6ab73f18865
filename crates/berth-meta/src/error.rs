//! Metadata errors.

/// Errors from [`crate::MetaStore`].
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// A manifest names a blob or child manifest the repository does not hold.
    #[error("manifest references {0}, which is not in the repository")]
    MissingChild(String),
    /// The database failed.
    #[error("metadata database: {0}")]
    Database(#[from] sqlx::Error),
    /// Opening or migrating the database failed.
    #[error("metadata migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, MetaError>;
