//! Helpers the registry's unit tests share: a registry on a temporary data
//! directory (SQLite, or PostgreSQL when `BERTH_TEST_DATABASE_URL` is set) and
//! a blob pushed through the upload path.

use berth_oci::{Algorithm, Digest, RepositoryName};
use bytes::Bytes;

use crate::{Limits, Registry};

/// A registry with default limits whose data lives in `dir`.
pub(crate) async fn registry(dir: &std::path::Path) -> Registry {
    Registry::open_at(
        dir,
        &berth_meta::testing::database_url(dir).await,
        Limits::default(),
    )
    .await
    .unwrap()
}

pub(crate) fn repo(s: &str) -> RepositoryName {
    RepositoryName::parse(s).unwrap()
}

/// A request body of one chunk.
pub(crate) fn one_stream(bytes: Vec<u8>) -> crate::ByteStream {
    use futures::StreamExt;
    futures::stream::once(async move { Ok(Bytes::from(bytes)) }).boxed()
}

/// Pushes `bytes` as a blob of `r` (monolithic upload) and returns its
/// digest and size.
pub(crate) async fn push_blob(reg: &Registry, r: &RepositoryName, bytes: &[u8]) -> (Digest, usize) {
    let d = Digest::of(Algorithm::Sha256, bytes);
    reg.upload_monolithic(r, Some(d.as_str()), one_stream(bytes.to_vec()))
        .await
        .unwrap();
    (d, bytes.len())
}
