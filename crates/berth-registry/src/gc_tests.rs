//! Mark-and-sweep rules: grace period, untagged deletion with referrers, index
//! children kept, upload session sweep, holds against sweeps, quotas, statistics.

use std::time::Duration;

use berth_meta::HoldOutcome;
use berth_oci::{Algorithm, Digest, Reference, RepositoryName};
use bytes::Bytes;

use crate::gc::{GcOptions, GcReport};
use crate::test_support::{one_stream, push_blob, repo};
use crate::{Error, Limits, Registry};

const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

struct Fixture {
    _dir: tempfile::TempDir,
    reg: Registry,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let reg = crate::test_support::registry(dir.path()).await;
    Fixture { _dir: dir, reg }
}

fn reference(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

fn desc(media: &str, d: &(Digest, usize)) -> serde_json::Value {
    serde_json::json!({"mediaType": media, "digest": d.0.as_str(), "size": d.1})
}

fn image(
    config: &(Digest, usize),
    layers: &[&(Digest, usize)],
    subject: Option<&(Digest, usize)>,
) -> Vec<u8> {
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": IMAGE,
        "config": desc("application/vnd.oci.image.config.v1+json", config),
        "layers": layers.iter().map(|l| desc("application/vnd.oci.image.layer.v1.tar", l)).collect::<Vec<_>>(),
    });
    if let Some(s) = subject {
        m["subject"] = desc(IMAGE, s);
        m["artifactType"] = "application/vnd.example.sbom".into();
    }
    serde_json::to_vec(&m).unwrap()
}

async fn push_manifest(
    reg: &Registry,
    r: &RepositoryName,
    at: &str,
    bytes: Vec<u8>,
    media: &str,
) -> (Digest, usize) {
    let n = bytes.len();
    let pushed = reg
        .manifest_put(r, &reference(at), Some(media), Bytes::from(bytes))
        .await
        .unwrap();
    (pushed.digest, n)
}

async fn gc(reg: &Registry, opts: GcOptions) -> GcReport {
    // Timestamps are in ms: let "older than a zero grace period" be true.
    tokio::time::sleep(Duration::from_millis(3)).await;
    reg.gc(&opts, &|_| {}).await.unwrap()
}

fn opts(grace: Duration, delete_untagged: bool) -> GcOptions {
    GcOptions {
        grace_period: grace,
        delete_untagged,
        ..GcOptions::default()
    }
}

async fn stored(reg: &Registry, d: &Digest) -> bool {
    reg.blobs.size(d).await.unwrap().is_some()
}

#[tokio::test]
async fn unreferenced_blob_survives_inside_its_grace_period_and_goes_after_it() {
    let f = fixture().await;
    let r = repo("team/app");
    let (d, n) = push_blob(&f.reg, &r, b"fresh upload, no manifest yet").await;

    let report = gc(&f.reg, opts(Duration::from_secs(3600), false)).await;
    assert_eq!(report.blobs_deleted, 0);
    assert_eq!(f.reg.blob_size(&r, &d).await.unwrap(), n as u64);
    assert!(stored(&f.reg, &d).await);

    let report = gc(&f.reg, opts(Duration::ZERO, false)).await;
    assert_eq!(report.links_deleted, 1);
    assert_eq!(report.blobs_deleted, 1);
    assert_eq!(report.bytes_deleted, n as u64);
    assert!(matches!(
        f.reg.blob_size(&r, &d).await,
        Err(Error::BlobUnknown(_))
    ));
    assert!(!stored(&f.reg, &d).await);
    assert!(f.reg.fsck(false).await.unwrap().is_clean());
}

#[tokio::test]
async fn blobs_of_tagged_manifests_stay_and_a_blob_shared_with_another_repository_stays() {
    let f = fixture().await;
    let (a, b) = (repo("team/a"), repo("team/b"));
    let config = push_blob(&f.reg, &a, b"{\"config\":1}").await;
    let layer = push_blob(&f.reg, &a, b"layer bytes").await;
    push_manifest(&f.reg, &a, "v1", image(&config, &[&layer], None), IMAGE).await;
    // The same layer pushed to b but never referenced there: b's link expires,
    // the bytes stay for a.
    push_blob(&f.reg, &b, b"layer bytes").await;

    let report = gc(&f.reg, opts(Duration::ZERO, true)).await;
    assert_eq!(
        (
            report.manifests_deleted,
            report.links_deleted,
            report.blobs_deleted
        ),
        (0, 1, 0)
    );
    assert!(stored(&f.reg, &layer.0).await && stored(&f.reg, &config.0).await);
    assert!(f.reg.blob_size(&a, &layer.0).await.is_ok());
    assert!(f.reg.blob_size(&b, &layer.0).await.is_err());
    assert!(f.reg.manifest_get(&a, &reference("v1"), true).await.is_ok());
}

