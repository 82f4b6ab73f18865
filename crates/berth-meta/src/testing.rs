//! Test support: the database a test runs on. Not used by berth itself.
//!
//! Tests run on SQLite unless `BERTH_TEST_DATABASE_URL` names a PostgreSQL
//! server (`postgres://user@127.0.0.1:PORT/postgres`, a role that may create
//! databases): then every [`database_url`] is a new, empty database on it, so
//! tests stay independent however many run at once. `scripts/test.sh` runs
//! the metadata, registry and HTTP tests once per backend this way.

use std::path::Path;
use std::str::FromStr;

use sqlx::{Connection, Executor};

use crate::DatabaseUrl;

/// The environment variable that switches tests to PostgreSQL.
pub const ENV: &str = "BERTH_TEST_DATABASE_URL";

/// The database for a test whose data directory is `data_dir`:
/// `<data_dir>/meta.db`, or a fresh PostgreSQL database when [`ENV`] is set.
///
/// Panics when the PostgreSQL server refuses (a test setup failure).
pub async fn database_url(data_dir: &Path) -> DatabaseUrl {
    match std::env::var(ENV) {
        Ok(admin) if !admin.is_empty() => fresh_postgres(&admin).await,
        _ => DatabaseUrl::sqlite_in(data_dir),
    }
}

/// The PostgreSQL admin URL from [`ENV`], if set.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var(ENV).ok().filter(|s| !s.is_empty())
}

/// Creates an empty database on the server of `admin_url` and returns its URL.
pub async fn fresh_postgres(admin_url: &str) -> DatabaseUrl {
    let name = format!("berth_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .unwrap_or_else(|e| panic!("{ENV}: cannot connect: {e}"));
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap_or_else(|e| panic!("{ENV}: CREATE DATABASE: {e}"));
    let _ = conn.close().await;
    let mut url = url::Url::parse(admin_url).expect("BERTH_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    DatabaseUrl::from_str(url.as_str()).expect("a postgres:// URL")
}
