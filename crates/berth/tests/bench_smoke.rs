//! A smoke run of the benchmark harness against the real binary: every workload
//! runs with tiny sizes and reports a figure. No timing is asserted here; speed is
//! measured by `bench/compare.sh`, never in a test.

mod support;

use berth_bench::{run, Settings};
use support::*;

#[tokio::test]
async fn bench_harness_runs_every_workload_against_berth() {
    let data = tempfile::tempdir().unwrap();
    let berth = Berth::start(data.path());
    let mut s = Settings::smoke(&format!("http://{}", berth.addr), "berth");
    s.server_pid = Some(berth.pid());
    let report = run(&s).await.expect("bench run");
    for name in [
        "sha256_single_core",
        "push_monolithic_1x",
        "push_monolithic_2x",
        "push_chunked_1x",
        "push_chunked_2x",
        "pull_1x",
        "pull_2x",
        "manifest_head_1c",
        "manifest_head_4c",
        "manifest_get_1c",
        "manifest_get_4c",
        "tags_list_30_paged",
        "catalog_12_paged",
        "manifest_put_retag_1c",
        "manifest_put_retag_2c",
        "pull_curl_1x",
        "pull_curl_2x",
        "image_push_5_layers",
        "image_push_5_layers_2c",
        "server_peak_rss",
        "rss_20_idle_connections",
        "rss_4_uploads_in_flight",
    ] {
        let m = report
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from {}", report.to_markdown()));
        assert!(m.value > 0.0 && m.value.is_finite(), "{name} = {}", m.value);
    }
    let head = report.get("manifest_get_4c").unwrap();
    assert!(head.extra.contains_key("p99_ms"));
    assert!(report
        .get("manifest_put_retag_2c")
        .unwrap()
        .extra
        .contains_key("p99_ms"));

    // The flat-cost phase: its fixture and every request it times.
    let target = format!("http://{}", berth.addr);
    let fx = berth_bench::workloads::flat_setup(&target, "flat/app")
        .await
        .expect("flat setup");
    let flat = berth_bench::workloads::flat_measure(&target, "empty", &fx, 10)
        .await
        .expect("flat measure");
    for name in [
        "flat_tags_page",
        "flat_catalog_page",
        "flat_referrers",
        "flat_manifest_get",
        "flat_blob_head",
        "flat_referrers_of_crowded_subject",
    ] {
        let m = flat
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from {}", flat.to_markdown()));
        assert!(m.value > 0.0 && m.value.is_finite(), "{name} = {}", m.value);
    }
    // The referrers request really lists the fixture's referrer.
    assert!(
        flat.get("flat_referrers").unwrap().extra["body_bytes"]
            .as_u64()
            .unwrap()
            > flat.get("flat_referrers_of_crowded_subject").unwrap().extra["body_bytes"]
                .as_u64()
                .unwrap()
    );
    let (code, out) = fsck(data.path());
    assert_eq!(code, 0, "{out}");
}
