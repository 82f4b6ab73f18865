//! The [`BlobStore`] suite on an S3-compatible store: runs when
//! `BERTH_TEST_S3_BUCKET` names a bucket the `AWS_*` variables reach
//! (`scripts/test.sh` starts Garage for it; `scripts/start-garage.sh` by
//! hand), and says it skipped otherwise. Each test works under a prefix of
//! its own, and two `BlobStore`s over one bucket and one state table stand
//! for two nodes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_oci::{Algorithm, Digest};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};

use crate::error::Result;
use crate::object::{ObjectBackend, S3Settings, UploadStates, PART_SIZE};
use crate::{BlobStore, ByteStream, StorageError, UploadId};

/// Session states in memory, as the `upload_sessions` table keeps them.
#[derive(Default)]
struct States(Mutex<HashMap<String, (u64, Option<String>)>>);

impl States {
    fn create(&self, id: &UploadId) {
        self.0.lock().unwrap().insert(id.to_string(), (0, None));
    }
}

impl UploadStates for States {
    fn load(&self, id: &str) -> BoxFuture<'_, Result<Option<String>>> {
        let got = self.0.lock().unwrap().get(id).cloned();
        Box::pin(async move { got.map(|(_, s)| s).ok_or(StorageError::UploadUnknown) })
    }

    fn save(
        &self,
        id: &str,
        expected: u64,
        offset: u64,
        cursor: String,
    ) -> BoxFuture<'_, Result<bool>> {
        let mut map = self.0.lock().unwrap();
        let ok = match map.get_mut(id) {
            Some(row) if row.0 == expected => {
                *row = (offset, Some(cursor));
                true
            }
            _ => false,
        };
        Box::pin(async move { Ok(ok) })
    }
}

/// Two stores ("nodes") over one bucket prefix and one state table; `None`
/// when no bucket is configured.
fn nodes() -> Option<(BlobStore, BlobStore, Arc<States>, tempfile::TempDir)> {
    let bucket = std::env::var("BERTH_TEST_S3_BUCKET")
        .ok()
        .filter(|b| !b.is_empty());
    let Some(bucket) = bucket else {
        eprintln!("skipped: set BERTH_TEST_S3_BUCKET and AWS_* (scripts/start-garage.sh)");
        return None;
    };
    let prefix = format!("test-{}", uuid::Uuid::new_v4());
    let states = Arc::new(States::default());
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let backend =
            ObjectBackend::s3(&bucket, &prefix, &S3Settings::default(), states.clone()).unwrap();
        BlobStore::open_object(dir.path(), backend, true).unwrap()
    };
    let (a, b) = (open(), open());
    Some((a, b, states, dir))
}

fn body(parts: Vec<Vec<u8>>) -> ByteStream {
    futures::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from(p)))).boxed()
}