/// Pushes a manifest by its digest (untagged), as clients push index children.
async fn push_untagged(
    reg: &Registry,
    r: &RepositoryName,
    bytes: Vec<u8>,
    media: &str,
) -> (Digest, usize) {
    let d = Digest::of(Algorithm::Sha256, &bytes);
    push_manifest(reg, r, d.as_str(), bytes, media).await
}

fn index(children: &[&(Digest, usize)]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": children.iter().map(|c| desc(IMAGE, c)).collect::<Vec<_>>(),
    }))
    .unwrap()
}

#[tokio::test]
async fn untagged_manifests_go_with_their_referrers_while_index_children_and_their_referrers_stay()
{
    let f = fixture().await;
    let r = repo("team/app");
    let config = push_blob(&f.reg, &r, b"{}").await;
    let l1 = push_blob(&f.reg, &r, b"amd64 layer").await;
    let l2 = push_blob(&f.reg, &r, b"arm64 layer").await;
    let l3 = push_blob(&f.reg, &r, b"old build layer").await;
    let sbom = push_blob(&f.reg, &r, b"sbom document").await;
    let m1 = push_untagged(&f.reg, &r, image(&config, &[&l1], None), IMAGE).await;
    let m2 = push_untagged(&f.reg, &r, image(&config, &[&l2], None), IMAGE).await;
    push_manifest(&f.reg, &r, "multi", index(&[&m1, &m2]), INDEX).await;
    // A signature of an index child stays with it.
    let sig = push_untagged(&f.reg, &r, image(&config, &[&sbom], Some(&m1)), IMAGE).await;
    // An old untagged build and its SBOM referrer go together.
    let old = push_untagged(&f.reg, &r, image(&config, &[&l3], None), IMAGE).await;
    let old_sbom = push_untagged(&f.reg, &r, image(&config, &[&sbom], Some(&old)), IMAGE).await;
    // Cached before the collection: must not be served after it.
    f.reg
        .manifest_get(&r, &reference(old.0.as_str()), true)
        .await
        .unwrap();

    // Without delete_untagged (the default) no manifest goes.
    let report = gc(&f.reg, opts(Duration::ZERO, false)).await;
    assert_eq!(report.manifests_deleted, 0);
    // Inside the grace period neither.
    let report = gc(&f.reg, opts(Duration::from_secs(3600), true)).await;
    assert_eq!(report.manifests_deleted, 0);

    let dry = gc(
        &f.reg,
        GcOptions {
            dry_run: true,
            ..opts(Duration::ZERO, true)
        },
    )
    .await;
    let report = gc(&f.reg, opts(Duration::ZERO, true)).await;
    assert_eq!(report.manifests_deleted, 2, "the old build and its SBOM");
    assert_eq!(
        report.blobs_deleted, 3,
        "l3 and the two manifests' own bytes"
    );
    assert_eq!(
        (dry.manifests_deleted, dry.blobs_deleted, dry.bytes_deleted),
        (
            report.manifests_deleted,
            report.blobs_deleted,
            report.bytes_deleted
        ),
        "a dry run reports exactly what a run deletes"
    );
    for gone in [&old, &old_sbom] {
        let got = f
            .reg
            .manifest_get(&r, &reference(gone.0.as_str()), true)
            .await;
        assert!(matches!(got, Err(Error::ManifestUnknown(_))), "{got:?}");
        assert!(!stored(&f.reg, &gone.0).await);
    }
    assert!(!stored(&f.reg, &l3.0).await);
    for kept in [&m1, &m2, &sig] {
        assert!(f
            .reg
            .manifest_get(&r, &reference(kept.0.as_str()), true)
            .await
            .is_ok());
    }
    for kept in [&config, &l1, &l2, &sbom] {
        assert!(stored(&f.reg, &kept.0).await);
    }
    assert_eq!(f.reg.referrers(&r, &m1.0, None).await.unwrap().len(), 1);
    assert!(f.reg.fsck(false).await.unwrap().is_clean());

    // Untagging the index lets the whole tree go.
    f.reg
        .manifest_delete(&r, &reference("multi"))
        .await
        .unwrap();
    let report = gc(&f.reg, opts(Duration::ZERO, true)).await;
    assert_eq!(
        report.manifests_deleted, 4,
        "index, two children, the signature"
    );
    assert!(f.reg.fsck(false).await.unwrap().is_clean());
    assert!(!stored(&f.reg, &l1.0).await);
}

