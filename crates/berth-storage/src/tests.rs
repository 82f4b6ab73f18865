//! Conformance tests for [`BlobStore`] on the local backend.

use berth_oci::{Algorithm, Digest};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use crate::{BlobStore, ByteStream, StorageError, UploadId};

fn body(parts: &[&'static [u8]]) -> ByteStream {
    let parts: Vec<std::io::Result<Bytes>> =
        parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
    futures::stream::iter(parts).boxed()
}

async fn read_to_vec(store: &BlobStore, d: &Digest, r: std::ops::Range<u64>) -> Vec<u8> {
    let chunks: Vec<Bytes> = store.read(d, r).await.unwrap().try_collect().await.unwrap();
    chunks.concat()
}

#[tokio::test]
async fn chunks_append_in_order_and_commit_verifies_the_digest() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open_local(dir.path()).unwrap();
    let id = UploadId::new();
    store.upload_create(&id).await.unwrap();
    assert_eq!(
        store
            .upload_append(&id, Some(0), body(&[b"hello "]))
            .await
            .unwrap(),
        6
    );
    assert_eq!(
        store
            .upload_append(&id, None, body(&[b"wor", b"ld"]))
            .await
            .unwrap(),
        11
    );
    let d = Digest::of(Algorithm::Sha256, b"hello world");
    assert_eq!(store.upload_commit(&id, &d).await.unwrap(), 11);
    assert_eq!(store.size(&d).await.unwrap(), Some(11));
    assert_eq!(read_to_vec(&store, &d, 0..11).await, b"hello world");
    assert_eq!(read_to_vec(&store, &d, 6..9).await, b"wor");
    assert!(matches!(
        store.upload_len(&id).await,
        Err(StorageError::UploadUnknown)
    ));
}

#[tokio::test]
async fn out_of_order_chunk_is_a_range_mismatch_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open_local(dir.path()).unwrap();
    let id = UploadId::new();
    store.upload_create(&id).await.unwrap();
    store
        .upload_append(&id, Some(0), body(&[b"abc"]))
        .await
        .unwrap();
    let err = store
        .upload_append(&id, Some(1), body(&[b"xyz"]))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StorageError::RangeMismatch {
            offset: 3,
            requested: 1
        }
    ));
    assert_eq!(store.upload_len(&id).await.unwrap(), 3);
}

#[tokio::test]
async fn wrong_digest_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open_local(dir.path()).unwrap();
    let id = UploadId::new();
    store.upload_create(&id).await.unwrap();
    store
        .upload_append(&id, None, body(&[b"abc"]))
        .await
        .unwrap();
    let wrong = Digest::of(Algorithm::Sha256, b"abd");
    assert!(matches!(
        store.upload_commit(&id, &wrong).await,
        Err(StorageError::DigestMismatch { .. })
    ));
    assert_eq!(store.size(&wrong).await.unwrap(), None);
    assert_eq!(
        store
            .size(&Digest::of(Algorithm::Sha256, b"abc"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.list().count().await, 0);
}

#[tokio::test]
async fn failed_body_leaves_the_session_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open_local(dir.path()).unwrap();
    let id = UploadId::new();
    store.upload_create(&id).await.unwrap();
    store
        .upload_append(&id, None, body(&[b"abc"]))
        .await
        .unwrap();
    let failing = futures::stream::iter(vec![
        Ok(Bytes::from_static(b"def")),
        Err(std::io::Error::other("client went away")),
    ])
    .boxed();
    assert!(matches!(
        store.upload_append(&id, None, failing).await,
        Err(StorageError::Body(_))
    ));
    assert_eq!(store.upload_len(&id).await.unwrap(), 3);
    store
        .upload_append(&id, Some(3), body(&[b"ghi"]))
        .await
        .unwrap();
    let d = Digest::of(Algorithm::Sha256, b"abcghi");
    assert_eq!(store.upload_commit(&id, &d).await.unwrap(), 6);
}

