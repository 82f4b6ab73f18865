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
        "image_push_5_layers",
        "server_peak_rss",
    ] {
        let m = report
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from {}", report.to_markdown()));
        assert!(m.value > 0.0 && m.value.is_finite(), "{name} = {}", m.value);
    }
    let head = report.get("manifest_get_4c").unwrap();
    assert!(head.extra.contains_key("p99_ms"));
    let (code, out) = fsck(data.path());
    assert_eq!(code, 0, "{out}");
}
