//! Retention, immutability and naming against a real [`Registry`] on a temporary
//! directory, with a fixed clock: manifests are pushed through the core, then
//! their push and pull times are set relative to [`NOW`].

use std::collections::BTreeSet;

use berth_oci::{Digest, Reference, RepositoryName, Tag};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::json;

use super::engine::ReportItem;
use super::immutability::ImmutableRule;
use super::retention::{RetentionPolicy, RetentionReport, RetentionRule, Trigger, TriggerSettings};
use super::selector::Selector;
use crate::{Error, Limits, Registry};

/// The fixed clock: 2027-01-15T08:00:00Z.
const NOW: i64 = 1_800_000_000_000;
const DAY: i64 = 24 * 60 * 60 * 1000;
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

struct Fixture {
    reg: Registry,
    _dir: tempfile::TempDir,
}

fn name(s: &str) -> RepositoryName {
    RepositoryName::parse(s).unwrap()
}

fn days_ago(d: i64) -> i64 {
    NOW - d * DAY
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open_at(
            dir.path(),
            &berth_meta::testing::database_url(dir.path()).await,
            Limits::default(),
        )
        .await
        .unwrap();
        Fixture { reg, _dir: dir }
    }

    async fn blob(&self, repo: &str, bytes: &'static [u8]) -> Digest {
        let body = futures::stream::once(async move { Ok(Bytes::from_static(bytes)) }).boxed();
        self.reg
            .upload_monolithic(
                &name(repo),
                Some(Digest::of(berth_oci::Algorithm::Sha256, bytes).as_str()),
                body,
            )
            .await
            .unwrap()
    }

    /// Pushes a distinct image manifest (`seed` makes it unique), optionally
    /// tagged, optionally with a `subject`.
    async fn image(
        &self,
        repo: &str,
        seed: &str,
        tag: Option<&str>,
        subject: Option<&Digest>,
    ) -> Digest {
        let config = self.blob(repo, b"{}").await;
        let mut m = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.as_str(), "size": 2},
            "layers": [],
            "annotations": {"seed": seed},
        });
        if let Some(s) = subject {
            m["subject"] = json!({"mediaType": MANIFEST, "digest": s.as_str(), "size": 1});
            m["artifactType"] = json!("application/example.signature");
        }
        self.put(repo, m, tag).await
    }

    async fn index(&self, repo: &str, children: &[&Digest], tag: Option<&str>) -> Digest {
        let manifests: Vec<_> = children
            .iter()
            .map(|d| json!({"mediaType": MANIFEST, "digest": d.as_str(), "size": 1}))
            .collect();
        self.put(
            repo,
            json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests}),
            tag,
        )
        .await
    }

    async fn put(&self, repo: &str, m: serde_json::Value, tag: Option<&str>) -> Digest {
        let body = Bytes::from(serde_json::to_vec(&m).unwrap());
        let digest = Digest::of(berth_oci::Algorithm::Sha256, &body);
        let reference = match tag {
            Some(t) => Reference::Tag(Tag::parse(t).unwrap()),
            None => Reference::Digest(digest.clone()),
        };
        self.reg
            .manifest_put(
                &name(repo),
                &reference,
                Some(m["mediaType"].as_str().unwrap()),
                body,
            )
            .await
            .unwrap()
            .digest
    }

    /// Sets the times of a manifest and one tag: pushed and last pulled `d` days ago.
    async fn times(
        &self,
        repo: &str,
        digest: &Digest,
        tag: Option<&str>,
        pushed: i64,
        pulled: Option<i64>,
    ) {
        self.reg
            .set_push_pull_times(
                &name(repo),
                digest,
                tag,
                days_ago(pushed),
                pulled.map(days_ago),
            )
            .await
            .unwrap();
    }

    /// Points `tag` at an existing manifest (read from the stores directly, so no
    /// pull is recorded), with its push and pull times.
    async fn tag(&self, repo: &str, tag: &str, digest: &Digest, pushed: i64, pulled: Option<i64>) {
        let (media_type, bytes) = self.raw(repo, digest).await;
        self.reg
            .manifest_put(
                &name(repo),
                &Reference::Tag(Tag::parse(tag).unwrap()),
                Some(&media_type),
                bytes,
            )
            .await
            .unwrap();
        self.reg
            .meta
            .set_tag_times(repo, tag, days_ago(pushed), pulled.map(days_ago))
            .await
            .unwrap();
    }

    async fn raw(&self, repo: &str, digest: &Digest) -> (String, Bytes) {
        let record = self
            .reg
            .meta
            .manifest_by_digest(repo, digest)
            .await
            .unwrap()
            .unwrap();
        (
            record.media_type,
            self.reg.blobs.read_all(digest).await.unwrap(),
        )
    }

    async fn tags(&self, repo: &str) -> BTreeSet<String> {
        self.reg
            .tags_list(&name(repo), None, None)
            .await
            .unwrap()
            .items
            .into_iter()
            .collect()
    }

    async fn has(&self, repo: &str, digest: &Digest) -> bool {
        self.reg
            .meta
            .manifest_by_digest(repo, digest)
            .await
            .unwrap()
            .is_some()
    }

    async fn run(
        &self,
        project: &str,
        policy: serde_json::Value,
        dry_run: bool,
    ) -> RetentionReport {
        let policy: RetentionPolicy = serde_json::from_value(policy).unwrap();
        self.reg
            .retention_policy_set(project, &policy)
            .await
            .unwrap();
        let report = self
            .reg
            .retention_run(project, NOW, dry_run, "test")
            .await
            .unwrap();
        println!("{report}");
        assert_eq!(report.errors(), 0, "{report}");
        report
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn deleted_manifests(report: &RetentionReport) -> BTreeSet<String> {
    report
        .deleted()
        .filter(|(_, i)| i.tag.is_none())
        .map(|(_, i)| i.digest.clone())
        .collect()
}

fn kept_reason<'a>(report: &'a RetentionReport, tag: &str) -> &'a ReportItem {
    report
        .kept()
        .map(|(_, i)| i)
        .find(|i| i.tag.as_deref() == Some(tag))
        .unwrap_or_else(|| panic!("tag {tag} not kept:\n{report}"))
}