#[tokio::test]
async fn session_resumes_in_a_new_store_instance_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let id = UploadId::new();
    {
        let store = BlobStore::open_local(dir.path()).unwrap();
        store.upload_create(&id).await.unwrap();
        store
            .upload_append(&id, None, body(&[b"first half,"]))
            .await
            .unwrap();
    }
    let store = BlobStore::open_local(dir.path()).unwrap();
    assert_eq!(store.upload_len(&id).await.unwrap(), 11);
    store
        .upload_append(&id, Some(11), body(&[b" second half"]))
        .await
        .unwrap();
    let d = Digest::of(Algorithm::Sha256, b"first half, second half");
    store.upload_commit(&id, &d).await.unwrap();
    assert_eq!(store.rehash(&d).await.unwrap(), d);
}

#[tokio::test]
async fn sha512_commit_rehashes_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open_local(dir.path()).unwrap();
    let id = UploadId::new();
    store.upload_create(&id).await.unwrap();
    store
        .upload_append(&id, None, body(&[b"abc"]))
        .await
        .unwrap();
    let d = Digest::of(Algorithm::Sha512, b"abc");
    assert_eq!(store.upload_commit(&id, &d).await.unwrap(), 3);
    assert_eq!(
        store.read_all(&d).await.unwrap(),
        Bytes::from_static(b"abc")
    );
}

#[tokio::test]
async fn large_multi_buffer_upload_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open_local(dir.path()).unwrap();
    let data: Vec<u8> = (0..(3 * 1024 * 1024 + 17))
        .map(|i| (i % 251) as u8)
        .collect();
    let parts: Vec<std::io::Result<Bytes>> = data
        .chunks(64 * 1024 + 3)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let id = UploadId::new();
    store.upload_create(&id).await.unwrap();
    store
        .upload_append(&id, None, futures::stream::iter(parts).boxed())
        .await
        .unwrap();
    let d = Digest::of(Algorithm::Sha256, &data);
    store.upload_commit(&id, &d).await.unwrap();
    assert_eq!(read_to_vec(&store, &d, 0..data.len() as u64).await, data);
}

#[tokio::test]
async fn ranges_across_read_chunks_come_back_whole_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open_local(dir.path()).unwrap();
    let data: Vec<u8> = (0..(2 * 1024 * 1024 + 5))
        .map(|i| (i % 253) as u8)
        .collect();
    let d = Digest::of(Algorithm::Sha256, &data);
    let id = UploadId::new();
    store.upload_create(&id).await.unwrap();
    let part = Bytes::from(data.clone());
    store
        .upload_append(&id, None, futures::stream::iter([Ok(part)]).boxed())
        .await
        .unwrap();
    store.upload_commit(&id, &d).await.unwrap();
    let len = data.len() as u64;
    for r in [
        0..len,
        1..len,
        524_287..524_289,
        524_288..1_572_865,
        len - 1..len,
        7..7,
    ] {
        let got = read_to_vec(&store, &d, r.clone()).await;
        assert_eq!(got, &data[r.start as usize..r.end as usize], "{r:?}");
    }
}

#[tokio::test]
async fn put_is_idempotent_and_listed_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open_local(dir.path()).unwrap();
    let a = store
        .put(Bytes::from_static(b"{}"), Algorithm::Sha256)
        .await
        .unwrap();
    let b = store
        .put(Bytes::from_static(b"{}"), Algorithm::Sha256)
        .await
        .unwrap();
    assert_eq!(a, b);
    let listed: Vec<_> = store.list().try_collect().await.unwrap();
    assert_eq!(listed, vec![(a.clone(), 2)]);
    store.delete(&a).await.unwrap();
    assert_eq!(store.size(&a).await.unwrap(), None);
}

#[test]
fn upload_ids_must_be_canonical_uuids() {
    let id = UploadId::new();
    assert_eq!(UploadId::parse(&id.to_string()), Some(id));
    for bad in [
        "..",
        "../x",
        "",
        "not-a-uuid",
        "7C9E6679-7425-40DE-944B-E07FC1F90AE7",
        "7c9e6679742540de944be07fc1f90ae7",
    ] {
        assert!(UploadId::parse(bad).is_none(), "{bad} accepted");
    }
}