#[tokio::test]
async fn idle_upload_sessions_are_swept_and_active_ones_kept() {
    let f = fixture().await;
    let r = repo("team/app");
    let s = f.reg.upload_start(&r).await.unwrap();
    f.reg
        .upload_append(&r, &s.id, None, one_stream(vec![7u8; 1000]))
        .await
        .unwrap();
    let keep = GcOptions {
        upload_max_age: Duration::from_secs(3600),
        ..GcOptions::default()
    };
    assert_eq!(gc(&f.reg, keep).await.uploads_deleted, 0);
    assert_eq!(f.reg.upload_status(&r, &s.id).await.unwrap().offset, 1000);

    let sweep = GcOptions {
        upload_max_age: Duration::ZERO,
        ..GcOptions::default()
    };
    let report = gc(&f.reg, sweep).await;
    assert_eq!(
        (report.uploads_deleted, report.upload_bytes_deleted),
        (1, 1000)
    );
    assert!(matches!(
        f.reg.upload_status(&r, &s.id).await,
        Err(Error::UploadUnknown(_))
    ));
}

#[tokio::test]
async fn a_held_digest_is_never_swept_and_a_swept_digest_cannot_be_held() {
    let f = fixture().await;
    let r = repo("team/app");
    let (d, _) = push_blob(&f.reg, &r, b"about to be committed again").await;
    f.reg.blob_delete(&r, &d).await.unwrap();

    // A committer holds the digest (between installing and recording it).
    let holder = f.reg.hold(&d, berth_meta::gc::HOLD_TTL).await.unwrap();
    assert_eq!(
        gc(&f.reg, opts(Duration::ZERO, false)).await.blobs_deleted,
        0
    );
    assert!(stored(&f.reg, &d).await);
    f.reg.release(&d, &holder).await;

    // A collector's mark keeps committers out until the sweep is over.
    assert!(f.reg.meta.sweep_mark(&d).await.unwrap());
    assert_eq!(
        f.reg
            .meta
            .hold_blob(&d, "other", Duration::from_secs(60))
            .await
            .unwrap(),
        HoldOutcome::BeingSwept
    );
    assert_eq!(
        f.reg
            .meta
            .link_existing_blob("team/other", &d)
            .await
            .unwrap(),
        None,
        "no mount of a blob being swept"
    );
    f.reg.blobs.delete(&d).await.unwrap();
    f.reg.meta.sweep_finish(&d).await.unwrap();
    // The push after the sweep stores the bytes again.
    push_blob(&f.reg, &r, b"about to be committed again").await;
    assert!(stored(&f.reg, &d).await);
    assert!(f.reg.fsck(false).await.unwrap().is_clean());
}

#[tokio::test]
async fn a_head_revives_an_ageing_link() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::open_at(
        dir.path(),
        &berth_meta::testing::database_url(dir.path()).await,
        Limits::default(),
    )
    .await
    .unwrap()
    .with_gc_grace(Duration::from_millis(400));
    let r = repo("team/app");
    let (d, _) = push_blob(&reg, &r, b"checked before the manifest").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    reg.blob_head(&r, &d).await.unwrap(); // older than half the grace: refreshed
    tokio::time::sleep(Duration::from_millis(200)).await;
    // 500 ms after the upload, 200 ms after the HEAD.
    let report = gc(&reg, opts(Duration::from_millis(400), false)).await;
    assert_eq!(report.links_deleted, 0);
    assert!(reg.blob_size(&r, &d).await.is_ok());
}