fn rule(template: &str, param: Option<i64>, tags: serde_json::Value) -> serde_json::Value {
    let mut params = serde_json::Map::new();
    if let Some(p) = param {
        params.insert(template.into(), p.into());
    }
    json!({
        "action": "retain", "template": template, "params": params,
        "tag_selectors": tags,
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}
    })
}

fn tags_glob(pattern: &str, untagged: bool) -> serde_json::Value {
    json!([{"kind": "doublestar", "decoration": "matches", "pattern": pattern,
            "extras": format!("{{\"untagged\":{untagged}}}")}])
}

/// Seed 1: "dev: keep what was pushed in the last 30 days".
#[tokio::test]
async fn seed_dev_keeps_what_was_pushed_in_the_last_30_days() {
    let f = Fixture::new().await;
    let fresh = f.image("dev/app", "fresh", Some("feature-x"), None).await;
    f.times("dev/app", &fresh, Some("feature-x"), 3, None).await;
    let old = f.image("dev/app", "old", Some("feature-y"), None).await;
    f.times("dev/app", &old, Some("feature-y"), 45, Some(1))
        .await;
    let untagged_old = f.image("dev/app", "untagged-old", None, None).await;
    f.times("dev/app", &untagged_old, None, 31, None).await;
    let untagged_new = f.image("dev/app", "untagged-new", None, None).await;
    f.times("dev/app", &untagged_new, None, 29, None).await;
    // Another project is untouched.
    let other = f.image("prod/app", "other", Some("feature-y"), None).await;
    f.times("prod/app", &other, Some("feature-y"), 400, None)
        .await;

    let report = f
        .run(
            "dev",
            json!({"rules": [rule("nDaysSinceLastPush", Some(30), tags_glob("**", true))]}),
            false,
        )
        .await;

    assert_eq!(f.tags("dev/app").await, set(&["feature-x"]));
    assert!(f.has("dev/app", &fresh).await && f.has("dev/app", &untagged_new).await);
    assert!(!f.has("dev/app", &old).await && !f.has("dev/app", &untagged_old).await);
    assert_eq!(
        deleted_manifests(&report),
        set(&[old.as_str(), untagged_old.as_str()])
    );
    assert!(kept_reason(&report, "feature-x")
        .reason
        .contains("rule 1 (pushed within 30 days"));
    assert!(f.has("prod/app", &other).await);
    assert_eq!(report.repositories.len(), 1);
}