async fn read_to_vec(store: &BlobStore, d: &Digest, r: std::ops::Range<u64>) -> Vec<u8> {
    let chunks: Vec<Bytes> = store.read(d, r).await.unwrap().try_collect().await.unwrap();
    chunks.concat()
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn a_small_upload_continues_on_another_node_and_commits_whole() {
    let Some((a, b, states, _dir)) = nodes() else {
        return;
    };
    let id = UploadId::new();
    states.create(&id);
    a.upload_create(&id).await.unwrap();
    assert_eq!(
        a.upload_append(&id, Some(0), body(vec![b"hello ".to_vec()]))
            .await
            .unwrap(),
        6
    );
    // Node B continues the session node A started.
    assert_eq!(b.upload_len(&id).await.unwrap(), 6);
    assert_eq!(
        b.upload_append(&id, Some(6), body(vec![b"wor".to_vec(), b"ld".to_vec()]))
            .await
            .unwrap(),
        11
    );
    let d = Digest::of(Algorithm::Sha256, b"hello world");
    assert_eq!(a.upload_commit(&id, &d).await.unwrap(), 11);
    assert_eq!(b.size(&d).await.unwrap(), Some(11));
    assert_eq!(read_to_vec(&b, &d, 0..11).await, b"hello world");
    assert_eq!(read_to_vec(&a, &d, 6..9).await, b"wor");
    assert_eq!(a.rehash(&d).await.unwrap(), d);
    let listed: Vec<_> = a.list().try_collect().await.unwrap();
    assert_eq!(listed, vec![(d.clone(), 11)]);
    assert!(
        a.upload_entries().await.unwrap().is_empty(),
        "no session objects stay"
    );
    a.delete(&d).await.unwrap();
    assert_eq!(b.size(&d).await.unwrap(), None);
}

#[tokio::test]
async fn a_large_upload_in_uneven_chunks_goes_through_parts_and_a_server_side_copy() {
    let Some((a, b, states, _dir)) = nodes() else {
        return;
    };
    let data = pattern(2 * PART_SIZE + PART_SIZE / 2 + 17);
    let d = Digest::of(Algorithm::Sha256, &data);
    let id = UploadId::new();
    states.create(&id);
    a.upload_create(&id).await.unwrap();
    // Tiny chunks, then one larger than a part, then the rest: on
    // alternating nodes, as a round-robin load balancer would send them.
    let cuts = [
        0,
        1,
        100,
        3 * 1024 * 1024,
        3 * 1024 * 1024 + PART_SIZE + 5,
        data.len(),
    ];
    for (i, w) in cuts.windows(2).enumerate() {
        let node = if i % 2 == 0 { &a } else { &b };
        let chunk = data[w[0]..w[1]].to_vec();
        // Split the chunk's body into uneven frames too.
        let frames: Vec<Vec<u8>> = chunk.chunks(700_001).map(|c| c.to_vec()).collect();
        let offset = node
            .upload_append(&id, Some(w[0] as u64), body(frames))
            .await
            .unwrap();
        assert_eq!(offset, w[1] as u64);
    }
    assert_eq!(b.upload_commit(&id, &d).await.unwrap(), data.len() as u64);
    assert_eq!(read_to_vec(&a, &d, 0..data.len() as u64).await, data);
    let r = PART_SIZE as u64 - 10..PART_SIZE as u64 + 10;
    assert_eq!(
        read_to_vec(&b, &d, r.clone()).await,
        data[r.start as usize..r.end as usize]
    );
    assert!(
        a.upload_entries().await.unwrap().is_empty(),
        "no session objects stay"
    );
}

#[tokio::test]
async fn a_wrong_digest_stores_nothing_whether_in_parts_or_not() {
    let Some((a, _b, states, _dir)) = nodes() else {
        return;
    };
    for len in [10, PART_SIZE + 10] {
        let data = pattern(len);
        let id = UploadId::new();
        states.create(&id);
        a.upload_append(&id, None, body(vec![data.clone()]))
            .await
            .unwrap();
        let wrong = Digest::of(Algorithm::Sha256, b"something else");
        let err = a.upload_commit(&id, &wrong).await.unwrap_err();
        assert!(matches!(err, StorageError::DigestMismatch { .. }), "{err}");
        assert_eq!(a.size(&wrong).await.unwrap(), None);
        let right = Digest::of(Algorithm::Sha256, &data);
        assert_eq!(a.size(&right).await.unwrap(), None);
        let listed: Vec<_> = a.list().try_collect().await.unwrap();
        assert!(listed.is_empty(), "{listed:?}");
    }
    assert!(a.upload_entries().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_or_out_of_order_chunk_leaves_the_session_as_it_was() {
    let Some((a, b, states, _dir)) = nodes() else {
        return;
    };
    let id = UploadId::new();
    states.create(&id);
    a.upload_append(&id, Some(0), body(vec![b"abc".to_vec()]))
        .await
        .unwrap();
    let err = b
        .upload_append(&id, Some(1), body(vec![b"x".to_vec()]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::RangeMismatch {
                offset: 3,
                requested: 1
            }
        ),
        "{err}"
    );
    // A body that fails midway, after a whole part was sent.
    let failing: ByteStream = futures::stream::iter(vec![
        Ok(Bytes::from(pattern(PART_SIZE + 1))),
        Err(std::io::Error::other("client went away")),
    ])
    .boxed();
    assert!(matches!(
        b.upload_append(&id, Some(3), failing).await,
        Err(StorageError::Body(_))
    ));
    assert_eq!(a.upload_len(&id).await.unwrap(), 3);
    // The retry continues from there, and the blob is exactly what was acknowledged.
    let rest = pattern(PART_SIZE + 1);
    a.upload_append(&id, Some(3), body(vec![rest.clone()]))
        .await
        .unwrap();
    let mut all = b"abc".to_vec();
    all.extend_from_slice(&rest);
    let d = Digest::of(Algorithm::Sha256, &all);
    assert_eq!(b.upload_commit(&id, &d).await.unwrap(), all.len() as u64);
    assert_eq!(read_to_vec(&a, &d, 0..all.len() as u64).await, all);
}

#[tokio::test]
async fn a_cancelled_session_leaves_no_objects_and_sha512_is_verified_by_reading() {
    let Some((a, b, states, _dir)) = nodes() else {
        return;
    };
    let id = UploadId::new();
    states.create(&id);
    a.upload_append(&id, None, body(vec![pattern(PART_SIZE + 3)]))
        .await
        .unwrap();
    assert!(
        !a.upload_entries().await.unwrap().is_empty(),
        "the tail is stored"
    );
    b.upload_delete(&id).await.unwrap();
    assert!(a.upload_entries().await.unwrap().is_empty());

    let data = pattern(PART_SIZE + 99);
    let id = UploadId::new();
    states.create(&id);
    a.upload_append(&id, None, body(vec![data.clone()]))
        .await
        .unwrap();
    let d = Digest::of(Algorithm::Sha512, &data);
    assert_eq!(b.upload_commit(&id, &d).await.unwrap(), data.len() as u64);
    assert_eq!(a.rehash(&d).await.unwrap(), d);
    // A manifest-sized put goes straight to its key.
    let m = a
        .put(Bytes::from_static(b"{}"), Algorithm::Sha256)
        .await
        .unwrap();
    assert_eq!(b.read_all(&m).await.unwrap(), Bytes::from_static(b"{}"));
}