#[tokio::test]
async fn quota_refuses_the_push_that_crosses_it_and_gc_frees_it() {
    let f = fixture().await;
    let r = repo("team/app");
    f.reg.set_project_quota("team", Some(1000)).await.unwrap();
    let a = push_blob(&f.reg, &r, &[1u8; 600]).await;
    // Counted once per project, even in two repositories.
    push_blob(&f.reg, &repo("team/other"), &[1u8; 600]).await;
    assert_eq!(f.reg.project_usage("team").await.unwrap().storage_used, 600);

    let big = vec![2u8; 500];
    let d = Digest::of(Algorithm::Sha256, &big);
    let err = f
        .reg
        .upload_monolithic(&r, Some(d.as_str()), one_stream(big.clone()))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "quota exceeded: the push would bring the project to 1.07 KiB of its 1000 B quota"
    );
    assert_eq!(err.status(), 403);
    assert!(!stored(&f.reg, &d).await, "nothing left behind");
    assert!(f.reg.blob_size(&r, &d).await.is_err());
    assert_eq!(f.reg.project_usage("team").await.unwrap().storage_used, 600);
    // Another project is not affected.
    push_blob(&f.reg, &repo("other/app"), &big).await;

    // Deleting and collecting frees the quota.
    f.reg.blob_delete(&r, &a.0).await.unwrap();
    f.reg.blob_delete(&repo("team/other"), &a.0).await.unwrap();
    gc(&f.reg, opts(Duration::ZERO, false)).await;
    assert_eq!(f.reg.project_usage("team").await.unwrap().storage_used, 0);
    push_blob(&f.reg, &r, &big).await;
}

#[tokio::test]
async fn pulls_are_counted_for_get_not_head_and_pushes_record_the_pusher() {
    let f = fixture().await;
    let r = repo("team/app");
    let config = push_blob(&f.reg, &r, b"{}").await;
    let m = f
        .reg
        .manifest_put_as(
            &r,
            &reference("v1"),
            Some(IMAGE),
            Bytes::from(image(&config, &[], None)),
            "robot$team+ci",
        )
        .await
        .unwrap();
    for _ in 0..3 {
        f.reg
            .manifest_get(&r, &reference("v1"), true)
            .await
            .unwrap();
    }
    f.reg
        .manifest_get(&r, &reference(m.digest.as_str()), true)
        .await
        .unwrap();
    f.reg
        .manifest_get(&r, &reference("v1"), false)
        .await
        .unwrap(); // HEAD
    f.reg.stats_flush().await;

    let ms = f.reg.manifest_stats(&r, &m.digest).await.unwrap().unwrap();
    assert_eq!(ms.pull_count, 4);
    assert_eq!(ms.pushed_by.as_deref(), Some("robot$team+ci"));
    assert!(ms.last_pulled_at.is_some());
    let ts = f.reg.tag_stats(&r, "v1").await.unwrap().unwrap();
    assert_eq!((ts.pull_count, ts.digest), (3, m.digest.clone()));
    let u = f.reg.project_usage("team").await.unwrap();
    assert_eq!(u.artifacts, 1);
    assert_eq!((u.daily[0].pushes, u.daily[0].pulls), (1, 4));
    let runs = f.reg.gc_history(0, 10).await.unwrap();
    assert!(runs.is_empty());
    gc(&f.reg, GcOptions::default()).await;
    let runs = f.reg.gc_history(0, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "success");
    assert_eq!(
        f.reg
            .gc_run_by_id(runs[0].id)
            .await
            .unwrap()
            .unwrap()
            .trigger,
        "manual"
    );
}

#[tokio::test]
async fn bytes_a_dead_commit_installed_are_collected_through_its_hold_without_listing_the_storage()
{
    let f = fixture().await;
    // The first run on a database lists the storage once.
    gc(&f.reg, opts(Duration::ZERO, false)).await;
    let scanned = f.reg.meta.storage_scanned_at().await.unwrap();
    assert!(scanned.is_some(), "the first run lists the storage");

    // A commit holds its digest, installs the bytes and dies before recording
    // them: its hold expires, nobody releases it.
    let bytes = b"installed, never recorded".to_vec();
    let d = Digest::of(Algorithm::Sha256, &bytes);
    assert_eq!(
        f.reg
            .meta
            .hold_blob(&d, "dead-commit", Duration::from_millis(1))
            .await
            .unwrap(),
        HoldOutcome::Held
    );
    f.reg
        .blobs
        .put(Bytes::from(bytes.clone()), Algorithm::Sha256)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;

    let report = gc(&f.reg, opts(Duration::ZERO, false)).await;
    assert_eq!(report.blobs_deleted, 1);
    assert_eq!(report.bytes_deleted, bytes.len() as u64);
    assert!(!stored(&f.reg, &d).await);
    assert_eq!(
        f.reg.meta.storage_scanned_at().await.unwrap(),
        scanned,
        "found through the candidate, not by listing the storage"
    );
    assert!(f.reg.fsck(false).await.unwrap().is_clean());
}