/// Seed 2: "prod: keep the 5 most recent stable versions (tags matching a semver
/// pattern without pre-release)".
#[tokio::test]
async fn seed_prod_keeps_the_5_most_recent_stable_versions() {
    let f = Fixture::new().await;
    let mut digests = Vec::new();
    for (i, v) in [
        "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0", "2.0.0",
    ]
    .iter()
    .enumerate()
    {
        let d = f.image("prod/api", v, Some(v), None).await;
        f.times("prod/api", &d, Some(v), 20 - i as i64, None).await;
        digests.push(d);
    }
    // Pre-releases are newer but not stable; `latest` names the newest stable.
    let rc = f.image("prod/api", "rc", Some("2.1.0-rc.1"), None).await;
    f.times("prod/api", &rc, Some("2.1.0-rc.1"), 1, None).await;
    f.tag("prod/api", "latest", &digests[6], 10, None).await;
    // An older stable version pushed again recently under a second name counts once.
    f.tag("prod/api", "v1.0.0", &digests[0], 0, None).await;

    let semver = json!([{"kind": "regex", "decoration": "matches",
                         "pattern": r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"}]);
    let report = f
        .run(
            "prod",
            json!({"rules": [rule("latestPushedK", Some(5), semver)]}),
            false,
        )
        .await;

    // The five newest stable artifacts: 1.0.0 (re-pushed as v1.0.0), 1.3.0..2.0.0.
    assert_eq!(
        f.tags("prod/api").await,
        set(&["1.0.0", "v1.0.0", "1.3.0", "1.4.0", "1.5.0", "2.0.0"])
    );
    assert_eq!(
        deleted_manifests(&report),
        set(&[digests[1].as_str(), digests[2].as_str(), rc.as_str()])
    );
    let latest = report
        .deleted()
        .find(|(_, i)| i.tag.as_deref() == Some("latest"))
        .expect("latest is not selected by the rule");
    assert_eq!(latest.1.reason, "no rule selects this tag");
    assert!(f.has("prod/api", &digests[6]).await);
    assert!(kept_reason(&report, "2.0.0")
        .reason
        .contains("the 5 most recently pushed"));
}

/// Seed 3: "remove untagged images"; children of a kept index and referrers of
/// a kept manifest stay, an untagged index goes with its children.
#[tokio::test]
async fn seed_remove_untagged_images() {
    let f = Fixture::new().await;
    let tagged = f.image("team/web", "tagged", Some("stable"), None).await;
    let sig = f.image("team/web", "signature", None, Some(&tagged)).await;
    let amd = f.image("team/web", "amd64", None, None).await;
    let arm = f.image("team/web", "arm64", None, None).await;
    let multi = f.index("team/web", &[&amd, &arm], Some("multi")).await;
    let orphan = f.image("team/web", "orphan", None, None).await;
    let old_child = f.image("team/web", "old-child", None, None).await;
    let old_index = f.index("team/web", &[&old_child], None).await;
    let old_sig = f.image("team/web", "old-sig", None, Some(&orphan)).await;

    let report = f
        .run(
            "team",
            json!({"rules": [rule("always", None, tags_glob("**", false))]}),
            false,
        )
        .await;

    for kept in [&tagged, &sig, &amd, &arm, &multi] {
        assert!(f.has("team/web", kept).await, "{kept} kept");
    }
    assert_eq!(
        deleted_manifests(&report),
        set(&[
            orphan.as_str(),
            old_child.as_str(),
            old_index.as_str(),
            old_sig.as_str()
        ])
    );
    for gone in [&orphan, &old_child, &old_index, &old_sig] {
        assert!(!f.has("team/web", gone).await, "{gone} deleted");
    }
    // Referrers and indexes go before what they point at.
    let order: Vec<&str> = report.repositories[0]
        .deleted
        .iter()
        .map(|i| i.digest.as_str())
        .collect();
    let pos = |d: &Digest| order.iter().position(|x| *x == d.as_str()).unwrap();
    assert!(pos(&old_sig) < pos(&orphan) && pos(&old_index) < pos(&old_child));
    let amd_item = report
        .kept()
        .find(|(_, i)| i.digest == amd.as_str())
        .unwrap()
        .1;
    assert_eq!(amd_item.reason, format!("child of kept index {multi}"));
    assert_eq!(f.tags("team/web").await, set(&["multi", "stable"]));
}

/// Seed 4: "delete tags not pulled in the last 30 days" (manifests that lose
/// their last tag go with them; manifests that were already untagged are kept
/// by a second rule).
#[tokio::test]
async fn seed_delete_tags_not_pulled_in_the_last_30_days() {
    let f = Fixture::new().await;
    let hot = f.image("ops/tool", "hot", Some("hot"), None).await;
    f.times("ops/tool", &hot, Some("hot"), 90, Some(2)).await;
    let cold = f.image("ops/tool", "cold", Some("cold"), None).await;
    f.times("ops/tool", &cold, Some("cold"), 90, Some(60)).await;
    let never = f.image("ops/tool", "never", Some("never"), None).await;
    f.times("ops/tool", &never, Some("never"), 90, None).await;
    // Pulled by digest yesterday; its tag itself was not used: still in use.
    let pinned = f.image("ops/tool", "pinned", Some("pinned"), None).await;
    f.times("ops/tool", &pinned, None, 90, Some(1)).await;
    f.reg
        .meta
        .set_tag_times("ops/tool", "pinned", days_ago(90), None)
        .await
        .unwrap();
    // A second tag on the hot manifest, not itself used for 70 days.
    f.tag("ops/tool", "hot-alias", &hot, 80, Some(70)).await;
    f.times("ops/tool", &hot, None, 90, Some(2)).await;
    let untagged = f.image("ops/tool", "untagged", None, None).await;
    f.times("ops/tool", &untagged, None, 300, None).await;

    let keep_untagged = json!([{"kind": "doublestar", "decoration": "excludes", "pattern": "**",
                                "extras": "{\"untagged\":true}"}]);
    let report = f
        .run(
            "ops",
            json!({"rules": [
                rule("nDaysSinceLastPull", Some(30), tags_glob("**", false)),
                rule("always", None, keep_untagged),
            ]}),
            false,
        )
        .await;

    // `hot-alias` was not used for 70 days, but its manifest was pulled 2 days ago:
    // the pull time of a tag is the later of its own and its manifest's.
    assert_eq!(
        f.tags("ops/tool").await,
        set(&["hot", "hot-alias", "pinned"])
    );
    assert!(f.has("ops/tool", &hot).await && f.has("ops/tool", &pinned).await);
    assert!(f.has("ops/tool", &untagged).await);
    assert_eq!(
        deleted_manifests(&report),
        set(&[cold.as_str(), never.as_str()])
    );
    assert!(kept_reason(&report, "pinned")
        .reason
        .contains("pulled within 30 days"));
}

/// Seed 5: "keep the last 3 versions" (artifacts, by push time).
#[tokio::test]
async fn seed_keep_the_last_3_versions() {
    let f = Fixture::new().await;
    let mut d = Vec::new();
    for i in 0..5i64 {
        let tag = format!("build-{i}");
        let digest = f.image("ci/app", &tag, Some(&tag), None).await;
        f.times("ci/app", &digest, Some(&tag), 10 - i, None).await;
        d.push(digest);
    }
    let report = f
        .run(
            "ci",
            json!({"rules": [rule("latestPushedK", Some(3), tags_glob("**", false))]}),
            false,
        )
        .await;
    assert_eq!(
        f.tags("ci/app").await,
        set(&["build-2", "build-3", "build-4"])
    );
    assert_eq!(
        deleted_manifests(&report),
        set(&[d[0].as_str(), d[1].as_str()])
    );
}

#[tokio::test]
async fn dry_run_reports_but_changes_nothing() {
    let f = Fixture::new().await;
    let mut d = Vec::new();
    for i in 0..3i64 {
        let tag = format!("v{i}");
        let digest = f.image("ci/app", &tag, Some(&tag), None).await;
        f.times("ci/app", &digest, Some(&tag), 10 - i, None).await;
        d.push(digest);
    }
    let report = f
        .run(
            "ci",
            json!({"rules": [rule("latestPushedK", Some(1), tags_glob("**", false))]}),
            true,
        )
        .await;
    assert!(report.dry_run);
    assert_eq!(
        deleted_manifests(&report),
        set(&[d[0].as_str(), d[1].as_str()])
    );
    assert_eq!(f.tags("ci/app").await, set(&["v0", "v1", "v2"]));
    for digest in &d {
        assert!(f.has("ci/app", digest).await);
    }
    assert!(report.to_string().contains("would delete"));
}

#[tokio::test]
async fn retention_never_removes_an_immutable_tag_or_its_manifest() {
    let f = Fixture::new().await;
    f.reg
        .immutable_rule_add("rel", ImmutableRule::new("release-*", "**"))
        .await
        .unwrap();
    let old = f.image("rel/app", "old", Some("release-1"), None).await;
    f.times("rel/app", &old, Some("release-1"), 100, None).await;
    let dev = f.image("rel/app", "dev", Some("dev-1"), None).await;
    f.times("rel/app", &dev, Some("dev-1"), 100, None).await;
    let report = f
        .run(
            "rel",
            json!({"rules": [rule("nDaysSinceLastPush", Some(7), tags_glob("**", true))]}),
            false,
        )
        .await;
    assert_eq!(f.tags("rel/app").await, set(&["release-1"]));
    assert!(f.has("rel/app", &old).await);
    assert!(!f.has("rel/app", &dev).await);
    assert!(kept_reason(&report, "release-1")
        .reason
        .contains("immutable rule"));
}

#[tokio::test]
async fn repositories_no_rule_selects_are_untouched() {
    let f = Fixture::new().await;
    let a = f.image("dev/keep-me", "a", None, None).await;
    let b = f.image("dev/app", "b", None, None).await;
    let mut r = rule("always", None, tags_glob("**", false));
    r["scope_selectors"]["repository"] =
        json!([{"kind": "doublestar", "decoration": "repoExcludes", "pattern": "keep-*"}]);
    let report = f.run("dev", json!({"rules": [r]}), false).await;
    assert!(f.has("dev/keep-me", &a).await);
    assert!(!f.has("dev/app", &b).await);
    assert_eq!(report.repositories.len(), 1);
}

#[tokio::test]
async fn invalid_policies_are_refused_with_the_rule_named() {
    let f = Fixture::new().await;
    for (policy, needle) in [
        (
            json!({"rules": [rule("latestPushedK", None, tags_glob("**", false))]}),
            "rule 1: template latestPushedK needs",
        ),
        (
            json!({"rules": [rule("keepAll", None, tags_glob("**", false))]}),
            "template \"keepAll\"",
        ),
        (
            json!({"rules": [rule("always", None, tags_glob("[", false))]}),
            "unclosed",
        ),
        (
            json!({"rules": [], "trigger": {"kind": "Schedule", "settings": {"cron": "every day"}}}),
            "cron",
        ),
    ] {
        let p: RetentionPolicy = serde_json::from_value(policy).unwrap();
        let e = f.reg.retention_policy_set("x", &p).await.unwrap_err();
        assert!(
            e.to_string().contains(needle),
            "{e} should contain {needle}"
        );
        assert_eq!(e.status(), 400);
    }
}

#[tokio::test]
async fn scheduled_policies_run_when_their_cron_time_has_passed() {
    let f = Fixture::new().await;
    let mut policy = RetentionPolicy {
        algorithm: "or".into(),
        rules: vec![RetentionRule::new("always", None, "**", false)],
        trigger: Some(Trigger {
            kind: "Schedule".into(),
            settings: TriggerSettings {
                cron: Some("0 0 3 * * *".into()),
            },
        }),
    };
    f.reg.retention_policy_set("sched", &policy).await.unwrap();
    let set_at = berth_meta::store::now_ms();
    let next = policy.next_run_after(set_at).unwrap();
    assert!(next > set_at && next - set_at <= DAY);
    assert!(f.reg.retention_due(next - 1).await.unwrap().is_empty());
    assert_eq!(
        f.reg.retention_due(next).await.unwrap(),
        vec!["sched".to_string()]
    );
    let untagged = f.image("sched/app", "u", None, None).await;
    let reports = f.reg.retention_run_scheduled(next).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert!(!f.has("sched/app", &untagged).await);
    // Not again until the next day.
    assert!(f.reg.retention_due(next + 1000).await.unwrap().is_empty());
    assert_eq!(f.reg.retention_due(next + DAY).await.unwrap().len(), 1);
    policy.trigger = None;
    f.reg.retention_policy_set("sched", &policy).await.unwrap();
    assert!(f
        .reg
        .retention_due(next + 10 * DAY)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn immutable_tag_cannot_be_overwritten_or_deleted_but_same_digest_repush_is_allowed() {
    let f = Fixture::new().await;
    let id = f
        .reg
        .immutable_rule_add("lib", ImmutableRule::new("v*", "**"))
        .await
        .unwrap();
    let v1 = f.image("lib/base", "one", Some("v1"), None).await;
    // Same digest again: allowed.
    f.tag("lib/base", "v1", &v1, 0, None).await;
    // Another digest under the same tag: refused, naming the rule.
    let two = f.image("lib/base", "two", None, None).await;
    let (_, bytes) = f.raw("lib/base", &two).await;
    let e = f
        .reg
        .manifest_put(
            &name("lib/base"),
            &Reference::Tag(Tag::parse("v1").unwrap()),
            Some(MANIFEST),
            bytes,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::PolicyDenied(_)));
    assert_eq!(
        (e.status(), e.code().map(|c| c.as_str())),
        (403, Some("DENIED"))
    );
    assert!(
        e.to_string().contains(&format!("immutable rule {id}")),
        "{e}"
    );
    for reference in [
        Reference::Tag(Tag::parse("v1").unwrap()),
        Reference::Digest(v1.clone()),
    ] {
        let e = f
            .reg
            .manifest_delete(&name("lib/base"), &reference)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("immutable rule"), "{e}");
        assert_eq!(e.status(), 403);
    }
    // Tags the rule does not match stay mutable.
    f.tag("lib/base", "latest", &v1, 0, None).await;
    f.reg
        .manifest_delete(
            &name("lib/base"),
            &Reference::Tag(Tag::parse("latest").unwrap()),
        )
        .await
        .unwrap();
    // Other projects are not affected.
    f.image("other/base", "one", Some("v1"), None).await;
    f.reg
        .manifest_delete(
            &name("other/base"),
            &Reference::Tag(Tag::parse("v1").unwrap()),
        )
        .await
        .unwrap();
    // Removing the rule lifts the protection at once.
    f.reg.immutable_rule_delete("lib", id).await.unwrap();
    f.reg
        .manifest_delete(&name("lib/base"), &Reference::Digest(v1))
        .await
        .unwrap();
}

#[tokio::test]
async fn naming_rule_refuses_other_tags_and_shows_the_pattern() {
    let f = Fixture::new().await;
    let pattern = r"\d+\.\d+\.\d+-(dev|prod)-\d+";
    f.reg
        .tag_naming_rule_set("app", Some(pattern))
        .await
        .unwrap();
    f.image("app/svc", "ok", Some("1.2.3-prod-45"), None).await;
    let d = f.image("app/svc", "bad", None, None).await;
    let (_, bytes) = f.raw("app/svc", &d).await;
    let e = f
        .reg
        .manifest_put(
            &name("app/svc"),
            &Reference::Tag(Tag::parse("latest").unwrap()),
            Some(MANIFEST),
            bytes.clone(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), 403);
    assert!(e.to_string().contains(pattern), "{e}");
    // Whole-tag match: a prefix that matches is not enough.
    let e = f
        .reg
        .manifest_put(
            &name("app/svc"),
            &Reference::Tag(Tag::parse("1.2.3-prod-45x").unwrap()),
            Some(MANIFEST),
            bytes,
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), 403);
    assert!(f.reg.tag_naming_rule_set("app", Some("(")).await.is_err());
    f.reg.tag_naming_rule_set("app", None).await.unwrap();
    f.image("app/svc", "now-ok", Some("latest"), None).await;
}

#[test]
fn harbor_policy_json_round_trips() {
    let harbor = json!({
        "algorithm": "or",
        "rules": [{
            "id": 1, "priority": 1, "disabled": false, "action": "retain",
            "template": "latestPushedK", "params": {"latestPushedK": 5},
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": "{\"untagged\":true}"}],
            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}
        }],
        "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 0 * * *"}, "references": {}},
        "scope": {"level": "project", "ref": 1}
    });
    let p: RetentionPolicy = serde_json::from_value(harbor).unwrap();
    let rules = p.compile().unwrap();
    assert_eq!(rules.len(), 1);
    assert!(rules[0].untagged);
    assert_eq!(
        p.rules[0].tag_selectors[0],
        Selector {
            extras: Some("{\"untagged\":true}".into()),
            ..Selector::matching("**", false)
        }
    );
    let back: RetentionPolicy = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
}
