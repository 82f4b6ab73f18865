//! Tag listing (distribution-spec §Listing Tags) through the tag list cache:
//! repositories cached whole and repositories with too many tags, whose pages
//! come from windows read from the store.

use berth_oci::{Reference, RepositoryName};
use bytes::Bytes;

use crate::test_support::{push_blob, repo};
use crate::{Error, Limits, Registry};

const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";

async fn registry(dir: &std::path::Path, max_whole: usize) -> Registry {
    crate::test_support::registry(dir)
        .await
        .with_tag_list_max_whole(max_whole)
}

/// Pushes one image and points each of `tags` at it.
async fn tag_image(reg: &Registry, r: &RepositoryName, tags: &[String]) {
    let config = push_blob(reg, r, b"{}").await;
    let layer = push_blob(reg, r, b"one layer").await;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": IMAGE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config.0.as_str(), "size": config.1},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer.0.as_str(), "size": layer.1}],
    }))
    .unwrap();
    for tag in tags {
        reg.manifest_put(
            r,
            &Reference::parse(tag).unwrap(),
            Some(IMAGE),
            Bytes::from(manifest.clone()),
        )
        .await
        .unwrap();
    }
}

/// Follows the pages (`n`, then `last` = the last tag of each page) to the end.
async fn walk(reg: &Registry, r: &RepositoryName, n: Option<u32>) -> Vec<String> {
    let mut all = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let page = reg.tags_list(r, n, last.as_deref()).await.unwrap();
        if let Some(n) = n {
            assert!(page.items.len() <= n as usize, "a page over n = {n}");
        }
        all.extend(page.items.iter().cloned());
        match (page.next_page_size, page.items.last()) {
            (Some(_), Some(l)) => last = Some(l.clone()),
            _ => return all,
        }
    }
}

fn names(n: usize) -> Vec<String> {
    let mut tags: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
    tags.extend(["latest", "Z", "v1.0", "v1.0-rc1", "_x"].map(String::from));
    tags
}

#[tokio::test]
async fn every_page_size_walks_every_tag_once_in_byte_order_cached_whole_or_windowed() {
    let dir = tempfile::tempdir().unwrap();
    // Lists over 5 tags are windowed; "small" is cached whole.
    let reg = registry(dir.path(), 5).await;
    let (big, small) = (repo("team/big"), repo("team/small"));
    let tags = names(23);
    tag_image(&reg, &big, &tags).await;
    tag_image(&reg, &small, &tags[..4]).await;
    let mut expected = tags.clone();
    expected.sort();
    let mut expected_small = tags[..4].to_vec();
    expected_small.sort();

    for n in [
        Some(1),
        Some(2),
        Some(3),
        Some(7),
        Some(27),
        Some(28),
        Some(100),
        None,
    ] {
        // Twice: a cold walk reads windows, the second is answered by them.
        for round in 0..2 {
            assert_eq!(
                walk(&reg, &big, n).await,
                expected,
                "n = {n:?}, round {round}"
            );
            assert_eq!(walk(&reg, &small, n).await, expected_small, "n = {n:?}");
        }
    }
    // A page after a `last` that is no tag starts at the next tag.
    let page = reg.tags_list(&big, Some(2), Some("t10a")).await.unwrap();
    assert_eq!(page.items, ["t11", "t12"]);
    assert!(matches!(
        reg.tags_list(&repo("team/none"), Some(2), None).await,
        Err(Error::NameUnknown(_))
    ));
}

#[tokio::test]
async fn a_tag_pushed_or_deleted_during_a_walk_shows_on_the_next_page() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), 3).await;
    let r = repo("team/busy");
    let tags: Vec<String> = (0..12).map(|i| format!("t{i:02}")).collect();
    tag_image(&reg, &r, &tags).await;

    let first = reg.tags_list(&r, Some(2), None).await.unwrap();
    assert_eq!(first.items, ["t00", "t01"]);
    // Pushed right after the page the client holds, and one deleted further on.
    tag_image(&reg, &r, &["t01a".to_string()]).await;
    reg.manifest_delete(&r, &Reference::parse("t03").unwrap())
        .await
        .unwrap();
    let next = reg.tags_list(&r, Some(2), Some("t01")).await.unwrap();
    assert_eq!(next.items, ["t01a", "t02"]);
    let next = reg.tags_list(&r, Some(2), Some("t02")).await.unwrap();
    assert_eq!(next.items, ["t04", "t05"]);
    let mut expected: Vec<String> = tags.iter().filter(|t| *t != "t03").cloned().collect();
    expected.push("t01a".into());
    expected.sort();
    assert_eq!(walk(&reg, &r, Some(4)).await, expected);
}

#[tokio::test]
async fn a_cached_list_is_confirmed_not_reread_after_unrelated_commits_and_reread_after_a_tag_change(
) {
    // Two registries on one database: "serve" and another process (or node).
    let dir = tempfile::tempdir().unwrap();
    let url = berth_meta::testing::database_url(dir.path()).await;
    let open = || async {
        Registry::open_at(dir.path(), &url, Limits::default())
            .await
            .unwrap()
    };
    // A zero TTL makes every lookup a confirmation, on PostgreSQL too (where
    // there is no change stamp).
    let serve = open()
        .await
        .with_manifest_cache(&crate::cache::CacheConfig {
            ttl: std::time::Duration::ZERO,
            ..crate::cache::CacheConfig::default()
        });
    let other = open().await;
    let r = repo("team/app");
    let tags: Vec<String> = (0..5).map(|i| format!("v{i}")).collect();
    tag_image(&serve, &r, &tags).await;

    assert_eq!(walk(&serve, &r, Some(2)).await, tags);
    let loads = serve.tag_lists.loads();
    assert_eq!(walk(&serve, &r, Some(2)).await, tags);
    // Commits that add or remove no tag of the repository: a blob and a tag
    // in another one.
    push_blob(&other, &repo("team/other"), b"unrelated").await;
    tag_image(&other, &repo("team/other"), &["x".to_string()]).await;
    assert_eq!(walk(&serve, &r, Some(2)).await, tags);
    assert_eq!(
        serve.tag_lists.loads(),
        loads,
        "confirmed by its version, not read again"
    );

    // Another process adds and removes tags: the next page sees both.
    tag_image(&other, &r, &["v9".to_string()]).await;
    other
        .manifest_delete(&r, &Reference::parse("v0").unwrap())
        .await
        .unwrap();
    assert_eq!(
        walk(&serve, &r, Some(2)).await,
        ["v1", "v2", "v3", "v4", "v9"]
    );
    assert_eq!(serve.tag_lists.loads(), loads + 1);
}