#[tokio::test]
async fn a_file_nothing_records_or_names_is_found_by_a_storage_scan_first_run_or_asked_for() {
    let f = fixture().await;
    let put = |bytes: &'static [u8]| {
        let blobs = f.reg.blobs.clone();
        async move {
            blobs
                .put(Bytes::from_static(bytes), Algorithm::Sha256)
                .await
                .unwrap()
        }
    };
    // Restored from a backup newer than the database: no row, no hold.
    let before = put(b"there before the first collection").await;
    let report = gc(&f.reg, opts(Duration::ZERO, false)).await;
    assert_eq!(report.blobs_deleted, 1, "the first run lists the storage");
    assert!(report.storage_scanned);
    assert!(!stored(&f.reg, &before).await);

    let after = put(b"copied in later").await;
    let report = gc(&f.reg, opts(Duration::ZERO, false)).await;
    assert_eq!(
        report.blobs_deleted, 0,
        "no candidate names it, no scan is due"
    );
    assert!(!report.storage_scanned);
    assert!(stored(&f.reg, &after).await);

    let scan = GcOptions {
        scan_storage: true,
        ..opts(Duration::ZERO, false)
    };
    let dry = gc(
        &f.reg,
        GcOptions {
            dry_run: true,
            ..scan.clone()
        },
    )
    .await;
    assert_eq!(dry.blobs_deleted, 1);
    assert!(stored(&f.reg, &after).await);
    let report = gc(&f.reg, scan).await;
    assert_eq!(report.blobs_deleted, 1);
    assert!(report.storage_scanned);
    assert!(!stored(&f.reg, &after).await);
    assert!(f.reg.fsck(false).await.unwrap().is_clean());
}

#[tokio::test]
async fn deleting_a_repository_makes_its_blobs_candidates_through_the_cascade() {
    let f = fixture().await;
    let r = repo("team/gone");
    let config = push_blob(&f.reg, &r, b"{\"gone\":true}").await;
    let layer = push_blob(&f.reg, &r, b"a layer only this repository has").await;
    let (m, _) = push_manifest(&f.reg, &r, "v1", image(&config, &[&layer], None), IMAGE).await;
    // A run inside the grace period sees every new blob kept and forgets it.
    assert_eq!(
        gc(&f.reg, opts(Duration::from_secs(3600), false))
            .await
            .blobs_deleted,
        0
    );

    assert!(f
        .reg
        .meta
        .delete_repository("team/gone")
        .await
        .unwrap()
        .is_some());
    let report = gc(&f.reg, opts(Duration::from_secs(3600), false)).await;
    assert_eq!(report.blobs_deleted, 3, "config, layer and manifest");
    for d in [&config.0, &layer.0, &m] {
        assert!(!stored(&f.reg, d).await, "{d} is still stored");
    }
    assert!(f.reg.fsck(false).await.unwrap().is_clean());
}

#[tokio::test]
async fn a_link_a_run_saw_referenced_expires_once_its_manifest_is_deleted() {
    let f = fixture().await;
    let r = repo("team/app");
    let config = push_blob(&f.reg, &r, b"{\"old\":true}").await;
    let layer = push_blob(&f.reg, &r, b"the layer of an old image").await;
    let (m, _) = push_manifest(&f.reg, &r, "v1", image(&config, &[&layer], None), IMAGE).await;
    // The run sees the links referenced and stops reading them.
    let report = gc(&f.reg, opts(Duration::ZERO, false)).await;
    assert_eq!((report.links_deleted, report.blobs_deleted), (0, 0));

    // Runs later, the image is deleted: its references go, its links are
    // pending again, and they expire (they are older than the grace period).
    f.reg
        .manifest_delete(&r, &Reference::Digest(m.clone()))
        .await
        .unwrap();
    let report = gc(&f.reg, opts(Duration::ZERO, false)).await;
    assert_eq!(report.links_deleted, 2, "config and layer links");
    assert_eq!(report.blobs_deleted, 3, "config, layer and manifest");
    for d in [&config.0, &layer.0, &m] {
        assert!(!stored(&f.reg, d).await, "{d} is still stored");
    }
    assert!(f.reg.fsck(false).await.unwrap().is_clean());
}
